/**
 * Wire codec of the relay mailbox protocol (`/paloma/mailbox/1.0.0`): store-and-forward of
 * end-to-end encrypted envelopes on a relay until the recipient fetches and acknowledges them.
 *
 * Owns the frame shapes, their field validation and every protocol limit; the strict CBOR kit is
 * packages/core/cbor.ts, the unsigned-varint length prefix and the frame reader are the shared ones of `frames.ts`. It knows
 * nothing about libp2p, streams or storage: the relay service and the client feed it bytes and get
 * validated frames back. Identities never travel in frames the relay trusts: the sender
 * and the recipient of a subscription are the Noise-authenticated PeerId of the connection.
 *
 * See docs/mailbox.md for the normative description.
 */
import { expectArray, expectBytes, expectInteger, expectString } from '../cbor.ts'
import {
  BASE58BTC_PATTERN,
  FrameCodec,
  FrameError,
  LengthPrefixedReader,
  type FrameErrorCode,
} from './frames.ts'
import { MAX_ERROR_MESSAGE_LENGTH, MAX_PEER_ID_LENGTH } from './frames.ts'
import { MAX_MESSAGE_ID_CHARS } from '../messages.ts'

/** Message ids (printable ASCII without spaces) and PeerId strings in frames; `err` frame messages. */
export { MAX_ERROR_MESSAGE_LENGTH, MAX_MESSAGE_ID_CHARS, MAX_PEER_ID_LENGTH }

/** libp2p protocol id. */
export const MAILBOX_PROTOCOL = '/paloma/mailbox/1.0.0'
/** Value of the `v` field of every frame. */
export const MAILBOX_VERSION = 1
/**
 * Hard protocol cap on one envelope in a mailbox frame. Relays configure a smaller limit (64 KiB by
 * default, answered with TOO_LARGE); it stays above the `MAX_ENVELOPE_BYTES` (envelope.ts) clients produce today
 * so that larger envelopes later need no new protocol version.
 */
export const MAILBOX_MAX_ENVELOPE_BYTES = 256 * 1024
/** Most sequence numbers in one `ack` or `nack` frame. */
export const MAX_ACK_SEQS = 1024
/** Largest encoded frame (CBOR body, without the length prefix). Room for a maximal envelope frame. */
export const MAILBOX_MAX_FRAME_BYTES = MAILBOX_MAX_ENVELOPE_BYTES + 1024

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

export type MailboxFrameErrorCode = FrameErrorCode

/** A frame that could not be encoded or decoded. `code` (a FrameErrorCode) says which rule it broke. */
export class MailboxFrameError extends FrameError {
  override name = 'MailboxFrameError'
}

const ID_PATTERN = /^[\x21-\x7e]+$/ // printable ASCII, no space
const ERROR_CODES = new Set<string>(MAILBOX_ERROR_CODES)

function checkBytes(field: string, value: unknown, max: number): Uint8Array {
  return expectBytes(value, field, codec.check, { max, tooLarge: true })
}

function checkSeq(field: string, value: unknown): number {
  return expectInteger(value, field, codec.check, { min: 1, expected: 'a positive safe integer' })
}

function checkSeqs(t: 'ack' | 'nack', value: unknown): number[] {
  const seqs = expectArray(value, `${t}.seqs`, codec.check, {
    min: 1,
    max: MAX_ACK_SEQS,
    noun: 'sequence numbers',
  })
  return seqs.map((s, i) => checkSeq(`${t}.seqs[${i}]`, s))
}

/** Validates a PeerId string's shape (the relay additionally parses it). */
export function checkPeerIdString(field: string, value: unknown): string {
  return expectString(value, field, codec.check, { max: MAX_PEER_ID_LENGTH, pattern: BASE58BTC_PATTERN })
}

/** Validates a message id: 1 to MAX_MESSAGE_ID_CHARS printable ASCII characters without spaces. */
export function checkMessageId(field: string, value: unknown): string {
  return expectString(value, field, codec.check, { max: MAX_MESSAGE_ID_CHARS, pattern: ID_PATTERN })
}

const codec: FrameCodec<MailboxFrame> = new FrameCodec<MailboxFrame>({
  version: MAILBOX_VERSION,
  maxFrameBytes: MAILBOX_MAX_FRAME_BYTES,
  error: MailboxFrameError,
  fields: {
    put: (m) => ({
      t: 'put',
      to: checkPeerIdString('put.to', m.to),
      id: checkMessageId('put.id', m.id),
      env: checkBytes('put.env', m.env, MAILBOX_MAX_ENVELOPE_BYTES),
    }),
    ok: (m) => ({ t: 'ok', id: checkMessageId('ok.id', m.id) }),
    err: (m) => {
      const frame: ErrFrame = {
        t: 'err',
        ...codec.errorFields<MailboxErrorCode>(m, ERROR_CODES, MAX_ERROR_MESSAGE_LENGTH),
      }
      if (m.id !== undefined) frame.id = checkMessageId('err.id', m.id)
      return frame
    },
    sub: () => ({ t: 'sub' }),
    synced: () => ({ t: 'synced' }),
    env: (m) => {
      const ts = expectInteger(m.ts, 'env.ts', codec.check, {
        expected: 'a non-negative integer of milliseconds',
      })
      return {
        t: 'env',
        seq: checkSeq('env.seq', m.seq),
        from: checkPeerIdString('env.from', m.from),
        id: checkMessageId('env.id', m.id),
        env: checkBytes('env.env', m.env, MAILBOX_MAX_ENVELOPE_BYTES),
        ts,
      }
    },
    ack: (m) => ({ t: 'ack', seqs: checkSeqs('ack', m.seqs) }),
    nack: (m) => ({ t: 'nack', seqs: checkSeqs('nack', m.seqs) }),
  },
})

/** Validates a frame object (as produced by a decoder or about to be encoded) and returns a clean copy. */
export function validateFrame(raw: unknown): MailboxFrame {
  return codec.validate(raw)
}

/** Encodes a frame body as deterministic CBOR (no length prefix). Validates first. */
export function encodeFrameBody(frame: MailboxFrame): Uint8Array {
  return codec.encodeBody(frame)
}

/**
 * Decodes one frame body (without the length prefix).
 *
 * @throws MailboxFrameError when the bytes are not a single well-formed CBOR map of a known frame
 *   type with valid fields. Unknown extra keys are ignored, so a later minor revision may add
 *   optional fields without a version bump.
 */
export function decodeFrameBody(bytes: Uint8Array): MailboxFrame {
  return codec.decodeBody(bytes)
}

/** Encodes a frame with its unsigned-varint length prefix, ready to write to a stream. */
export function encodeFrame(frame: MailboxFrame): Uint8Array {
  return codec.encode(frame)
}

/**
 * Splits a byte stream into frames: feed it chunks as they arrive, get back every complete frame.
 * Refuses a length prefix above `maxFrameBytes` before buffering the body, so a peer cannot make
 * the reader hold more than one maximal frame. `push` throws MailboxFrameError on an oversized or
 * malformed length prefix, or a malformed frame.
 */
export class FrameReader extends LengthPrefixedReader<MailboxFrame> {
  constructor(maxFrameBytes: number = MAILBOX_MAX_FRAME_BYTES) {
    super(codec, maxFrameBytes)
  }
}
