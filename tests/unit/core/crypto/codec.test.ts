import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decode, encode } from 'cborg'
import { decodeRecord, encodeCbor } from '@paloma/core/crypto/cbor.ts'
import { InvalidRecordError } from '@paloma/core/crypto/errors.ts'
import { decodePreKeyMessage, decodeRatchetMessage } from '@paloma/core/crypto/messages.ts'
import { decodeHeader, encodeHeader } from '@paloma/core/crypto/ratchet.ts'
import { SessionRecord } from '@paloma/core/crypto/session-record.ts'
import { MAX_COUNTER } from '@paloma/core/crypto/constants.ts'
import {
  MAX_BUNDLE_BYTES,
  MAX_BUNDLE_ONE_TIME_PREKEYS,
  createPreKeyBundle,
  generateIdentity,
  generateOneTimePreKeys,
  generateSignedPreKey,
  verifyPreKeyBundle,
} from '@paloma/core/crypto/index.ts'
import { MAX_BUNDLE_BYTES as DIRECTORY_MAX_BUNDLE_BYTES } from '@paloma/core/protocol/directory.ts'
import { seededRng } from './helpers.ts'

const dh = new Uint8Array(32).fill(9)

describe('codecs validate every field', () => {
  it('headers', () => {
    const h = encodeHeader({ dh, pn: 3, n: 7 })
    expect(decodeHeader(h)).toEqual({ dh, pn: 3, n: 7 })
    const bad = [
      encode({ v: 2, dh, pn: 0, n: 0 }),
      encode({ v: 1, dh: dh.subarray(1), pn: 0, n: 0 }),
      encode({ v: 1, dh, pn: -1, n: 0 }),
      encode({ v: 1, dh, pn: 0, n: 2 ** 32 }),
      encode({ v: 1, dh, pn: 0 }),
      encode([1, dh, 0, 0]),
      Uint8Array.of(0xa4, 0x61),
      new Uint8Array(65),
      encode({ v: 1, dh: Uint8Array.from(dh, (b, i) => (i === 31 ? b | 0x80 : b)), pn: 0, n: 0 }),
    ]
    for (const b of bad) expect(() => decodeHeader(b)).toThrow(InvalidRecordError)
  })

  it('messages and prekey messages', () => {
    // Plain headers are at most 64 bytes, encrypted ones 12 + 64 + 16.
    expect(() => decodeRatchetMessage(encode({ v: 1, h: new Uint8Array(93), c: dh }))).toThrow(
      InvalidRecordError,
    )
    expect(() => decodeRatchetMessage(encode({ v: 1, h: dh, c: 'text' }))).toThrow(InvalidRecordError)
    const ok = { v: 1, ik: dh, ek: dh, spk: 1, opk: null, m: dh }
    expect(decodePreKeyMessage(encode(ok)).oneTimePreKeyId).toBeNull()
    expect(() => decodePreKeyMessage(encode({ ...ok, spk: 1.5 }))).toThrow(InvalidRecordError)
    expect(() => decodePreKeyMessage(encode({ ...ok, ik: new Uint8Array(33) }))).toThrow(InvalidRecordError)
    expect(() => decodePreKeyMessage(encode({ ...ok, opk: 'x' }))).toThrow(InvalidRecordError)
    expect(decodePreKeyMessage(encode(ok)).headerEncryption).toBe(false)
    expect(decodePreKeyMessage(encode({ ...ok, he: true })).headerEncryption).toBe(true)
    expect(() => decodePreKeyMessage(encode({ ...ok, he: false }))).toThrow(InvalidRecordError)
    expect(() => decodePreKeyMessage(encode({ ...ok, he: 1 }))).toThrow(InvalidRecordError)
    // Base keys must be canonical X25519 public keys: top bit clear, value below 2^255 - 19.
    const topBit = new Uint8Array(32).fill(1)
    topBit[31] = 0x81
    const p = new Uint8Array(32).fill(0xff)
    p[0] = 0xed
    p[31] = 0x7f
    const belowP = p.slice()
    belowP[0] = 0xec
    for (const ek of [topBit, p]) {
      expect(() => decodePreKeyMessage(encode({ ...ok, ek }))).toThrow(InvalidRecordError)
    }
    expect(decodePreKeyMessage(encode({ ...ok, ek: belowP })).baseKey).toEqual(belowP)
  })

  it('session records', () => {
    expect(new SessionRecord().serialize()).toEqual(encode({ v: 1, cur: null, prev: [] }))
    expect(SessionRecord.deserialize(new SessionRecord().serialize()).current).toBeNull()
    expect(() => SessionRecord.deserialize(encode({ v: 1, cur: { r: {} }, prev: [] }))).toThrow(
      InvalidRecordError,
    )
    expect(() =>
      SessionRecord.deserialize(encode({ v: 1, cur: null, prev: new Array(6).fill(null) })),
    ).toThrow(InvalidRecordError)
  })
})

// The flat-map fast paths of cbor.ts must be invisible: byte-for-byte cborg's encoding, and the same
// accept/reject decision and result as the cborg decoder for any input.
describe('CBOR flat-map fast paths', () => {
  const key = fc.stringMatching(/^[a-z0-9]{1,6}$/)
  const value = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.nat(30),
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.constantFrom(23, 24, 255, 256, 65535, 65536, 0xffffffff),
    fc.uint8Array({ maxLength: 40 }),
    fc.uint8Array({ minLength: 250, maxLength: 300 }),
  )
  const flatMap = fc.dictionary(key, value, { maxKeys: 8 }).map((m) => ({ v: 1, ...m }))
  const DECODE = {
    strict: true,
    allowIndefinite: false,
    allowUndefined: false,
    allowInfinity: false,
    allowNaN: false,
    allowBigInt: false,
    rejectDuplicateMapKeys: true,
  } as const

  const viaCborg = (bytes: Uint8Array): unknown => {
    try {
      const m = decode(bytes, DECODE) as Record<string, unknown>
      return m && typeof m === 'object' && !Array.isArray(m) && m.v === 1 ? m : 'rejected'
    } catch {
      return 'rejected'
    }
  }
  const viaModule = (bytes: Uint8Array): unknown => {
    try {
      return decodeRecord(bytes, 'test', 1 << 20)
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidRecordError)
      return 'rejected'
    }
  }
  const normalize = (v: unknown): unknown =>
    v && typeof v === 'object' && !(v instanceof Uint8Array)
      ? Object.fromEntries(
          Object.entries(v).map(([k, x]) => [k, x instanceof Uint8Array ? Array.from(x) : x]),
        )
      : v

  it('encodes exactly as cborg', () => {
    fc.assert(
      fc.property(flatMap, (m) => {
        expect(encodeCbor(m)).toEqual(new Uint8Array(encode(m)))
      }),
      { numRuns: 2000 },
    )
    // Values outside the fast path still go through cborg.
    for (const m of [
      { v: 1, x: -1 },
      { v: 1, x: 1.5 },
      { v: 1, x: -0 },
      { v: 1, x: 2 ** 40 },
      { v: 1, X: 1 },
    ]) {
      expect(encodeCbor(m)).toEqual(new Uint8Array(encode(m)))
    }
  })

  it('decodes like cborg, including mutated and non-canonical inputs', () => {
    fc.assert(
      fc.property(flatMap, fc.nat(), fc.nat(255), fc.nat(3), (m, at, byte, mode) => {
        const bytes = encodeCbor(m)
        const mutated = new Uint8Array(bytes)
        if (mode === 0) mutated[at % mutated.length] = byte
        const input =
          mode === 1
            ? mutated.subarray(0, at % mutated.length)
            : mode === 2
              ? Uint8Array.from([...bytes, byte])
              : mutated
        expect(normalize(viaModule(input))).toEqual(normalize(viaCborg(input)))
      }),
      { numRuns: 3000 },
    )
    // Non-minimal heads, unsorted keys, duplicates: cborg decides.
    const samples = [
      Uint8Array.of(0xa1, 0x61, 0x76, 0x18, 0x01), // v: 1 in two bytes (strict: rejected)
      Uint8Array.of(0xa2, 0x61, 0x76, 0x01, 0x61, 0x61, 0x00), // keys out of canonical order
      Uint8Array.of(0xa2, 0x61, 0x76, 0x01, 0x61, 0x76, 0x01), // duplicate key
      Uint8Array.of(0xb8, 0x01, 0x61, 0x76, 0x01), // map length in a non-minimal head
      Uint8Array.of(0xa1, 0x61, 0x76, 0x01, 0x00), // trailing byte
    ]
    for (const b of samples) expect(normalize(viaModule(b))).toEqual(normalize(viaCborg(b)))
  })
})

describe('prekey bundle limits', () => {
  it('a bundle with the most one-time prekeys, largest ids and time fits MAX_BUNDLE_BYTES, which the directory uses', async () => {
    const rng = seededRng('bundle limits')
    const identity = await generateIdentity(rng)
    const spk = await generateSignedPreKey(MAX_COUNTER, rng, Number.MAX_SAFE_INTEGER)
    const opks = await generateOneTimePreKeys(
      MAX_COUNTER - MAX_BUNDLE_ONE_TIME_PREKEYS,
      MAX_BUNDLE_ONE_TIME_PREKEYS,
      rng,
    )
    const bundle = await createPreKeyBundle(identity, spk, opks)
    expect(bundle.length).toBeLessThanOrEqual(MAX_BUNDLE_BYTES)
    expect((await verifyPreKeyBundle(bundle, identity.publicKey)).oneTimePreKeys).toHaveLength(
      MAX_BUNDLE_ONE_TIME_PREKEYS,
    )
    await expect(createPreKeyBundle(identity, spk, [...opks, opks[0]!])).rejects.toThrow(RangeError)
    expect(DIRECTORY_MAX_BUNDLE_BYTES).toBe(MAX_BUNDLE_BYTES)
  })
})
