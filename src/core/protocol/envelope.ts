/**
 * The envelope: what travels between two people on every path (direct chat frame, relay mailbox), the
 * end-to-end encrypted output of the Double Ratchet in a versioned CBOR map `{v: 1, t, b}`:
 * `t` 1 for a prekey message (it starts a session: X3DH data + the first ratchet message), 2 for a
 * ratchet message; `b` the message body (src/core/crypto/messages.ts).
 *
 * Pure: no I/O. Decoding follows the strict CBOR rules of src/core/cbor.ts; anything else is an
 * {@link EnvelopeError}.
 */
import { decode, encode } from 'cborg'
import type { EncryptedMessage } from '../crypto/index.ts'
import { STRICT_CBOR_DECODE_OPTIONS } from '../cbor.ts'
import { PalomaError } from '../errors.ts'

export const ENVELOPE_VERSION = 1
/** Largest envelope any path carries, in bytes (a 16 Ki-character text, padded and encrypted, fits). */
export const MAX_ENVELOPE_BYTES = 60 * 1024

export const ENVELOPE_ERROR_CODES = ['BAD_ENVELOPE', 'ENVELOPE_TOO_LARGE', 'UNSUPPORTED_ENVELOPE'] as const
export type EnvelopeErrorCode = (typeof ENVELOPE_ERROR_CODES)[number]

export class EnvelopeError extends PalomaError<EnvelopeErrorCode> {
  override name = 'EnvelopeError'
}

export function encodeEnvelope(m: EncryptedMessage): Uint8Array {
  const bytes = encode({ v: ENVELOPE_VERSION, t: m.type === 'prekey' ? 1 : 2, b: m.body })
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) {
    throw new EnvelopeError(
      'ENVELOPE_TOO_LARGE',
      `envelope of ${bytes.byteLength} bytes exceeds ${MAX_ENVELOPE_BYTES}`,
    )
  }
  return bytes
}

export function decodeEnvelope(bytes: Uint8Array): EncryptedMessage {
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) {
    throw new EnvelopeError(
      'ENVELOPE_TOO_LARGE',
      `envelope of ${bytes.byteLength} bytes exceeds ${MAX_ENVELOPE_BYTES}`,
    )
  }
  let raw: unknown
  try {
    raw = decode(bytes, STRICT_CBOR_DECODE_OPTIONS)
  } catch (err) {
    throw new EnvelopeError('BAD_ENVELOPE', `envelope is not valid CBOR: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
    throw new EnvelopeError('BAD_ENVELOPE', 'envelope must be a CBOR map')
  }
  const { v, t, b, ...rest } = raw as Record<string, unknown>
  if (v !== ENVELOPE_VERSION)
    throw new EnvelopeError('UNSUPPORTED_ENVELOPE', `unsupported envelope version ${String(v)}`)
  if (
    (t !== 1 && t !== 2) ||
    !(b instanceof Uint8Array) ||
    b.byteLength === 0 ||
    Object.keys(rest).length > 0
  ) {
    throw new EnvelopeError('BAD_ENVELOPE', 'envelope must be {v: 1, t: 1 | 2, b: bytes}')
  }
  return { type: t === 1 ? 'prekey' : 'message', body: b }
}
