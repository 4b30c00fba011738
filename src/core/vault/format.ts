/**
 * Binary framing shared by the vault header, vault records and backup files: strict deterministic CBOR
 * maps with a version field `v`, and the byte helpers WebCrypto needs. No cryptography here.
 * @module
 */
import { decode, encode } from 'cborg'
import { STRICT_CBOR_DECODE_OPTIONS as DECODE_OPTIONS } from '../cbor.ts'

/** Version of every vault and backup structure written by this code. */
export const FORMAT_VERSION = 1
/** `type` of the vault header. */
export const VAULT_HEADER_TYPE = 'paloma-vault'
/** `type` of a backup file: a file without it is refused as "not a Paloma backup". */
export const BACKUP_TYPE = 'paloma-backup'

/** A decoded CBOR map, before validation. */
export type CborMap = Record<string, unknown>

/** Builds the error to throw for a malformed structure. */
export type FormatErrorFactory = (message: string, cause?: unknown) => Error

/** A source of cryptographically secure random bytes (a parameter so tests can be deterministic). */
export type RandomSource = (length: number) => Uint8Array

/** The platform CSPRNG (WebCrypto). */
export const secureRandom: RandomSource = (length) => crypto.getRandomValues(new Uint8Array(length))

/** Deterministic CBOR encoding. */
export function encodeCbor(value: unknown): Uint8Array {
  return encode(value)
}

/** Decodes one CBOR map; anything else (bad CBOR, not a map) goes through `fail`. */
export function decodeMap(bytes: Uint8Array, what: string, fail: FormatErrorFactory): CborMap {
  if (!(bytes instanceof Uint8Array)) throw fail(`${what}: expected Uint8Array, got ${typeof bytes}`)
  let value: unknown
  try {
    value = decode(bytes, DECODE_OPTIONS)
  } catch (cause) {
    throw fail(`${what}: not valid CBOR`, cause)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw fail(`${what}: expected a map`)
  }
  return value as CborMap
}

/** Reads a byte-string field, optionally of an exact length. */
export function expectBytes(
  map: CborMap,
  field: string,
  what: string,
  fail: FormatErrorFactory,
  length?: number,
) {
  const value = map[field]
  if (!(value instanceof Uint8Array)) throw fail(`${what}: expected bytes in '${field}'`)
  if (length !== undefined && value.length !== length) {
    throw fail(`${what}: expected ${length} bytes in '${field}', got ${value.length}`)
  }
  return value
}

/** Reads a non-negative safe-integer field. */
export function expectUint(map: CborMap, field: string, what: string, fail: FormatErrorFactory): number {
  const value = map[field]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw fail(`${what}: expected a non-negative integer in '${field}'`)
  }
  return value
}

/** Reads a string field. */
export function expectString(map: CborMap, field: string, what: string, fail: FormatErrorFactory): string {
  const value = map[field]
  if (typeof value !== 'string') throw fail(`${what}: expected a string in '${field}'`)
  return value
}

/** A copy backed by a plain ArrayBuffer, the only form WebCrypto's typings accept. */
export function _buf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes)
}

/** UTF-8 encoding. */
export function _utf8(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s)
}

/** Concatenates byte arrays into a new array (ArrayBuffer-backed, as WebCrypto wants). */
export { concatBytes as _concat } from '../crypto/bytes.ts'
