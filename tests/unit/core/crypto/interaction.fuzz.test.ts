// Interaction fuzzer (like libsignal's fuzz/fuzz_targets/interaction.rs): two parties driven through random
// send, deliver (in any order), drop, duplicate, replay, tamper and far-ahead-forgery steps.
// Invariants: every message that is not dropped decrypts exactly once, to what was sent; every replay and
// every tampered message is rejected with a typed error and leaves the receiver's session record unchanged;
// a header more than MAX_SKIP ahead is rejected before any key is derived; stored skipped keys never exceed
// MAX_STORED_SKIPPED_KEYS. Steps: env PALOMA_FUZZ_STEPS (default 10 000; `npm run soak:crypto`: 1 000 000),
// run once with plain headers and once with header encryption.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decode, encode } from 'cborg'
import {
  CryptoError,
  DecryptionFailedError,
  DuplicateMessageError,
  MAX_STORED_SKIPPED_KEYS,
  TooManySkippedMessagesError,
  decryptMessage,
  encryptMessage,
  processPreKeyBundle,
  type EncryptedMessage,
} from '@paloma/core/crypto/index.ts'
import { _stats } from '@paloma/core/crypto/primitives.ts'
import { MAX_COUNTER } from '@paloma/core/crypto/constants.ts'
import { decryptHeader, encryptHeader } from '@paloma/core/crypto/ratchet.ts'
import { NOW, bundleOf, flip, makeParty, seededRng, str, text, type Party } from './helpers.ts'

const STEPS = Number(process.env.PALOMA_FUZZ_STEPS ?? 10_000)
const RUN_LENGTH = 400
const RUNS = Math.max(1, Math.ceil(STEPS / RUN_LENGTH))

interface InFlight {
  id: number
  to: 'alice' | 'bob'
  message: EncryptedMessage
  plaintext: string
}

type Action = [kind: number, a: number, b: number, c: number]

// Send-heavy mix so conversations advance; kinds 0-1 send, 2-4 deliver, 5 drop, 6 duplicate, 7 replay,
// 8 tamper, 9 far-ahead forgery.
const newCounters = () => ({ tooFarAhead: 0, replays: 0, tampers: 0, delivered: 0 })
let counters = newCounters()

const actionArb = fc.tuple(fc.nat(9), fc.nat(1 << 20), fc.nat(1 << 20), fc.nat(255))

/** Rewrites the ratchet header inside `m` to claim counter `n` (re-encoded; the AEAD no longer matches). */
function forgeCounter(m: EncryptedMessage, n: number): EncryptedMessage {
  const outer = decode(m.body) as Record<string, Uint8Array | number | null>
  const innerBytes = (m.type === 'prekey' ? outer.m : m.body) as Uint8Array
  const inner = decode(innerBytes) as Record<string, Uint8Array | number>
  const header = decode(inner.h as Uint8Array) as Record<string, Uint8Array | number>
  const forgedInner = encode({ ...inner, h: encode({ ...header, n }) })
  return { type: m.type, body: m.type === 'prekey' ? encode({ ...outer, m: forgedInner }) : forgedInner }
}

/**
 * The same forgery on a header-encrypting session: the header is opened with whichever of the receiver's
 * header keys fits, its counter rewritten and sealed again under that key (as only the peer could). Null for
 * prekey messages (their header key comes from X3DH) and when no key of the receiver fits any more.
 */
async function forgeEncryptedCounter(
  receiver: Party,
  peer: string,
  m: EncryptedMessage,
  n: number,
  rng: (n: number) => Uint8Array,
): Promise<EncryptedMessage | null> {
  if (m.type === 'prekey') return null
  const inner = decode(m.body) as Record<string, Uint8Array | number>
  const record = await receiver.stores.sessions.loadSession(peer)
  for (const s of record?.states() ?? []) {
    const k = s.ratchet.headerKeys
    if (!k) continue
    const skipped = [...s.ratchet.skipped.values()].map((x) => x.hk)
    for (const hk of [k.receiving, k.nextReceiving, ...k.previousReceiving, ...skipped]) {
      const plain = hk && decryptHeader(hk, inner.h as Uint8Array, s.associatedData)
      if (!hk || !plain) continue
      const header = encode({ ...(decode(plain) as object), n })
      return { type: m.type, body: encode({ ...inner, h: encryptHeader(hk, header, s.associatedData, rng) }) }
    }
  }
  return null
}

async function recordBytes(p: Party, peer: string): Promise<string> {
  const r = await p.stores.sessions.loadSession(peer)
  return r ? Buffer.from(r.serialize()).toString('hex') : ''
}

async function checkCap(p: Party, peer: string): Promise<void> {
  const r = await p.stores.sessions.loadSession(peer)
  for (const s of r?.states() ?? [])
    expect(s.ratchet.skipped.size).toBeLessThanOrEqual(MAX_STORED_SKIPPED_KEYS)
}

async function run(
  seed: number,
  simultaneous: boolean,
  actions: Action[],
  headerEncryption: boolean,
): Promise<void> {
  const rng = seededRng(`fuzz-${seed}`)
  const opts = { now: NOW, rng, headerEncryption }
  const parties = { alice: await makeParty('alice', rng), bob: await makeParty('bob', rng) }
  const other = (n: 'alice' | 'bob') => (n === 'alice' ? 'bob' : 'alice')
  await processPreKeyBundle(
    'bob',
    parties.bob.identity.publicKey,
    await bundleOf(parties.bob, [1, 2]),
    parties.alice.stores,
    opts,
  )
  if (simultaneous) {
    const b = await bundleOf(parties.alice, [3])
    await processPreKeyBundle('alice', parties.alice.identity.publicKey, b, parties.bob.stores, opts)
  }
  let nextId = 0
  const pending: InFlight[] = []
  const delivered: InFlight[] = []
  const decryptedIds = new Set<number>()
  const log: string[] = []

  const deliver = async (m: InFlight) => {
    const at = parties[m.to]
    const out = str(await decryptMessage(other(m.to), m.message, at.stores, opts))
    expect(out).toBe(m.plaintext)
    expect(decryptedIds.has(m.id)).toBe(false)
    decryptedIds.add(m.id)
    counters.delivered++
    delivered.push(m)
  }
  /** Delivers a message that must be rejected; the receiver's record must not change. */
  const reject = async (to: 'alice' | 'bob', message: EncryptedMessage): Promise<unknown> => {
    const at = parties[to]
    const before = await recordBytes(at, other(to))
    const err = await decryptMessage(other(to), message, at.stores, opts).then(
      () => new Error('accepted a message that must be rejected'),
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(CryptoError)
    expect(await recordBytes(at, other(to))).toBe(before)
    return err
  }

  // An initiator that has not been answered yet can always send; the responder only after receiving.
  const canSend = async (from: 'alice' | 'bob') =>
    !!(await parties[from].stores.sessions.loadSession(other(from)))?.current

  for (const [step, action] of actions.entries()) {
    try {
      await runAction(action)
    } catch (e) {
      const trace = log.slice(-25).join('\n')
      throw new Error(
        `step ${step}: action ${JSON.stringify(action)} failed (simultaneous: ${simultaneous})\n${trace}`,
        {
          cause: e,
        },
      )
    }
  }
  // Everything still in flight arrives, in the order left.
  for (const m of pending.splice(0)) await deliver(m)

  async function runAction([kind, a, b, c]: Action): Promise<void> {
    const pick = <T>(list: T[]): T | undefined => {
      const m = list[a % Math.max(1, list.length)]
      const f = m as InFlight | undefined
      log.push(`kind ${kind} on ${f ? `#${f.id} ${f.message.type} to ${f.to}` : 'nothing'}`)
      return m
    }
    if (kind <= 1) {
      const from = kind === 0 ? 'alice' : 'bob'
      if (!(await canSend(from))) return
      const plaintext = `m${nextId} ${'x'.repeat(b % 300)}`
      const message = await encryptMessage(other(from), text(plaintext), parties[from].stores, opts)
      log.push(`send #${nextId} ${message.type} to ${other(from)}`)
      pending.push({ id: nextId++, to: other(from), message, plaintext })
    } else if (kind <= 4) {
      const m = pick(pending)
      if (!m) return
      pending.splice(pending.indexOf(m), 1)
      await deliver(m)
    } else if (kind === 5) {
      const m = pick(pending)
      if (m) pending.splice(pending.indexOf(m), 1)
    } else if (kind === 6) {
      // The network delivers a copy now; the original stays in flight and must later be rejected.
      const m = pick(pending)
      if (!m) return
      pending.splice(pending.indexOf(m), 1)
      await deliver(m)
      const later = { ...m }
      const err = await reject(later.to, later.message)
      expect([DuplicateMessageError, DecryptionFailedError].some((E) => err instanceof E)).toBe(true)
      counters.replays++
    } else if (kind === 7) {
      const m = pick(delivered)
      if (!m) return
      const err = await reject(m.to, m.message)
      expect([DuplicateMessageError, DecryptionFailedError].some((E) => err instanceof E)).toBe(true)
      counters.replays++
    } else if (kind === 8) {
      const m = pick(pending)
      if (!m) return
      counters.tampers++
      if (c < 16) {
        await reject(m.to, { type: m.message.type === 'prekey' ? 'message' : 'prekey', body: m.message.body })
      } else {
        await reject(m.to, {
          type: m.message.type,
          body: flip(m.message.body, b % m.message.body.length, 1 << (c % 8)),
        })
      }
    } else {
      const m = pick(pending)
      if (!m) return
      const n = MAX_COUNTER - (c % 16)
      const forged = headerEncryption
        ? await forgeEncryptedCounter(parties[m.to], other(m.to), m.message, n, rng)
        : forgeCounter(m.message, n)
      if (!forged) return
      const stats = { ..._stats }
      const err = await reject(m.to, forged)
      // On a chain the receiver has already moved past, the counter is simply unknown: a duplicate.
      expect([TooManySkippedMessagesError, DuplicateMessageError].some((E) => err instanceof E)).toBe(true)
      if (err instanceof TooManySkippedMessagesError) counters.tooFarAhead++
      expect(_stats).toEqual(stats)
    }
    await checkCap(parties.alice, 'bob')
    await checkCap(parties.bob, 'alice')
  }
}

describe('interaction fuzzer', () => {
  for (const headerEncryption of [false, true])
    it(
      `${RUNS * RUN_LENGTH} random steps${headerEncryption ? ', header encryption' : ''}: exactly-once delivery, typed rejections, caps`,
      async () => {
        counters = newCounters()
        await fc.assert(
          fc.asyncProperty(
            fc.nat(),
            fc.boolean(),
            fc.array(actionArb, { minLength: RUN_LENGTH, maxLength: RUN_LENGTH }),
            (seed, simultaneous, actions) => run(seed, simultaneous, actions, headerEncryption),
          ),
          { numRuns: RUNS, endOnFailure: true },
        )
        expect(counters.tooFarAhead).toBeGreaterThan(0)
        expect(counters.replays).toBeGreaterThan(0)
        expect(counters.tampers).toBeGreaterThan(0)
        console.log(
          JSON.stringify({ suite: 'crypto-interaction', headerEncryption, steps: STEPS, ...counters }),
        )
      },
      Math.max(60_000, STEPS * 10),
    )
})
