/**
 * Wire encodings of encrypted messages.
 *
 * Ratchet message: CBOR {v: 1, h: header bytes, c: AES-256-GCM ciphertext || tag}.
 * Prekey message (initial, until the initiator hears back): CBOR {v: 1, ik: bytes(32) Ed25519 identity
 * of the sender, ek: bytes(32) X3DH ephemeral key (base key), spk: uint signed prekey id, opk: uint one-time
 * prekey id or null, m: ratchet message bytes, he: true when the session encrypts headers (absent otherwise)}.
 * @module
 */
import {
  decodeRecord,
  encodeCbor,
  expectBool,
  expectBytes,
  expectOptionalUint,
  expectUint,
  expectX25519Public,
} from './cbor.ts'
import { KEY_LENGTH, MAX_COUNTER, MAX_MESSAGE_BYTES, RECORD_VERSION } from './constants.ts'
import { InvalidRecordError } from './errors.ts'
import { MAX_ENCRYPTED_HEADER_BYTES } from './ratchet.ts'

/** A Double Ratchet message. */
export interface RatchetMessage {
  readonly header: Uint8Array
  readonly ciphertext: Uint8Array
}

/** An X3DH initial message wrapping a ratchet message. */
export interface PreKeyMessage {
  readonly identityKey: Uint8Array
  readonly baseKey: Uint8Array
  readonly signedPreKeyId: number
  readonly oneTimePreKeyId: number | null
  /** The session encrypts its headers (the responder must too). */
  readonly headerEncryption: boolean
  readonly message: Uint8Array
}

/** `he` is either absent or true: one encoding per meaning. */
function expectTrue(m: Record<string, unknown>, key: string, what: string): true {
  if (!expectBool(m, key, what)) throw new InvalidRecordError(`${what}.${key}: expected true or absent`)
  return true
}

export function encodeRatchetMessage(m: RatchetMessage): Uint8Array {
  return encodeCbor({ v: RECORD_VERSION, h: m.header, c: m.ciphertext })
}

/** @throws InvalidRecordError */
export function decodeRatchetMessage(bytes: Uint8Array): RatchetMessage {
  const m = decodeRecord(bytes, 'message', MAX_MESSAGE_BYTES)
  return {
    header: expectBytes(m, 'h', -MAX_ENCRYPTED_HEADER_BYTES, 'message'),
    ciphertext: expectBytes(m, 'c', -MAX_MESSAGE_BYTES, 'message'),
  }
}

export function encodePreKeyMessage(m: PreKeyMessage): Uint8Array {
  return encodeCbor({
    v: RECORD_VERSION,
    ik: m.identityKey,
    ek: m.baseKey,
    spk: m.signedPreKeyId,
    opk: m.oneTimePreKeyId,
    m: m.message,
    ...(m.headerEncryption && { he: true }),
  })
}

/** @throws InvalidRecordError */
export function decodePreKeyMessage(bytes: Uint8Array): PreKeyMessage {
  const w = 'prekey message'
  const m = decodeRecord(bytes, w, MAX_MESSAGE_BYTES)
  return {
    identityKey: expectBytes(m, 'ik', KEY_LENGTH, w),
    baseKey: expectX25519Public(m, 'ek', w),
    signedPreKeyId: expectUint(m, 'spk', MAX_COUNTER, w),
    oneTimePreKeyId: expectOptionalUint(m, 'opk', MAX_COUNTER, w),
    headerEncryption: m.he === undefined ? false : expectTrue(m, 'he', w),
    message: expectBytes(m, 'm', -MAX_MESSAGE_BYTES, w),
  }
}
