/**
 * The one CBOR kit for everything Paloma encodes for, or decodes from, outside this process: chat frames,
 * payloads, envelopes, invites, directory and prekey records, relay frames, crypto records, vault blobs
 * and backups. Every decoder of outside input goes through {@link decodeStrict} and checks its fields
 * with the checks below, which throw the caller's own typed error through a {@link CborFail} with an
 * "expected X, got Y" message naming the field.
 *
 * Encoding is cborg's deterministic form ({@link encodeCanonical}: definite lengths, minimal integer
 * heads, map keys sorted length-first then bytewise). Decoding is strict: integers and lengths in their
 * shortest form, no duplicate map keys, no indefinite lengths, no `undefined`, NaN, Infinity or BigInt,
 * no tags, string keys only, maps as plain objects, nothing after the item. cborg does not check map key
 * order or the shortest float form: records whose bytes are signed (directory profiles, one-time
 * prekeys) also call {@link requireCanonical}, which accepts only the one encoding of a value.
 *
 * Pure: no I/O, no platform APIs.
 * @module
 */
import { decode, encode } from 'cborg'

/** cborg's decoding options for outside input (see the module comment). */
export const STRICT_CBOR_DECODE_OPTIONS = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  useMaps: false,
} as const

/** A decoded CBOR map, before validation. */
export type CborMap = Record<string, unknown>

/** What a failed check reports besides its message. */
export interface CborFailure {
  /** The error that made the bytes unreadable (cborg's). */
  cause?: unknown
  /** The check that failed is a size bound the caller asked to report as such (e.g. `FRAME_TOO_LARGE`). */
  tooLarge?: boolean
}

/** Throws the caller's typed error for a failed check; `message` names the field. */
export type CborFail = (message: string, failure?: CborFailure) => never

/** cborg's deterministic encoding (the bytes every Paloma encoder has always produced). */
export function encodeCanonical(value: unknown): Uint8Array {
  return encode(value)
}

/**
 * Decodes one CBOR item under the strict rules.
 * @param what - names the item in the message (`frame`, `payload`...)
 * @throws through `fail` when `bytes` is not a Uint8Array or not one strict CBOR item
 */
export function decodeStrict(bytes: Uint8Array, fail: CborFail, what = 'value'): unknown {
  if (!(bytes instanceof Uint8Array)) fail(`${what}: expected bytes, got ${describe(bytes)}`)
  try {
    return decode(bytes, STRICT_CBOR_DECODE_OPTIONS)
  } catch (cause) {
    return fail(`${what}: not valid CBOR (${(cause as Error).message})`, { cause })
  }
}

/** {@link decodeStrict}, then {@link expectMap}: what almost every decoder wants. */
export function decodeStrictMap(bytes: Uint8Array, fail: CborFail, what = 'value'): CborMap {
  return expectMap(decodeStrict(bytes, fail, what), what, fail)
}

/**
 * Requires `bytes` to be the canonical encoding of `value` (what it decoded to): no unsorted map keys, no
 * longer float than needed, so the item has exactly one byte form.
 */
export function requireCanonical(value: unknown, bytes: Uint8Array, fail: CborFail, what = 'value'): void {
  const again = encode(value)
  let same = again.length === bytes.length
  for (let i = 0; same && i < again.length; i++) same = again[i] === bytes[i]
  if (!same) fail(`${what}: not in canonical CBOR form`)
}

// ---------------------------------------------------------------------------------------------- checks

/** A short description of a value's type for error messages: `null`, `bytes(3)`, `array(2)`, `string`... */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value instanceof Uint8Array) return `bytes(${value.byteLength})`
  if (Array.isArray(value)) return `array(${value.length})`
  return typeof value
}

/**
 * A decoded value as error messages show it: numbers, booleans and null as themselves, strings quoted and
 * cut at 32 characters, anything else by its type ({@link describe}). Safe on anything a peer can send:
 * it never calls a decoded map's own `toString` or `valueOf` (`String({toString: 0})` throws a TypeError).
 */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 32))
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value)
  if (value === undefined) return 'undefined'
  return describe(value)
}

/** Whether a decoded CBOR value is a map (as decoded with `useMaps: false`). */
export function isCborMap(value: unknown): value is CborMap {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  )
}

/**
 * Whether `value` is a safe integer in `[min, max]`. Never -0: CBOR integers have no negative zero, only a
 * float can carry one, and it would read back as 0 once re-encoded.
 */
export function isIntegerIn(
  value: unknown,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): value is number {
  return (
    typeof value === 'number' &&
    Number.isSafeInteger(value) &&
    !Object.is(value, -0) &&
    value >= min &&
    value <= max
  )
}

function range(min: number, max: number | undefined, unit: string): string {
  if (max === undefined) return `at least ${min} ${unit}`
  if (min === max) return `${min} ${unit}`
  return min === 0 ? `at most ${max} ${unit}` : `${min} to ${max} ${unit}`
}

/** A map. */
export function expectMap(value: unknown, what: string, fail: CborFail): CborMap {
  if (!isCborMap(value)) fail(`${what}: expected a map, got ${describe(value)}`)
  return value
}

/** Exactly the keys `required` (all present) plus any of `optional`; any other key fails. */
export function expectKeys(
  map: CborMap,
  what: string,
  fail: CborFail,
  required: readonly string[],
  optional: readonly string[] = [],
): void {
  for (const key of required) if (!Object.hasOwn(map, key)) fail(`${what}: missing field "${key}"`)
  for (const key of Object.keys(map)) {
    if (!required.includes(key) && !optional.includes(key)) {
      fail(`${what}: unknown field ${JSON.stringify(key.slice(0, 32))}`)
    }
  }
}

export interface StringRule {
  /** Fewest UTF-16 units. @default 1 */
  min?: number
  /** Most UTF-16 units. */
  max: number
  pattern?: RegExp
  /** Said when `pattern` does not match. @default 'contains characters that are not allowed' */
  patternMessage?: string
  /** Report a string longer than `max` as too large. */
  tooLarge?: boolean
}

/** A text string of `min` to `max` characters (UTF-16 units), matching `pattern` when given. */
export function expectString(value: unknown, what: string, fail: CborFail, rule: StringRule): string {
  const min = rule.min ?? 1
  if (typeof value !== 'string') fail(`${what}: expected a string, got ${describe(value)}`)
  if (value.length < min || value.length > rule.max) {
    const tooLarge = rule.tooLarge === true && value.length > rule.max
    fail(`${what}: expected ${range(min, rule.max, 'characters')}, got ${value.length}`, { tooLarge })
  }
  if (rule.pattern !== undefined && !rule.pattern.test(value)) {
    fail(`${what}: ${rule.patternMessage ?? 'contains characters that are not allowed'}`)
  }
  return value
}

export interface BytesRule {
  /** Exact length (overrides `min` and `max`). */
  length?: number
  /** @default 0 */
  min?: number
  max?: number
  /** Report bytes longer than `max` as too large. */
  tooLarge?: boolean
}

/** A byte string within the length bounds. Returns the decoded value (a view into the input). */
export function expectBytes(value: unknown, what: string, fail: CborFail, rule: BytesRule = {}): Uint8Array {
  const min = rule.length ?? rule.min ?? 0
  const max = rule.length ?? rule.max
  if (!(value instanceof Uint8Array)) {
    fail(
      `${what}: expected ${rule.length === undefined ? '' : `${rule.length} `}bytes, got ${describe(value)}`,
    )
  }
  if (value.byteLength < min || (max !== undefined && value.byteLength > max)) {
    const tooLarge = rule.tooLarge === true && max !== undefined && value.byteLength > max
    fail(`${what}: expected ${range(min, max, 'bytes')}, got ${value.byteLength}`, { tooLarge })
  }
  return value
}

export interface IntegerRule {
  /** @default 0 */
  min?: number
  /** @default Number.MAX_SAFE_INTEGER */
  max?: number
  /** What the message says is expected. @default `an integer in [min, max]` */
  expected?: string
}

/** A safe integer in `[min, max]` (CBOR major type 0 or 1; floats with an integral value too). */
export function expectInteger(value: unknown, what: string, fail: CborFail, rule: IntegerRule = {}): number {
  const min = rule.min ?? 0
  const max = rule.max ?? Number.MAX_SAFE_INTEGER
  if (!isIntegerIn(value, min, max)) {
    const got = typeof value === 'number' ? String(value) : describe(value)
    fail(`${what}: expected ${rule.expected ?? `an integer in [${min}, ${max}]`}, got ${got}`)
  }
  return value
}

/** A boolean. */
export function expectBoolean(value: unknown, what: string, fail: CborFail): boolean {
  if (typeof value !== 'boolean') fail(`${what}: expected a boolean, got ${describe(value)}`)
  return value
}

export interface ArrayRule {
  /** @default 0 */
  min?: number
  max: number
  /** Names the entries in messages. @default 'entries' */
  noun?: string
  /** Report more than `max` entries as too large. */
  tooLarge?: boolean
}

/** An array of `min` to `max` entries (not checked: each caller checks its entries). */
export function expectArray(value: unknown, what: string, fail: CborFail, rule: ArrayRule): unknown[] {
  const min = rule.min ?? 0
  if (!Array.isArray(value)) fail(`${what}: expected an array, got ${describe(value)}`)
  if (value.length < min || value.length > rule.max) {
    const tooLarge = rule.tooLarge === true && value.length > rule.max
    fail(`${what}: expected ${range(min, rule.max, rule.noun ?? 'entries')}, got ${value.length}`, {
      tooLarge,
    })
  }
  return value
}
