/**
 * Wire codec of the relay mailbox protocol (`/paloma/mailbox/1.0.0`): store-and-forward of
 * end-to-end encrypted envelopes on a relay until the recipient fetches and acknowledges them.
 *
 * Owns the frame shapes, their CBOR encoding, the unsigned-varint length prefix and every protocol
 * limit. It knows nothing about libp2p, streams or storage: the relay service and the client feed it
 * bytes and get validated frames back. Identities never travel in frames the relay trusts: the sender
 * and the recipient of a subscription are the Noise-authenticated PeerId of the connection.
 *
 * See docs/mailbox.md for the normative description.
 */
import { decode as cborDecode, encode as cborEncode } from 'cborg'

/** libp2p protocol id. */
export const MAILBOX_PROTOCOL = '/paloma/mailbox/1.0.0'
/** Value of the `v` field of every frame. */
export const MAILBOX_VERSION = 1
/** Longest message id, in characters (ids are printable ASCII without spaces). */
export const MAX_ID_LENGTH = 64
/** Longest PeerId string accepted in a frame (base58btc; Ed25519 ids are 52 characters). */
export const MAX_PEER_ID_LENGTH = 128
/** Hard protocol cap on one envelope; a relay may configure a smaller limit (answered with TOO_LARGE). */
export const MAX_ENVELOPE_BYTES = 256 * 1024
/** Most sequence numbers in one `ack` or `nack` frame. */
export const MAX_ACK_SEQS = 1024
/** Longest human-readable message in an `err` frame, in characters. */
export const MAX_ERROR_MESSAGE_LENGTH = 512
/** Largest encoded frame (CBOR body, without the length prefix). Room for a maximal envelope frame. */
export const MAX_FRAME_BYTES = MAX_ENVELOPE_BYTES + 1024
/** Largest length prefix, in bytes (a varint of 5 bytes covers 2^35 - 1, far above MAX_FRAME_BYTES). */
const MAX_VARINT_BYTES = 5

/** Error codes carried by `err` frames. */
export const MAILBOX_ERROR_CODES = [
  /** The envelope is larger than the relay accepts. Not retryable as is. */
  'TOO_LARGE',
  /** The recipient's mailbox is full (count or bytes). Retry later or elsewhere. */
  'RECIPIENT_QUOTA',
  /** The sender has too many envelopes stored on this relay. Retry after some are delivered. */
  'SENDER_QUOTA',
  /** Too many deposits per unit of time from this sender. Retry after a short backoff. */
  'RATE_LIMITED',
  /** The frame could not be decoded or failed validation. Not retryable. */
  'BAD_FRAME',
  /** The `to` field is not a valid PeerId. Not retryable. */
  'BAD_RECIPIENT',
  /** The frame's `v` is not a version this relay speaks. */
  'UNSUPPORTED_VERSION',
  /** The frame type is valid but not expected at this point of the exchange. */
  'UNEXPECTED_FRAME',
  /** The relay failed to store the envelope (disk error, shutting down). Retryable. */
  'INTERNAL',
] as const
export type MailboxErrorCode = (typeof MAILBOX_ERROR_CODES)[number]

/** Sender to relay: store `env` for `to`. Answered by `ok` (after a durable commit) or `err`. */
export interface PutFrame {
  t: 'put'
  to: string
  id: string
  env: Uint8Array
}
/** Relay to sender: the envelope with this id is durably stored (or was already). */
export interface OkFrame {
  t: 'ok'
  id: string
}
/** Relay to peer: a refusal. `id` names the refused deposit when there is one. */
export interface ErrFrame {
  t: 'err'
  id?: string
  code: MailboxErrorCode
  msg: string
}
/** Recipient to relay: deliver my stored envelopes, then push new ones while this stream is open. */
export interface SubFrame {
  t: 'sub'
}
/** Relay to recipient: one stored envelope. `seq` is the relay's handle for acknowledging it. */
export interface EnvFrame {
  t: 'env'
  seq: number
  from: string
  id: string
  env: Uint8Array
  ts: number
}
/** Relay to recipient: every envelope stored when the subscription began has been sent. */
export interface SyncedFrame {
  t: 'synced'
}
/** Recipient to relay: these envelopes are safely processed; delete them. */
export interface AckFrame {
  t: 'ack'
  seqs: number[]
}
/**
 * Recipient to relay: these envelopes could not be processed now; keep them (they come again on
 * the next subscription) but stop counting them as in flight on this one.
 */
export interface NackFrame {
  t: 'nack'
  seqs: number[]
}
export type MailboxFrame =
  PutFrame | OkFrame | ErrFrame | SubFrame | EnvFrame | SyncedFrame | AckFrame | NackFrame
export type MailboxFrameType = MailboxFrame['t']

export type MailboxFrameErrorReason = 'BAD_FRAME' | 'FRAME_TOO_LARGE' | 'UNSUPPORTED_VERSION'

/** A frame that could not be encoded or decoded. `reason` says which rule it broke. */
export class MailboxFrameError extends Error {
  override name = 'MailboxFrameError'
  readonly reason: MailboxFrameErrorReason
  constructor(message: string, reason: MailboxFrameErrorReason = 'BAD_FRAME', options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

const PEER_ID_PATTERN = /^[1-9A-HJ-NP-Za-km-z]+$/ // base58btc alphabet
const ID_PATTERN = /^[\x21-\x7e]+$/ // printable ASCII, no space
const ERROR_CODES = new Set<string>(MAILBOX_ERROR_CODES)

function fail(message: string): never {
  throw new MailboxFrameError(message)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value instanceof Uint8Array) return `bytes(${value.byteLength})`
  if (Array.isArray(value)) return `array(${value.length})`
  return typeof value
}

function checkString(field: string, value: unknown, max: number, pattern?: RegExp): string {
  if (typeof value !== 'string') fail(`${field}: expected a string, got ${describe(value)}`)
  if (value.length === 0 || value.length > max) {
    fail(`${field}: expected 1 to ${max} characters, got ${value.length}`)
  }
  if (pattern !== undefined && !pattern.test(value))
    fail(`${field}: contains characters that are not allowed`)
  return value
}

function checkBytes(field: string, value: unknown, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(`${field}: expected bytes, got ${describe(value)}`)
  if (value.byteLength > max) {
    throw new MailboxFrameError(
      `${field}: expected at most ${max} bytes, got ${value.byteLength}`,
      'FRAME_TOO_LARGE',
    )
  }
  return value
}

function checkSeq(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    fail(`${field}: expected a positive safe integer, got ${describe(value)} ${String(value)}`)
  }
  return value
}

/** Validates a PeerId string's shape (the relay additionally parses it). */
export function checkPeerIdString(field: string, value: unknown): string {
  return checkString(field, value, MAX_PEER_ID_LENGTH, PEER_ID_PATTERN)
}

/** Validates a message id: 1 to MAX_ID_LENGTH printable ASCII characters without spaces. */
export function checkMessageId(field: string, value: unknown): string {
  return checkString(field, value, MAX_ID_LENGTH, ID_PATTERN)
}

/** Validates a frame object (as produced by a decoder or about to be encoded) and returns a clean copy. */
export function validateFrame(raw: unknown): MailboxFrame {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
    fail(`frame: expected a map, got ${describe(raw)}`)
  }
  const m = raw as Record<string, unknown>
  if (m.v !== MAILBOX_VERSION) {
    if (typeof m.v === 'number') {
      throw new MailboxFrameError(
        `v: this peer speaks version ${MAILBOX_VERSION}, got ${m.v}`,
        'UNSUPPORTED_VERSION',
      )
    }
    fail(`v: expected ${MAILBOX_VERSION}, got ${describe(m.v)}`)
  }
  switch (m.t) {
    case 'put':
      return {
        t: 'put',
        to: checkPeerIdString('put.to', m.to),
        id: checkMessageId('put.id', m.id),
        env: checkBytes('put.env', m.env, MAX_ENVELOPE_BYTES),
      }
    case 'ok':
      return { t: 'ok', id: checkMessageId('ok.id', m.id) }
    case 'err': {
      const code = m.code
      if (typeof code !== 'string' || !ERROR_CODES.has(code)) fail(`err.code: unknown code ${String(code)}`)
      const msg = m.msg
      if (typeof msg !== 'string' || msg.length > MAX_ERROR_MESSAGE_LENGTH) {
        fail(`err.msg: expected a string of at most ${MAX_ERROR_MESSAGE_LENGTH} characters`)
      }
      const frame: ErrFrame = { t: 'err', code: code as MailboxErrorCode, msg }
      if (m.id !== undefined) frame.id = checkMessageId('err.id', m.id)
      return frame
    }
    case 'sub':
      return { t: 'sub' }
    case 'synced':
      return { t: 'synced' }
    case 'env': {
      const ts = m.ts
      if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) {
        fail(`env.ts: expected a non-negative integer of milliseconds, got ${describe(ts)}`)
      }
      return {
        t: 'env',
        seq: checkSeq('env.seq', m.seq),
        from: checkPeerIdString('env.from', m.from),
        id: checkMessageId('env.id', m.id),
        env: checkBytes('env.env', m.env, MAX_ENVELOPE_BYTES),
        ts,
      }
    }
    case 'ack':
    case 'nack': {
      const t = m.t
      const seqs = m.seqs
      if (!Array.isArray(seqs)) fail(`${t}.seqs: expected an array, got ${describe(seqs)}`)
      if (seqs.length === 0 || seqs.length > MAX_ACK_SEQS) {
        fail(`${t}.seqs: expected 1 to ${MAX_ACK_SEQS} sequence numbers, got ${seqs.length}`)
      }
      return { t, seqs: seqs.map((s, i) => checkSeq(`${t}.seqs[${i}]`, s)) }
    }
    default:
      return fail(
        `t: unknown frame type ${typeof m.t === 'string' ? JSON.stringify(m.t.slice(0, 16)) : describe(m.t)}`,
      )
  }
}

/** Encodes a frame body as deterministic CBOR (no length prefix). Validates first. */
export function encodeFrameBody(frame: MailboxFrame): Uint8Array {
  const clean = validateFrame({ v: MAILBOX_VERSION, ...frame })
  const body = cborEncode({ v: MAILBOX_VERSION, ...clean })
  if (body.byteLength > MAX_FRAME_BYTES) {
    throw new MailboxFrameError(
      `frame: ${body.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`,
      'FRAME_TOO_LARGE',
    )
  }
  return body
}

/**
 * Decodes one frame body (without the length prefix).
 *
 * @throws MailboxFrameError when the bytes are not a single well-formed CBOR map of a known frame
 *   type with valid fields. Unknown extra keys are ignored, so a later minor revision may add
 *   optional fields without a version bump.
 */
export function decodeFrameBody(bytes: Uint8Array): MailboxFrame {
  if (bytes.byteLength > MAX_FRAME_BYTES) {
    throw new MailboxFrameError(
      `frame: ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`,
      'FRAME_TOO_LARGE',
    )
  }
  let raw: unknown
  try {
    raw = cborDecode(bytes, {
      strict: true,
      rejectDuplicateMapKeys: true,
      allowIndefinite: false,
      allowUndefined: false,
      allowInfinity: false,
      allowNaN: false,
      allowBigInt: false,
      useMaps: false,
    })
  } catch (err) {
    throw new MailboxFrameError(`frame: not valid CBOR (${(err as Error).message})`, 'BAD_FRAME', {
      cause: err,
    })
  }
  return validateFrame(raw)
}

function encodeVarint(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** Encodes a frame with its unsigned-varint length prefix, ready to write to a stream. */
export function encodeFrame(frame: MailboxFrame): Uint8Array {
  const body = encodeFrameBody(frame)
  const prefix = encodeVarint(body.byteLength)
  const out = new Uint8Array(prefix.byteLength + body.byteLength)
  out.set(prefix, 0)
  out.set(body, prefix.byteLength)
  return out
}

/**
 * Splits a byte stream into frames: feed it chunks as they arrive, get back every complete frame.
 * Refuses a length prefix above `maxFrameBytes` before buffering the body, so a peer cannot make
 * the reader hold more than one maximal frame.
 */
export class FrameReader {
  readonly #maxFrameBytes: number
  #buffer: Uint8Array = new Uint8Array(0)

  constructor(maxFrameBytes: number = MAX_FRAME_BYTES) {
    this.#maxFrameBytes = maxFrameBytes
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.#buffer.byteLength
  }

  /**
   * @returns the frames completed by this chunk, in order.
   * @throws MailboxFrameError on an oversized or malformed length prefix, or a malformed frame.
   */
  push(chunk: Uint8Array): MailboxFrame[] {
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
    const frames: MailboxFrame[] = []
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
        if (offset >= MAX_VARINT_BYTES) fail('length prefix: varint longer than 5 bytes')
      }
      if (!complete) break
      if (length === 0) fail('length prefix: empty frame')
      if (length > this.#maxFrameBytes) {
        throw new MailboxFrameError(
          `length prefix: frame of ${length} bytes exceeds ${this.#maxFrameBytes}`,
          'FRAME_TOO_LARGE',
        )
      }
      if (this.#buffer.byteLength - offset < length) break
      const body = this.#buffer.subarray(offset, offset + length)
      this.#buffer = this.#buffer.subarray(offset + length)
      frames.push(decodeFrameBody(body))
    }
    if (this.#buffer.byteLength === 0) this.#buffer = new Uint8Array(0)
    return frames
  }
}
