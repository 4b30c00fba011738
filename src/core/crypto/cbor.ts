/**
 * Strict CBOR encoding and field validation for every record of the crypto module.
 *
 * Encoding is cborg's deterministic form (definite lengths, map keys sorted length-first then bytewise).
 * Decoding rejects indefinite lengths, undefined, NaN/Infinity, big integers and duplicate map keys, then
 * every field is checked for type, exact length and size caps; any failure is an {@link InvalidRecordError}.
 * @module
 */
import { decode, encode } from 'cborg'
import { InvalidRecordError } from './errors.ts'
import { RECORD_VERSION } from './constants.ts'

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
} as const

/** A decoded CBOR map, before validation. */
export type CborMap = Record<string, unknown>

/**
 * Deterministic CBOR encoding. Always returns a plain, unshared Uint8Array (in Node, cborg may hand back a
 * view into a pooled Buffer, whose `slice()` does not copy).
 */
export function encodeCbor(value: unknown): Uint8Array {
  return new Uint8Array(encode(value))
}

/**
 * Decodes a CBOR map of at most `maxBytes` bytes and checks its version field `v`.
 * @throws InvalidRecordError on any malformed input.
 */
export function decodeRecord(bytes: Uint8Array, what: string, maxBytes: number): CborMap {
  if (!(bytes instanceof Uint8Array)) throw new InvalidRecordError(`${what}: expected Uint8Array`)
  if (bytes.length > maxBytes) {
    throw new InvalidRecordError(`${what}: expected at most ${maxBytes} bytes, got ${bytes.length}`)
  }
  let value: unknown
  try {
    value = decode(bytes, DECODE_OPTIONS)
  } catch (cause) {
    throw new InvalidRecordError(`${what}: not valid CBOR`, { cause })
  }
  const map = expectMap(value, what)
  if (map.v !== RECORD_VERSION) {
    throw new InvalidRecordError(`${what}: expected version ${RECORD_VERSION}, got ${String(map.v)}`)
  }
  return map
}

/** Checks that `value` is a plain CBOR map. */
export function expectMap(value: unknown, what: string): CborMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new InvalidRecordError(`${what}: expected a map`)
  }
  return value as CborMap
}

/** Checks a byte-string field of exact length `len` (or any length up to `-len` when negative). */
export function expectBytes(map: CborMap, key: string, len: number, what: string): Uint8Array {
  const v = map[key]
  if (!(v instanceof Uint8Array)) throw new InvalidRecordError(`${what}.${key}: expected bytes`)
  if (len >= 0 ? v.length !== len : v.length > -len) {
    throw new InvalidRecordError(
      `${what}.${key}: expected ${len >= 0 ? len : `at most ${-len}`} bytes, got ${v.length}`,
    )
  }
  // Copy: decoded strings are views into the input, which the caller may reuse.
  return new Uint8Array(v)
}

/** Checks an optional byte-string field (absent or null gives null). */
export function expectOptionalBytes(map: CborMap, key: string, len: number, what: string): Uint8Array | null {
  if (map[key] === undefined || map[key] === null) return null
  return expectBytes(map, key, len, what)
}

/** Checks an unsigned integer field in [0, max]. */
export function expectUint(map: CborMap, key: string, max: number, what: string): number {
  const v = map[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new InvalidRecordError(`${what}.${key}: expected integer in [0, ${max}], got ${String(v)}`)
  }
  return v
}

/** Checks an optional unsigned integer field (absent or null gives null). */
export function expectOptionalUint(map: CborMap, key: string, max: number, what: string): number | null {
  if (map[key] === undefined || map[key] === null) return null
  return expectUint(map, key, max, what)
}

/** Checks a boolean field. */
export function expectBool(map: CborMap, key: string, what: string): boolean {
  const v = map[key]
  if (typeof v !== 'boolean') throw new InvalidRecordError(`${what}.${key}: expected boolean`)
  return v
}

/** Checks an array field of at most `max` entries. */
export function expectArray(map: CborMap, key: string, max: number, what: string): unknown[] {
  const v = map[key]
  if (!Array.isArray(v)) throw new InvalidRecordError(`${what}.${key}: expected array`)
  if (v.length > max) throw new InvalidRecordError(`${what}.${key}: expected at most ${max} entries`)
  return v
}
