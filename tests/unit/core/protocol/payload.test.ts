import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from 'cborg'
import { decodePayload, encodePayload, PayloadError, type Payload } from '@paloma/core/protocol/payload.ts'

describe('E2E payload codec', () => {
  it.each<Payload>([
    { k: 'text', id: 'm1', ts: 5, text: '¿qué tal?' },
    { k: 'receipt', status: 'delivered', ids: ['m1', 'm2'] },
    { k: 'receipt', status: 'read', ids: ['m1'] },
    { k: 'presence', online: false, ts: 1_700_000_000_000 },
    { k: 'typing', on: true },
    { k: 'reset' },
  ])('round-trips %o', (p) => {
    expect(decodePayload(encodePayload(p))).toEqual(p)
  })

  it.each([
    ['an unknown kind', { v: 1, k: 'file' }],
    ['a wrong version', { v: 9, k: 'typing', on: true }],
    ['extra fields', { v: 1, k: 'typing', on: true, x: 1 }],
    ['an empty receipt', { v: 1, k: 'receipt', status: 'read', ids: [] }],
    ['a bad receipt status', { v: 1, k: 'receipt', status: 'seen', ids: ['a'] }],
    ['too many receipt ids', { v: 1, k: 'receipt', status: 'read', ids: Array(257).fill('a') }],
    ['a text without id', { v: 1, k: 'text', id: '', ts: 1, text: 'x' }],
    ['a text with a float time', { v: 1, k: 'text', id: 'a', ts: 0.5, text: 'x' }],
    ['presence without time', { v: 1, k: 'presence', online: true, ts: -1 }],
    ['a reset with fields', { v: 1, k: 'reset', ids: ['a'] }],
  ])('refuses %s', (_what, raw) => {
    expect(() => decodePayload(encode(raw))).toThrow(PayloadError)
  })

  it('turns any garbage into a PayloadError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodePayload(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(PayloadError)
        }
      }),
    )
  })
})

describe('payload errors', () => {
  const codeOf = (raw: unknown): unknown => {
    try {
      decodePayload(encode(raw))
    } catch (err) {
      return err instanceof PayloadError ? err.code : err
    }
    return 'decoded'
  }
  it('tell a newer sender from a malformed payload', () => {
    expect(codeOf({ v: 2, k: 'typing', on: true })).toBe('UNSUPPORTED_PAYLOAD')
    expect(codeOf({ v: 1, k: 'file', name: 'x' })).toBe('UNKNOWN_PAYLOAD_KIND')
    expect(codeOf({ v: 1, k: 'typing', on: 1 })).toBe('BAD_PAYLOAD')
    expect(codeOf({ v: '1', k: 'typing', on: true })).toBe('BAD_PAYLOAD')
  })
})
