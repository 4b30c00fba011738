/**
 * Fuzzing what the directory and invites take from strangers: profile records (structure, the full
 * validation at a fixed clock, and the validator and selector every DHT node registers, with hostile keys
 * too), profile keys, and invite links (arbitrary text, mutated links, mutated CBOR inside valid links).
 * Harness and invariants: support/fuzz.ts.
 */
import { describe, expect } from 'vitest'
import fc from 'fast-check'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes } from '@paloma/core/crypto/bytes.ts'
import { toString } from 'uint8arrays'
import {
  DIRECTORY_ERROR_CODES,
  DirectoryError,
  MAX_BUNDLE_BYTES,
  MAX_PROFILE_BYTES,
  MAX_RELAYS,
  MAX_RELAY_ADDR_LENGTH,
  PROFILE_NAMESPACE,
  compareProfileRecords,
  decodeProfileRecord,
  encodeProfileRecord,
  parseProfileKey,
  peerIdStringFromPublicKey,
  profileKey,
  signProfileRecord,
  validateProfileRecord,
  type ProfileContent,
  type ProfileRecord,
} from '@paloma/core/protocol/directory.ts'
import { dhtSelectors, dhtValidators } from '@paloma/net/dht-records.ts'
import {
  INVITE_ERROR_CODES,
  InviteError,
  MAX_INVITE_CHARS,
  encodeInvite,
  inviteUrl,
  parseInvite,
  type Invite,
} from '@paloma/core/protocol/invite.ts'
import { encodeWith } from './support/cbor.ts'
import { costly, fuzzer, same } from './support/fuzz.ts'
import { BOUNDARY_STRINGS, byteInputs, byteMutations, treeMutations } from './support/mutations.ts'

const fuzz = fuzzer('directory')
const utf8 = new TextEncoder()

function identity(seed: number) {
  const secret = new Uint8Array(32).fill(seed)
  const publicKey = ed25519.getPublicKey(secret)
  const peerId = peerIdStringFromPublicKey(publicKey)
  return { publicKey, peerId, key: profileKey(peerId), sign: (d: Uint8Array) => ed25519.sign(d, secret) }
}
const alice = identity(1)
const bob = identity(2)
const RELAY = `/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooWP7E49tpmLujjWQPwRVAUCwbvEXPN2h7nwNDF2eZtZ7kP/p2p-circuit/p2p/${alice.peerId}`

/** Valid records of both identities at `now`: with and without a name, a maximal one, a tombstone. */
async function records(now: number): Promise<Map<string, Uint8Array[]>> {
  const contents: ProfileContent[] = [
    { seq: 1, issued: now, name: 'alice', relays: [RELAY], bundle: new Uint8Array(300).fill(7) },
    { seq: 2, issued: now, relays: [], bundle: new Uint8Array(64).fill(1) },
    {
      seq: now,
      issued: now,
      name: 'a'.repeat(32),
      relays: Array.from({ length: MAX_RELAYS }, () => `/${'r'.repeat(MAX_RELAY_ADDR_LENGTH - 1)}`),
      bundle: new Uint8Array(MAX_BUNDLE_BYTES - 1200).fill(2),
    },
    { seq: 3, issued: now, relays: [], bundle: new Uint8Array(0) },
  ]
  const out = new Map<string, Uint8Array[]>()
  for (const who of [alice, bob]) {
    const signed = await Promise.all(
      contents.map(async (c) => (await signProfileRecord(who.publicKey, c, who.sign)).bytes),
    )
    out.set(who.peerId, signed)
  }
  return out
}

const NOW = 1_790_000_000_000
const fixed = await records(NOW)
const live = await records(Date.now())
const seedsOf = (m: Map<string, Uint8Array[]>) => [...m.values()].flat()

/** DHT keys: the owners', and every way a key can be wrong. */
const keyInputs: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(alice.key, bob.key) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('/paloma-profile/', '/paloma-other/', '/pk/', 'paloma-profile/', '/', ''),
        fc.constantFrom(
          ...BOUNDARY_STRINGS,
          alice.peerId,
          alice.peerId.slice(0, 20),
          `${alice.peerId}x`,
          `${alice.peerId}/x`,
        ),
      )
      .map(([ns, id]) => utf8.encode(ns + id)),
  },
  { weight: 1, arbitrary: byteMutations([alice.key, bob.key]) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }) },
)

const profileSizes = [MAX_PROFILE_BYTES]

/** The registered namespace a DHT key names, as kad-dht's verifyRecord reads it (`/<namespace>/…`). */
function namespaceOf(key: Uint8Array): string | undefined {
  const parts = Buffer.from(key).toString('utf8').split('/')
  const ns = parts[1] ?? ''
  return parts.length >= 3 && Object.hasOwn(dhtValidators, ns) ? ns : undefined
}

describe('profile records', () => {
  fuzz({
    name: 'decodeProfileRecord',
    family: 'directory',
    input: byteInputs(seedsOf(fixed), { sizes: profileSizes, maxRandom: 1024 }),
    run: decodeProfileRecord,
    error: DirectoryError,
    codes: DIRECTORY_ERROR_CODES,
    // Only the canonical encoding is accepted: the record re-encodes to exactly the input.
    accepted: (r, bytes) => same(encodeProfileRecord(r), bytes, 'canonical'),
  })

  const valid = seedsOf(fixed)
  fuzz({
    name: 'validateProfileRecord (hostile keys and values, fixed clock)',
    family: 'directory',
    input: fc.tuple(keyInputs, byteInputs(valid, { sizes: profileSizes, maxRandom: 1024 })),
    run: ([key, value]) => validateProfileRecord(key, value, NOW),
    error: DirectoryError,
    codes: DIRECTORY_ERROR_CODES,
    // Forgery: nothing but a record its owner signed, byte for byte, under the owner's own key.
    accepted: ({ peerId }, [key, value]) => {
      expect(parseProfileKey(key).peerId).toBe(peerId)
      expect(fixed.get(peerId)!.some((r) => Buffer.from(r).equals(value))).toBe(true)
    },
    maxCaseMs: 2000,
    msPerCase: 5,
  })

  fuzz({
    name: 'DHT validator of every node (paloma-profile and pk, replays included)',
    family: 'directory',
    // kad-dht itself refuses a key whose namespace has no validator: every registered one is fed here.
    input: fc.tuple(
      fc
        .oneof(keyInputs, fc.constant(utf8.encode(`/pk/${alice.peerId}`)))
        .filter((k) => namespaceOf(k) !== undefined),
      byteInputs(seedsOf(live), { sizes: profileSizes, maxRandom: 1024 }),
    ),
    run: ([key, value]) => dhtValidators[namespaceOf(key)!]!(key, value),
    error: DirectoryError,
    codes: DIRECTORY_ERROR_CODES,
    accepted: (_, [key, value]) => {
      const { peerId } = parseProfileKey(key)
      expect(live.get(peerId)!.some((r) => Buffer.from(r).equals(value))).toBe(true)
    },
    maxCaseMs: 2000,
    msPerCase: 5,
  })

  const select = dhtSelectors[PROFILE_NAMESPACE]!
  /**
   * The reference the selector is checked against, remembered per (key, value) digest (values repeat a
   * lot): what orders records (seq, issued, sig), copied, so the cache holds no input alive.
   */
  type Order = Pick<ProfileRecord, 'seq' | 'issued' | 'sig'>
  const checked = new Map<string, Order | undefined>()
  const validated = (key: Uint8Array, value: Uint8Array): Order | undefined => {
    const id = Buffer.from(sha256(concatBytes(key, value))).toString('hex')
    if (checked.has(id)) return checked.get(id)
    let order: Order | undefined
    try {
      const { seq, issued, sig } = validateProfileRecord(key, value, Date.now()).record
      order = { seq, issued, sig: new Uint8Array(sig) }
    } catch {
      order = undefined
    }
    if (checked.size >= 4096) checked.clear()
    checked.set(id, order)
    return order
  }
  fuzz({
    name: 'DHT selector (the newest valid value wins, never an invalid one)',
    family: 'directory',
    input: fc.tuple(
      fc.constantFrom(alice, bob),
      fc.array(byteInputs(seedsOf(live), { maxRandom: 256 }), { maxLength: 5 }),
    ),
    run: ([who, values]) => select(who.key, values),
    error: DirectoryError,
    codes: DIRECTORY_ERROR_CODES,
    accepted: (index, [who, values]) => {
      expect(Number.isInteger(index)).toBe(true)
      expect(index).toBeGreaterThanOrEqual(0)
      expect(index).toBeLessThanOrEqual(Math.max(0, values.length - 1))
      const validOnes = values.flatMap((v) => {
        const record = validated(who.key, v)
        return record === undefined ? [] : [record]
      })
      if (validOnes.length === 0) return
      const chosen = validated(who.key, values[index]!)
      expect(chosen).toBeDefined()
      for (const r of validOnes)
        expect(compareProfileRecords(chosen as ProfileRecord, r as ProfileRecord)).toBeGreaterThanOrEqual(0)
    },
    expectRejections: false,
    // Every case verifies up to five signatures twice (the selector, then the check): a quarter of the cases.
    cases: costly(4),
    maxCaseMs: 2000,
    msPerCase: 10,
  })

  fuzz({
    name: 'parseProfileKey',
    family: 'directory',
    input: keyInputs,
    run: parseProfileKey,
    error: DirectoryError,
    codes: DIRECTORY_ERROR_CODES,
    accepted: ({ peerId, publicKey }, key) => {
      same(profileKey(peerId), key, 'the key of the PeerId it names')
      expect(peerIdStringFromPublicKey(publicKey)).toBe(peerId)
    },
  })
})

describe('invite links', () => {
  const invites: Invite[] = [
    { peer: alice.peerId, name: 'alicia', relays: [RELAY] },
    { peer: bob.peerId, relays: [] },
    {
      peer: alice.peerId,
      name: 'x'.repeat(64),
      relays: Array.from({ length: MAX_RELAYS }, () => `/${'r'.repeat(400)}`),
    },
  ]
  const cbor = invites.map((i) => Buffer.from(encodeInvite(i), 'base64url'))
  const b64 = (b: Uint8Array) => toString(b, 'base64url')
  const wrap = fc.constantFrom(
    (code: string) => code,
    (code: string) => `#invite=${code}`,
    (code: string) => `https://paloma.example/app/#invite=${code}`,
    (code: string) => `  https://paloma.example/#invite=${code}&utm=x \n`,
    (code: string) => `invite=${code}invite=${code}`,
  )
  const texts: fc.Arbitrary<string> = fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...invites.map((i) => inviteUrl('https://paloma.example/', i))) },
    { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom(...BOUNDARY_STRINGS) },
    // Character-level damage to a valid link (copy-paste accidents, a hostile edit).
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...invites.map(encodeInvite)),
          fc.nat(),
          fc.nat(5),
          fc.string({ minLength: 1, maxLength: 3 }),
          wrap,
        )
        .map(([code, at, how, s, w]) => {
          const i = at % (code.length + 1)
          const edited =
            how === 0
              ? code.slice(0, i)
              : how === 1
                ? code.slice(0, i) + s + code.slice(i)
                : how === 2
                  ? code.slice(0, i) + code.slice(i + s.length)
                  : how === 3
                    ? code.toUpperCase()
                    : how === 4
                      ? code.replace(/-/g, '+').replace(/_/g, '/')
                      : `${code}==`
          return w(edited)
        }),
    },
    // Structure-aware: the CBOR inside a valid link mutated, then encoded again.
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.oneof(treeMutations(cbor), byteMutations(cbor)), wrap)
        .map(([b, w]) => w(b64(b))),
    },
    // At the length cap.
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: -2, max: 2 }), wrap).map(([d, w]) =>
        w(
          b64(
            encodeWith({
              v: 1,
              peer: alice.peerId,
              relays: [`/${'r'.repeat((MAX_INVITE_CHARS * 3) / 4 - 80 + d)}`],
            }),
          ),
        ),
      ),
    },
  )
  fuzz({
    name: 'parseInvite (arbitrary text, damaged and mutated links)',
    family: 'invite',
    input: texts,
    run: parseInvite,
    error: InviteError,
    codes: INVITE_ERROR_CODES,
    accepted: (invite) => {
      expect(invite.peer).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/)
      expect(invite.relays.length).toBeLessThanOrEqual(MAX_RELAYS)
      for (const r of invite.relays) expect(r.startsWith('/') && r.length <= MAX_RELAY_ADDR_LENGTH).toBe(true)
      same(parseInvite(encodeInvite(invite)), invite, 'an invite round-trips')
    },
  })
})
