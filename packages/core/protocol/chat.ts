/**
 * Wire codec for frames on `/paloma/chat/1.0.0`: deterministic CBOR maps `{v: 1, t, ...}`, one per
 * length-prefixed frame (unsigned varint, the framing of frames.ts and of libp2p's `lpStream`).
 *
 * Pure: no I/O. Decoding is the strict kit of packages/core/cbor.ts and every field is checked; anything
 * else is a {@link ChatFrameError} (a {@link FrameError}: `BAD_FRAME`, `FRAME_TOO_LARGE`,
 * `UNSUPPORTED_VERSION`) naming what was wrong. {@link chatFrameReader} splits a stream into frames.
 */
import {
  decodeStrictMap,
  encodeCanonical,
  expectBytes,
  expectKeys,
  expectString,
  show,
  type CborFail,
  type CborMap,
} from '../cbor.ts'
import { MAX_MESSAGE_ID_CHARS } from '../messages.ts'
import { MAX_ENVELOPE_BYTES } from './envelope.ts'
import { FrameError, LengthPrefixedReader, type LengthPrefixedCodec } from './frames.ts'

export { MAX_ENVELOPE_BYTES } from './envelope.ts'
export { MAX_MESSAGE_ID_CHARS } from '../messages.ts'

export const CHAT_FRAME_VERSION = 1
/**
 * Largest encoded frame accepted, in bytes (without the length prefix): a maximal envelope plus the
 * frame's own fields.
 */
export const MAX_CHAT_FRAME_BYTES = MAX_ENVELOPE_BYTES + 4 * 1024

/**
 * `env`: an end-to-end encrypted envelope (opaque here), `id` its message id.
 * `ack`: the receiving app stored the envelope with that id (or had it already).
 * `nack`: the receiving app does not take it on this path (it cannot store it, or will not acknowledge it
 * to this sender): leave it in the mailbox instead. Answering at once spares the sender a timeout.
 */
export type ChatFrame =
  { t: 'env'; id: string; env: Uint8Array } | { t: 'ack'; id: string } | { t: 'nack'; id: string }

/** A chat frame that could not be encoded or decoded; `code` says which rule it broke. */
export class ChatFrameError extends FrameError {
  override name = 'ChatFrameError'
}

const fail: CborFail = (message, failure) => {
  throw new ChatFrameError(
    failure?.tooLarge === true ? 'FRAME_TOO_LARGE' : 'BAD_FRAME',
    message,
    failure?.cause === undefined ? undefined : { cause: failure.cause },
  )
}

function tooLarge(bytes: Uint8Array): never {
  throw new ChatFrameError(
    'FRAME_TOO_LARGE',
    `chat frame: ${bytes.byteLength} bytes exceeds ${MAX_CHAT_FRAME_BYTES}`,
  )
}

/** Encodes a frame body (no length prefix: see `encodeLengthPrefixed` in frames.ts). Validates first. */
export function encodeChatFrame(frame: ChatFrame): Uint8Array {
  const clean = validate({ v: CHAT_FRAME_VERSION, ...frame })
  const bytes = encodeCanonical({ v: CHAT_FRAME_VERSION, ...clean })
  if (bytes.byteLength > MAX_CHAT_FRAME_BYTES) tooLarge(bytes)
  return bytes
}

/** Decodes one frame body (without the length prefix). @throws ChatFrameError */
export function decodeChatFrame(bytes: Uint8Array): ChatFrame {
  if (bytes instanceof Uint8Array && bytes.byteLength > MAX_CHAT_FRAME_BYTES) tooLarge(bytes)
  return validate(decodeStrictMap(bytes, fail, 'chat frame'))
}

/** The chat protocol as {@link LengthPrefixedReader} wants it. */
export const CHAT_FRAME_CODEC: LengthPrefixedCodec<ChatFrame> = {
  maxFrameBytes: MAX_CHAT_FRAME_BYTES,
  decodeBody: decodeChatFrame,
  fail(message, code) {
    throw new ChatFrameError(code, `chat ${message}`)
  },
}

/**
 * A reader of the chat stream: push the chunks a stream yields, get every complete frame back. A length
 * prefix above {@link MAX_CHAT_FRAME_BYTES} is refused before the body is buffered.
 * @example
 * const reader = chatFrameReader()
 * for await (const chunk of stream) for (const frame of reader.push(chunk.subarray())) handle(frame)
 */
export function chatFrameReader(): LengthPrefixedReader<ChatFrame> {
  return new LengthPrefixedReader(CHAT_FRAME_CODEC)
}

function validate(m: CborMap): ChatFrame {
  if (m.v !== CHAT_FRAME_VERSION) {
    throw new ChatFrameError(
      typeof m.v === 'number' ? 'UNSUPPORTED_VERSION' : 'BAD_FRAME',
      `chat frame.v: this peer speaks version ${CHAT_FRAME_VERSION}, got ${show(m.v)}`,
    )
  }
  if (m.t === 'ack' || m.t === 'nack') {
    expectKeys(m, m.t, fail, ['v', 't', 'id'])
    return { t: m.t, id: checkId(`${m.t}.id`, m.id) }
  }
  if (m.t === 'env') {
    expectKeys(m, 'env', fail, ['v', 't', 'id', 'env'])
    return {
      t: 'env',
      id: checkId('env.id', m.id),
      env: expectBytes(m.env, 'env.env', fail, { min: 1, max: MAX_ENVELOPE_BYTES, tooLarge: true }),
    }
  }
  return fail(`chat frame.t: unknown frame type ${show(m.t)}`)
}

function checkId(what: string, value: unknown): string {
  return expectString(value, what, fail, { max: MAX_MESSAGE_ID_CHARS })
}
