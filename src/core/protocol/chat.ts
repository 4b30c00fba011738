/**
 * Wire codec for frames on `/paloma/chat/1.0.0`: deterministic CBOR maps, one per length-prefixed frame.
 *
 * Pure: no I/O. Every decoded field is checked; anything else is a ChatFrameError naming what was wrong.
 */
import { encode, decode } from 'cborg'

export const CHAT_FRAME_VERSION = 1
/** Largest encoded frame accepted, in bytes. */
export const MAX_CHAT_FRAME_BYTES = 64 * 1024
/** Longest message id, in characters. */
export const MAX_MESSAGE_ID_CHARS = 64
/** Largest end-to-end encrypted envelope carried in one frame, in bytes. */
export const MAX_ENVELOPE_BYTES = 60 * 1024

/**
 * `env`: an end-to-end encrypted envelope (opaque here), `id` its message id.
 * `ack`: the receiving app stored (or deliberately dropped) the envelope with that id.
 */
export type ChatFrame = { t: 'env'; id: string; env: Uint8Array } | { t: 'ack'; id: string }

export class ChatFrameError extends Error {
  override name = 'ChatFrameError'
  constructor(message = 'Malformed chat frame') {
    super(message)
  }
}

export function encodeChatFrame(frame: ChatFrame): Uint8Array {
  validate(frame)
  const bytes = encode({ v: CHAT_FRAME_VERSION, ...frame })
  if (bytes.byteLength > MAX_CHAT_FRAME_BYTES) {
    throw new ChatFrameError(`Chat frame too large: ${bytes.byteLength} bytes, limit ${MAX_CHAT_FRAME_BYTES}`)
  }
  return bytes
}

export function decodeChatFrame(bytes: Uint8Array): ChatFrame {
  if (bytes.byteLength > MAX_CHAT_FRAME_BYTES) {
    throw new ChatFrameError(`Chat frame too large: ${bytes.byteLength} bytes, limit ${MAX_CHAT_FRAME_BYTES}`)
  }
  let raw: unknown
  try {
    raw = decode(bytes)
  } catch (err) {
    throw new ChatFrameError(`Chat frame is not valid CBOR: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw == null || Array.isArray(raw)) {
    throw new ChatFrameError('Chat frame must be a CBOR map')
  }
  const { v, ...frame } = raw as Record<string, unknown>
  if (v !== CHAT_FRAME_VERSION) throw new ChatFrameError(`Unsupported chat frame version: ${String(v)}`)
  validate(frame)
  return frame as ChatFrame
}

function validate(frame: Record<string, unknown>): void {
  const id = frame.id
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_MESSAGE_ID_CHARS) {
    throw new ChatFrameError(`Expected a message id of 1-${MAX_MESSAGE_ID_CHARS} characters`)
  }
  if (frame.t === 'ack') {
    if (Object.keys(frame).length !== 2) throw new ChatFrameError('Unexpected fields in ack frame')
    return
  }
  if (frame.t !== 'env') throw new ChatFrameError(`Unknown chat frame type: ${String(frame.t)}`)
  if (Object.keys(frame).length !== 3) throw new ChatFrameError('Unexpected fields in env frame')
  if (
    !(frame.env instanceof Uint8Array) ||
    frame.env.byteLength === 0 ||
    frame.env.byteLength > MAX_ENVELOPE_BYTES
  ) {
    throw new ChatFrameError(`Expected an envelope of 1-${MAX_ENVELOPE_BYTES} bytes`)
  }
}
