/**
 * Streams of length-prefixed frames for the reader fuzzers: up to six bodies (valid, mutated or random),
 * each behind its varint length prefix or a hostile one (above the cap, huge, six bytes long, zero, one
 * off), the whole split into chunks at arbitrary offsets.
 */
import fc from 'fast-check'
import { encodeLengthPrefixed, type LengthPrefixedReader } from '@paloma/core/protocol/frames.ts'
import { PalomaError } from '@paloma/core/errors.ts'
import { MAX_VARINT_BYTES } from '@paloma/core/protocol/frames.ts'
import { concat } from './mutations.ts'

export interface StreamInput {
  bytes: Uint8Array
  /** Chunk boundaries (offsets into `bytes`, sorted, deduplicated). */
  cuts: number[]
}

function varint(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 128) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** A body behind a correct prefix (mostly) or a hostile one. */
function framed(body: fc.Arbitrary<Uint8Array>, maxFrameBytes: number): fc.Arbitrary<Uint8Array> {
  return fc.tuple(body, fc.nat(15)).map(([b, how]) => {
    switch (how) {
      case 0:
        return concat(varint(maxFrameBytes + 1), b)
      case 1:
        return concat(varint(2 ** 34), b)
      case 2:
        return concat(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01), b)
      case 3:
        return concat(Uint8Array.of(0x00), b)
      case 4:
        return concat(varint(b.length + 1), b)
      case 5:
        return concat(varint(Math.max(0, b.length - 1)), b)
      case 6:
        return concat(Uint8Array.of(0x81, 0x00), b) // a non-minimal varint of 1
      default:
        return encodeLengthPrefixed(b)
    }
  })
}

/** Streams of 1 to 6 frames made of `bodies`, cut into up to 12 chunks. */
export function streams(bodies: fc.Arbitrary<Uint8Array>, maxFrameBytes: number): fc.Arbitrary<StreamInput> {
  return fc
    .tuple(
      fc.array(framed(bodies, maxFrameBytes), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 12 }),
    )
    .map(([frames, cuts]) => {
      const bytes = concat(...frames)
      const offsets = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
      return { bytes, cuts: offsets }
    })
}

function chunks({ bytes, cuts }: StreamInput): Uint8Array[] {
  const out: Uint8Array[] = []
  let from = 0
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.subarray(from, c))
    from = c
  }
  return out
}

type Outcome<F> = { frames: F[] } | { code: string; error: unknown }

function read<F>(reader: LengthPrefixedReader<F>, parts: Uint8Array[], maxFrameBytes: number): Outcome<F> {
  const frames: F[] = []
  try {
    for (const part of parts) {
      frames.push(...reader.push(part))
      // A reader never holds more than one incomplete frame: the cap is enforced before buffering.
      if (reader.pendingBytes > maxFrameBytes + MAX_VARINT_BYTES) {
        throw new Error(`reader buffers ${reader.pendingBytes} bytes, above one frame of ${maxFrameBytes}`)
      }
    }
    return { frames }
  } catch (error) {
    if (!(error instanceof PalomaError)) throw error
    return { code: error.code, error }
  }
}

/**
 * Reads `input` chunk by chunk with one reader and in one piece with another: both must give the same
 * frames, or fail with the same code (where the stream is cut changes nothing). Returns the frames, or
 * rethrows the typed error.
 */
export function readSplit<F>(
  newReader: () => LengthPrefixedReader<F>,
  maxFrameBytes: number,
  input: StreamInput,
): F[] {
  const split = read(newReader(), chunks(input), maxFrameBytes)
  const whole = read(newReader(), [input.bytes], maxFrameBytes)
  const a = 'code' in split ? split.code : JSON.stringify(split.frames, replacer)
  const b = 'code' in whole ? whole.code : JSON.stringify(whole.frames, replacer)
  if (a !== b)
    throw new Error(`cutting the stream changed the result: ${a.slice(0, 200)} / ${b.slice(0, 200)}`)
  if ('code' in split) throw split.error
  return split.frames
}

function replacer(_: string, v: unknown): unknown {
  return v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v
}
