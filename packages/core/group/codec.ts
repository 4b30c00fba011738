/**
 * The strict CBOR rules of every group record, on top of the crypto core's helpers
 * (`packages/core/crypto/cbor.ts`): a record is a map with `v` = GROUP_VERSION, only the fields its format
 * names, each of the right type and size, and in canonical form (decoding then re-encoding gives the same
 * bytes), so every record has one spelling. Every failure is a {@link MalformedGroupRecordError}.
 * @module
 */
import { equalBytes } from '../crypto/bytes.ts'
import {
  decodeRecord,
  encodeCbor,
  expectArray,
  expectBytes,
  expectMap,
  expectUint,
  type CborMap,
} from '../crypto/cbor.ts'
import { InvalidRecordError } from '../crypto/errors.ts'
import { GROUP_VERSION } from './constants.ts'
import { MalformedGroupRecordError } from './errors.ts'

export type { CborMap }

/** Runs `fn`, turning the crypto core's InvalidRecordError into a MalformedGroupRecordError. */
export function _strict<T>(fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    if (e instanceof InvalidRecordError) throw new MalformedGroupRecordError(e.message, { cause: e })
    throw e
  }
}

/**
 * Decodes a canonical CBOR map of at most `maxBytes` bytes with `v` = GROUP_VERSION and exactly the
 * `required` fields, plus any of `optional`.
 * @throws MalformedGroupRecordError
 */
export function _decodeMap(
  bytes: Uint8Array,
  what: string,
  maxBytes: number,
  required: readonly string[],
  optional: readonly string[] = [],
): CborMap {
  const map = _strict(() => decodeRecord(bytes, what, maxBytes))
  if (map.v !== GROUP_VERSION) throw new MalformedGroupRecordError(`${what}: unsupported version`)
  for (const k of required) {
    if (!(k in map)) throw new MalformedGroupRecordError(`${what}: missing field "${k}"`)
  }
  for (const k of Object.keys(map)) {
    if (!required.includes(k) && !optional.includes(k)) {
      throw new MalformedGroupRecordError(`${what}: unknown field "${k}"`)
    }
  }
  if (!equalBytes(encodeCbor(map), bytes)) {
    throw new MalformedGroupRecordError(`${what}: not in canonical CBOR form`)
  }
  return map
}

/** A byte-string field of exactly `len` bytes (or at most `-len` when negative). */
export function _bytes(map: CborMap, key: string, len: number, what: string): Uint8Array {
  return _strict(() => expectBytes(map, key, len, what))
}

/** An unsigned integer field in [0, max]. */
export function _uint(map: CborMap, key: string, max: number, what: string): number {
  return _strict(() => expectUint(map, key, max, what))
}

/** An array field of at most `max` entries. */
export function _array(map: CborMap, key: string, max: number, what: string): unknown[] {
  return _strict(() => expectArray(map, key, max, what))
}

/** A nested map. */
export function _map(value: unknown, what: string): CborMap {
  return _strict(() => expectMap(value, what))
}

/** A text field. */
export function _text(map: CborMap, key: string, what: string): string {
  const v = map[key]
  if (typeof v !== 'string') throw new MalformedGroupRecordError(`${what}.${key}: expected text`)
  return v
}

/** Each entry of `list` as a byte string of exactly `len` bytes. */
export function _bytesList(list: unknown[], len: number, what: string): Uint8Array[] {
  return list.map((b, i) => {
    if (!(b instanceof Uint8Array) || b.length !== len) {
      throw new MalformedGroupRecordError(`${what}[${i}]: expected ${len} bytes`)
    }
    return new Uint8Array(b)
  })
}

/** Each entry of `list` as a byte string of at most `max` bytes. */
export function _blobList(list: unknown[], max: number, what: string): Uint8Array[] {
  return list.map((b, i) => {
    if (!(b instanceof Uint8Array) || b.length > max) {
      throw new MalformedGroupRecordError(`${what}[${i}]: expected at most ${max} bytes`)
    }
    return new Uint8Array(b)
  })
}

/** Deterministic CBOR encoding (cborg's canonical form). */
export const _encode = encodeCbor

/** `n` as 4 big-endian bytes. */
export function _u32(n: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}
