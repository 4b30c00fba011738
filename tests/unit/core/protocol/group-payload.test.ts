// The group kinds of the 1:1 payload: each round-trips, each refuses a missing, extra, mistyped or
// oversized field with a PayloadError, and only these kinds are group traffic.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from 'cborg'
import {
  decodePayload,
  encodePayload,
  isGroupPayload,
  GROUP_PAYLOAD_KINDS,
  MAX_WANTED_CHANGES,
  PayloadError,
  type Payload,
} from '@paloma/core/protocol/payload.ts'
import {
  MAX_CHANGE_BYTES,
  MAX_DISTRIBUTION_BYTES,
  MAX_GROUP_MESSAGE_BYTES,
  MAX_WELCOME_PART_BYTES,
} from '@paloma/core/group/index.ts'

const g = new Uint8Array(32).fill(7)
const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill)

const valid: Payload[] = [
  { k: 'group-welcome', w: bytes(100) },
  { k: 'group-change', c: bytes(300) },
  { k: 'group-key', d: bytes(200), h: [] },
  { k: 'group-key', d: bytes(200), h: [bytes(32, 2), bytes(32, 3)] },
  { k: 'group-key-request', g },
  { k: 'group-message', m: bytes(329) },
  { k: 'group-receipt', g, status: 'delivered', ids: ['m1', 'm2'] },
  { k: 'group-receipt', g, status: 'read', ids: ['m1'] },
  { k: 'group-typing', g, on: false },
  { k: 'group-want', g, ids: [bytes(32, 9)] },
]

describe('group payloads', () => {
  it.each(valid.map((p) => [p.k, p] as const))('%s round-trips', (_k, p) => {
    const back = decodePayload(encodePayload(p))
    expect(back).toEqual(p)
    expect(isGroupPayload(back)).toBe(true)
  })

  it('are exactly the group kinds', () => {
    expect(new Set(valid.map((p) => p.k))).toEqual(new Set(GROUP_PAYLOAD_KINDS))
    expect(isGroupPayload({ k: 'text', id: 'a', ts: 1, text: 'x' })).toBe(false)
    expect(isGroupPayload({ k: 'receipt', status: 'read', ids: ['a'] })).toBe(false)
  })

  it.each([
    ['a welcome part over its limit', { v: 1, k: 'group-welcome', w: bytes(MAX_WELCOME_PART_BYTES + 1) }],
    ['an empty welcome part', { v: 1, k: 'group-welcome', w: bytes(0) }],
    ['a change over its limit', { v: 1, k: 'group-change', c: bytes(MAX_CHANGE_BYTES + 1) }],
    ['a change as text', { v: 1, k: 'group-change', c: 'change' }],
    ['a distribution over its limit', { v: 1, k: 'group-key', d: bytes(MAX_DISTRIBUTION_BYTES + 1), h: [] }],
    ['a key without heads', { v: 1, k: 'group-key', d: bytes(10) }],
    ['seventeen heads', { v: 1, k: 'group-key', d: bytes(10), h: Array(17).fill(bytes(32)) }],
    ['a short head', { v: 1, k: 'group-key', d: bytes(10), h: [bytes(31)] }],
    ['a short group id', { v: 1, k: 'group-key-request', g: bytes(31) }],
    ['a group message over its limit', { v: 1, k: 'group-message', m: bytes(MAX_GROUP_MESSAGE_BYTES + 1) }],
    ['a receipt with a bad status', { v: 1, k: 'group-receipt', g, status: 'seen', ids: ['a'] }],
    ['a receipt with no ids', { v: 1, k: 'group-receipt', g, status: 'read', ids: [] }],
    ['a receipt id too long', { v: 1, k: 'group-receipt', g, status: 'read', ids: ['x'.repeat(65)] }],
    ['typing as a number', { v: 1, k: 'group-typing', g, on: 1 }],
    ['typing with an extra field', { v: 1, k: 'group-typing', g, on: true, who: 'me' }],
    ['a want of nothing', { v: 1, k: 'group-want', g, ids: [] }],
    ['a want of too many', { v: 1, k: 'group-want', g, ids: Array(MAX_WANTED_CHANGES + 1).fill(bytes(32)) }],
    ['a want of a short id', { v: 1, k: 'group-want', g, ids: [bytes(16)] }],
  ])('refuse %s', (_what, raw) => {
    expect(() => decodePayload(encode(raw))).toThrow(PayloadError)
  })

  it('refuse a newer version of a group kind as unsupported', () => {
    try {
      decodePayload(encode({ v: 2, k: 'group-typing', g, on: true }))
      expect.unreachable()
    } catch (err) {
      expect((err as PayloadError).code).toBe('UNSUPPORTED_PAYLOAD')
    }
  })

  it('turn any map with a group kind and random fields into a payload or a PayloadError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...GROUP_PAYLOAD_KINDS),
        fc.dictionary(
          fc.constantFrom('g', 'w', 'c', 'd', 'h', 'm', 'ids', 'on', 'status', 'x'),
          fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.boolean(), fc.string(), fc.array(fc.uint8Array())),
        ),
        (k, fields) => {
          try {
            const p = decodePayload(encode({ ...fields, v: 1, k }))
            expect(p.k).toBe(k)
          } catch (err) {
            expect(err).toBeInstanceOf(PayloadError)
          }
        },
      ),
    )
  })
})
