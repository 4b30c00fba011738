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
 */
import { decode, encode } from 'cborg'

export const PAYLOAD_VERSION = 1
export const MAX_TEXT_CHARS = 16 * 1024
export const MAX_RECEIPT_IDS = 256
export const MAX_ID_CHARS = 64

export type Payload =
  | { k: 'text'; id: string; ts: number; text: string }
  | { k: 'receipt'; status: 'delivered' | 'read'; ids: string[] }
  | { k: 'presence'; online: boolean; ts: number }
  | { k: 'typing'; on: boolean }
  | { k: 'reset' }

export class PayloadError extends Error {
  override name = 'PayloadError'
  constructor(message = 'Malformed message payload') {
    super(message)
  }
}

export function encodePayload(p: Payload): Uint8Array {
  validate(p as unknown as Record<string, unknown>)
  return encode({ v: PAYLOAD_VERSION, ...p })
}

export function decodePayload(bytes: Uint8Array): Payload {
  let raw: unknown
  try {
    raw = decode(bytes)
  } catch (err) {
    throw new PayloadError(`Payload is not valid CBOR: ${(err as Error).message}`)
  }
  if (typeof raw !== 'object' || raw == null || Array.isArray(raw))
    throw new PayloadError('Payload must be a map')
  const { v, ...p } = raw as Record<string, unknown>
  if (v !== PAYLOAD_VERSION) throw new PayloadError(`Unsupported payload version ${String(v)}`)
  validate(p)
  return p as unknown as Payload
}

const isId = (x: unknown) => typeof x === 'string' && x.length > 0 && x.length <= MAX_ID_CHARS
const isTime = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0

function fields(p: Record<string, unknown>, n: number): void {
  if (Object.keys(p).length !== n) throw new PayloadError(`Unexpected fields in ${String(p.k)} payload`)
}

function validate(p: Record<string, unknown>): void {
  switch (p.k) {
    case 'text':
      fields(p, 4)
      if (!isId(p.id)) throw new PayloadError('text: bad id')
      if (!isTime(p.ts)) throw new PayloadError('text: bad timestamp')
      if (typeof p.text !== 'string' || p.text.length > MAX_TEXT_CHARS) {
        throw new PayloadError(`text: expected at most ${MAX_TEXT_CHARS} characters`)
      }
      return
    case 'receipt':
      fields(p, 3)
      if (p.status !== 'delivered' && p.status !== 'read') throw new PayloadError('receipt: bad status')
      if (
        !Array.isArray(p.ids) ||
        p.ids.length === 0 ||
        p.ids.length > MAX_RECEIPT_IDS ||
        !p.ids.every(isId)
      ) {
        throw new PayloadError(`receipt: expected 1-${MAX_RECEIPT_IDS} message ids`)
      }
      return
    case 'presence':
      fields(p, 3)
      if (typeof p.online !== 'boolean' || !isTime(p.ts)) throw new PayloadError('presence: bad fields')
      return
    case 'typing':
      fields(p, 2)
      if (typeof p.on !== 'boolean') throw new PayloadError('typing: bad fields')
      return
    case 'reset':
      fields(p, 1)
      return
    default:
      throw new PayloadError(`Unknown payload kind ${String(p.k)}`)
  }
}
