import { describe, expect, it } from 'vitest'
import { decode, encode } from 'cborg'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  CryptoError,
  DecryptionFailedError,
  DuplicateMessageError,
  InvalidRecordError,
  InvalidSignatureError,
  LowOrderPointError,
  MAX_SKIP,
  MAX_STORED_SKIPPED_KEYS,
  NoSessionError,
  SessionRecord,
  TooManySkippedMessagesError,
  UnknownPreKeyError,
  UntrustedIdentityError,
  createInMemoryStores,
  createPreKeyBundle,
  decryptMessage,
  encryptMessage,
  generateIdentity,
  rotateSignedPreKey,
  identityFromEd25519Private,
  processPreKeyBundle,
  verifyPreKeyBundle,
  type EncryptedMessage,
} from '@paloma/core/crypto/index.ts'
import { _stats } from '@paloma/core/crypto/primitives.ts'
import { decodeHeader, decryptHeader, encryptHeader } from '@paloma/core/crypto/ratchet.ts'
import { NOW, bundleOf, flip, makeParty, seededRng, str, text, type Party } from './helpers.ts'

async function pair(seed: string, opkIds: number[] = [1]) {
  const rng = seededRng(seed)
  const alice = await makeParty('alice', rng)
  const bob = await makeParty('bob', rng)
  const opts = { now: NOW, rng }
  await processPreKeyBundle('bob', bob.identity.publicKey, await bundleOf(bob, opkIds), alice.stores, opts)
  return { rng, alice, bob, opts }
}

const send = (from: Party, to: Party, s: string, opts: { now: number; rng: (n: number) => Uint8Array }) =>
  encryptMessage(to.name, text(s), from.stores, opts)
const recv = async (
  at: Party,
  from: Party,
  m: EncryptedMessage,
  opts: { now: number; rng: (n: number) => Uint8Array },
) => str(await decryptMessage(from.name, m, at.stores, opts))

describe('sessions', () => {
  it('X3DH with a one-time prekey, then a conversation both ways', async () => {
    const { alice, bob, opts } = await pair('basic')
    const m1 = await send(alice, bob, 'hello bob', opts)
    expect(m1.type).toBe('prekey')
    const m2 = await send(alice, bob, 'second', opts)
    expect(m2.type).toBe('prekey')
    expect(await recv(bob, alice, m1, opts)).toBe('hello bob')
    expect(await bob.stores.preKeys.loadPreKey(1)).toBeUndefined()
    expect(await recv(bob, alice, m2, opts)).toBe('second')
    const r1 = await send(bob, alice, 'hi alice', opts)
    expect(r1.type).toBe('message')
    expect(await recv(alice, bob, r1, opts)).toBe('hi alice')
    const m3 = await send(alice, bob, 'now ordinary', opts)
    expect(m3.type).toBe('message')
    expect(await recv(bob, alice, m3, opts)).toBe('now ordinary')
    await expect(decryptMessage('alice', m1, bob.stores, opts)).rejects.toBeInstanceOf(DuplicateMessageError)
    await expect(decryptMessage('alice', m3, bob.stores, opts)).rejects.toBeInstanceOf(DuplicateMessageError)
  })

  it('last-resort path (no one-time prekey) rejects a replayed initial message even after the session is gone', async () => {
    const { alice, bob, opts } = await pair('last-resort', [])
    const m1 = await send(alice, bob, 'no opk', opts)
    expect(await recv(bob, alice, m1, opts)).toBe('no opk')
    await expect(decryptMessage('alice', m1, bob.stores, opts)).rejects.toBeInstanceOf(DuplicateMessageError)
    // Bob loses his session record: the base key remembered under the signed prekey still stops the replay.
    const fresh = createInMemoryStores(bob.identity)
    const stores = { ...bob.stores, sessions: fresh.sessions }
    await expect(decryptMessage('alice', m1, stores, opts)).rejects.toBeInstanceOf(DuplicateMessageError)
    // X25519 ignores the top bit of a public key: the same base key spelled with it set is refused, or the
    // replay would pass the used-base-key check and decrypt again (found by the 10^6-step soak).
    const fields = decode(m1.body) as { ek: Uint8Array }
    fields.ek[31]! |= 0x80
    const respelled = { type: 'prekey' as const, body: encode(fields) }
    await expect(decryptMessage('alice', respelled, stores, opts)).rejects.toBeInstanceOf(InvalidRecordError)
  })

  it('unknown signed or one-time prekey ids are typed errors', async () => {
    const { alice, bob, opts } = await pair('unknown-prekey', [2])
    const m1 = await send(alice, bob, 'x', opts)
    await bob.stores.preKeys.removePreKey(2)
    const err = await decryptMessage('alice', m1, bob.stores, opts).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnknownPreKeyError)
    expect((err as UnknownPreKeyError).kind).toBe('one-time')
    await bob.stores.signedPreKeys.removeSignedPreKey(1)
    const err2 = await decryptMessage('alice', m1, bob.stores, opts).catch((e: unknown) => e)
    expect(err2).toBeInstanceOf(UnknownPreKeyError)
    expect((err2 as UnknownPreKeyError).kind).toBe('signed')
  })

  it('rejects bad bundles: wrong signer, flipped bit, malformed bytes', async () => {
    const rng = seededRng('bundles')
    const bob = await makeParty('bob', rng)
    const eve = await makeParty('eve', rng)
    const bundle = await bundleOf(bob, [1, 2])
    const ok = await verifyPreKeyBundle(bundle, bob.identity.publicKey)
    expect(ok.oneTimePreKeys.map((k) => k.id)).toEqual([1, 2])
    await expect(verifyPreKeyBundle(bundle, eve.identity.publicKey)).rejects.toBeInstanceOf(
      InvalidSignatureError,
    )
    const forged = await createPreKeyBundle(
      eve.identity,
      (await eve.stores.signedPreKeys.loadSignedPreKey(1))!,
      [],
    )
    await expect(verifyPreKeyBundle(forged, bob.identity.publicKey)).rejects.toBeInstanceOf(
      InvalidSignatureError,
    )
    const flipped = flip(bundle, bundle.length - 70)
    await expect(verifyPreKeyBundle(flipped, bob.identity.publicKey)).rejects.toBeInstanceOf(
      InvalidSignatureError,
    )
    await expect(verifyPreKeyBundle(bundle.subarray(0, 40), bob.identity.publicKey)).rejects.toBeInstanceOf(
      InvalidRecordError,
    )
    await expect(verifyPreKeyBundle(new Uint8Array([0xa0]), bob.identity.publicKey)).rejects.toBeInstanceOf(
      InvalidRecordError,
    )
  })

  it('rejects a low-order signed prekey (all-zero DH output)', async () => {
    const rng = seededRng('low-order')
    const alice = await makeParty('alice', rng)
    const bob = await makeParty('bob', rng)
    for (const u of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
      const spk = { id: 9, createdAt: NOW, keyPair: { publicKey: u, privateKey: new Uint8Array(32) } }
      const bundle = await createPreKeyBundle(bob.identity, spk, [])
      await expect(
        processPreKeyBundle('bob', bob.identity.publicKey, bundle, alice.stores, { now: NOW, rng }),
      ).rejects.toBeInstanceOf(LowOrderPointError)
    }
  })

  it('tampering is rejected and leaves the session untouched', async () => {
    const { alice, bob, opts } = await pair('tamper')
    const m1 = await send(alice, bob, 'one', opts)
    const bad = { type: m1.type, body: flip(m1.body, 12, 0x40) }
    await expect(decryptMessage('alice', bad, bob.stores, opts)).rejects.toBeInstanceOf(DecryptionFailedError)
    expect(await recv(bob, alice, m1, opts)).toBe('one')
    const m2 = await send(alice, bob, 'two', opts)
    const before = (await bob.stores.sessions.loadSession('alice'))!.serialize()
    const bad2 = { type: m2.type, body: flip(m2.body, m2.body.length - 1) }
    await expect(decryptMessage('alice', bad2, bob.stores, opts)).rejects.toBeInstanceOf(
      DecryptionFailedError,
    )
    expect((await bob.stores.sessions.loadSession('alice'))!.serialize()).toEqual(before)
    expect(await recv(bob, alice, m2, opts)).toBe('two')
  })

  it('every single-bit flip of a ratchet message is rejected, then the original decrypts', async () => {
    const { alice, bob, opts } = await pair('every-bit')
    await recv(bob, alice, await send(alice, bob, 'a', opts), opts)
    await recv(alice, bob, await send(bob, alice, 'b', opts), opts)
    await recv(bob, alice, await send(alice, bob, 'c', opts), opts)
    const r = await send(bob, alice, 'd', opts)
    const before = (await alice.stores.sessions.loadSession('bob'))!.serialize()
    for (let i = 0; i < r.body.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const err = await decryptMessage(
          'bob',
          { type: r.type, body: flip(r.body, i, mask) },
          alice.stores,
          opts,
        ).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(CryptoError)
      }
    }
    expect((await alice.stores.sessions.loadSession('bob'))!.serialize()).toEqual(before)
    expect(await recv(alice, bob, r, opts)).toBe('d')
  })

  it('out-of-order delivery within and across chains', async () => {
    const { alice, bob, opts } = await pair('ooo')
    const first = await send(alice, bob, 'a0', opts)
    expect(await recv(bob, alice, first, opts)).toBe('a0')
    const a = [] as EncryptedMessage[]
    for (let i = 1; i <= 5; i++) a.push(await send(alice, bob, `a${i}`, opts))
    const b1 = await send(bob, alice, 'b1', opts)
    expect(await recv(bob, alice, a[4]!, opts)).toBe('a5')
    expect(await recv(alice, bob, b1, opts)).toBe('b1')
    const a6 = await send(alice, bob, 'a6', opts)
    expect(await recv(bob, alice, a6, opts)).toBe('a6')
    for (const i of [2, 0, 3, 1]) expect(await recv(bob, alice, a[i]!, opts)).toBe(`a${i + 1}`)
    await expect(decryptMessage('alice', a[2]!, bob.stores, opts)).rejects.toBeInstanceOf(
      DuplicateMessageError,
    )
  })

  it(`rejects a message more than MAX_SKIP (${MAX_SKIP}) ahead before deriving any key`, async () => {
    const { alice, bob, opts } = await pair('max-skip')
    expect(await recv(bob, alice, await send(alice, bob, 'start', opts), opts)).toBe('start')
    const burst: EncryptedMessage[] = []
    for (let i = 0; i <= MAX_SKIP + 1; i++) burst.push(await send(alice, bob, `m${i}`, opts))
    const before = (await bob.stores.sessions.loadSession('alice'))!.serialize()
    const stats = { ..._stats }
    const err = await decryptMessage('alice', burst[MAX_SKIP + 1]!, bob.stores, opts).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TooManySkippedMessagesError)
    expect(_stats).toEqual(stats)
    expect((await bob.stores.sessions.loadSession('alice'))!.serialize()).toEqual(before)
    // Exactly MAX_SKIP ahead is still fine.
    expect(await recv(bob, alice, burst[MAX_SKIP]!, opts)).toBe(`m${MAX_SKIP}`)
    expect(await recv(bob, alice, burst[MAX_SKIP + 1]!, opts)).toBe(`m${MAX_SKIP + 1}`)
    expect(await recv(bob, alice, burst[7]!, opts)).toBe('m7')
  })

  it(`keeps at most MAX_STORED_SKIPPED_KEYS (${MAX_STORED_SKIPPED_KEYS}) skipped keys, evicting the oldest`, async () => {
    const { alice, bob, opts } = await pair('cap')
    await recv(bob, alice, await send(alice, bob, 'start', opts), opts)
    const skippedOfBob = async () =>
      (await bob.stores.sessions.loadSession('alice'))!.current!.ratchet.skipped.size
    const chains: EncryptedMessage[][] = []
    for (const count of [MAX_SKIP + 1, MAX_SKIP + 1, 11]) {
      await recv(alice, bob, await send(bob, alice, 'turn', opts), opts)
      const chain: EncryptedMessage[] = []
      for (let i = 0; i < count; i++) chain.push(await send(alice, bob, `c${chains.length}m${i}`, opts))
      await recv(bob, alice, chain[count - 1]!, opts)
      chains.push(chain)
      expect(await skippedOfBob()).toBeLessThanOrEqual(MAX_STORED_SKIPPED_KEYS)
    }
    expect(await skippedOfBob()).toBe(MAX_STORED_SKIPPED_KEYS)
    await expect(decryptMessage('alice', chains[0]![0]!, bob.stores, opts)).rejects.toBeInstanceOf(
      DuplicateMessageError,
    )
    expect(await recv(bob, alice, chains[0]![10]!, opts)).toBe('c0m10')
    expect(await recv(bob, alice, chains[2]![3]!, opts)).toBe('c2m3')
  })

  it('rotates the signed prekey and keeps the previous one for the grace period', async () => {
    const rng = seededRng('rotate')
    const store = createInMemoryStores(await generateIdentity(rng)).signedPreKeys
    const day = 24 * 3600 * 1000
    const ids = async () => (await store.listSignedPreKeys()).map((k) => k.id).sort()
    expect((await rotateSignedPreKey(store, { now: NOW, rng })).id).toBe(1)
    expect((await rotateSignedPreKey(store, { now: NOW + day, rng })).id).toBe(1)
    expect((await rotateSignedPreKey(store, { now: NOW + 8 * day, rng })).id).toBe(2)
    expect(await ids()).toEqual([1, 2])
    expect((await rotateSignedPreKey(store, { now: NOW + 39 * day, rng })).id).toBe(3)
    expect(await ids()).toEqual([2, 3])
  })

  it('session records survive serialization mid-conversation', async () => {
    const { alice, bob, opts } = await pair('serialize')
    expect(await recv(bob, alice, await send(alice, bob, 'x', opts), opts)).toBe('x')
    const pending = await send(alice, bob, 'late', opts)
    expect(await recv(alice, bob, await send(bob, alice, 'y', opts), opts)).toBe('y')
    for (const p of [alice, bob]) {
      const other = p === alice ? 'bob' : 'alice'
      const bytes = (await p.stores.sessions.loadSession(other))!.serialize()
      const copy = SessionRecord.deserialize(bytes)
      expect(copy.serialize()).toEqual(bytes)
      await p.stores.sessions.storeSession(other, copy)
    }
    expect(await recv(bob, alice, pending, opts)).toBe('late')
    expect(await recv(alice, bob, await send(bob, alice, 'z', opts), opts)).toBe('z')
    expect(() => SessionRecord.deserialize(new Uint8Array([1, 2, 3]))).toThrow(InvalidRecordError)
  })

  it('a side that only receives generates no ratchet key; the next send does (deferred sending half)', async () => {
    const { alice, bob, opts } = await pair('deferred')
    expect(await recv(bob, alice, await send(alice, bob, 'hi', opts), opts)).toBe('hi')
    expect(await recv(alice, bob, await send(bob, alice, 'yo', opts), opts)).toBe('yo')
    let drawn = 0
    const counting = { now: NOW, rng: (n: number) => ((drawn += n), opts.rng(n)) }
    // Alice received a new ratchet key: nothing is generated until she sends.
    expect(await recv(bob, alice, await send(alice, bob, 'a', counting), counting)).toBe('a')
    expect(drawn).toBe(32) // Alice's new ratchet key, at her send; Bob's receipt drew nothing
    expect((await bob.stores.sessions.loadSession('alice'))!.current!.ratchet.sendingRatchet).toBeNull()
    for (let i = 0; i < 3; i++) await recv(bob, alice, await send(alice, bob, `m${i}`, counting), counting)
    expect(drawn).toBe(32)
    expect(await recv(alice, bob, await send(bob, alice, 'b', counting), counting)).toBe('b')
    expect(drawn).toBe(64)
  })

  it('a peer that steps again before we answer: the deferred half runs as the spec would have', async () => {
    const { alice, bob, opts } = await pair('steps-twice')
    expect(await recv(bob, alice, await send(alice, bob, 'hi', opts), opts)).toBe('hi')
    // Bob's reply is built on a copy of his session (as when a crash loses the state after the send); his
    // stored session still has its sending half pending. Both draw the same random bytes.
    const saved = (await bob.stores.sessions.loadSession('alice'))!.serialize()
    const bobRng = seededRng('bob-next-ratchet')
    const reply = await send(bob, alice, 'reply', { now: NOW, rng: bobRng })
    await bob.stores.sessions.storeSession('alice', SessionRecord.deserialize(saved))
    expect(await recv(alice, bob, reply, opts)).toBe('reply')
    const again = await send(alice, bob, 'after your reply', opts)
    const replayRng = seededRng('bob-next-ratchet')
    expect(await recv(bob, alice, again, { now: NOW, rng: replayRng })).toBe('after your reply')
    expect(await recv(alice, bob, await send(bob, alice, 'back', opts), opts)).toBe('back')
  })

  it('loads session records written before the sending half was deferred (with a pre-generated key)', async () => {
    const { alice, bob, opts } = await pair('old-format')
    expect(await recv(bob, alice, await send(alice, bob, 'hi', opts), opts)).toBe('hi')
    const record = (await alice.stores.sessions.loadSession('bob'))!
    const m = decode(record.serialize()) as { cur: { r: Record<string, unknown> } }
    m.cur.r.nx = new Uint8Array(32).fill(9) // the former next-ratchet-key fields are ignored
    m.cur.r.nxp = new Uint8Array(32).fill(7)
    await alice.stores.sessions.storeSession('bob', SessionRecord.deserialize(encode(m)))
    expect(await recv(bob, alice, await send(alice, bob, 'still here', opts), opts)).toBe('still here')
    expect(await recv(alice, bob, await send(bob, alice, 'and back', opts), opts)).toBe('and back')
  })

  describe('header encryption (initiator option, spec section 4)', () => {
    async function hePair(seed: string) {
      const rng = seededRng(seed)
      const alice = await makeParty('alice', rng)
      const bob = await makeParty('bob', rng)
      const opts = { now: NOW, rng, headerEncryption: true }
      await processPreKeyBundle('bob', bob.identity.publicKey, await bundleOf(bob, [1]), alice.stores, opts)
      return { rng, alice, bob, opts: { now: NOW, rng } }
    }
    const ratchetKeyOf = async (p: Party, peer: string) =>
      (await p.stores.sessions.loadSession(peer))!.current!.ratchet.sendingRatchet!.publicKey

    it('hides ratchet keys and counters; the responder follows; both ways, out of order, across chains', async () => {
      const { alice, bob, opts } = await hePair('he-basic')
      const first = await send(alice, bob, 'hello', opts)
      expect(first.type).toBe('prekey')
      expect((decode(first.body) as { he?: boolean }).he).toBe(true)
      expect(await recv(bob, alice, first, opts)).toBe('hello')
      const bobRecord = (await bob.stores.sessions.loadSession('alice'))!
      expect(bobRecord.current!.ratchet.headerKeys).not.toBeNull()
      const r1 = await send(bob, alice, 'r1', opts)
      const r2 = await send(bob, alice, 'r2', opts)
      const inner = decode(r1.body) as { h: Uint8Array }
      const bobKey = await ratchetKeyOf(bob, 'alice')
      expect(inner.h.length).toBe(12 + 48 + 16)
      expect(Buffer.from(r1.body).includes(Buffer.from(bobKey))).toBe(false)
      expect(() => decodeHeader(inner.h)).toThrow(InvalidRecordError)
      expect(await recv(alice, bob, r2, opts)).toBe('r2')
      const a1 = await send(alice, bob, 'a1', opts)
      expect(await recv(bob, alice, a1, opts)).toBe('a1')
      expect(await recv(alice, bob, r1, opts)).toBe('r1') // a skipped key of an older chain, header included
      await expect(decryptMessage('bob', r1, alice.stores, opts)).rejects.toBeInstanceOf(
        DuplicateMessageError,
      )
      for (let i = 0; i < 6; i++) {
        const [from, to] = i % 2 ? [bob, alice] : [alice, bob]
        expect(await recv(to, from, await send(from, to, `x${i}`, opts), opts)).toBe(`x${i}`)
      }
      // Overhead: 28 bytes more than a plain header (nonce 12 + tag 16).
      const m = await send(alice, bob, 'y'.repeat(100), opts)
      expect(m.body.length - 100).toBe(136 + 28)
      expect(await recv(bob, alice, m, opts)).toBe('y'.repeat(100))
    })

    it('a later prekey message whose header-encryption flag was altered is rejected (found by the soak)', async () => {
      const { alice, bob, opts } = await hePair('he-flag')
      const m1 = await send(alice, bob, 'one', opts)
      const m2 = await send(alice, bob, 'two', opts)
      expect(await recv(bob, alice, m1, opts)).toBe('one')
      const before = (await bob.stores.sessions.loadSession('alice'))!.serialize()
      const fields = decode(m2.body) as Record<string, unknown>
      delete fields.he // as a bit flip in the key name does: the flag reads as absent
      await expect(
        decryptMessage('alice', { type: 'prekey', body: encode(fields) }, bob.stores, opts),
      ).rejects.toBeInstanceOf(DecryptionFailedError)
      expect((await bob.stores.sessions.loadSession('alice'))!.serialize()).toEqual(before)
      expect(await recv(bob, alice, m2, opts)).toBe('two')
    })

    it('a tampered encrypted header is rejected and leaves the session untouched', async () => {
      const { alice, bob, opts } = await hePair('he-tamper')
      expect(await recv(bob, alice, await send(alice, bob, 'hi', opts), opts)).toBe('hi')
      const m = await send(bob, alice, 'secret', opts)
      const before = (await alice.stores.sessions.loadSession('bob'))!.serialize()
      // { "c": ..., "h": bytes(76), "v": 1 }: the encrypted header sits just before the final `61 76 01`.
      const headerStart = m.body.length - 3 - 76
      expect([...m.body.subarray(headerStart - 4, headerStart)]).toEqual([0x61, 0x68, 0x58, 76])
      for (const i of [headerStart, headerStart + 12, headerStart + 40, headerStart + 75]) {
        await expect(
          decryptMessage('bob', { ...m, body: flip(m.body, i) }, alice.stores, opts),
        ).rejects.toBeInstanceOf(DecryptionFailedError)
      }
      expect((await alice.stores.sessions.loadSession('bob'))!.serialize()).toEqual(before)
      expect(await recv(alice, bob, m, opts)).toBe('secret')
    })

    it(`rejects a header more than MAX_SKIP ahead before deriving a message key`, async () => {
      const { alice, bob, opts } = await hePair('he-skip')
      expect(await recv(bob, alice, await send(alice, bob, 'hi', opts), opts)).toBe('hi')
      const m = await send(bob, alice, 'far', opts)
      const inner = decode(m.body) as { h: Uint8Array; c: Uint8Array; v: number }
      const state = (await alice.stores.sessions.loadSession('bob'))!.current!
      const hk = state.ratchet.headerKeys!.nextReceiving
      const header = decode(decryptHeader(hk, inner.h, state.associatedData)!) as object
      const forged = encryptHeader(hk, encode({ ...header, n: MAX_SKIP + 1 }), state.associatedData, opts.rng)
      const stats = { ..._stats }
      await expect(
        decryptMessage('bob', { type: 'message', body: encode({ ...inner, h: forged }) }, alice.stores, opts),
      ).rejects.toBeInstanceOf(TooManySkippedMessagesError)
      expect(_stats).toEqual(stats)
      expect(await recv(alice, bob, m, opts)).toBe('far')
    })

    it('session records with header keys survive serialization, pending sending half included', async () => {
      const { alice, bob, opts } = await hePair('he-serialize')
      expect(await recv(bob, alice, await send(alice, bob, 'x', opts), opts)).toBe('x')
      const late = await send(alice, bob, 'late', opts)
      await send(alice, bob, 'skipped', opts).then((m) => recv(bob, alice, m, opts))
      for (const p of [alice, bob]) {
        const other = p === alice ? 'bob' : 'alice'
        const bytes = (await p.stores.sessions.loadSession(other))!.serialize()
        const copy = SessionRecord.deserialize(bytes)
        expect(copy.serialize()).toEqual(bytes)
        expect(copy.current!.ratchet.headerKeys).not.toBeNull()
        await p.stores.sessions.storeSession(other, copy)
      }
      expect(await recv(bob, alice, late, opts)).toBe('late')
      expect(await recv(alice, bob, await send(bob, alice, 'z', opts), opts)).toBe('z')
    })
  })

  it('simultaneous initiation converges on one session without losing a message', async () => {
    for (let round = 0; round < 6; round++) {
      const rng = seededRng(`simul-${round}`)
      const opts = { now: NOW, rng }
      const alice = await makeParty('alice', rng)
      const bob = await makeParty('bob', rng)
      await processPreKeyBundle('bob', bob.identity.publicKey, await bundleOf(bob, [1]), alice.stores, opts)
      await processPreKeyBundle(
        'alice',
        alice.identity.publicKey,
        await bundleOf(alice, [1]),
        bob.stores,
        opts,
      )
      const fromA = [await send(alice, bob, 'A1', opts), await send(alice, bob, 'A2', opts)]
      const fromB = [await send(bob, alice, 'B1', opts), await send(bob, alice, 'B2', opts)]
      // Deliver in an order that depends on the round.
      if (round % 2 === 0) {
        expect(await recv(bob, alice, fromA[0]!, opts)).toBe('A1')
        expect(await recv(alice, bob, fromB[0]!, opts)).toBe('B1')
      } else {
        expect(await recv(alice, bob, fromB[0]!, opts)).toBe('B1')
        expect(await recv(bob, alice, fromA[0]!, opts)).toBe('A1')
      }
      const a3 = await send(alice, bob, 'A3', opts)
      const b3 = await send(bob, alice, 'B3', opts)
      expect(await recv(bob, alice, a3, opts)).toBe('A3')
      expect(await recv(alice, bob, b3, opts)).toBe('B3')
      expect(await recv(bob, alice, fromA[1]!, opts)).toBe('A2')
      expect(await recv(alice, bob, fromB[1]!, opts)).toBe('B2')
      for (let i = 0; i < 3; i++) {
        expect(await recv(bob, alice, await send(alice, bob, `a${i}`, opts), opts)).toBe(`a${i}`)
        expect(await recv(alice, bob, await send(bob, alice, `b${i}`, opts), opts)).toBe(`b${i}`)
      }
      const ra = (await alice.stores.sessions.loadSession('bob'))!.current!
      const rb = (await bob.stores.sessions.loadSession('alice'))!.current!
      expect(ra.baseKey).toEqual(rb.baseKey)
      expect(ra.initiator).not.toBe(rb.initiator)
      expect((await send(alice, bob, 'done', opts)).type).toBe('message')
    }
  })

  it('an identity that changed is untrusted', async () => {
    const { alice, bob, opts } = await pair('untrusted')
    const m1 = await send(alice, bob, 'x', opts)
    const mallory = await makeParty('mallory', seededRng('mallory'))
    await bob.stores.identity.saveIdentity('alice', mallory.identity.publicKey)
    await expect(decryptMessage('alice', m1, bob.stores, opts)).rejects.toBeInstanceOf(UntrustedIdentityError)
    await expect(encryptMessage('carol', text('x'), alice.stores, opts)).rejects.toBeInstanceOf(
      NoSessionError,
    )
  })

  it('accepts a libp2p Ed25519 private key (64-byte raw) as the identity', async () => {
    const key = await generateKeyPair('Ed25519')
    const id = await identityFromEd25519Private(key.raw)
    expect(id.publicKey).toEqual(key.publicKey.raw)
    const fromSeed = await identityFromEd25519Private(key.raw.subarray(0, 32))
    expect(fromSeed.dh.publicKey).toEqual(id.dh.publicKey)
  })
})
