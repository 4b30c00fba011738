/**
 * Fuzzing the crypto core's decoders: ratchet headers, ratchet and prekey messages, prekey bundles (as
 * the DHT serves them, and as a malicious contact may sign them), whole decryptions of mutated messages on
 * a receiver's real state, session records and scanned safety numbers. Harness and invariants:
 * support/fuzz.ts.
 */
import { describe, expect } from 'vitest'
import fc from 'fast-check'
import {
  CRYPTO_ERROR_CODES,
  CryptoError,
  SessionRecord,
  createInMemoryStores,
  decryptMessage,
  processPreKeyBundle,
  safetyNumber,
  verifyPreKeyBundle,
  verifyScannedSafetyNumber,
  type EncryptedMessage,
} from '@paloma/core/crypto/index.ts'
import {
  decodePreKeyMessage,
  decodeRatchetMessage,
  encodePreKeyMessage,
  encodeRatchetMessage,
} from '@paloma/core/crypto/messages.ts'
import { decodeHeader, encodeHeader } from '@paloma/core/crypto/ratchet.ts'
import { decodePreKeyBundleUnverified } from '@paloma/core/crypto/prekeys.ts'
import {
  BUNDLE_SIGNATURE_PREFIX_BYTES,
  MAX_BUNDLE_BYTES,
  RECORD_VERSION,
} from '@paloma/core/crypto/constants.ts'
import { concatBytes } from '@paloma/core/crypto/bytes.ts'
import { ed25519Sign } from '@paloma/core/crypto/primitives.ts'
import { encodeCbor } from '@paloma/core/crypto/cbor.ts'
import { lenientDecode } from './support/cbor.ts'
import { costly, fuzzer, same } from './support/fuzz.ts'
import { byteInputs, byteMutations, treeMutations } from './support/mutations.ts'
import { NOW, bundleOf, conversation, party, rng, type Conversation } from './support/seeds.ts'

const fuzz = fuzzer('crypto')

const conversations = [await conversation(true), await conversation(false)]
const [he, plain] = conversations as [Conversation, Conversation]
const bodies = (type: EncryptedMessage['type']) =>
  conversations.flatMap((c) => c.toBob.filter((m) => m.message.type === type).map((m) => m.message.body))
const prekeyBodies = bodies('prekey')
const ratchetBodies = [
  ...bodies('message'),
  ...prekeyBodies.map((b) => (lenientDecode(b) as { m: Uint8Array }).m),
]
const headers = [
  { dh: rng(32).map((b, i) => (i === 31 ? b & 0x7f : b)), pn: 0, n: 0 },
  { dh: new Uint8Array(32).fill(9), pn: 0xffffffff, n: 0xffffffff },
  { dh: new Uint8Array(32).fill(1), pn: 300, n: 70_000 },
].map(encodeHeader)
const plainHeaders = plain.toBob
  .filter((m) => m.message.type === 'message')
  .map((m) => (lenientDecode(m.message.body) as { h: Uint8Array }).h)

const canonicalX25519 = (k: Uint8Array) => expect((k[31]! & 0x80) === 0).toBe(true)

describe('messages on the wire', () => {
  fuzz({
    name: 'decodeHeader (plain ratchet header)',
    family: 'crypto',
    input: byteInputs([...headers, ...plainHeaders]),
    run: decodeHeader,
    error: CryptoError,
    codes: CRYPTO_ERROR_CODES,
    accepted: (h) => {
      canonicalX25519(h.dh)
      same(decodeHeader(encodeHeader(h)), h, 'a header round-trips')
    },
  })
  fuzz({
    name: 'decodeRatchetMessage',
    family: 'crypto',
    input: byteInputs(ratchetBodies),
    run: decodeRatchetMessage,
    error: CryptoError,
    codes: CRYPTO_ERROR_CODES,
    accepted: (m) => same(decodeRatchetMessage(encodeRatchetMessage(m)), m, 'a ratchet message round-trips'),
  })
  fuzz({
    name: 'decodePreKeyMessage',
    family: 'crypto',
    input: byteInputs(prekeyBodies),
    run: decodePreKeyMessage,
    error: CryptoError,
    codes: CRYPTO_ERROR_CODES,
    accepted: (m) => {
      canonicalX25519(m.baseKey)
      same(decodePreKeyMessage(encodePreKeyMessage(m)), m, 'a prekey message round-trips')
    },
  })

  // Whole decryptions on the receiver's real state (fresh for every case): a mutated message decrypts to
  // what was sent, or fails with a typed error, never to anything else.
  const messageInputs = fc.oneof(
    fc.tuple(fc.constant('prekey' as const), byteInputs(prekeyBodies), fc.nat(1)),
    fc.tuple(fc.constant('message' as const), byteInputs(bodies('message')), fc.nat(1)),
    // the type changed (a prekey body sent as a ratchet message, and the reverse)
    fc.tuple(
      fc.constantFrom('prekey' as const, 'message' as const),
      fc.constantFrom(...prekeyBodies, ...bodies('message')),
      fc.nat(1),
    ),
  )
  fuzz({
    name: 'decryptMessage (mutated prekey and ratchet messages, on the receiver of the session)',
    family: 'crypto',
    input: messageInputs,
    run: async ([type, body, which]) => {
      const stores = await receiverStores(conversations[which]!, type)
      return decryptMessage('alice', { type, body }, stores, { now: NOW, rng })
    },
    error: CryptoError,
    codes: CRYPTO_ERROR_CODES,
    accepted: (plaintext, [type, , which]) => {
      const sent = conversations[which]!.toBob.filter((m) => m.message.type === type)
      expect(sent.some((m) => Buffer.from(m.plaintext).equals(plaintext))).toBe(true)
    },
    maxCaseMs: 3000,
    msPerCase: 10,
  })
})

/** Bob as he was before the first prekey message (for `prekey`), or once he answered (for `message`). */
async function receiverStores(c: Conversation, type: EncryptedMessage['type']) {
  const stores = createInMemoryStores(c.bob.identity)
  if (type === 'message') await stores.sessions.storeSession('alice', SessionRecord.deserialize(c.bobSession))
  // Prekeys are only read (and deleted from this copy's maps): share the records, not the maps.
  for (let id = 1; id <= 8; id++) {
    const k = await c.bobBefore.preKeys.loadPreKey(id)
    if (k) await stores.preKeys.storePreKey(k)
  }
  await stores.signedPreKeys.storeSignedPreKey((await c.bobBefore.signedPreKeys.loadSignedPreKey(1))!)
  return stores
}

const bob = await party()
const alice = await party()
const bundles = [
  await bundleOf(bob, []),
  await bundleOf(bob, [1]),
  await bundleOf(bob, [1, 2, 3, 4, 5, 6, 7, 8]),
]
const genuine = bundles.map((b) => decodePreKeyBundleUnverified(b))

describe('prekey bundles', () => {
  const inputs = byteInputs(bundles, { sizes: [MAX_BUNDLE_BYTES] })
  fuzz({
    name: 'decodePreKeyBundleUnverified',
    family: 'crypto',
    input: inputs,
    run: decodePreKeyBundleUnverified,
    error: CryptoError,
    codes: CRYPTO_ERROR_CODES,
    accepted: (b) => expect(b.oneTimePreKeys.length).toBeLessThanOrEqual(64),
  })
  fuzz({
    name: 'verifyPreKeyBundle (against the owner, or another identity)',
    family: 'crypto',
    input: fc.tuple(inputs, fc.boolean()),
    run: ([bytes, owner]) => verifyPreKeyBundle(bytes, (owner ? bob : alice).identity.publicKey),
    error: CryptoError,
    codes: CRYPTO_ERROR_CODES,
    // Only what the owner signed verifies (the outer map may be re-encoded; the signed body may not).
    accepted: (b, [, owner]) => {
      expect(owner).toBe(true)
      expect(genuine.some((g) => JSON.stringify(g, hex) === JSON.stringify(b, hex))).toBe(true)
    },
    maxCaseMs: 2000,
    msPerCase: 5,
  })

  // A malicious contact signs whatever body it likes: X3DH on it must fail typed, or make a session.
  const body = (b: Uint8Array) => (lenientDecode(b) as { body: Uint8Array }).body
  const signedBodies = fc.oneof(
    fc.constantFrom(...bundles.map(body)),
    treeMutations(bundles.map(body)),
    byteMutations(bundles.map(body)),
  )
  fuzz({
    name: 'processPreKeyBundle (bodies the owner signed: a malicious contact)',
    family: 'crypto',
    input: signedBodies,
    run: async (b) => {
      const sig = await ed25519Sign(bob.identity.seed, concatBytes(BUNDLE_SIGNATURE_PREFIX_BYTES, b))
      const stores = createInMemoryStores(alice.identity)
      const signed = encodeCbor({ v: RECORD_VERSION, body: b, sig })
      await processPreKeyBundle('bob', bob.identity.publicKey, signed, stores, {
        now: NOW,
        rng,
        headerEncryption: true,
      })
      return stores
    },
    error: CryptoError,
    codes: CRYPTO_ERROR_CODES,
    accepted: async (stores) => expect((await stores.sessions.loadSession('bob'))?.current).toBeTruthy(),
    // A signature and an X3DH run per case: a quarter of the cases.
    cases: costly(4),
    maxCaseMs: 3000,
    msPerCase: 10,
  })
})

describe('local crypto records and scanned codes', () => {
  const records = conversations.flatMap((c) => [c.bobSession, c.aliceSession])
  fuzz({
    name: 'SessionRecord.deserialize',
    family: 'crypto',
    input: byteInputs(records, { maxRandom: 1024 }),
    run: (b) => SessionRecord.deserialize(b),
    error: CryptoError,
    codes: CRYPTO_ERROR_CODES,
    // What loads serializes to something that loads to the same bytes again.
    accepted: (r) => same(SessionRecord.deserialize(r.serialize()).serialize(), r.serialize(), 'stable'),
    msPerCase: 4,
  })

  const ours = safetyNumber(he.alice.identity.publicKey, he.bob.identity.publicKey)
  const theirs = safetyNumber(he.bob.identity.publicKey, he.alice.identity.publicKey)
  const other = safetyNumber(he.alice.identity.publicKey, plain.bob.identity.publicKey)
  fuzz({
    name: 'verifyScannedSafetyNumber',
    family: 'crypto',
    input: byteInputs([ours.qr, other.qr]),
    run: (scanned) => verifyScannedSafetyNumber(ours, scanned),
    error: CryptoError,
    codes: CRYPTO_ERROR_CODES,
    // A match only for the payload both sides compute.
    accepted: (match, scanned) => {
      if (match) same(scanned, theirs.qr, 'the matching payload')
    },
  })
})

function hex(_: string, v: unknown): unknown {
  return v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v
}
