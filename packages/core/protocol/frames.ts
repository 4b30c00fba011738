/**
 * What Paloma's relay protocols (`/paloma/mailbox/1.0.0`, `/paloma/prekeys/1.0.0`) share on the wire:
 * every frame is a CBOR map `{v, t, ...}` behind an unsigned-varint length prefix; and the one
 * length-prefixed reader every stream protocol uses (the chat protocol too, see chat.ts).
 *
 * Owns the version and type checks, the size caps, the length prefix ({@link encodeLengthPrefixed},
 * {@link LengthPrefixedReader}) and the frame error codes. CBOR decoding and the field checks are those of
 * packages/core/cbor.ts. Each relay protocol module keeps its own frame types, field validation, limits and
 * error class (a subclass of {@link FrameError}) and builds its codec with {@link FrameCodec}. Pure: knows
 * nothing about libp2p, streams or storage.
 * @module
 */
import {
  decodeStrict,
  describe,
  encodeCanonical,
  isCborMap,
  show,
  type CborFail,
  type CborMap,
} from '../cbor.ts'
import { PalomaError } from '../errors.ts'

/** Largest length prefix, in bytes (a varint of 5 bytes covers 2^35 - 1, far above any frame cap). */
export const MAX_VARINT_BYTES = 5

/** The base58btc alphabet of PeerId strings. */
export const BASE58BTC_PATTERN = /^[1-9A-HJ-NP-Za-km-z]+$/

export const FRAME_ERROR_CODES = [
  /** The frame could not be decoded or failed validation. */
  'BAD_FRAME',
  /** The frame (or a length prefix, or one of its fields) is larger than the protocol allows. */
  'FRAME_TOO_LARGE',
  /** The frame's `v` is a version this peer does not speak. */
  'UNSUPPORTED_VERSION',
] as const
export type FrameErrorCode = (typeof FRAME_ERROR_CODES)[number]

/** A frame that could not be encoded or decoded. `code` says which rule it broke. */
export class FrameError extends PalomaError<FrameErrorCode> {
  override name = 'FrameError'
}

export type FrameErrorClass = new (
  code: FrameErrorCode,
  message: string,
  options?: ErrorOptions,
) => FrameError

/** Longest human-readable message in an `err` frame of a relay protocol, in characters. */
export const MAX_ERROR_MESSAGE_LENGTH = 512

/** Longest PeerId string a relay protocol accepts in a frame (base58btc; Ed25519 ids are 52 characters). */
export const MAX_PEER_ID_LENGTH = 128

function encodeVarint(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/**
 * `body` behind its unsigned-varint length prefix: the framing of every Paloma stream protocol, the same
 * as libp2p's `lpStream` / it-length-prefixed (so streams written with either read with either).
 */
export function encodeLengthPrefixed(body: Uint8Array): Uint8Array {
  const prefix = encodeVarint(body.byteLength)
  const out = new Uint8Array(prefix.byteLength + body.byteLength)
  out.set(prefix, 0)
  out.set(body, prefix.byteLength)
  return out
}

/** Validators of the fields of each frame type, keyed by `t`; each gets the decoded map (`v` checked). */
export type FrameFields<F extends { t: string }> = {
  [T in F['t']]: (m: CborMap) => Extract<F, { t: T }>
}

export interface FrameCodecInit<F extends { t: string }> {
  /** The value of `v` this peer speaks. */
  version: number
  /** Largest encoded frame body (without the length prefix). */
  maxFrameBytes: number
  /** The protocol's error class; every failure is one of these. */
  error: FrameErrorClass
  fields: FrameFields<F>
}

/**
 * The codec of one frame protocol: validation, CBOR bodies and length-prefixed frames. Also hands the
 * protocol's field validators `fail` and the checks every protocol repeats, so their errors are the
 * protocol's own class.
 */
export class FrameCodec<F extends { t: string }> {
  readonly version: number
  readonly maxFrameBytes: number
  readonly #error: FrameErrorClass
  readonly #fields: Record<string, (m: CborMap) => F>

  constructor(init: FrameCodecInit<F>) {
    this.version = init.version
    this.maxFrameBytes = init.maxFrameBytes
    this.#error = init.error
    this.#fields = init.fields as Record<string, (m: CborMap) => F>
  }

  /** @throws the protocol's error with `code`. */
  fail(message: string, code: FrameErrorCode = 'BAD_FRAME'): never {
    throw new this.#error(code, message)
  }

  /**
   * The {@link CborFail} of this protocol, for the checks of packages/core/cbor.ts: `BAD_FRAME`, or
   * `FRAME_TOO_LARGE` for a check told to report its size bound as such.
   */
  readonly check: CborFail = (message, failure) => {
    throw new this.#error(
      failure?.tooLarge === true ? 'FRAME_TOO_LARGE' : 'BAD_FRAME',
      message,
      failure?.cause === undefined ? undefined : { cause: failure.cause },
    )
  }

  /** The `code` (one of `codes`) and `msg` (at most `maxMessageLength` characters) of an `err` frame. */
  errorFields<C extends string>(
    m: Record<string, unknown>,
    codes: ReadonlySet<string>,
    maxMessageLength: number,
  ): { code: C; msg: string } {
    const code = m.code
    if (typeof code !== 'string' || !codes.has(code)) this.fail(`err.code: unknown code ${show(code)}`)
    const msg = m.msg
    if (typeof msg !== 'string' || msg.length > maxMessageLength) {
      this.fail(`err.msg: expected a string of at most ${maxMessageLength} characters`)
    }
    return { code: code as C, msg }
  }

  /** Validates a frame object (as produced by a decoder or about to be encoded) and returns a clean copy. */
  validate(raw: unknown): F {
    if (!isCborMap(raw)) this.fail(`frame: expected a map, got ${describe(raw)}`)
    if (raw.v !== this.version) {
      if (typeof raw.v === 'number') {
        this.fail(`v: this peer speaks version ${this.version}, got ${raw.v}`, 'UNSUPPORTED_VERSION')
      }
      this.fail(`v: expected ${this.version}, got ${describe(raw.v)}`)
    }
    const t = raw.t
    const fields = typeof t === 'string' && Object.hasOwn(this.#fields, t) ? this.#fields[t] : undefined
    if (fields === undefined) {
      this.fail(
        `t: unknown frame type ${typeof t === 'string' ? JSON.stringify(t.slice(0, 16)) : describe(t)}`,
      )
    }
    return fields(raw)
  }

  /** Encodes a frame body as deterministic CBOR (no length prefix). Validates first. */
  encodeBody(frame: F): Uint8Array {
    const clean = this.validate({ v: this.version, ...frame })
    const body = encodeCanonical({ v: this.version, ...clean })
    if (body.byteLength > this.maxFrameBytes) {
      this.fail(`frame: ${body.byteLength} bytes exceeds ${this.maxFrameBytes}`, 'FRAME_TOO_LARGE')
    }
    return body
  }

  /**
   * Decodes one frame body (without the length prefix). Unknown extra keys are ignored, so a later minor
   * revision may add optional fields without a version bump.
   */
  decodeBody(bytes: Uint8Array): F {
    if (bytes.byteLength > this.maxFrameBytes) {
      this.fail(`frame: ${bytes.byteLength} bytes exceeds ${this.maxFrameBytes}`, 'FRAME_TOO_LARGE')
    }
    return this.validate(decodeStrict(bytes, this.check, 'frame'))
  }

  /** Encodes a frame with its unsigned-varint length prefix, ready to write to a stream. */
  encode(frame: F): Uint8Array {
    return encodeLengthPrefixed(this.encodeBody(frame))
  }
}

/** What {@link LengthPrefixedReader} needs of a protocol's codec. {@link FrameCodec} is one. */
export interface LengthPrefixedCodec<F> {
  /** Largest body (without the length prefix) the reader accepts. */
  readonly maxFrameBytes: number
  /** Decodes one body; throws the protocol's error. */
  decodeBody(body: Uint8Array): F
  /** Throws the protocol's error with `code` (a bad or oversized length prefix). */
  fail(message: string, code: FrameErrorCode): never
}

/**
 * Splits a byte stream of length-prefixed bodies ({@link encodeLengthPrefixed}) into decoded frames: feed
 * it chunks as they arrive, get back every complete frame. Refuses a length prefix above `maxFrameBytes`
 * before buffering the body, so a peer cannot make the reader hold more than one maximal frame; refuses
 * an empty body and a prefix longer than {@link MAX_VARINT_BYTES} bytes. Decoded frames may hold views into
 * the chunks pushed.
 */
export class LengthPrefixedReader<F> {
  readonly #codec: LengthPrefixedCodec<F>
  readonly #maxFrameBytes: number
  #buffer: Uint8Array = new Uint8Array(0)

  constructor(codec: LengthPrefixedCodec<F>, maxFrameBytes: number = codec.maxFrameBytes) {
    this.#codec = codec
    this.#maxFrameBytes = maxFrameBytes
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.#buffer.byteLength
  }

  /**
   * @returns the frames completed by this chunk, in order.
   * @throws the protocol's error on an oversized or malformed length prefix, or a malformed frame.
   */
  push(chunk: Uint8Array): F[] {
    if (chunk.byteLength > 0) {
      if (this.#buffer.byteLength === 0) {
        this.#buffer = chunk
      } else {
        const joined = new Uint8Array(this.#buffer.byteLength + chunk.byteLength)
        joined.set(this.#buffer, 0)
        joined.set(chunk, this.#buffer.byteLength)
        this.#buffer = joined
      }
    }
    const frames: F[] = []
    for (;;) {
      let length = 0
      let factor = 1
      let offset = 0
      let complete = false
      while (offset < this.#buffer.byteLength) {
        const byte = this.#buffer[offset] as number
        offset++
        length += (byte & 0x7f) * factor
        factor *= 128
        if ((byte & 0x80) === 0) {
          complete = true
          break
        }
        if (offset >= MAX_VARINT_BYTES)
          this.#codec.fail('length prefix: varint longer than 5 bytes', 'BAD_FRAME')
      }
      if (!complete) break
      if (length === 0) this.#codec.fail('length prefix: empty frame', 'BAD_FRAME')
      if (length > this.#maxFrameBytes) {
        this.#codec.fail(
          `length prefix: frame of ${length} bytes exceeds ${this.#maxFrameBytes}`,
          'FRAME_TOO_LARGE',
        )
      }
      if (this.#buffer.byteLength - offset < length) break
      const body = this.#buffer.subarray(offset, offset + length)
      this.#buffer = this.#buffer.subarray(offset + length)
      frames.push(this.#codec.decodeBody(body))
    }
    if (this.#buffer.byteLength === 0) this.#buffer = new Uint8Array(0)
    return frames
  }
}
