/**
 * One-time prekeys on relays (`/paloma/prekeys/1.0.0`): the signed one-time prekey record and the wire
 * codec of the relay service that hands each record out exactly once.
 *
 * A DHT cannot serve a value exactly once, so the prekey bundle on the DHT carries only the signed prekey
 * (the last-resort path) and the owner uploads one-time prekeys (OPKs) to its home relays. Each OPK
 * travels as a record signed by the owner's Ed25519 identity key, so a relay can neither invent nor
 * substitute keys: a bogus key or id would make an initiator's first message undecryptable.
 *
 * Owns the record format and its domain-separated signature, the frame shapes, their field validation and
 * every protocol limit; the CBOR kit is packages/core/cbor.ts, the length prefix and the frame reader are those of
 * `frames.ts`.
 * It knows nothing about libp2p, streams or storage: identities in frames the relay trusts come from the
 * Noise-authenticated connection, never from a frame (except `take.owner`, which names whose key is
 * wanted).
 *
 * See docs/prekeys.md for the normative description.
 * @module
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
  requireCanonical,
  show,
  type CborFail,
} from '../cbor.ts'
import { PalomaError } from '../errors.ts'
import {
  BASE58BTC_PATTERN,
  FrameCodec,
  FrameError,
  LengthPrefixedReader,
  MAX_ERROR_MESSAGE_LENGTH,
  MAX_PEER_ID_LENGTH,
  type FrameErrorCode,
} from './frames.ts'
import { concatBytes } from '../crypto/bytes.ts'
import { ed25519Sign, ed25519Verify } from '../crypto/primitives.ts'

/** PeerId strings in frames; `err` frame messages (shared with the mailbox protocol). */
export { MAX_ERROR_MESSAGE_LENGTH, MAX_PEER_ID_LENGTH }

/** libp2p protocol id. */
export const PREKEYS_PROTOCOL = '/paloma/prekeys/1.0.0'
/** Value of the `v` field of every frame and record. */
export const PREKEYS_VERSION = 1
/** Prefix of the signed bytes (followed by a 0x00 byte), so the signature can mean nothing else. */
export const ONE_TIME_PREKEY_SIGNATURE_DOMAIN = 'paloma/one-time-prekey/v1'
/** Most records in one `upload` frame. */
export const MAX_UPLOAD_RECORDS = 100
/** Largest encoded one-time prekey record (a canonical one is at most 118 bytes). */
export const MAX_ONE_TIME_PREKEY_RECORD_BYTES = 160
/** Largest count in `ok` / `count` answers (a relay's per-owner cap is far below). */
export const MAX_COUNT = 1_000_000
/** Largest prekey id (unsigned 32-bit, as in prekey messages). */
export const MAX_PREKEY_ID = 0xffffffff
/** Largest encoded frame (CBOR body, without the length prefix): room for a full upload. */
export const PREKEYS_MAX_FRAME_BYTES = MAX_UPLOAD_RECORDS * (MAX_ONE_TIME_PREKEY_RECORD_BYTES + 3) + 256
const KEY_LENGTH = 32
const SIGNATURE_LENGTH = 64

/** Error codes carried by `err` frames. */
export const PREKEYS_ERROR_CODES = [
  /** The frame could not be decoded or failed validation. Not retryable. */
  'BAD_FRAME',
  /** The frame is larger than the protocol allows. Not retryable as is. */
  'TOO_LARGE',
  /** The frame's `v` is not a version this relay speaks. */
  'UNSUPPORTED_VERSION',
  /** The frame type is valid but not one a client may send. */
  'UNEXPECTED_FRAME',
  /** An uploaded record is malformed (`msg` names its index). Nothing of the frame was stored. */
  'BAD_RECORD',
  /** An uploaded record is not signed by the uploader's identity key. Nothing of the frame was stored. */
  'BAD_SIGNATURE',
  /** `take.owner` is not an Ed25519 PeerId. Not retryable. */
  'BAD_OWNER',
  /** The upload would exceed the per-owner cap of this relay (`msg` says how many fit). Nothing stored. */
  'OWNER_QUOTA',
  /** Too many requests from this peer per unit of time. Retry after a short backoff. */
  'RATE_LIMITED',
  /** The relay failed (disk error, shutting down). Retryable. */
  'INTERNAL',
] as const
export type PreKeysErrorCode = (typeof PREKEYS_ERROR_CODES)[number]

/**
 * Owner to relay: store these signed one-time prekey records (1 to MAX_UPLOAD_RECORDS). With `replace`,
 * the owner's stored keys (and the memory of ids already served) are dropped first, in the same
 * transaction (after restoring a backup, when the old private keys are gone).
 */
export interface UploadFrame {
  t: 'upload'
  opks: Uint8Array[]
  replace?: boolean
}
/** Relay to owner: `stored` records of the upload were new; the owner now has `total` on this relay. */
export interface OkFrame {
  t: 'ok'
  stored: number
  total: number
}
/** Anyone to relay: hand me one of `owner`'s one-time prekeys (and never to anyone else). */
export interface TakeFrame {
  t: 'take'
  owner: string
}
/** Relay to taker: one signed record, deleted from the relay before this frame was sent. */
export interface OpkFrame {
  t: 'opk'
  rec: Uint8Array
}
/** Relay to taker: the owner has no one-time prekey left here; use the signed prekey. */
export interface NoneFrame {
  t: 'none'
}
/** Owner to relay (without `n`): how many of my keys are left? Relay to owner (with `n`): this many. */
export interface CountFrame {
  t: 'count'
  n?: number
}
/** Relay to peer: a refusal. */
export interface ErrFrame {
  t: 'err'
  code: PreKeysErrorCode
  msg: string
}
export type PreKeysFrame = UploadFrame | OkFrame | TakeFrame | OpkFrame | NoneFrame | CountFrame | ErrFrame

export type PreKeysFrameErrorCode = FrameErrorCode

/** A frame that could not be encoded or decoded. `code` (a FrameErrorCode) says which rule it broke. */
export class PreKeysFrameError extends FrameError {
  override name = 'PreKeysFrameError'
}

export const ONE_TIME_PREKEY_RECORD_ERROR_CODES = [
  /** Bad bytes or fields. */
  'MALFORMED',
  /** Not signed by the expected owner, or tampered with. */
  'BAD_SIGNATURE',
] as const
export type OneTimePreKeyRecordErrorCode = (typeof ONE_TIME_PREKEY_RECORD_ERROR_CODES)[number]

/**
 * A one-time prekey record that cannot be used: `MALFORMED` (bad bytes or fields) or `BAD_SIGNATURE`
 * (not signed by the expected owner, or tampered with). Callers treat the owner as having no key left.
 */
export class OneTimePreKeyRecordError extends PalomaError<OneTimePreKeyRecordErrorCode> {
  override name = 'OneTimePreKeyRecordError'
}

/** A verified one-time prekey, as an initiator uses it in X3DH. */
export interface OneTimePreKeyPublic {
  readonly id: number
  readonly publicKey: Uint8Array
}

const DOMAIN_BYTES = concatBytes(new TextEncoder().encode(ONE_TIME_PREKEY_SIGNATURE_DOMAIN), Uint8Array.of(0))
const RECORD_FIELDS = ['v', 'id', 'k', 'sig'] as const
const ERROR_CODES = new Set<string>(PREKEYS_ERROR_CODES)

// ------------------------------------------------------------------------------------------- records

const malformed: CborFail = (message, failure) => {
  throw new OneTimePreKeyRecordError(
    'MALFORMED',
    message,
    failure?.cause === undefined ? undefined : { cause: failure.cause },
  )
}

function checkPreKeyId(id: unknown): number {
  return expectInteger(id, 'id', malformed, { max: MAX_PREKEY_ID })
}

function checkKey(field: string, value: unknown, length: number): Uint8Array {
  return expectBytes(value, field, malformed, { length })
}

/** The bytes an owner signs: domain || 0x00 || owner Ed25519 key || id (uint32 BE) || X25519 key. */
function signingBytes(owner: Uint8Array, id: number, publicKey: Uint8Array): Uint8Array {
  const idBytes = new Uint8Array(4)
  new DataView(idBytes.buffer).setUint32(0, id, false)
  return concatBytes(DOMAIN_BYTES, owner, idBytes, publicKey)
}

/**
 * Signs a one-time prekey for upload to a relay.
 * @param identitySeed - the owner's 32-byte Ed25519 seed (`IdentityKeyPair.seed`).
 * @param identityPublic - the owner's Ed25519 public key (its PeerId key), bound into the signature.
 * @param id - the prekey id (uint32), as named later by the prekey message.
 * @param publicKey - the 32-byte X25519 public key.
 * @returns the record bytes: CBOR `{v: 1, id, k, sig}`.
 * @throws OneTimePreKeyRecordError `MALFORMED` on a bad id or key length.
 * @example
 * const opks = await generateOneTimePreKeys(1, 50, secureRandom)
 * const records = await Promise.all(
 *   opks.map((p) => signOneTimePreKey(identity.seed, identity.publicKey, p.id, p.keyPair.publicKey)),
 * )
 */
export async function signOneTimePreKey(
  identitySeed: Uint8Array,
  identityPublic: Uint8Array,
  id: number,
  publicKey: Uint8Array,
): Promise<Uint8Array> {
  checkPreKeyId(id)
  checkKey('identityPublic', identityPublic, KEY_LENGTH)
  checkKey('publicKey', publicKey, KEY_LENGTH)
  const sig = await ed25519Sign(identitySeed, signingBytes(identityPublic, id, publicKey))
  return encodeCanonical({ v: PREKEYS_VERSION, id, k: publicKey, sig })
}

/**
 * Decodes a one-time prekey record without checking its signature (for logs and tests only).
 * @throws OneTimePreKeyRecordError `MALFORMED`
 */
export function decodeOneTimePreKeyUnverified(bytes: Uint8Array): OneTimePreKeyPublic & { sig: Uint8Array } {
  expectBytes(bytes, 'record', malformed, { max: MAX_ONE_TIME_PREKEY_RECORD_BYTES })
  const m = decodeStrictMap(bytes, malformed, 'record')
  expectKeys(m, 'record', malformed, RECORD_FIELDS)
  if (m.v !== PREKEYS_VERSION) malformed(`record.v: expected ${PREKEYS_VERSION}, got ${show(m.v)}`)
  const id = checkPreKeyId(m.id)
  const publicKey = checkKey('record.k', m.k, KEY_LENGTH)
  const sig = checkKey('record.sig', m.sig, SIGNATURE_LENGTH)
  // Only the canonical encoding is accepted, so a record has exactly one byte form (no malleability).
  requireCanonical({ v: PREKEYS_VERSION, id, k: publicKey, sig }, bytes, malformed, 'record')
  return { id, publicKey, sig }
}

/**
 * Decodes a one-time prekey record and verifies it was signed by `ownerIdentityPublic`.
 * @param bytes - the record, as uploaded by the owner or served by a relay.
 * @param ownerIdentityPublic - the owner's Ed25519 public key (from its PeerId: `publicKey.raw`).
 * @returns the prekey id and X25519 public key, ready for a `PreKeyBundle`'s `oneTimePreKeys`.
 * @throws OneTimePreKeyRecordError `MALFORMED` (bad bytes) or `BAD_SIGNATURE` (wrong owner, tampered).
 * @example
 * const opk = await verifyOneTimePreKey(rec, peerIdFromString(bob).publicKey.raw)
 * const bundle = { ...lastResortBundle, oneTimePreKeys: [opk] }
 */
export async function verifyOneTimePreKey(
  bytes: Uint8Array,
  ownerIdentityPublic: Uint8Array,
): Promise<OneTimePreKeyPublic> {
  const { id, publicKey, sig } = decodeOneTimePreKeyUnverified(bytes)
  if (!(ownerIdentityPublic instanceof Uint8Array) || ownerIdentityPublic.byteLength !== KEY_LENGTH) {
    throw new OneTimePreKeyRecordError('BAD_SIGNATURE', 'owner identity key: expected 32 bytes')
  }
  if (!(await ed25519Verify(ownerIdentityPublic, sig, signingBytes(ownerIdentityPublic, id, publicKey)))) {
    throw new OneTimePreKeyRecordError(
      'BAD_SIGNATURE',
      'record: not signed by the expected owner (forged or tampered)',
    )
  }
  return { id, publicKey }
}

// -------------------------------------------------------------------------------------------- frames

function checkCount(field: string, value: unknown): number {
  return expectInteger(value, field, codec.check, { max: MAX_COUNT })
}

function checkRecordBytes(field: string, value: unknown): Uint8Array {
  return expectBytes(value, field, codec.check, { min: 1, max: MAX_ONE_TIME_PREKEY_RECORD_BYTES })
}

/** Validates a PeerId string's shape (the relay additionally parses it). */
export function checkPeerIdString(field: string, value: unknown): string {
  return expectString(value, field, codec.check, {
    max: MAX_PEER_ID_LENGTH,
    pattern: BASE58BTC_PATTERN,
    patternMessage: 'not a base58btc PeerId string',
  })
}

const codec: FrameCodec<PreKeysFrame> = new FrameCodec<PreKeysFrame>({
  version: PREKEYS_VERSION,
  maxFrameBytes: PREKEYS_MAX_FRAME_BYTES,
  error: PreKeysFrameError,
  fields: {
    upload: (m) => {
      const opks = expectArray(m.opks, 'upload.opks', codec.check, {
        min: 1,
        max: MAX_UPLOAD_RECORDS,
        noun: 'records',
        tooLarge: true,
      })
      const frame: UploadFrame = {
        t: 'upload',
        opks: opks.map((r, i) => checkRecordBytes(`upload.opks[${i}]`, r)),
      }
      if (m.replace !== undefined && expectBoolean(m.replace, 'upload.replace', codec.check)) {
        frame.replace = true
      }
      return frame
    },
    ok: (m) => ({
      t: 'ok',
      stored: checkCount('ok.stored', m.stored),
      total: checkCount('ok.total', m.total),
    }),
    take: (m) => ({ t: 'take', owner: checkPeerIdString('take.owner', m.owner) }),
    opk: (m) => ({ t: 'opk', rec: checkRecordBytes('opk.rec', m.rec) }),
    none: () => ({ t: 'none' }),
    count: (m) => (m.n === undefined ? { t: 'count' } : { t: 'count', n: checkCount('count.n', m.n) }),
    err: (m) => ({
      t: 'err',
      ...codec.errorFields<PreKeysErrorCode>(m, ERROR_CODES, MAX_ERROR_MESSAGE_LENGTH),
    }),
  },
})

/** Validates a frame object (as produced by a decoder or about to be encoded) and returns a clean copy. */
export function validateFrame(raw: unknown): PreKeysFrame {
  return codec.validate(raw)
}

/** Encodes a frame body as deterministic CBOR (no length prefix). Validates first. */
export function encodeFrameBody(frame: PreKeysFrame): Uint8Array {
  return codec.encodeBody(frame)
}

/**
 * Decodes one frame body (without the length prefix).
 * @throws PreKeysFrameError when the bytes are not one well-formed CBOR map of a known frame type with
 *   valid fields. Unknown extra keys are ignored (a later minor revision may add optional fields).
 */
export function decodeFrameBody(bytes: Uint8Array): PreKeysFrame {
  return codec.decodeBody(bytes)
}

/** Encodes a frame with its unsigned-varint length prefix, ready to write to a stream. */
export function encodeFrame(frame: PreKeysFrame): Uint8Array {
  return codec.encode(frame)
}

/**
 * Splits a byte stream into frames: feed it chunks as they arrive, get back every complete frame.
 * Refuses a length prefix above PREKEYS_MAX_FRAME_BYTES before buffering the body. `push` throws
 * PreKeysFrameError on an oversized or malformed length prefix, or a malformed frame.
 */
export class FrameReader extends LengthPrefixedReader<PreKeysFrame> {
  constructor() {
    super(codec)
  }
}
