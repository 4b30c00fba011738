/**
 * CBOR for every record of the crypto module: the strict kit of packages/core/cbor.ts (same encoding, same
 * decoding rules, same field checks), with fast paths for the small flat maps of the message path and
 * the crypto module's field helpers on top; any failure is an {@link InvalidRecordError}.
 * @module
 */
import {
  decodeStrict,
  encodeCanonical,
  expectArray as checkArray,
  expectBoolean as checkBoolean,
  expectBytes as checkBytes,
  expectInteger as checkInteger,
  expectMap as checkMap,
  show,
  type CborFail,
  type CborMap,
} from '../cbor.ts'
import { InvalidRecordError } from './errors.ts'
import { RECORD_VERSION } from './constants.ts'

export type { CborMap } from '../cbor.ts'

const invalid: CborFail = (message, failure) => {
  throw new InvalidRecordError(message, failure?.cause === undefined ? undefined : { cause: failure.cause })
}

/**
 * Deterministic CBOR encoding. Always returns a plain, unshared Uint8Array (in Node, cborg may hand back a
 * view into a pooled Buffer, whose `slice()` does not copy).
 */
export function encodeCbor(value: unknown): Uint8Array {
  return encodeFlatMap(value) ?? new Uint8Array(encodeCanonical(value))
}

// Fast paths for the flat maps on the message path (headers, ratchet and prekey messages): maps of at most
// 23 entries whose keys are short lower-case ASCII names and whose values are unsigned integers below 2^32,
// byte strings, booleans or null. The encoder writes exactly cborg's deterministic form (keys sorted
// length-first then bytewise, minimal-length heads); the decoder accepts only such minimal, definite,
// duplicate-free encodings and hands everything else to the strict kit (decodeStrict), so what is accepted,
// and how, is the kit's.
// tests/unit/core/crypto/codec.test.ts checks both against cborg on random maps.

const KEY_PATTERN = /^[a-z0-9]{1,23}$/
const sortedKeysCache = new Map<string, string[]>()

function canonicalKeyOrder(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
}

function sortedKeys(obj: object): string[] | null {
  const keys = Object.keys(obj)
  const id = keys.join(',')
  let sorted = sortedKeysCache.get(id)
  if (!sorted) {
    if (keys.length > 23 || !keys.every((k) => KEY_PATTERN.test(k))) return null
    sorted = [...keys].sort(canonicalKeyOrder)
    if (sortedKeysCache.size < 64) sortedKeysCache.set(id, sorted)
  }
  return sorted
}

function headLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

function writeHead(out: Uint8Array, at: number, major: number, n: number): number {
  const m = major << 5
  if (n < 24) {
    out[at] = m | n
    return at + 1
  }
  if (n < 0x100) {
    out[at] = m | 24
    out[at + 1] = n
    return at + 2
  }
  if (n < 0x10000) {
    out[at] = m | 25
    out[at + 1] = n >>> 8
    out[at + 2] = n & 0xff
    return at + 3
  }
  out[at] = m | 26
  out[at + 1] = n >>> 24
  out[at + 2] = (n >>> 16) & 0xff
  out[at + 3] = (n >>> 8) & 0xff
  out[at + 4] = n & 0xff
  return at + 5
}

function flatValueLength(v: unknown): number {
  if (v === null || v === true || v === false) return 1
  if (typeof v === 'number')
    return Number.isInteger(v) && v >= 0 && v <= 0xffffffff && !Object.is(v, -0) ? headLength(v) : -1
  if (v instanceof Uint8Array) return v.length <= 0xffffffff ? headLength(v.length) + v.length : -1
  return -1
}

function encodeFlatMap(value: unknown): Uint8Array | null {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype)
    return null
  const map = value as Record<string, unknown>
  const keys = sortedKeys(map)
  if (!keys) return null
  let len = 1
  for (const k of keys) {
    const n = flatValueLength(map[k])
    if (n < 0) return null
    len += 1 + k.length + n
  }
  const out = new Uint8Array(len)
  let at = writeHead(out, 0, 5, keys.length)
  for (const k of keys) {
    at = writeHead(out, at, 3, k.length)
    for (let i = 0; i < k.length; i++) out[at++] = k.charCodeAt(i)
    const v = map[k]
    if (v === null) out[at++] = 0xf6
    else if (v === true) out[at++] = 0xf5
    else if (v === false) out[at++] = 0xf4
    else if (typeof v === 'number') at = writeHead(out, at, 0, v)
    else {
      const b = v as Uint8Array
      at = writeHead(out, at, 2, b.length)
      out.set(b, at)
      at += b.length
    }
  }
  return out
}

/** Reads a minimal-length head at `at`; returns [value, next offset] or null (anything else: fall back). */
function readHead(bytes: Uint8Array, at: number): [number, number] | null {
  const info = (bytes[at] as number) & 0x1f
  if (info < 24) return [info, at + 1]
  if (info === 24) {
    if (at + 2 > bytes.length) return null
    const n = bytes[at + 1] as number
    return n >= 24 ? [n, at + 2] : null
  }
  if (info === 25) {
    if (at + 3 > bytes.length) return null
    const n = ((bytes[at + 1] as number) << 8) | (bytes[at + 2] as number)
    return n >= 0x100 ? [n, at + 3] : null
  }
  if (info === 26) {
    if (at + 5 > bytes.length) return null
    const n =
      (bytes[at + 1] as number) * 0x1000000 +
      (((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 8) | (bytes[at + 4] as number))
    return n >= 0x10000 ? [n, at + 5] : null
  }
  return null
}

function decodeFlatMap(bytes: Uint8Array): CborMap | null {
  if (bytes.length === 0 || (bytes[0] as number) >> 5 !== 5) return null
  const head = readHead(bytes, 0)
  if (!head) return null
  const [count, start] = head
  let at = start
  const out: CborMap = {}
  for (let e = 0; e < count; e++) {
    if (at >= bytes.length || (bytes[at] as number) >> 5 !== 3) return null
    const keyLen = (bytes[at] as number) & 0x1f
    if (keyLen === 0 || keyLen > 23 || at + 1 + keyLen > bytes.length) return null
    let key = ''
    for (let i = 0; i < keyLen; i++) {
      const c = bytes[at + 1 + i] as number
      if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39))) return null
      key += String.fromCharCode(c)
    }
    at += 1 + keyLen
    if (at >= bytes.length || Object.hasOwn(out, key)) return null
    const b = bytes[at] as number
    const major = b >> 5
    if (b === 0xf6) {
      out[key] = null
      at++
    } else if (b === 0xf5 || b === 0xf4) {
      out[key] = b === 0xf5
      at++
    } else if (major === 0 || major === 2) {
      const h = readHead(bytes, at)
      if (!h) return null
      if (major === 0) {
        out[key] = h[0]
        at = h[1]
      } else {
        if (h[1] + h[0] > bytes.length) return null
        out[key] = bytes.slice(h[1], h[1] + h[0]) // as cborg: a copy (of a plain Uint8Array input)
        at = h[1] + h[0]
      }
    } else return null
  }
  return at === bytes.length ? out : null
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
  const value = decodeFlatMap(bytes) ?? decodeStrict(bytes, invalid, what)
  const map = expectMap(value, what)
  if (map.v !== RECORD_VERSION) {
    throw new InvalidRecordError(`${what}: expected version ${RECORD_VERSION}, got ${show(map.v)}`)
  }
  return map
}

/** Checks that `value` is a plain CBOR map. */
export function expectMap(value: unknown, what: string): CborMap {
  return checkMap(value, what, invalid)
}

/** Checks a byte-string field of exact length `len` (or any length up to `-len` when negative). */
export function expectBytes(map: CborMap, key: string, len: number, what: string): Uint8Array {
  const v = checkBytes(map[key], `${what}.${key}`, invalid, len >= 0 ? { length: len } : { max: -len })
  // Copy: decoded strings are views into the input, which the caller may reuse.
  return new Uint8Array(v)
}

/**
 * Checks an X25519 public key field: 32 bytes in canonical form (RFC 7748: the top bit clear and the value
 * below p = 2^255 - 19). X25519 ignores the top bit and reduces mod p, so a key with the top bit flipped, or
 * plus p, is the same key to DH while comparing unequal as bytes; keys that identify a session or a used
 * X3DH base key must therefore have one spelling. Every implementation outputs canonical public keys.
 */
export function expectX25519Public(map: CborMap, key: string, what: string): Uint8Array {
  const k = expectBytes(map, key, 32, what)
  const top = k[31] as number
  const belowP = top < 0x7f || k.subarray(1, 31).some((b) => b !== 0xff) || (k[0] as number) < 0xed
  if (top & 0x80 || !belowP) throw new InvalidRecordError(`${what}.${key}: not a canonical X25519 public key`)
  return k
}

/** Checks an optional byte-string field (absent or null gives null). */
export function expectOptionalBytes(map: CborMap, key: string, len: number, what: string): Uint8Array | null {
  if (map[key] === undefined || map[key] === null) return null
  return expectBytes(map, key, len, what)
}

/** Checks an unsigned integer field in [0, max]. */
export function expectUint(map: CborMap, key: string, max: number, what: string): number {
  return checkInteger(map[key], `${what}.${key}`, invalid, { max })
}

/** Checks an optional unsigned integer field (absent or null gives null). */
export function expectOptionalUint(map: CborMap, key: string, max: number, what: string): number | null {
  if (map[key] === undefined || map[key] === null) return null
  return expectUint(map, key, max, what)
}

/** Checks a boolean field. */
export function expectBool(map: CborMap, key: string, what: string): boolean {
  return checkBoolean(map[key], `${what}.${key}`, invalid)
}

/** Checks an array field of at most `max` entries. */
export function expectArray(map: CborMap, key: string, max: number, what: string): unknown[] {
  return checkArray(map[key], `${what}.${key}`, invalid, { max })
}
