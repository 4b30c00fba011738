/**
 * The inputs the decoder fuzzers feed: arbitrary bytes, and structure-aware mutations of valid encodings.
 *
 * - Byte mutations: flip a bit, set a byte (often to a CBOR head that changes the item's type, length form
 *   or meaning), truncate, append, insert, delete or duplicate a range, splice two valid encodings.
 * - Tree mutations: take a valid encoding apart, then replace a value (by another of any type, a boundary
 *   integer, a boundary string, a resized byte string), delete or add a map key (known field names
 *   included), mutate a CBOR item nested inside a byte string (envelope -> prekey message -> ratchet
 *   message -> header), and encode it again, canonically or in one of the forms the strict kit refuses
 *   (unsorted or duplicated keys, over-long heads, indefinite lengths, integers as floats, a tag,
 *   trailing bytes).
 */
import fc from 'fast-check'
import { encodeWith, lenientDecode, type Cbor, type CborStyle } from './cbor.ts'

/** Head bytes that change an item's major type, length form or meaning. */
export const INTERESTING_BYTES = [
  0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x20, 0x38, 0x3b, 0x40, 0x58, 0x5b, 0x5f, 0x60, 0x78,
  0x7b, 0x7f, 0x80, 0x98, 0x9b, 0x9f, 0xa0, 0xb8, 0xbb, 0xbf, 0xc0, 0xc1, 0xc2, 0xd8, 0xf4, 0xf5, 0xf6, 0xf7,
  0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xff,
]

/** Integers at the edges of every bound a Paloma decoder checks (and a few non-integers). */
export const BOUNDARY_NUMBERS: Cbor[] = [
  0,
  1,
  2,
  -1,
  23,
  24,
  255,
  256,
  1023,
  1024,
  1025,
  65535,
  65536,
  0xffffffff,
  0x100000000,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  -Number.MAX_SAFE_INTEGER,
  2n ** 64n - 1n,
  -(2n ** 64n),
  2n ** 70n,
  0.5,
  -0,
  1e300,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
]

/** Strings at the edges of what decoders check: empty, long, non-ASCII, control characters, tokens. */
export const BOUNDARY_STRINGS: string[] = [
  '',
  ' ',
  'a',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(129),
  'x'.repeat(513),
  'x'.repeat(4097),
  'x'.repeat(16 * 1024 + 1),
  'é',
  '\u0000',
  '\ud800',
  '𝕏',
  '\u202e',
  'аlice',
  '__proto__',
  'constructor',
  'toString',
  '/',
  '/ip4/127.0.0.1/tcp/1/ws',
  '12D3KooWCcaXMjm8LxcusnsZLY4JnnMbaJBh5pZJj43KUBca6znG',
  'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N',
  '16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY',
  'env',
  'ack',
  'put',
  'sub',
  'err',
  'text',
  'receipt',
  'upload',
  'take',
  'opk',
  'delivered',
  'paloma-backup',
  'paloma-vault',
  'argon2id',
  'pbkdf2-sha256',
]

type ByteOp =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'set'; at: number; value: number }
  | { k: 'truncate'; at: number }
  | { k: 'append'; bytes: Uint8Array }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; n: number }
  | { k: 'duplicate'; at: number; n: number; to: number }
  | { k: 'splice'; other: number; at: number; from: number }

const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('set' as const),
      at: fc.nat(),
      value: fc.oneof(fc.constantFrom(...INTERESTING_BYTES), fc.nat(255)),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('append' as const),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('delete' as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 16 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('duplicate' as const),
      at: fc.nat(),
      n: fc.integer({ min: 1, max: 40 }),
      to: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('splice' as const),
      other: fc.nat(),
      at: fc.nat(),
      from: fc.nat(),
    }),
  },
)

function applyByteOp(input: Uint8Array, op: ByteOp, seeds: readonly Uint8Array[]): Uint8Array {
  const len = input.length
  const at = (x: number): number => (len === 0 ? 0 : x % len)
  switch (op.k) {
    case 'flip': {
      if (len === 0) return input
      const out = new Uint8Array(input) // a copy (Buffer's slice() would be a view)
      out[at(op.at)] = out[at(op.at)]! ^ (1 << op.bit)
      return out
    }
    case 'set': {
      if (len === 0) return Uint8Array.of(op.value)
      const out = new Uint8Array(input)
      out[at(op.at)] = op.value
      return out
    }
    case 'truncate':
      return new Uint8Array(input.subarray(0, op.at % (len + 1)))
    case 'append':
      return concat(input, op.bytes)
    case 'insert': {
      const i = op.at % (len + 1)
      return concat(input.subarray(0, i), op.bytes, input.subarray(i))
    }
    case 'delete': {
      const i = at(op.at)
      return concat(input.subarray(0, i), input.subarray(i + op.n))
    }
    case 'duplicate': {
      const i = at(op.at)
      const slice = input.subarray(i, i + op.n)
      const to = op.to % (len + 1)
      return concat(input.subarray(0, to), slice, input.subarray(to))
    }
    case 'splice': {
      const other = seeds[op.other % seeds.length]!
      return concat(input.subarray(0, op.at % (len + 1)), other.subarray(op.from % (other.length + 1)))
    }
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** 1 to 4 byte mutations of one of `seeds`. */
export function byteMutations(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.nat(seeds.length - 1), fc.array(byteOp, { minLength: 1, maxLength: 4 }))
    .map(([i, ops]) => ops.reduce((b, op) => applyByteOp(b, op, seeds), seeds[i]!))
}

// ------------------------------------------------------------------------------------- tree mutations

/** An arbitrary CBOR value: every type, including those the strict kit refuses. */
export function cborValue(keys: readonly string[]): fc.Arbitrary<Cbor> {
  const key = fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 8 }))
  const leaf: fc.Arbitrary<Cbor> = fc.oneof(
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.integer(),
    fc.nat(),
    fc.constantFrom(...BOUNDARY_NUMBERS),
    fc.double(),
    fc.bigInt(),
    fc.string({ maxLength: 40 }),
    fc.constantFrom(...BOUNDARY_STRINGS),
    fc.uint8Array({ maxLength: 80 }),
    fc.constantFrom(
      ...[0, 1, 12, 16, 31, 32, 33, 40, 63, 64, 65, 118, 160, 161].map((n) => new Uint8Array(n).fill(7)),
    ),
  )
  const { value } = fc.letrec<{ value: Cbor }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(key, tie('value'), { maxKeys: 4 }) as fc.Arbitrary<Cbor>,
    ),
  }))
  return value
}

interface TreeOp {
  at: number
  kind: number
  n: number
  key: string
  value: Cbor
}

function treeOp(keys: readonly string[]): fc.Arbitrary<TreeOp> {
  return fc.record({
    at: fc.nat(),
    kind: fc.nat(8),
    n: fc.nat(),
    key: fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 6 })),
    value: cborValue(keys),
  })
}

interface Slot {
  get(): Cbor
  set(value: Cbor): void
}

function isMap(v: Cbor): v is { [key: string]: Cbor } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/** Every position of the tree (the root first), depth first. */
function slots(root: { v: Cbor }): Slot[] {
  const out: Slot[] = []
  const visit = (get: () => Cbor, set: (v: Cbor) => void): void => {
    out.push({ get, set })
    const v = get()
    if (Array.isArray(v))
      v.forEach((_, i) =>
        visit(
          () => v[i],
          (x) => (v[i] = x),
        ),
      )
    else if (isMap(v))
      for (const k of Object.keys(v))
        visit(
          () => v[k],
          (x) => (v[k] = x),
        )
  }
  visit(
    () => root.v,
    (x) => (root.v = x),
  )
  return out
}

function clone(v: Cbor): Cbor {
  if (v instanceof Uint8Array) return new Uint8Array(v)
  if (Array.isArray(v)) return v.map(clone)
  if (isMap(v)) {
    const out: { [key: string]: Cbor } = {}
    for (const k of Object.keys(v))
      Object.defineProperty(out, k, {
        value: clone(v[k]),
        enumerable: true,
        writable: true,
        configurable: true,
      })
    return out
  }
  return v
}

function resize(v: Cbor, n: number): Cbor {
  if (v instanceof Uint8Array) {
    const len = n % (2 * v.length + 66)
    const out = new Uint8Array(len)
    out.set(v.subarray(0, len))
    return out
  }
  if (typeof v === 'string') return n % 2 === 0 ? v.slice(0, n % (v.length + 1)) : v.repeat(2 + (n % 4))
  if (Array.isArray(v))
    return n % 2 === 0 ? v.slice(0, n % (v.length + 1)) : [...v, ...v.slice(0, 1 + (n % 8))]
  return v
}

function swapType(v: Cbor): Cbor {
  if (typeof v === 'number') return String(v)
  if (typeof v === 'string') return new TextEncoder().encode(v)
  if (v instanceof Uint8Array) return Array.from(v.subarray(0, 64))
  if (Array.isArray(v)) return Object.fromEntries(v.map((x, i) => [String(i), x]))
  if (isMap(v)) return Object.values(v)
  if (typeof v === 'boolean') return v ? 1 : 0
  return 0
}

function applyTreeOp(root: { v: Cbor }, op: TreeOp, keys: readonly string[], depth = 0): void {
  const all = slots(root)
  const slot = all[op.at % all.length]!
  const current = slot.get()
  switch (op.kind) {
    case 0:
      return slot.set(op.value)
    case 1:
      if (isMap(current)) {
        const ks = Object.keys(current)
        if (ks.length > 0) delete current[ks[op.n % ks.length]!]
      } else if (Array.isArray(current) && current.length > 0) current.splice(op.n % current.length, 1)
      else slot.set(undefined)
      return
    case 2:
      if (isMap(current))
        Object.defineProperty(current, op.key, {
          value: op.value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
      else if (Array.isArray(current)) current.push(op.value)
      else slot.set(op.value)
      return
    case 3:
      return slot.set(BOUNDARY_NUMBERS[op.n % BOUNDARY_NUMBERS.length]!)
    case 4:
      return slot.set(resize(current, op.n))
    case 5:
      return slot.set(BOUNDARY_STRINGS[op.n % BOUNDARY_STRINGS.length]!)
    case 6: {
      // A CBOR item inside a byte string (an envelope's body, a message's header, a bundle's body).
      const nested = current instanceof Uint8Array && depth < 3 ? lenientDecode(current) : undefined
      if (nested === undefined || !(isMap(nested) || Array.isArray(nested)))
        return slot.set(resize(current, op.n))
      const inner = { v: nested }
      applyTreeOp(inner, { ...op, at: op.n, kind: (op.n >>> 8) % 8, n: op.n >>> 3 }, keys, depth + 1)
      return slot.set(encodeWith(inner.v))
    }
    case 7:
      return slot.set(swapType(current))
    default:
      if (isMap(current)) {
        // Rename a key: a known one in place of another.
        const ks = Object.keys(current)
        if (ks.length === 0) return
        const from = ks[op.n % ks.length]!
        const value = current[from]
        delete current[from]
        Object.defineProperty(current, keys[op.n % keys.length] ?? op.key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        })
      }
  }
}

/** Mostly canonical; sometimes every form the strict kit must refuse. */
export const cborStyle: fc.Arbitrary<CborStyle> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({}) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        unsorted: fc.boolean(),
        longHeads: fc.boolean(),
        indefinite: fc.boolean(),
        floatInts: fc.boolean(),
        duplicateKeys: fc.boolean(),
        tagged: fc.boolean(),
        trailing: fc.uint8Array({ minLength: 1, maxLength: 3 }),
      },
      { requiredKeys: [] },
    ),
  },
)

/** The map keys of the seeds (and their nested items), plus a few that prototype lookups could confuse. */
export function fieldNames(seeds: readonly Uint8Array[]): string[] {
  const names = new Set<string>([
    'v',
    't',
    'k',
    'id',
    '__proto__',
    'constructor',
    'toString',
    'hasOwnProperty',
  ])
  const visit = (v: Cbor | undefined, depth: number): void => {
    if (v instanceof Uint8Array && depth < 4 && v.length > 0) {
      const inner = lenientDecode(v)
      if (isMap(inner) || Array.isArray(inner)) visit(inner, depth + 1)
    } else if (Array.isArray(v)) v.forEach((x) => visit(x, depth))
    else if (v !== undefined && isMap(v))
      for (const k of Object.keys(v)) {
        names.add(k)
        visit(v[k], depth)
      }
  }
  for (const s of seeds) visit(lenientDecode(s), 0)
  return [...names]
}

/** 1 to 3 tree mutations of one of `seeds` (each must decode as CBOR), encoded in a random style. */
export function treeMutations(
  seeds: readonly Uint8Array[],
  keys = fieldNames(seeds),
): fc.Arbitrary<Uint8Array> {
  const trees = seeds.map((s) => {
    const t = lenientDecode(s)
    if (t === undefined) throw new Error('a seed is not CBOR')
    return t
  })
  return fc
    .tuple(fc.nat(trees.length - 1), fc.array(treeOp(keys), { minLength: 1, maxLength: 3 }), cborStyle)
    .map(([i, ops, style]) => {
      const root = { v: clone(trees[i]!) }
      for (const op of ops) applyTreeOp(root, op, keys)
      return encodeWith(root.v, style)
    })
}

/** Random well-formed CBOR maps made of the seeds' field names: gets past the first checks more often. */
export function randomMaps(keys: readonly string[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.dictionary(fc.constantFrom(...keys), cborValue(keys), { maxKeys: 6 }), cborStyle)
    .map(([m, style]) => encodeWith(m as Cbor, style))
}

export interface ByteInputOptions {
  /** Longest arbitrary byte string. @default 512 */
  maxRandom?: number
  /** Sizes around which to try inputs of repeated bytes (size - 1, size, size + 1): the decoder's caps. */
  sizes?: number[]
  /** More inputs, e.g. valid encodings at a field's size bound. */
  extra?: fc.Arbitrary<Uint8Array>[]
}

/** The mix every byte decoder is fed: valid, arbitrary, mutated, random maps and inputs at the caps. */
export function byteInputs(
  seeds: readonly Uint8Array[],
  options: ByteInputOptions = {},
): fc.Arbitrary<Uint8Array> {
  const keys = fieldNames(seeds)
  const arms: Array<fc.WeightedArbitrary<Uint8Array>> = [
    { weight: 1, arbitrary: fc.constantFrom(...seeds) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: options.maxRandom ?? 512 }) },
    { weight: 2, arbitrary: randomMaps(keys) },
    { weight: 6, arbitrary: byteMutations(seeds) },
    { weight: 6, arbitrary: treeMutations(seeds, keys) },
  ]
  if (options.sizes !== undefined && options.sizes.length > 0) {
    const sizes = options.sizes
    arms.push({
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...sizes),
          fc.integer({ min: -1, max: 1 }),
          fc.constantFrom(0x00, 0xa1, 0xbf, 0x5f, 0xff),
          fc.nat(seeds.length - 1),
        )
        .map(([size, d, fill, i]) => {
          const out = new Uint8Array(Math.max(0, size + d)).fill(fill)
          out.set(seeds[i]!.subarray(0, out.length))
          return out
        }),
    })
  }
  for (const extra of options.extra ?? []) arms.push({ weight: 1, arbitrary: extra })
  return fc.oneof(...arms)
}
