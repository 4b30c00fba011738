import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { InvalidRecordError } from '../../../../src/core/crypto/errors.ts'
import { decodePreKeyMessage, decodeRatchetMessage } from '../../../../src/core/crypto/messages.ts'
import { decodeHeader, encodeHeader } from '../../../../src/core/crypto/ratchet.ts'
import { SessionRecord } from '../../../../src/core/crypto/session-record.ts'

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
    ]
    for (const b of bad) expect(() => decodeHeader(b)).toThrow(InvalidRecordError)
  })

  it('messages and prekey messages', () => {
    expect(() => decodeRatchetMessage(encode({ v: 1, h: new Uint8Array(65), c: dh }))).toThrow(
      InvalidRecordError,
    )
    expect(() => decodeRatchetMessage(encode({ v: 1, h: dh, c: 'text' }))).toThrow(InvalidRecordError)
    const ok = { v: 1, ik: dh, ek: dh, spk: 1, opk: null, m: dh }
    expect(decodePreKeyMessage(encode(ok)).oneTimePreKeyId).toBeNull()
    expect(() => decodePreKeyMessage(encode({ ...ok, spk: 1.5 }))).toThrow(InvalidRecordError)
    expect(() => decodePreKeyMessage(encode({ ...ok, ik: new Uint8Array(33) }))).toThrow(InvalidRecordError)
    expect(() => decodePreKeyMessage(encode({ ...ok, opk: 'x' }))).toThrow(InvalidRecordError)
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
