/**
 * The envelope: what travels between two people on every path (direct chat frame, relay mailbox), the
 * end-to-end encrypted output of the Double Ratchet in a versioned CBOR map `{v: 1, t, b}`:
 * `t` 1 for a prekey message (it starts a session: X3DH data + the first ratchet message), 2 for a
 * ratchet message; `b` the message body (packages/core/crypto/messages.ts).
 *
 * Pure: no I/O. Decoding is the strict kit of packages/core/cbor.ts; anything else is an {@link EnvelopeError}.
 */
import type { EncryptedMessage } from '../crypto/index.ts'
import { decodeStrictMap, encodeCanonical, expectBytes, expectKeys, show, type CborFail } from '../cbor.ts'
import { PalomaError } from '../errors.ts'

export const ENVELOPE_VERSION = 1
/** Largest envelope any path carries, in bytes (a 16 Ki-character text, padded and encrypted, fits). */
export const MAX_ENVELOPE_BYTES = 60 * 1024

export const ENVELOPE_ERROR_CODES = ['BAD_ENVELOPE', 'ENVELOPE_TOO_LARGE', 'UNSUPPORTED_ENVELOPE'] as const
export type EnvelopeErrorCode = (typeof ENVELOPE_ERROR_CODES)[number]

export class EnvelopeError extends PalomaError<EnvelopeErrorCode> {
  override name = 'EnvelopeError'
}

const fail: CborFail = (message, failure) => {
  throw new EnvelopeError(
    'BAD_ENVELOPE',
    message,
    failure?.cause === undefined ? undefined : { cause: failure.cause },
  )
}

export function encodeEnvelope(m: EncryptedMessage): Uint8Array {
  const bytes = encodeCanonical({ v: ENVELOPE_VERSION, t: m.type === 'prekey' ? 1 : 2, b: m.body })
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
  const m = decodeStrictMap(bytes, fail, 'envelope')
  if (m.v !== ENVELOPE_VERSION)
    throw new EnvelopeError('UNSUPPORTED_ENVELOPE', `unsupported envelope version ${show(m.v)}`)
  expectKeys(m, 'envelope', fail, ['v', 't', 'b'])
  if (m.t !== 1 && m.t !== 2) fail(`envelope.t: expected 1 or 2, got ${show(m.t)}`)
  const body = expectBytes(m.b, 'envelope.b', fail, { min: 1 })
  return { type: m.t === 1 ? 'prekey' : 'message', body }
}
