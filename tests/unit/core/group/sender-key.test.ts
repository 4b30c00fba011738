// Sender keys: the chain (out of order within GROUP_MAX_SKIP, far-ahead refused before any key is derived,
// replays, tampering, wrong group), sender attribution, rotation (removal, count, age), the previous key's
// grace window, the skipped-key cap, codecs; and the topic name and the welcome.
import { describe, expect, it } from 'vitest'
import { decode, encode } from 'cborg'
import type { IdentityKeyPair } from '@paloma/core/crypto/index.ts'
import { concatBytes } from '@paloma/core/crypto/bytes.ts'
import { _stats, aesGcmEncrypt, ed25519Sign } from '@paloma/core/crypto/primitives.ts'
import { pad } from '@paloma/core/crypto/padding.ts'
import {
  DuplicateGroupMessageError,
  GROUP_MAX_SKIP,
  GROUP_MAX_STORED_SKIPPED_KEYS,
  GroupDecryptionFailedError,
  GroupMessageTooLargeError,
  GroupSignatureError,
  IncompleteWelcomeError,
  MAX_GROUP_MESSAGE_BYTES,
  MAX_WELCOME_PART_BYTES,
  MalformedGroupRecordError,
  NotAGroupMemberError,
  RotationRequiredError,
  SENDER_KEY_GRACE_MS,
  SENDER_KEY_MAX_AGE_MS,
  SENDER_KEY_MAX_MESSAGES,
  SenderKeyConflictError,
  TooFarAheadError,
  UnknownSenderKeyError,
  WrongGroupError,
  decodeGroupMessage,
  decodeGroupReceiverState,
  decodeSenderKeyDistribution,
  decodeSenderKeyState,
  decodeWelcomePart,
  distributeSenderKey,
  encodeGroupReceiverState,
  encodeSenderKeyDistribution,
  encodeSenderKeyState,
  encodeWelcome,
  forgetFormerMembers,
  groupDecrypt,
  groupEncrypt,
  groupState,
  groupTopic,
  logChanges,
  memberList,
  newGroupReceiverState,
  newSenderKey,
  openWelcome,
  processSenderKeyDistribution,
  rotateSenderKey,
  senderKeyNeedsRotation,
  type GroupError,
  type GroupReceiverState,
  type SenderKeyState,
} from '@paloma/core/group/index.ts'
import {
  MESSAGE_FRAMING_BYTES,
  senderKeyProofMessage,
  groupChainStep,
  groupMessageHeader,
  groupMessageKeyMaterial,
} from '@paloma/core/group/sender-key.ts'
import { NOW, act, groupWith, hex, identities, seededRng, str, summary, utf8 } from './helpers.ts'

async function setup(seed: string) {
  const rng = seededRng(seed)
  const [a, b, c, x] = await identities(4, rng)
  const g = await groupWith(a!, [b!, c!], { rng })
  const members = memberList(g.log)
  const opts = { now: NOW, members }
  // a's sender key, distributed to b and c; b's receiver state holds it.
  const made = await newSenderKey(rng, { group: g.log.group, owner: a!.publicKey, now: NOW })
  const { state: alice, distribution } = distributeSenderKey(made, [b!.publicKey, c!.publicKey])
  const bob = await processSenderKeyDistribution(
    newGroupReceiverState(g.log.group),
    a!.publicKey,
    distribution,
    opts,
  )
  return { rng, a: a!, b: b!, c: c!, x: x!, ...g, members, opts, alice, bob, distribution }
}

/** `state` moved `n` iterations on without encrypting (as a sender whose messages were all lost). */
function advance(state: SenderKeyState, n: number): SenderKeyState {
  let out = state
  for (let i = 0; i < n; i++)
    out = { ...out, chainKey: groupChainStep(out.chainKey)[0], iteration: out.iteration + 1 }
  return out
}

/** Encrypts `n` messages in a row; returns the final state and the messages. */
async function sendMany(
  state: SenderKeyState,
  n: number,
  opts: { now: number; members: readonly Uint8Array[] },
) {
  const messages: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const r = await groupEncrypt(state, utf8(`message ${i}`), opts)
    state = r.state
    messages.push(r.message)
  }
  return { state, messages }
}

/** Expects `groupDecrypt` to refuse with `E`, leaving the receiver state as it was. */
async function refuses(
  r: GroupReceiverState,
  message: Uint8Array,
  opts: { now: number; members: readonly Uint8Array[] },
  E: new (...a: never[]) => GroupError,
): Promise<void> {
  const before = encodeGroupReceiverState(r)
  await expect(groupDecrypt(r, message, opts)).rejects.toBeInstanceOf(E)
  expect(encodeGroupReceiverState(r)).toEqual(before)
}

/** Re-signs a message map with `seed` (what only the holder of the signing key can do). */
async function resign(
  fields: Record<string, unknown>,
  owner: Uint8Array,
  seed: Uint8Array,
): Promise<Uint8Array> {
  const header = groupMessageHeader(fields.g as Uint8Array, owner, fields.k as Uint8Array, fields.n as number)
  const sig = await ed25519Sign(seed, concatBytes(header, fields.c as Uint8Array))
  return encode({ ...fields, sig })
}

describe('sender keys: the chain', () => {
  it('decrypts to the sender and plaintext; a 100-byte text travels as a 329-byte message', async () => {
    const s = await setup('roundtrip')
    const { message, state } = await groupEncrypt(s.alice, new Uint8Array(100).fill(0x61), s.opts)
    expect(state.iteration).toBe(1)
    expect(s.alice.iteration).toBe(0)
    expect(message.length).toBe(329)
    expect(decodeGroupMessage(message).ciphertext.length).toBe(160 + 16)
    const r = await groupDecrypt(s.bob, message, s.opts)
    expect(hex(r.sender)).toBe(hex(s.a.publicKey))
    expect(r.plaintext).toEqual(new Uint8Array(100).fill(0x61))
    expect([r.keyId, r.iteration]).toEqual([s.alice.keyId, 0])
    expect(s.alice.keyId).toBe(Math.floor(NOW / 1000))
  })

  it(`decrypts out of order within GROUP_MAX_SKIP, each message exactly once`, async () => {
    const s = await setup('out-of-order')
    const { messages } = await sendMany(s.alice, 12, s.opts)
    let bob = s.bob
    const order = [11, 0, 5, 3, 4, 1, 2, 10, 6, 9, 7, 8]
    for (const i of order) {
      const r = await groupDecrypt(bob, messages[i]!, s.opts)
      expect(str(r.plaintext)).toBe(`message ${i}`)
      bob = r.state
      await refuses(bob, messages[i]!, s.opts, DuplicateGroupMessageError)
    }
    for (const m of messages) await refuses(bob, m, s.opts, DuplicateGroupMessageError)
    expect([...bob.senders.values()][0]!.current.skipped.size).toBe(0)
  })

  it('a message exactly GROUP_MAX_SKIP ahead decrypts; one further is refused before any key is derived', async () => {
    const s = await setup('far-ahead')
    const tooFar = (await groupEncrypt(advance(s.alice, GROUP_MAX_SKIP + 1), utf8('too far'), s.opts)).message
    const stats = { ..._stats }
    const err = await groupDecrypt(s.bob, tooFar, s.opts).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TooFarAheadError)
    expect((err as TooFarAheadError).skip).toBe(GROUP_MAX_SKIP + 1)
    expect(_stats).toEqual(stats)
    await refuses(s.bob, tooFar, s.opts, TooFarAheadError)
    const limit = (await groupEncrypt(advance(s.alice, GROUP_MAX_SKIP), utf8('at the limit'), s.opts)).message
    const r = await groupDecrypt(s.bob, limit, s.opts)
    expect(str(r.plaintext)).toBe('at the limit')
    expect([...r.state.senders.values()][0]!.current.skipped.size).toBe(GROUP_MAX_SKIP)
    // Once the chain moved on, the far message is within reach.
    expect(str((await groupDecrypt(r.state, tooFar, s.opts)).plaintext)).toBe('too far')
  })

  it('refuses tampered ciphertext, header and signature, and the wrong group', async () => {
    const s = await setup('tamper')
    const { message } = await groupEncrypt(s.alice, utf8('hello'), s.opts)
    const fields = decode(message) as Record<string, unknown>
    const c = fields.c as Uint8Array
    const flipped = (b: Uint8Array, i = 0) => b.map((x, k) => (k === i ? x ^ 1 : x))
    await refuses(s.bob, encode({ ...fields, c: flipped(c) }), s.opts, GroupSignatureError)
    await refuses(s.bob, encode({ ...fields, c: flipped(c, c.length - 1) }), s.opts, GroupSignatureError)
    await refuses(s.bob, encode({ ...fields, n: 1 }), s.opts, GroupSignatureError)
    await refuses(
      s.bob,
      encode({ ...fields, sig: flipped(fields.sig as Uint8Array, 5) }),
      s.opts,
      GroupSignatureError,
    )
    await refuses(
      s.bob,
      encode({ ...fields, k: flipped(fields.k as Uint8Array) }),
      s.opts,
      UnknownSenderKeyError,
    )
    await refuses(s.bob, encode({ ...fields, g: flipped(fields.g as Uint8Array) }), s.opts, WrongGroupError)
    await refuses(s.bob, encode({ ...fields, v: 2 }), s.opts, MalformedGroupRecordError)
    await refuses(s.bob, encode({ ...fields, x: 1 }), s.opts, MalformedGroupRecordError)
    await refuses(s.bob, encode({ ...fields, n: SENDER_KEY_MAX_MESSAGES }), s.opts, MalformedGroupRecordError)
    // Signed by the real signing key but with a ciphertext the AEAD refuses: decryption fails.
    const resigned = await resign({ ...fields, c: flipped(c) }, s.a.publicKey, s.alice.signing.seed)
    await refuses(s.bob, resigned, s.opts, GroupDecryptionFailedError)
    // A message of another group, and a receiver of another group.
    const other = await groupWith(s.a, [s.b], { rng: s.rng, name: 'Other' })
    await refuses(newGroupReceiverState(other.log.group), message, s.opts, WrongGroupError)
    await expect(
      processSenderKeyDistribution(
        newGroupReceiverState(other.log.group),
        s.a.publicKey,
        s.distribution,
        s.opts,
      ),
    ).rejects.toBeInstanceOf(WrongGroupError)
    // The untouched message still decrypts.
    expect(str((await groupDecrypt(s.bob, message, s.opts)).plaintext)).toBe('hello')
  })

  it('a member holding the chain key cannot pass a message off as another member', async () => {
    const s = await setup('attribution')
    // c holds a's chain key (from a's distribution) and has its own key.
    const mallory = await newSenderKey(s.rng, { group: s.log.group, owner: s.c.publicKey, now: NOW })
    const { message } = await groupEncrypt(s.alice, utf8('from a'), s.opts)
    const fields = decode(message) as Record<string, unknown>
    // A message under a's key with c's signature does not verify.
    const [, mk] = groupChainStep(s.alice.chainKey)
    const header = groupMessageHeader(s.log.group, s.a.publicKey, s.alice.signing.publicKey, 0)
    const { key, nonce } = groupMessageKeyMaterial(mk)
    const forgedC = aesGcmEncrypt(key, nonce, pad(utf8('send me your password')), header)
    await refuses(
      s.bob,
      await resign({ ...fields, c: forgedC }, s.a.publicKey, mallory.signing.seed),
      s.opts,
      GroupSignatureError,
    )
    // c cannot register a's signing key as its own: the proof binds it to a.
    await expect(
      processSenderKeyDistribution(newGroupReceiverState(s.log.group), s.c.publicKey, s.distribution, s.opts),
    ).rejects.toBeInstanceOf(GroupSignatureError)
    // Nor get bob to take c's key as a's (bob learns the owner from the 1:1 session).
    const cDist = distributeSenderKey(mallory, [s.b.publicKey]).distribution
    await expect(processSenderKeyDistribution(s.bob, s.a.publicKey, cDist, s.opts)).rejects.toBeInstanceOf(
      GroupSignatureError,
    )
    // The same signing key under a second owner (a proof only its holder, a, could make) is a conflict.
    const stolen = decodeSenderKeyDistribution(s.distribution)
    const proof = await ed25519Sign(
      s.alice.signing.seed,
      senderKeyProofMessage(s.log.group, s.c.publicKey, stolen.keyId, stolen.signingKey),
    )
    await expect(
      processSenderKeyDistribution(
        s.bob,
        s.c.publicKey,
        encodeSenderKeyDistribution({ ...stolen, proof }),
        s.opts,
      ),
    ).rejects.toBeInstanceOf(SenderKeyConflictError)
  })

  it('nothing is accepted from or for non-members', async () => {
    const s = await setup('membership')
    const { message } = await groupEncrypt(s.alice, utf8('hi'), s.opts)
    const removed = (await act(s.log, s.a, { kind: 'remove', member: s.b.publicKey })).log
    const withoutA = memberList(removed).filter((m) => hex(m) !== hex(s.a.publicKey))
    await refuses(s.bob, message, { now: NOW, members: withoutA }, NotAGroupMemberError)
    await expect(
      processSenderKeyDistribution(newGroupReceiverState(s.log.group), s.x.publicKey, s.distribution, s.opts),
    ).rejects.toBeInstanceOf(NotAGroupMemberError)
    await expect(groupEncrypt(s.alice, utf8('hi'), { now: NOW, members: withoutA })).rejects.toBeInstanceOf(
      NotAGroupMemberError,
    )
    // After the removal, the removed member's records are dropped.
    const cKey = await newSenderKey(s.rng, { group: s.log.group, owner: s.c.publicKey, now: NOW })
    const both = await processSenderKeyDistribution(
      s.bob,
      s.c.publicKey,
      distributeSenderKey(cKey, []).distribution,
      s.opts,
    )
    expect(forgetFormerMembers(both, withoutA).senders.size).toBe(1)
    expect(forgetFormerMembers(both, s.members)).toBe(both)
  })
})

describe('sender keys: rotation', () => {
  it('must rotate once a holder of the key is removed, after SENDER_KEY_MAX_MESSAGES, and when old', async () => {
    const s = await setup('rotation')
    const after = (await act(s.log, s.a, { kind: 'remove', member: s.c.publicKey })).log
    const opts = { now: NOW, members: memberList(after) }
    expect(senderKeyNeedsRotation(s.alice, opts)).toBe('removal')
    const e = await groupEncrypt(s.alice, utf8('x'), opts).catch((e: unknown) => e)
    expect(e).toBeInstanceOf(RotationRequiredError)
    expect((e as RotationRequiredError).reason).toBe('removal')
    // A fresh key given to the remaining members sends again.
    const rotated = distributeSenderKey(await rotateSenderKey(s.alice, s.rng, { now: NOW }), [s.b.publicKey])
    expect(rotated.state.keyId).toBe(s.alice.keyId + 1)
    expect(senderKeyNeedsRotation(rotated.state, opts)).toBe(null)
    await groupEncrypt(rotated.state, utf8('x'), opts)
    // Count and age.
    expect(senderKeyNeedsRotation({ ...s.alice, iteration: SENDER_KEY_MAX_MESSAGES }, s.opts)).toBe('count')
    await expect(
      groupEncrypt({ ...s.alice, iteration: SENDER_KEY_MAX_MESSAGES }, utf8('x'), s.opts),
    ).rejects.toThrow(RotationRequiredError)
    const old = { now: NOW + SENDER_KEY_MAX_AGE_MS, members: s.members }
    expect(senderKeyNeedsRotation(s.alice, old)).toBe('age')
    expect(senderKeyNeedsRotation(s.alice, { ...old, now: old.now - 1 })).toBe(null)
    // An add alone does not force a rotation: the newcomer gets the chain from now on.
    const added = (await act(s.log, s.a, { kind: 'add', member: s.x.publicKey })).log
    expect(senderKeyNeedsRotation(s.alice, { now: NOW, members: memberList(added) })).toBe(null)
  })

  it('keeps the previous key for SENDER_KEY_GRACE_MS, then forgets it; a third key retires the first', async () => {
    const s = await setup('grace')
    const first = await sendMany(s.alice, 3, s.opts)
    const k2 = distributeSenderKey(await rotateSenderKey(first.state, s.rng, { now: NOW }), [s.b.publicKey])
    let bob = await processSenderKeyDistribution(s.bob, s.a.publicKey, k2.distribution, s.opts)
    const second = await sendMany(k2.state, 2, s.opts)
    // Late messages on the first key decrypt, so do the new ones.
    for (const m of [second.messages[1]!, first.messages[2]!, second.messages[0]!, first.messages[0]!]) {
      bob = (await groupDecrypt(bob, m, s.opts)).state
    }
    const later = { now: NOW + SENDER_KEY_GRACE_MS, members: s.members }
    await refuses(bob, first.messages[1]!, later, UnknownSenderKeyError)
    expect(
      str((await groupDecrypt(bob, first.messages[1]!, { ...later, now: later.now - 1 })).plaintext),
    ).toBe('message 1')
    // A third key: the second becomes previous, the first is gone.
    const k3 = distributeSenderKey(await rotateSenderKey(second.state, s.rng, { now: NOW }), [s.b.publicKey])
    const bob3 = await processSenderKeyDistribution(bob, s.a.publicKey, k3.distribution, s.opts)
    await refuses(bob3, first.messages[1]!, s.opts, UnknownSenderKeyError)
    const r = await newSenderKey(s.rng, {
      group: s.log.group,
      owner: s.a.publicKey,
      now: NOW,
      previous: k3.state,
    })
    expect(r.keyId).toBe(k3.state.keyId + 1)
    // A late distribution of an older key than the previous one is ignored.
    expect(await processSenderKeyDistribution(bob3, s.a.publicKey, s.distribution, s.opts)).toBe(bob3)
  })

  it('a key made later from scratch (a device that lost its state) replaces the current one', async () => {
    const s = await setup('lost-state')
    const { messages } = await sendMany(s.alice, 2, s.opts)
    const later = { now: NOW + 5000, members: s.members }
    const restored = distributeSenderKey(
      await newSenderKey(s.rng, { group: s.log.group, owner: s.a.publicKey, now: later.now }),
      [s.b.publicKey],
    )
    expect(restored.state.keyId).toBe(s.alice.keyId + 5)
    const bob = await processSenderKeyDistribution(s.bob, s.a.publicKey, restored.distribution, later)
    const rec = [...bob.senders.values()][0]!
    expect([rec.current.keyId, rec.previous?.keyId]).toEqual([restored.state.keyId, s.alice.keyId])
    const fresh = await groupEncrypt(restored.state, utf8('back'), later)
    expect(str((await groupDecrypt(bob, fresh.message, later)).plaintext)).toBe('back')
    expect(str((await groupDecrypt(bob, messages[1]!, later)).plaintext)).toBe('message 1')
    // Rotating twice within a second still gives growing ids.
    const r1 = await rotateSenderKey(restored.state, s.rng, later)
    expect((await rotateSenderKey(r1, s.rng, later)).keyId).toBe(restored.state.keyId + 2)
  })

  it('a distribution already held changes nothing (never rewinds); a late older one becomes the previous key', async () => {
    const s = await setup('idempotent')
    const { messages } = await sendMany(s.alice, 2, s.opts)
    const bob = (await groupDecrypt(s.bob, messages[0]!, s.opts)).state
    expect(await processSenderKeyDistribution(bob, s.a.publicKey, s.distribution, s.opts)).toBe(bob)
    await refuses(bob, messages[0]!, s.opts, DuplicateGroupMessageError)
    // Another signing key under the same key id (a state lost and remade within the same second) is the
    // newer key; relabelling a key's id without a new proof is a forgery.
    const twin = await newSenderKey(s.rng, { group: s.log.group, owner: s.a.publicKey, now: NOW + 7000 })
    const relabelled = distributeSenderKey({ ...twin, keyId: s.alice.keyId }, []).distribution
    await expect(processSenderKeyDistribution(bob, s.a.publicKey, relabelled, s.opts)).rejects.toBeInstanceOf(
      GroupSignatureError,
    )
    const proof = await ed25519Sign(
      twin.signing.seed,
      senderKeyProofMessage(s.log.group, s.a.publicKey, s.alice.keyId, twin.signing.publicKey),
    )
    const sameId = distributeSenderKey({ ...twin, keyId: s.alice.keyId, proof }, []).distribution
    const replaced = await processSenderKeyDistribution(bob, s.a.publicKey, sameId, s.opts)
    const both = [...replaced.senders.values()][0]!
    expect([hex(both.current.signingKey), hex(both.previous!.signingKey)]).toEqual([
      hex(twin.signing.publicKey),
      hex(s.alice.signing.publicKey),
    ])
    // The same signing key under another key id is a conflict.
    const proof2 = await ed25519Sign(
      s.alice.signing.seed,
      senderKeyProofMessage(s.log.group, s.a.publicKey, s.alice.keyId + 1, s.alice.signing.publicKey),
    )
    const reused = distributeSenderKey(
      { ...s.alice, keyId: s.alice.keyId + 1, proof: proof2 },
      [],
    ).distribution
    await expect(processSenderKeyDistribution(bob, s.a.publicKey, reused, s.opts)).rejects.toBeInstanceOf(
      SenderKeyConflictError,
    )
    // The newer key arrives first, the older one after it: both decrypt.
    const k2 = distributeSenderKey(await rotateSenderKey(s.alice, s.rng, { now: NOW }), [s.b.publicKey])
    let fresh = await processSenderKeyDistribution(
      newGroupReceiverState(s.log.group),
      s.a.publicKey,
      k2.distribution,
      s.opts,
    )
    fresh = await processSenderKeyDistribution(fresh, s.a.publicKey, s.distribution, s.opts)
    const rec = [...fresh.senders.values()][0]!
    expect([rec.current.keyId, rec.previous?.keyId]).toEqual([k2.state.keyId, s.alice.keyId])
    expect(str((await groupDecrypt(fresh, messages[1]!, s.opts)).plaintext)).toBe('message 1')
  })

  it(`stores at most ${GROUP_MAX_STORED_SKIPPED_KEYS} skipped keys per sender, evicting the oldest`, async () => {
    const s = await setup('skipped-cap')
    const { messages } = await sendMany(s.alice, 1, s.opts)
    const total = (r: GroupReceiverState) => {
      const rec = [...r.senders.values()][0]!
      return [rec.current.skipped.size, rec.previous?.skipped.size ?? 0]
    }
    // Three jumps of GROUP_MAX_SKIP would store 3000 keys: the first 1000 (iterations 0-999) are evicted.
    let bob = s.bob
    for (const at of [GROUP_MAX_SKIP, 2 * GROUP_MAX_SKIP + 1, 3 * GROUP_MAX_SKIP + 2]) {
      bob = (
        await groupDecrypt(
          bob,
          (await groupEncrypt(advance(s.alice, at), utf8(`at ${at}`), s.opts)).message,
          s.opts,
        )
      ).state
    }
    expect(total(bob)).toEqual([GROUP_MAX_STORED_SKIPPED_KEYS, 0])
    await refuses(bob, messages[0]!, s.opts, DuplicateGroupMessageError)
    const kept = (await groupEncrypt(advance(s.alice, GROUP_MAX_SKIP + 1), utf8('kept'), s.opts)).message
    expect(str((await groupDecrypt(bob, kept, s.opts)).plaintext)).toBe('kept')
    // With a new key, the cap covers both chains and the previous key's keys go first.
    const k2 = distributeSenderKey(await rotateSenderKey(s.alice, s.rng, { now: NOW }), [s.b.publicKey])
    bob = await processSenderKeyDistribution(bob, s.a.publicKey, k2.distribution, s.opts)
    bob = (
      await groupDecrypt(
        bob,
        (await groupEncrypt(advance(k2.state, 500), utf8('k2'), s.opts)).message,
        s.opts,
      )
    ).state
    expect(total(bob)).toEqual([500, GROUP_MAX_STORED_SKIPPED_KEYS - 500])
    await refuses(bob, kept, s.opts, DuplicateGroupMessageError)
  })
})

describe('sender keys: codecs and limits', () => {
  it('states and distributions round-trip; malformed ones are refused', async () => {
    const s = await setup('codecs')
    const { messages } = await sendMany(s.alice, 3, s.opts)
    const bob = (await groupDecrypt(s.bob, messages[2]!, s.opts)).state
    const rs = encodeGroupReceiverState(bob)
    expect(encodeGroupReceiverState(decodeGroupReceiverState(rs))).toEqual(rs)
    const restored = decodeGroupReceiverState(rs)
    expect(str((await groupDecrypt(restored, messages[0]!, s.opts)).plaintext)).toBe('message 0')
    const ss = encodeSenderKeyState(s.alice)
    expect(decodeSenderKeyState(ss)).toEqual(s.alice)
    expect(decodeSenderKeyDistribution(s.distribution).chainKey).toEqual(s.alice.chainKey)
    const dist = decode(s.distribution) as object
    for (const bytes of [
      encode({ ...dist, ck: new Uint8Array(31) }),
      encode({ ...dist, x: 1 }),
      Uint8Array.of(1),
    ]) {
      expect(() => decodeSenderKeyDistribution(bytes)).toThrow(MalformedGroupRecordError)
    }
    expect(() => decodeSenderKeyState(encode({ ...(decode(ss) as object), r: [new Uint8Array(3)] }))).toThrow(
      MalformedGroupRecordError,
    )
    for (const senders of [
      [{ o: new Uint8Array(32) }],
      [1],
      (decode(rs) as { s: unknown[] }).s.concat((decode(rs) as { s: unknown[] }).s),
    ]) {
      expect(() => decodeGroupReceiverState(encode({ ...(decode(rs) as object), s: senders }))).toThrow(
        MalformedGroupRecordError,
      )
    }
  })

  it(`refuses a message beyond MAX_GROUP_MESSAGE_BYTES before encrypting; the largest that fits goes`, async () => {
    const s = await setup('size')
    // Padding rounds up to 160: the largest plaintext whose padded form fits.
    const room = MAX_GROUP_MESSAGE_BYTES - 16 - MESSAGE_FRAMING_BYTES
    const largest = Math.floor(room / 160) * 160 - 1
    const fits = await groupEncrypt(s.alice, new Uint8Array(largest), s.opts)
    expect(fits.message.length).toBeLessThanOrEqual(MAX_GROUP_MESSAGE_BYTES)
    expect(fits.message.length - pad(new Uint8Array(largest)).length - 16).toBeLessThanOrEqual(
      MESSAGE_FRAMING_BYTES,
    )
    expect((await groupDecrypt(s.bob, fits.message, s.opts)).plaintext.length).toBe(largest)
    const stats = { ..._stats }
    await expect(groupEncrypt(s.alice, new Uint8Array(largest + 1), s.opts)).rejects.toBeInstanceOf(
      GroupMessageTooLargeError,
    )
    expect(_stats).toEqual(stats)
  })
})

describe('topic and welcome', () => {
  it('the topic is a function of the group secret alone and shows nothing else', async () => {
    const s = await setup('topic')
    const t = groupTopic(s.groupSecret)
    expect(t).toMatch(/^paloma\/group\/1\/[0-9a-f]{64}$/)
    expect(groupTopic(new Uint8Array(s.groupSecret))).toBe(t)
    expect(t).not.toContain(hex(s.log.group))
    expect(groupTopic(new Uint8Array(32))).not.toBe(t)
    expect(() => groupTopic(new Uint8Array(31))).toThrow(MalformedGroupRecordError)
  })

  it('a welcome rebuilds the log from its parts in any order, and refuses a bad one', async () => {
    const rng = seededRng('welcome')
    const people = await identities(300, rng)
    const [creator, ...rest] = people as [IdentityKeyPair, ...IdentityKeyPair[]]
    // A log of ~600 changes needs several parts.
    const start = await groupWith(creator, rest.slice(0, 200), { rng })
    const groupSecret = start.groupSecret
    let log = start.log
    for (const p of rest.slice(0, 150))
      log = (await act(log, creator, { kind: 'remove', member: p.publicKey })).log
    for (const p of rest.slice(200, 299))
      log = (await act(log, creator, { kind: 'add', member: p.publicKey })).log
    const newcomer = rest[298]!
    const parts = encodeWelcome(log, groupSecret)
    expect(parts.length).toBeGreaterThan(1)
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(MAX_WELCOME_PART_BYTES)
    const joined = await openWelcome([...parts].reverse(), { me: newcomer.publicKey })
    expect(summary(groupState(joined.log))).toEqual(summary(groupState(log)))
    expect(joined.groupSecret).toEqual(groupSecret)
    await expect(openWelcome(parts.slice(1), { me: newcomer.publicKey })).rejects.toBeInstanceOf(
      IncompleteWelcomeError,
    )
    await expect(openWelcome([parts[0]!, ...parts], { me: newcomer.publicKey })).rejects.toBeInstanceOf(
      IncompleteWelcomeError,
    )
    await expect(openWelcome(parts, { me: rest[0]!.publicKey })).rejects.toBeInstanceOf(NotAGroupMemberError)
    await expect(openWelcome([], { me: newcomer.publicKey })).rejects.toBeInstanceOf(IncompleteWelcomeError)
    // A part whose change was altered: that change does not apply.
    const p1 = decode(parts[1]!) as { c: Uint8Array[] }
    const altered = encode({
      ...p1,
      c: p1.c.map((c, i) => (i === 0 ? c.map((b, k) => (k === c.length - 1 ? b ^ 1 : b)) : c)),
    })
    await expect(
      openWelcome([parts[0]!, altered, ...parts.slice(2)], { me: newcomer.publicKey }),
    ).rejects.toBeInstanceOf(IncompleteWelcomeError)
    // Parts of two groups do not mix.
    const other = await groupWith(creator, [newcomer], { rng })
    const otherParts = encodeWelcome(other.log, other.groupSecret)
    await expect(openWelcome([parts[0]!, ...otherParts], { me: newcomer.publicKey })).rejects.toBeInstanceOf(
      IncompleteWelcomeError,
    )
    expect(decodeWelcomePart(parts[0]!).count).toBe(parts.length)
    expect(logChanges(joined.log)).toHaveLength(logChanges(log).length)
  }, 60_000)
})
