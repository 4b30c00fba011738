/**
 * CBOR for the fuzzers: a lenient decoder (to take valid encodings apart) and an encoder that can write
 * what Paloma's strict kit must refuse: unsorted or duplicated map keys, over-long heads, indefinite
 * lengths, integers as floats, big integers, `undefined`, NaN, tags and trailing bytes. With the default
 * style it writes the same bytes as cborg's deterministic encoding.
 */
import { decode } from 'cborg'

/** A CBOR value as the fuzzers handle it: maps are plain objects, byte strings Uint8Arrays. */
export type Cbor =
  null | undefined | boolean | number | bigint | string | Uint8Array | Cbor[] | { [key: string]: Cbor }

/** Decodes anything cborg can read, without the strict rules (or undefined when it cannot). */
export function lenientDecode(bytes: Uint8Array): Cbor | undefined {
  try {
    return decode(bytes, {
      useMaps: false,
      allowIndefinite: true,
      allowUndefined: true,
      allowInfinity: true,
      allowNaN: true,
      allowBigInt: true,
    }) as Cbor
  } catch {
    return undefined
  }
}

/** How to encode: the default (all false) is the canonical form. */
export interface CborStyle {
  /** Map keys in reverse insertion order instead of length-first, bytewise order. */
  unsorted?: boolean
  /** Every head one size longer than needed (24 as `18 18` is canonical; 1 as `18 01` is not). */
  longHeads?: boolean
  /** Indefinite-length strings, arrays and maps. */
  indefinite?: boolean
  /** Integers written as 64-bit floats. */
  floatInts?: boolean
  /** The first entry of every map written twice. */
  duplicateKeys?: boolean
  /** A tag (1, a date) around the whole item. */
  tagged?: boolean
  /** Bytes after the item. */
  trailing?: Uint8Array
}

const utf8 = new TextEncoder()

function canonicalKeyOrder(a: string, b: string): number {
  const x = utf8.encode(a)
  const y = utf8.encode(b)
  if (x.length !== y.length) return x.length - y.length
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return 0
}

/** Collects the encoding: small items byte by byte, strings as whole parts. */
class Writer {
  readonly parts: Uint8Array[] = []
  #bytes: number[] = []
  push(...bytes: number[]): void {
    for (const b of bytes) this.#bytes.push(b)
  }
  write(part: Uint8Array): void {
    this.flush()
    this.parts.push(part)
  }
  flush(): void {
    if (this.#bytes.length > 0) this.parts.push(Uint8Array.from(this.#bytes))
    this.#bytes = []
  }
  bytes(): Uint8Array {
    this.flush()
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of this.parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  }
}

function head(out: Writer, major: number, n: number | bigint, long: boolean): void {
  const m = major << 5
  const v = BigInt(n)
  let size: number
  if (v < 24n) size = long ? 1 : 0
  else if (v < 0x100n) size = long ? 2 : 1
  else if (v < 0x10000n) size = long ? 4 : 2
  else if (v < 0x100000000n) size = long ? 8 : 4
  else size = 8
  if (size === 0) return void out.push(m | Number(v))
  out.push(m | { 1: 24, 2: 25, 4: 26, 8: 27 }[size]!)
  for (let i = size - 1; i >= 0; i--) out.push(Number((v >> BigInt(8 * i)) & 0xffn))
}

function float64(out: Writer, x: number): void {
  out.push(0xfb)
  const b = new Uint8Array(8)
  new DataView(b.buffer).setFloat64(0, x)
  out.write(b)
}

function item(out: Writer, value: Cbor, style: CborStyle): void {
  const long = style.longHeads === true
  if (value === undefined) return void out.push(0xf7)
  if (value === null) return void out.push(0xf6)
  if (value === true) return void out.push(0xf5)
  if (value === false) return void out.push(0xf4)
  if (typeof value === 'bigint') {
    if (value >= 0n && value < 1n << 64n) return head(out, 0, value, long)
    if (value < 0n && -1n - value < 1n << 64n) return head(out, 1, -1n - value, long)
    const neg = value < 0n
    let mag = neg ? -1n - value : value
    const bytes: number[] = []
    while (mag > 0n) {
      bytes.unshift(Number(mag & 0xffn))
      mag >>= 8n
    }
    head(out, 6, neg ? 3 : 2, false)
    return item(out, Uint8Array.from(bytes), style)
  }
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && !Object.is(value, -0) && style.floatInts !== true) {
      return value >= 0 ? head(out, 0, value, long) : head(out, 1, -1 - value, long)
    }
    return float64(out, value)
  }
  if (typeof value === 'string') {
    const b = utf8.encode(value)
    if (style.indefinite === true) {
      out.push(0x7f)
      head(out, 3, b.length, long)
      out.write(b)
      return void out.push(0xff)
    }
    head(out, 3, b.length, long)
    return out.write(b)
  }
  if (value instanceof Uint8Array) {
    if (style.indefinite === true) {
      out.push(0x5f)
      head(out, 2, value.length, long)
      out.write(value)
      return void out.push(0xff)
    }
    head(out, 2, value.length, long)
    return out.write(value)
  }
  if (Array.isArray(value)) {
    if (style.indefinite === true) out.push(0x9f)
    else head(out, 4, value.length, long)
    for (const v of value) item(out, v, style)
    if (style.indefinite === true) out.push(0xff)
    return
  }
  const keys = Object.keys(value)
  if (style.unsorted === true) keys.reverse()
  else keys.sort(canonicalKeyOrder)
  if (style.duplicateKeys === true && keys.length > 0) keys.push(keys[0]!)
  if (style.indefinite === true) out.push(0xbf)
  else head(out, 5, keys.length, long)
  for (const k of keys) {
    item(out, k, style)
    item(out, value[k], style)
  }
  if (style.indefinite === true) out.push(0xff)
}

/** Encodes `value` in `style` (canonical by default). */
export function encodeWith(value: Cbor, style: CborStyle = {}): Uint8Array {
  const out = new Writer()
  if (style.tagged === true) head(out, 6, 1, false)
  item(out, value, style)
  if (style.trailing !== undefined) out.write(style.trailing)
  return out.bytes()
}
