/**
 * What travels inside an end-to-end encrypted envelope: the application payload, CBOR-encoded, known
 * only to the two ends. Relays and the transport see ciphertext only.
 *
 * - `text`: a chat message; `id` is the sender's message id, `ts` the sender's clock (ms), monotonic per
 *   conversation so that ordering by (ts, id) is the sender's order.
 * - `receipt`: `delivered` (the device decrypted and stored them) or `read` (the person opened the
 *   conversation), for the listed message ids.
 * - `presence`: online now, or last seen at `ts` (sent only to contacts, only when enabled).
 * - `typing`: the composer has (or no longer has) text in it.
 * - `reset`: "I could not decrypt what you sent (e.g. I restored a backup and have no session): this
 *   message starts a new session; send again what I have not confirmed."
 *
 * Pure: no I/O. Decoding is the strict kit of packages/core/cbor.ts and every field is checked; anything else
 * is a {@link PayloadError}.
 */
import {
  decodeStrictMap,
  encodeCanonical,
  expectArray,
  expectBoolean,
  expectInteger,
  expectKeys,
  expectString,
  show,
  type CborFail,
  type CborMap,
} from '../cbor.ts'
import { PalomaError } from '../errors.ts'
import { MAX_MESSAGE_ID_CHARS } from '../messages.ts'

export const PAYLOAD_VERSION = 1
export const MAX_TEXT_CHARS = 16 * 1024
export const MAX_RECEIPT_IDS = 256

export type Payload =
  | { k: 'text'; id: string; ts: number; text: string }
  | { k: 'receipt'; status: 'delivered' | 'read'; ids: string[] }
  | { k: 'presence'; online: boolean; ts: number }
  | { k: 'typing'; on: boolean }
  | { k: 'reset' }

export const PAYLOAD_ERROR_CODES = [
  /** Not a payload: bad CBOR, a missing or malformed field, an unexpected field. */
  'BAD_PAYLOAD',
  /** A `v` this version does not read (a newer sender). */
  'UNSUPPORTED_PAYLOAD',
  /** A kind `k` this version does not know (a newer sender's new kind of message). */
  'UNKNOWN_PAYLOAD_KIND',
] as const
export type PayloadErrorCode = (typeof PAYLOAD_ERROR_CODES)[number]

export class PayloadError extends PalomaError<PayloadErrorCode> {
  override name = 'PayloadError'
}

const fail: CborFail = (message, failure) => {
  throw new PayloadError(
    'BAD_PAYLOAD',
    message,
    failure?.cause === undefined ? undefined : { cause: failure.cause },
  )
}

export function encodePayload(p: Payload): Uint8Array {
  return encodeCanonical({ v: PAYLOAD_VERSION, ...validate({ v: PAYLOAD_VERSION, ...p }) })
}

/** @throws PayloadError */
export function decodePayload(bytes: Uint8Array): Payload {
  const m = decodeStrictMap(bytes, fail, 'payload')
  if (m.v !== PAYLOAD_VERSION) {
    throw new PayloadError(
      typeof m.v === 'number' ? 'UNSUPPORTED_PAYLOAD' : 'BAD_PAYLOAD',
      `payload.v: this version reads ${PAYLOAD_VERSION}, got ${show(m.v)}`,
    )
  }
  return validate(m)
}

const id = (value: unknown, what: string): string =>
  expectString(value, what, fail, { max: MAX_MESSAGE_ID_CHARS })
const time = (value: unknown, what: string): number => expectInteger(value, what, fail)

/** Checks a map with `v` and returns the payload without it. */
function validate(p: CborMap): Payload {
  switch (p.k) {
    case 'text':
      expectKeys(p, 'text', fail, ['v', 'k', 'id', 'ts', 'text'])
      return {
        k: 'text',
        id: id(p.id, 'text.id'),
        ts: time(p.ts, 'text.ts'),
        text: expectString(p.text, 'text.text', fail, { min: 0, max: MAX_TEXT_CHARS }),
      }
    case 'receipt': {
      expectKeys(p, 'receipt', fail, ['v', 'k', 'status', 'ids'])
      if (p.status !== 'delivered' && p.status !== 'read') {
        fail(`receipt.status: expected "delivered" or "read", got ${show(p.status)}`)
      }
      const ids = expectArray(p.ids, 'receipt.ids', fail, {
        min: 1,
        max: MAX_RECEIPT_IDS,
        noun: 'message ids',
      })
      return { k: 'receipt', status: p.status, ids: ids.map((x, i) => id(x, `receipt.ids[${i}]`)) }
    }
    case 'presence':
      expectKeys(p, 'presence', fail, ['v', 'k', 'online', 'ts'])
      return {
        k: 'presence',
        online: expectBoolean(p.online, 'presence.online', fail),
        ts: time(p.ts, 'presence.ts'),
      }
    case 'typing':
      expectKeys(p, 'typing', fail, ['v', 'k', 'on'])
      return { k: 'typing', on: expectBoolean(p.on, 'typing.on', fail) }
    case 'reset':
      expectKeys(p, 'reset', fail, ['v', 'k'])
      return { k: 'reset' }
    default:
      throw new PayloadError(
        typeof p.k === 'string' ? 'UNKNOWN_PAYLOAD_KIND' : 'BAD_PAYLOAD',
        `payload.k: unknown kind ${show(p.k)}`,
      )
  }
}
