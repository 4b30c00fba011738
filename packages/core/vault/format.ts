/**
 * Binary framing shared by the vault header, vault records and backup files: strict deterministic CBOR
 * maps with a version field `v` (the kit of packages/core/cbor.ts), and the byte helpers WebCrypto needs. No
 * cryptography here.
 * @module
 */
import {
  decodeStrictMap,
  encodeCanonical,
  expectBytes as checkBytes,
  expectInteger,
  expectString as checkString,
  type CborFail,
  type CborMap,
} from '../cbor.ts'

/** Version of every vault and backup structure written by this code. */
export const FORMAT_VERSION = 1
/** `type` of the vault header. */
export const VAULT_HEADER_TYPE = 'paloma-vault'
/** `type` of a backup file: a file without it is refused as "not a Paloma backup". */
export const BACKUP_TYPE = 'paloma-backup'

export type { CborMap } from '../cbor.ts'
/** Renders a decoded value for an error message without calling anything on it (the kit's `show`). */
export { show } from '../cbor.ts'

/** Builds the error to throw for a malformed structure. */
export type FormatErrorFactory = (message: string, cause?: unknown) => Error

/** A source of cryptographically secure random bytes (a parameter so tests can be deterministic). */
export type RandomSource = (length: number) => Uint8Array

/** The platform CSPRNG (WebCrypto). */
export const secureRandom: RandomSource = (length) => crypto.getRandomValues(new Uint8Array(length))

/** Deterministic CBOR encoding. */
export function encodeCbor(value: unknown): Uint8Array {
  return encodeCanonical(value)
}

/** The kit's failure callback for a {@link FormatErrorFactory}. */
function failWith(fail: FormatErrorFactory): CborFail {
  return (message, failure) => {
    throw fail(message, failure?.cause)
  }
}

/** Decodes one CBOR map under the strict rules; anything else (bad CBOR, not a map) goes through `fail`. */
export function decodeMap(bytes: Uint8Array, what: string, fail: FormatErrorFactory): CborMap {
  return decodeStrictMap(bytes, failWith(fail), what)
}

/** Reads a byte-string field, optionally of an exact length. */
export function expectBytes(
  map: CborMap,
  field: string,
  what: string,
  fail: FormatErrorFactory,
  length?: number,
): Uint8Array {
  return checkBytes(map[field], `${what}.${field}`, failWith(fail), length === undefined ? {} : { length })
}

/** Reads a non-negative safe-integer field. */
export function expectUint(map: CborMap, field: string, what: string, fail: FormatErrorFactory): number {
  return expectInteger(map[field], `${what}.${field}`, failWith(fail))
}

/** Reads a string field (possibly empty). */
export function expectString(map: CborMap, field: string, what: string, fail: FormatErrorFactory): string {
  return checkString(map[field], `${what}.${field}`, failWith(fail), { min: 0, max: Number.MAX_SAFE_INTEGER })
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
