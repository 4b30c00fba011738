/**
 * Shared by the unit tests of every decoder of outside input: four encodings of a valid map that cborg's
 * lenient defaults decode (to the same map, or one extra key) and the strict kit of packages/core/cbor.ts
 * refuses, so a decoder that refuses them with "not valid CBOR" decodes strictly.
 */
import { decode, encode } from 'cborg'
import { expect } from 'vitest'

/**
 * `[what, bytes]` for: a duplicate map key, an indefinite-length map, a non-canonical integer (`v` in
 * two bytes) and an `undefined` value. `valid` needs `v: 1` and fewer than 23 keys.
 */
export function strictViolations(valid: Record<string, unknown>): Array<[string, Uint8Array]> {
  const bytes = encode(valid)
  const n = Object.keys(valid).length
  expect(bytes[0]).toBe(0xa0 | n)
  const body = bytes.subarray(1)
  const v = indexOf(bytes, [0x61, 0x76, 0x01])
  expect(v).toBeGreaterThan(0)
  const cases: Array<[string, Uint8Array]> = [
    ['a duplicate map key', join([0xa0 | (n + 1)], body, [0x61, 0x76, 0x01])],
    ['an indefinite-length map', join([0xbf], body, [0xff])],
    ['a non-canonical integer', join(bytes.subarray(0, v + 2), [0x18, 0x01], bytes.subarray(v + 3))],
    ['an undefined value', join([0xa0 | (n + 1)], body, encode('zzzzzzzzzzzz'), [0xf7])],
  ]
  // Each is well-formed CBOR for a lenient decoder: only the strict rules refuse it.
  for (const [, b] of cases) expect(() => decode(b)).not.toThrow()
  return cases
}

/** The error `fn` throws (fails the test when it returns). */
export function catchError(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

/** The error the promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (err: unknown) => err,
  )
}

function indexOf(bytes: Uint8Array, needle: number[]): number {
  for (let i = 0; i + needle.length <= bytes.length; i++) {
    if (needle.every((b, j) => bytes[i + j] === b)) return i
  }
  return -1
}

function join(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
