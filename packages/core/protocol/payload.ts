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
 * - `group-*`: a group's traffic between two of its members (docs/protocol.md, "Groups in the app"):
 *   `group-welcome` (one part of a welcome), `group-change` (a signed membership change),
 *   `group-key` (the sender's sender key distribution, with its log's heads), `group-key-request`
 *   ("send me your current sender key": this device lost them), `group-message` (a copy of a group
 *   message, for a member the topic did not reach), `group-receipt` (delivered/read, for group message
 *   ids), `group-typing`, `group-want` (changes named as parents that this member lacks). The bytes they
 *   carry are the group core's records (packages/core/group), bounded here by that core's limits and
 *   checked there.
 *
 * Pure: no I/O. Decoding is the strict kit of packages/core/cbor.ts and every field is checked; anything else
 * is a {@link PayloadError}.
 */
import {
  decodeStrictMap,
  encodeCanonical,
  expectArray,
  expectBoolean,
  expectBytes,
  expectInteger,
  expectKeys,
  expectString,
  show,
  type CborFail,
  type CborMap,
} from '../cbor.ts'
import { PalomaError } from '../errors.ts'
import { MAX_MESSAGE_ID_CHARS } from '../messages.ts'
import {
  KEY_LENGTH,
  MAX_CHANGE_BYTES,
  MAX_CHANGE_PARENTS,
  MAX_DISTRIBUTION_BYTES,
  MAX_GROUP_MESSAGE_BYTES,
  MAX_WELCOME_PART_BYTES,
} from '../group/constants.ts'

export const PAYLOAD_VERSION = 1
export const MAX_TEXT_CHARS = 16 * 1024
export const MAX_RECEIPT_IDS = 256
/** Most change ids one `group-want` asks for. */
export const MAX_WANTED_CHANGES = 64

export type Payload =
  | { k: 'text'; id: string; ts: number; text: string }
  | { k: 'receipt'; status: 'delivered' | 'read'; ids: string[] }
  | { k: 'presence'; online: boolean; ts: number }
  | { k: 'typing'; on: boolean }
  | { k: 'reset' }
  | { k: 'group-welcome'; w: Uint8Array }
  | { k: 'group-change'; c: Uint8Array }
  | { k: 'group-key'; d: Uint8Array; h: Uint8Array[] }
  | { k: 'group-key-request'; g: Uint8Array }
  | { k: 'group-message'; m: Uint8Array }
  | { k: 'group-receipt'; g: Uint8Array; status: 'delivered' | 'read'; ids: string[] }
  | { k: 'group-typing'; g: Uint8Array; on: boolean }
  | { k: 'group-want'; g: Uint8Array; ids: Uint8Array[] }

/** The payload kinds of group traffic. */
export const GROUP_PAYLOAD_KINDS = [
  'group-welcome',
  'group-change',
  'group-key',
  'group-key-request',
  'group-message',
  'group-receipt',
  'group-typing',
  'group-want',
] as const
export type GroupPayload = Extract<Payload, { k: (typeof GROUP_PAYLOAD_KINDS)[number] }>

/** Whether `p` is group traffic (handled by the app's groups, never by the 1:1 conversation). */
export function isGroupPayload(p: Payload): p is GroupPayload {
  return (GROUP_PAYLOAD_KINDS as readonly string[]).includes(p.k)
}

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
const groupId = (value: unknown, what: string): Uint8Array =>
  expectBytes(value, what, fail, { length: KEY_LENGTH })
const blob = (value: unknown, what: string, max: number): Uint8Array =>
  expectBytes(value, what, fail, { min: 1, max })
const status = (value: unknown, what: string): 'delivered' | 'read' => {
  if (value !== 'delivered' && value !== 'read') {
    fail(`${what}: expected "delivered" or "read", got ${JSON.stringify(String(value).slice(0, 16))}`)
  }
  return value
}
const ids = (value: unknown, what: string): string[] =>
  expectArray(value, what, fail, { min: 1, max: MAX_RECEIPT_IDS, noun: 'message ids' }).map((x, i) =>
    id(x, `${what}[${i}]`),
  )

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
    case 'group-welcome':
      expectKeys(p, 'group-welcome', fail, ['v', 'k', 'w'])
      return { k: 'group-welcome', w: blob(p.w, 'group-welcome.w', MAX_WELCOME_PART_BYTES) }
    case 'group-change':
      expectKeys(p, 'group-change', fail, ['v', 'k', 'c'])
      return { k: 'group-change', c: blob(p.c, 'group-change.c', MAX_CHANGE_BYTES) }
    case 'group-key': {
      expectKeys(p, 'group-key', fail, ['v', 'k', 'd', 'h'])
      const heads = expectArray(p.h, 'group-key.h', fail, { max: MAX_CHANGE_PARENTS, noun: 'heads' })
      return {
        k: 'group-key',
        d: blob(p.d, 'group-key.d', MAX_DISTRIBUTION_BYTES),
        h: heads.map((x, i) => groupId(x, `group-key.h[${i}]`)),
      }
    }
    case 'group-key-request':
      expectKeys(p, 'group-key-request', fail, ['v', 'k', 'g'])
      return { k: 'group-key-request', g: groupId(p.g, 'group-key-request.g') }
    case 'group-message':
      expectKeys(p, 'group-message', fail, ['v', 'k', 'm'])
      return { k: 'group-message', m: blob(p.m, 'group-message.m', MAX_GROUP_MESSAGE_BYTES) }
    case 'group-receipt':
      expectKeys(p, 'group-receipt', fail, ['v', 'k', 'g', 'status', 'ids'])
      return {
        k: 'group-receipt',
        g: groupId(p.g, 'group-receipt.g'),
        status: status(p.status, 'group-receipt.status'),
        ids: ids(p.ids, 'group-receipt.ids'),
      }
    case 'group-typing':
      expectKeys(p, 'group-typing', fail, ['v', 'k', 'g', 'on'])
      return {
        k: 'group-typing',
        g: groupId(p.g, 'group-typing.g'),
        on: expectBoolean(p.on, 'group-typing.on', fail),
      }
    case 'group-want': {
      expectKeys(p, 'group-want', fail, ['v', 'k', 'g', 'ids'])
      const wanted = expectArray(p.ids, 'group-want.ids', fail, {
        min: 1,
        max: MAX_WANTED_CHANGES,
        noun: 'change ids',
      })
      return {
        k: 'group-want',
        g: groupId(p.g, 'group-want.g'),
        ids: wanted.map((x, i) => groupId(x, `group-want.ids[${i}]`)),
      }
    }
    default:
      throw new PayloadError(
        typeof p.k === 'string' ? 'UNKNOWN_PAYLOAD_KIND' : 'BAD_PAYLOAD',
        `payload.k: unknown kind ${show(p.k)}`,
      )
  }
}
