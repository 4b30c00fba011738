import { describe, expect, it } from 'vitest'
import { decode as cborDecode, encode as cborEncode } from 'cborg'
import {
  FrameReader,
  PREKEYS_MAX_FRAME_BYTES,
  MAX_PREKEY_ID,
  MAX_UPLOAD_RECORDS,
  OneTimePreKeyRecordError,
  PreKeysFrameError,
  decodeFrameBody,
  decodeOneTimePreKeyUnverified,
  encodeFrame,
  encodeFrameBody,
  signOneTimePreKey,
  verifyOneTimePreKey,
  type PreKeysFrame,
} from '@paloma/core/protocol/prekeys.ts'
import { generateIdentity, type IdentityKeyPair } from '@paloma/core/crypto/keys.ts'
import { ed25519Sign } from '@paloma/core/crypto/primitives.ts'
import { frameRejects } from './frame-asserts.ts'

const BOB = '12D3KooWP2v4YnztXgyUugesd59Qdrpwumon3vxQpJf1pa1um4kF'

let counter = 0
/** Deterministic bytes, so every run signs the same records. */
const rng = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + ++counter) & 0xff)
const key = (fill: number): Uint8Array => new Uint8Array(32).fill(fill)

async function rejectsRecord(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(OneTimePreKeyRecordError)
  expect((err as OneTimePreKeyRecordError).code).toBe(code)
  if (message) expect((err as Error).message).toMatch(message)
}

const rejectsFrame = frameRejects(PreKeysFrameError)

/** Re-encodes a record with some fields changed (the signature is left as it was). */
function tamper(rec: Uint8Array, changes: Record<string, unknown>): Uint8Array {
  return cborEncode({ ...(cborDecode(rec) as Record<string, unknown>), ...changes })
}

describe('one-time prekey records', () => {
  let bob: IdentityKeyPair
  let eve: IdentityKeyPair
  const setup = async (): Promise<void> => {
    bob ??= await generateIdentity(rng)
    eve ??= await generateIdentity(rng)
  }

  it('signs and verifies a record, in canonical CBOR of at most 118 bytes', async () => {
    await setup()
    for (const id of [0, 1, 300, MAX_PREKEY_ID]) {
      const rec = await signOneTimePreKey(bob.seed, bob.publicKey, id, key(7))
      expect(rec.byteLength).toBeLessThanOrEqual(118)
      expect(await verifyOneTimePreKey(rec, bob.publicKey)).toEqual({ id, publicKey: key(7) })
    }
  })

  it('refuses a record whose id, key or signature was changed', async () => {
    await setup()
    const rec = await signOneTimePreKey(bob.seed, bob.publicKey, 5, key(1))
    await rejectsRecord(verifyOneTimePreKey(tamper(rec, { id: 6 }), bob.publicKey), 'BAD_SIGNATURE')
    await rejectsRecord(verifyOneTimePreKey(tamper(rec, { k: key(2) }), bob.publicKey), 'BAD_SIGNATURE')
    const sig = (cborDecode(rec) as { sig: Uint8Array }).sig.slice()
    sig[10] = (sig[10] as number) ^ 1
    await rejectsRecord(verifyOneTimePreKey(tamper(rec, { sig }), bob.publicKey), 'BAD_SIGNATURE')
  })

  it('refuses a record signed by someone else, or checked against another owner', async () => {
    await setup()
    // Eve signs a key as if it were Bob's (binding Bob's public key): her signature does not verify.
    const forged = await signOneTimePreKey(eve.seed, bob.publicKey, 1, key(3))
    await rejectsRecord(verifyOneTimePreKey(forged, bob.publicKey), 'BAD_SIGNATURE', /expected owner/)
    // Bob's genuine record presented as Eve's.
    const bobs = await signOneTimePreKey(bob.seed, bob.publicKey, 1, key(3))
    await rejectsRecord(verifyOneTimePreKey(bobs, eve.publicKey), 'BAD_SIGNATURE')
    await rejectsRecord(verifyOneTimePreKey(bobs, new Uint8Array(31)), 'BAD_SIGNATURE')
  })

  it('refuses a record of another version', async () => {
    await setup()
    const rec = await signOneTimePreKey(bob.seed, bob.publicKey, 1, key(4))
    await rejectsRecord(verifyOneTimePreKey(tamper(rec, { v: 2 }), bob.publicKey), 'MALFORMED', /record.v/)
  })

  it('signs domain-separated bytes: a signature over the bare fields does not verify', async () => {
    await setup()
    const id = new Uint8Array(4)
    new DataView(id.buffer).setUint32(0, 3)
    const bare = await ed25519Sign(bob.seed, new Uint8Array([...bob.publicKey, ...id, ...key(6)]))
    const rec = cborEncode({ v: 1, id: 3, k: key(6), sig: bare })
    await rejectsRecord(verifyOneTimePreKey(rec, bob.publicKey), 'BAD_SIGNATURE')
    const domain = new TextEncoder().encode('paloma/one-time-prekey/v1\0')
    const good = await ed25519Sign(bob.seed, new Uint8Array([...domain, ...bob.publicKey, ...id, ...key(6)]))
    expect(
      await verifyOneTimePreKey(cborEncode({ v: 1, id: 3, k: key(6), sig: good }), bob.publicKey),
    ).toEqual({
      id: 3,
      publicKey: key(6),
    })
  })

  it('refuses malformed records', async () => {
    await setup()
    const rec = await signOneTimePreKey(bob.seed, bob.publicKey, 9, key(5))
    const cases: Array<[Uint8Array, RegExp]> = [
      [Uint8Array.of(0xff), /not valid CBOR/],
      [cborEncode([1, 2]), /expected a map/],
      [tamper(rec, { id: -1 }), /id: expected an integer/],
      [tamper(rec, { id: MAX_PREKEY_ID + 1 }), /id: expected an integer/],
      [tamper(rec, { id: 1.5 }), /id: expected an integer/],
      [tamper(rec, { k: new Uint8Array(31) }), /record.k: expected 32 bytes/],
      [tamper(rec, { k: 'key' }), /record.k: expected 32 bytes/],
      [tamper(rec, { sig: new Uint8Array(63) }), /record.sig: expected 64 bytes/],
      [tamper(rec, { extra: 1 }), /unknown field/],
      [new Uint8Array(161), /at most 160 bytes/],
    ]
    for (const [bytes, message] of cases) {
      await rejectsRecord(verifyOneTimePreKey(bytes, bob.publicKey), 'MALFORMED', message)
    }
    // Same fields with the map keys in another order: refused, a record has one byte form only.
    const { sig } = decodeOneTimePreKeyUnverified(rec)
    const reordered = cborEncode({ sig, id: 9, v: 1, k: key(5) }, { mapSorter: () => 0 })
    expect(reordered).not.toEqual(rec)
    await rejectsRecord(verifyOneTimePreKey(reordered, bob.publicKey), 'MALFORMED', /canonical/)
    // An integer encoded in more bytes than needed is refused by the strict decoder.
    const idAt = rec.findIndex((b, i) => b === 0x62 && rec[i + 1] === 0x69 && rec[i + 2] === 0x64) + 3
    const widened = new Uint8Array([...rec.subarray(0, idAt), 0x19, 0x00, 0x09, ...rec.subarray(idAt + 1)])
    await rejectsRecord(verifyOneTimePreKey(widened, bob.publicKey), 'MALFORMED', /more bytes than necessary/)
  })

  it('refuses to sign bad inputs', async () => {
    await setup()
    await rejectsRecord(signOneTimePreKey(bob.seed, bob.publicKey, -1, key(1)), 'MALFORMED')
    await rejectsRecord(signOneTimePreKey(bob.seed, bob.publicKey, 1, new Uint8Array(33)), 'MALFORMED')
    await rejectsRecord(signOneTimePreKey(bob.seed, new Uint8Array(5), 1, key(1)), 'MALFORMED')
  })
})

describe('prekey frames', () => {
  const rec = new Uint8Array(118).fill(1)

  it('round-trips every frame type', () => {
    const frames: PreKeysFrame[] = [
      { t: 'upload', opks: [rec, rec] },
      { t: 'upload', opks: [rec], replace: true },
      { t: 'ok', stored: 2, total: 10 },
      { t: 'take', owner: BOB },
      { t: 'opk', rec },
      { t: 'none' },
      { t: 'count' },
      { t: 'count', n: 0 },
      { t: 'err', code: 'OWNER_QUOTA', msg: 'full' },
    ]
    for (const f of frames) {
      expect(decodeFrameBody(encodeFrameBody(f))).toEqual(f)
      expect(new FrameReader().push(encodeFrame(f))).toEqual([f])
    }
  })

  it('reassembles frames split across chunks', () => {
    const bytes = new Uint8Array([...encodeFrame({ t: 'take', owner: BOB }), ...encodeFrame({ t: 'none' })])
    const reader = new FrameReader()
    const got: PreKeysFrame[] = []
    for (const b of bytes) got.push(...reader.push(Uint8Array.of(b)))
    expect(got).toEqual([{ t: 'take', owner: BOB }, { t: 'none' }])
  })

  it('refuses malformed frames with typed reasons', () => {
    const f = (value: unknown): Uint8Array => cborEncode(value)
    rejectsFrame(() => decodeFrameBody(Uint8Array.of(0xff)), 'BAD_FRAME', /not valid CBOR/)
    rejectsFrame(() => decodeFrameBody(f([1])), 'BAD_FRAME', /expected a map/)
    rejectsFrame(() => decodeFrameBody(f({ v: 2, t: 'none' })), 'UNSUPPORTED_VERSION', /version 1/)
    rejectsFrame(() => decodeFrameBody(f({ v: '1', t: 'none' })), 'BAD_FRAME', /v: expected 1/)
    rejectsFrame(() => decodeFrameBody(f({ v: 1, t: 'steal' })), 'BAD_FRAME', /unknown frame type/)
    rejectsFrame(() => decodeFrameBody(f({ v: 1, t: 'upload', opks: [] })), 'BAD_FRAME', /1 to 100/)
    rejectsFrame(() => decodeFrameBody(f({ v: 1, t: 'upload', opks: rec })), 'BAD_FRAME', /an array/)
    rejectsFrame(
      () => decodeFrameBody(f({ v: 1, t: 'upload', opks: ['x'] })),
      'BAD_FRAME',
      /opks\[0\]: expected bytes/,
    )
    rejectsFrame(
      () => decodeFrameBody(f({ v: 1, t: 'upload', opks: [new Uint8Array(161)] })),
      'BAD_FRAME',
      /1 to 160 bytes/,
    )
    rejectsFrame(
      () => decodeFrameBody(f({ v: 1, t: 'upload', opks: [rec], replace: 1 })),
      'BAD_FRAME',
      /replace: expected a boolean/,
    )
    rejectsFrame(
      () => encodeFrameBody({ t: 'upload', opks: Array.from({ length: MAX_UPLOAD_RECORDS + 1 }, () => rec) }),
      'FRAME_TOO_LARGE',
      /1 to 100 records/,
    )
    rejectsFrame(
      () => decodeFrameBody(f({ v: 1, t: 'take', owner: 'not base58!' })),
      'BAD_FRAME',
      /base58btc/,
    )
    rejectsFrame(
      () => decodeFrameBody(f({ v: 1, t: 'take', owner: 'x'.repeat(129) })),
      'BAD_FRAME',
      /1 to 128/,
    )
    rejectsFrame(() => decodeFrameBody(f({ v: 1, t: 'take' })), 'BAD_FRAME', /expected a string/)
    rejectsFrame(() => decodeFrameBody(f({ v: 1, t: 'ok', stored: -1, total: 0 })), 'BAD_FRAME', /ok.stored/)
    rejectsFrame(() => decodeFrameBody(f({ v: 1, t: 'count', n: 'many' })), 'BAD_FRAME', /count.n/)
    rejectsFrame(() => decodeFrameBody(f({ v: 1, t: 'opk' })), 'BAD_FRAME', /opk.rec/)
    rejectsFrame(
      () => decodeFrameBody(f({ v: 1, t: 'err', code: 'NOPE', msg: '' })),
      'BAD_FRAME',
      /unknown code/,
    )
    rejectsFrame(
      () => decodeFrameBody(f({ v: 1, t: 'err', code: 'INTERNAL', msg: 'x'.repeat(513) })),
      'BAD_FRAME',
      /at most 512/,
    )
    rejectsFrame(
      () => decodeFrameBody(new Uint8Array(PREKEYS_MAX_FRAME_BYTES + 1)),
      'FRAME_TOO_LARGE',
      /exceeds/,
    )
  })

  it('refuses oversized and malformed length prefixes before buffering', () => {
    rejectsFrame(
      () => new FrameReader().push(Uint8Array.of(0xff, 0xff, 0xff, 0x7f)),
      'FRAME_TOO_LARGE',
      /exceeds/,
    )
    rejectsFrame(() => new FrameReader().push(Uint8Array.of(0)), 'BAD_FRAME', /empty frame/)
    rejectsFrame(
      () => new FrameReader().push(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01)),
      'BAD_FRAME',
      /longer than 5 bytes/,
    )
  })
})
