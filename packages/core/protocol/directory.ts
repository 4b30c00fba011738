/**
 * Directory records: the signed profile a user publishes on the DHT so others can find them, and the
 * username claims that point at it.
 *
 * Owns the profile record format (deterministic CBOR), its domain-separated Ed25519 signature, the
 * validator and selector every DHT node runs for the `paloma-profile` namespace, the username
 * normalization rules, the name CID that claimants provide, and the short identity fingerprint shown
 * next to each claimant. It knows nothing about libp2p, the network or storage: the DHT layer feeds it
 * key and value bytes, a clock value and a signing function. The prekey bundle is opaque bytes here.
 *
 * See docs/protocol.md ("Directory records") and docs/directory.md (threat model).
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { base58btc } from 'multiformats/bases/base58'
import {
  decodeStrictMap,
  encodeCanonical,
  expectBytes,
  expectKeys,
  requireCanonical,
  show,
  type CborFail,
} from '../cbor.ts'
import { PalomaError } from '../errors.ts'
import { MAX_BUNDLE_BYTES } from '../crypto/constants.ts'

/** Largest opaque prekey bundle carried in a record: the crypto module's bundle limit. */
export { MAX_BUNDLE_BYTES }

/** DHT namespace of profile records: keys are `/paloma-profile/<PeerId string>`. */
export const PROFILE_NAMESPACE = 'paloma-profile'
/** Value of the `v` field. */
export const PROFILE_VERSION = 1
/** Prefix of the signed bytes, so a profile signature can never be replayed as any other signature. */
export const PROFILE_SIGNATURE_DOMAIN = 'paloma/profile-record/v1'
/** Largest encoded record accepted by every node. */
export const MAX_PROFILE_BYTES = 8 * 1024
/** Most relay addresses in a record, and the longest one (characters). */
export const MAX_RELAYS = 8
export const MAX_RELAY_ADDR_LENGTH = 512
/** How far in the future `issued` may be (clock skew tolerated). */
export const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000
/** Longest allowed validity (`expires - issued`). */
export const MAX_PROFILE_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000
/** Validity given to a newly signed record: beyond kad-dht's 48 h record expiry and the 12 h republish. */
export const DEFAULT_PROFILE_LIFETIME_MS = 72 * 60 * 60 * 1000
/** Usernames: 3 to 32 of these characters, after normalization. */
export const NAME_PATTERN = /^[a-z0-9_.-]{3,32}$/
/** Prefix hashed with a normalized name to form the CID its claimants provide. */
export const NAME_CID_PREFIX = 'paloma-name:'
/** Prefix hashed with the identity key to form the fingerprint. */
const FINGERPRINT_PREFIX = 'paloma-fingerprint:'
/** Multicodec `raw`. */
const RAW_CODEC = 0x55
/** Multihash code of sha2-256. */
const SHA2_256 = 0x12
/** Longest PeerId string looked at: an Ed25519 PeerId in base58btc is 52 characters. */
const MAX_PEER_ID_STRING_CHARS = 64
/** An Ed25519 PeerId is the identity multihash of the protobuf public key: these 6 bytes, then the key. */
const ED25519_PEER_ID_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)

const REQUIRED_FIELDS = ['v', 'peer', 'seq', 'issued', 'expires', 'relays', 'bundle', 'sig'] as const
const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

// ---------------------------------------------------------------------------------------------- errors

/**
 * Every failure of the directory: the record and name rules here, and the DHT operations of
 * packages/net/directory.ts (which adds the last three classes). One class per failure, one code per class.
 */
export const DIRECTORY_ERROR_CODES = [
  /** {@link MalformedRecordError} */
  'MALFORMED_RECORD',
  /** {@link RecordTooLargeError} */
  'RECORD_TOO_LARGE',
  /** {@link WrongNamespaceError} */
  'WRONG_NAMESPACE',
  /** {@link IdentityMismatchError} */
  'IDENTITY_MISMATCH',
  /** {@link BadSignatureError} */
  'BAD_SIGNATURE',
  /** {@link ExpiredRecordError} */
  'EXPIRED_RECORD',
  /** {@link FutureRecordError} */
  'FUTURE_RECORD',
  /** {@link StaleRecordError} */
  'STALE_RECORD',
  /** {@link InvalidNameError}: the username breaks the naming rules ({@link NAME_PATTERN}). */
  'INVALID_NAME',
  /** The directory was given a key that is not the node's own Ed25519 key (a programming error). */
  'WRONG_KEY',
  /** `DirectoryUnavailableError` (packages/net/directory.ts): no relay answered in time. */
  'DIRECTORY_UNAVAILABLE',
  /** `ProfileNotFoundError` (packages/net/directory.ts) */
  'PROFILE_NOT_FOUND',
  /** `ProfileWithdrawnError` (packages/net/directory.ts): the owner deleted the account. */
  'PROFILE_WITHDRAWN',
] as const
export type DirectoryErrorCode = (typeof DIRECTORY_ERROR_CODES)[number]

/** Base class of every directory failure. */
export class DirectoryError extends PalomaError<DirectoryErrorCode> {
  constructor(code: DirectoryErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.name = 'DirectoryError'
  }
}
/** The record bytes are not a well-formed profile record (CBOR, fields, sizes, version). */
export class MalformedRecordError extends DirectoryError {
  constructor(message = 'malformed profile record', options?: ErrorOptions) {
    super('MALFORMED_RECORD', message, options)
    this.name = 'MalformedRecordError'
  }
}
/** The record is larger than {@link MAX_PROFILE_BYTES} (or its bundle than {@link MAX_BUNDLE_BYTES}). */
export class RecordTooLargeError extends DirectoryError {
  constructor(message = `profile record too large: at most ${MAX_PROFILE_BYTES} bytes`) {
    super('RECORD_TOO_LARGE', message)
    this.name = 'RecordTooLargeError'
  }
}
/** The DHT key is not `/paloma-profile/<Ed25519 PeerId>`. */
export class WrongNamespaceError extends DirectoryError {
  constructor(message = `expected a key /${PROFILE_NAMESPACE}/<Ed25519 PeerId>`) {
    super('WRONG_NAMESPACE', message)
    this.name = 'WrongNamespaceError'
  }
}
/** The record's `peer` key is not the identity the DHT key names. */
export class IdentityMismatchError extends DirectoryError {
  constructor(message = 'the record is signed by another identity than the one its key names') {
    super('IDENTITY_MISMATCH', message)
    this.name = 'IdentityMismatchError'
  }
}
/** The signature does not verify under the record's identity key. */
export class BadSignatureError extends DirectoryError {
  constructor(message = 'profile record signature does not verify: forged or corrupted') {
    super('BAD_SIGNATURE', message)
    this.name = 'BadSignatureError'
  }
}
/** The record's `expires` is in the past. The owner must republish. */
export class ExpiredRecordError extends DirectoryError {
  constructor(message = 'profile record has expired') {
    super('EXPIRED_RECORD', message)
    this.name = 'ExpiredRecordError'
  }
}
/** The record's `issued` is further in the future than the tolerated clock skew. */
export class FutureRecordError extends DirectoryError {
  constructor(message = 'profile record is issued in the future: check the clock of the publisher') {
    super('FUTURE_RECORD', message)
    this.name = 'FutureRecordError'
  }
}
/** A valid record older (lower `seq`) than one already seen for the same key: a replay. */
export class StaleRecordError extends DirectoryError {
  constructor(message = 'profile record is older than one already seen (replay)') {
    super('STALE_RECORD', message)
    this.name = 'StaleRecordError'
  }
}
/** A username does not satisfy the naming rules. */
export class InvalidNameError extends DirectoryError {
  constructor(message = 'usernames are 3 to 32 characters: letters a-z, digits, "_", "." or "-"') {
    super('INVALID_NAME', message)
    this.name = 'InvalidNameError'
  }
}

// ----------------------------------------------------------------------------------------------- types

/** The fields covered by the signature. */
export interface ProfileFields {
  v: typeof PROFILE_VERSION
  /** Ed25519 identity public key (32 bytes): the key inside the owner's PeerId. */
  peer: Uint8Array
  /** Grows with every publication; a node keeps the highest. */
  seq: number
  /** Milliseconds since the epoch. */
  issued: number
  expires: number
  /** Normalized username claim, absent when the user claims none. */
  name?: string
  /** The owner's current relay circuit addresses (multiaddr strings), for peer routing. */
  relays: string[]
  /** Opaque prekey bundle; empty in a tombstone. */
  bundle: Uint8Array
}

export interface ProfileRecord extends ProfileFields {
  /** Ed25519 signature over {@link profileSigningBytes}. */
  sig: Uint8Array
}

/** What the publisher supplies; `v`, `peer` come from the key, `sig` from `sign`. */
export interface ProfileContent {
  seq: number
  issued: number
  expires?: number
  name?: string
  relays: string[]
  bundle: Uint8Array
}

/** Signs bytes with the identity's Ed25519 private key (the libp2p key's `sign`). */
export type SignFn = (data: Uint8Array) => Uint8Array | Promise<Uint8Array>

// ------------------------------------------------------------------------------------------ identities

/** The Ed25519 PeerId string (`12D3KooW...`) of a 32-byte identity public key. */
export function peerIdStringFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new IdentityMismatchError('expected a 32-byte Ed25519 public key')
  return base58btc.baseEncode(concat(ED25519_PEER_ID_PREFIX, publicKey))
}

/**
 * The Ed25519 public key inside a PeerId string.
 * @throws WrongNamespaceError when the string is not an Ed25519 (identity-multihash) PeerId.
 */
export function publicKeyFromPeerIdString(peerId: string): Uint8Array {
  // Base58 decoding takes time quadratic in the length: a DHT key of a few KiB would hold a relay's event
  // loop for seconds. An Ed25519 PeerId string is 52 characters; anything longer is refused unread.
  if (typeof peerId !== 'string' || peerId.length > MAX_PEER_ID_STRING_CHARS) {
    throw new WrongNamespaceError('not an Ed25519 PeerId: too long')
  }
  let bytes: Uint8Array
  try {
    bytes = base58btc.baseDecode(peerId)
  } catch {
    throw new WrongNamespaceError(`not a PeerId: "${peerId.slice(0, 64)}"`)
  }
  if (bytes.length !== 38 || !equal(bytes.subarray(0, 6), ED25519_PEER_ID_PREFIX)) {
    throw new WrongNamespaceError('only Ed25519 PeerIds have profile records')
  }
  return bytes.slice(6)
}

/** The DHT key of a user's profile record. */
export function profileKey(peerId: string): Uint8Array {
  publicKeyFromPeerIdString(peerId)
  return utf8.encode(`/${PROFILE_NAMESPACE}/${peerId}`)
}

/**
 * The identity a profile key names.
 * @throws WrongNamespaceError for any other key.
 */
export function parseProfileKey(key: Uint8Array): { peerId: string; publicKey: Uint8Array } {
  let text: string
  try {
    text = utf8Decoder.decode(key)
  } catch {
    throw new WrongNamespaceError()
  }
  const prefix = `/${PROFILE_NAMESPACE}/`
  if (!text.startsWith(prefix)) throw new WrongNamespaceError()
  const peerId = text.slice(prefix.length)
  return { peerId, publicKey: publicKeyFromPeerIdString(peerId) }
}

/**
 * A short, human-comparable fingerprint of an identity key: 80 bits of SHA-256 as five groups of four
 * hex digits, e.g. `3f9a-1c22-07be-d410-9e5c`. Shown next to each claimant of a username.
 */
export function fingerprint(publicKey: Uint8Array): string {
  const h = sha256(concat(utf8.encode(FINGERPRINT_PREFIX), publicKey)).subarray(0, 10)
  const hex = Array.from(h, (b) => b.toString(16).padStart(2, '0')).join('')
  return hex.match(/.{4}/g)!.join('-')
}

// ---------------------------------------------------------------------------------------------- names

/**
 * Normalizes a username: trims whitespace, drops one leading `@`, applies Unicode NFKC, lowercases,
 * then requires 3 to 32 characters of `[a-z0-9_.-]`. ASCII-only names rule out cross-script homoglyphs.
 * @throws InvalidNameError when the result does not satisfy the rules.
 * @example normalizeName(' @Alice ') // 'alice'
 */
export function normalizeName(input: string): string {
  if (typeof input !== 'string') throw new InvalidNameError()
  const name = input.trim().replace(/^@/, '').normalize('NFKC').toLowerCase()
  if (!NAME_PATTERN.test(name)) throw new InvalidNameError()
  return name
}

/** The CID every claimant of `name` provides: raw codec, sha2-256 of `paloma-name:<normalized name>`. */
export function nameCid(name: string): CID {
  const normalized = normalizeName(name)
  const digest = Digest.create(SHA2_256, sha256(utf8.encode(NAME_CID_PREFIX + normalized)))
  return CID.createV1(RAW_CODEC, digest)
}

// ---------------------------------------------------------------------------------------------- codec

/** The bytes the signature covers: the domain, a zero byte, then the CBOR of every field but `sig`. */
export function profileSigningBytes(fields: ProfileFields): Uint8Array {
  return concat(utf8.encode(PROFILE_SIGNATURE_DOMAIN), Uint8Array.of(0), encodeCanonical(unsignedMap(fields)))
}

/**
 * Builds and signs a profile record for `publicKey`, returning its encoded bytes.
 * @param sign the identity's signing function (the net layer passes the libp2p private key's `sign`).
 * @throws RecordTooLargeError, InvalidNameError, MalformedRecordError on content out of bounds.
 */
export async function signProfileRecord(
  publicKey: Uint8Array,
  content: ProfileContent,
  sign: SignFn,
): Promise<{ record: ProfileRecord; bytes: Uint8Array }> {
  const fields: ProfileFields = {
    v: PROFILE_VERSION,
    peer: publicKey,
    seq: content.seq,
    issued: content.issued,
    expires: content.expires ?? content.issued + DEFAULT_PROFILE_LIFETIME_MS,
    relays: content.relays,
    bundle: content.bundle,
    ...(content.name == null ? {} : { name: normalizeName(content.name) }),
  }
  checkFields(fields)
  const sig = await sign(profileSigningBytes(fields))
  const record: ProfileRecord = { ...fields, sig: Uint8Array.from(sig) }
  const bytes = encodeProfileRecord(record)
  if (bytes.length > MAX_PROFILE_BYTES) throw new RecordTooLargeError()
  return { record, bytes }
}

/** Deterministic CBOR encoding of a record (does not check the signature). */
export function encodeProfileRecord(record: ProfileRecord): Uint8Array {
  return encodeCanonical({ ...unsignedMap(record), sig: record.sig })
}

/**
 * Decodes a record's structure: sizes, types, canonical encoding. Does not check the signature, the
 * identity binding or the clock: use {@link validateProfileRecord} for anything received.
 * @throws RecordTooLargeError or MalformedRecordError.
 */
export function decodeProfileRecord(bytes: Uint8Array): ProfileRecord {
  if (!(bytes instanceof Uint8Array)) throw new MalformedRecordError('expected Uint8Array')
  if (bytes.length > MAX_PROFILE_BYTES) {
    throw new RecordTooLargeError(`profile record has ${bytes.length} bytes, at most ${MAX_PROFILE_BYTES}`)
  }
  const m = decodeStrictMap(bytes, malformed, 'profile record')
  expectKeys(m, 'profile record', malformed, REQUIRED_FIELDS, ['name'])
  if (m.v !== PROFILE_VERSION)
    throw new MalformedRecordError(`expected version ${PROFILE_VERSION}, got ${show(m.v)}`)
  const record = {
    v: PROFILE_VERSION,
    peer: m.peer,
    seq: m.seq,
    issued: m.issued,
    expires: m.expires,
    relays: m.relays,
    bundle: m.bundle,
    sig: expectBytes(m.sig, 'profile record.sig', malformed, { length: 64 }),
    ...('name' in m ? { name: m.name } : {}),
  } as ProfileRecord
  checkFields(record)
  requireCanonical({ ...unsignedMap(record), sig: record.sig }, bytes, malformed, 'profile record')
  return record
}

// ---------------------------------------------------------------------------------- validate / select

/**
 * The full check every node runs on a record it stores or receives: namespace, size, structure, identity
 * binding, clock and signature.
 * @param now the current time in ms.
 * @returns the decoded record and the PeerId it belongs to.
 * @throws one of the {@link DirectoryError} subclasses.
 */
export function validateProfileRecord(
  key: Uint8Array,
  value: Uint8Array,
  now: number,
): { record: ProfileRecord; peerId: string } {
  const { peerId, publicKey } = parseProfileKey(key)
  const record = decodeProfileRecord(value)
  if (!equal(record.peer, publicKey)) throw new IdentityMismatchError()
  if (record.issued > now + MAX_CLOCK_SKEW_MS) throw new FutureRecordError()
  if (record.expires <= now) throw new ExpiredRecordError()
  let ok: boolean
  try {
    // strict RFC 8032 verification: no malleable or small-order encodings
    ok = ed25519.verify(record.sig, profileSigningBytes(record), record.peer, { zip215: false })
  } catch {
    ok = false
  }
  if (!ok) throw new BadSignatureError()
  return { record, peerId }
}

/**
 * Orders two records of the same key: positive when `a` is newer (higher `seq`, then later `issued`,
 * then the bytewise larger signature so every node breaks exact ties the same way).
 */
export function compareProfileRecords(a: ProfileRecord, b: ProfileRecord): number {
  if (a.seq !== b.seq) return a.seq - b.seq
  if (a.issued !== b.issued) return a.issued - b.issued
  for (let i = 0; i < 64; i++) if (a.sig[i] !== b.sig[i]) return a.sig[i]! - b.sig[i]!
  return 0
}

/**
 * The kad-dht selector: index of the newest record among `values` that validates at `now`. Invalid
 * values never win; when none is valid, returns 0 (kad-dht requires an index; its validator has
 * already refused them).
 */
export function selectProfileRecord(key: Uint8Array, values: Uint8Array[], now: number): number {
  let best = -1
  let bestRecord: ProfileRecord | undefined
  values.forEach((value, i) => {
    let record: ProfileRecord
    try {
      record = validateProfileRecord(key, value, now).record
    } catch {
      return
    }
    if (bestRecord == null || compareProfileRecords(record, bestRecord) > 0) {
      best = i
      bestRecord = record
    }
  })
  return Math.max(best, 0)
}

/** A tombstone: the owner withdrew the profile (account deleted). No name, no relays, no bundle. */
export function isTombstone(record: ProfileFields): boolean {
  return record.bundle.length === 0 && record.relays.length === 0 && record.name == null
}

/**
 * Remembers the highest `seq` validated per key, so a node refuses a replayed older record even though
 * kad-dht's PUT handler overwrites without comparing. Bounded: the oldest keys are forgotten first
 * (forgetting only weakens replay protection for that key; the selector still prefers the newest).
 */
export class SeqHighWater {
  readonly #max: number
  readonly #seen = new Map<string, number>()
  constructor(maxKeys = 50_000) {
    this.#max = maxKeys
  }
  /**
   * @throws StaleRecordError when a higher `seq` was already seen for `peerId`.
   */
  check(peerId: string, seq: number): void {
    const seen = this.#seen.get(peerId)
    if (seen != null && seq < seen) {
      throw new StaleRecordError(`profile record seq ${seq} is older than ${seen} already seen (replay)`)
    }
    this.#seen.delete(peerId)
    this.#seen.set(peerId, Math.max(seq, seen ?? seq))
    if (this.#seen.size > this.#max) this.#seen.delete(this.#seen.keys().next().value!)
  }
  /** Forgets every key (what a restart does). */
  clear(): void {
    this.#seen.clear()
  }
  /** The highest `seq` seen for `peerId`. */
  get(peerId: string): number | undefined {
    return this.#seen.get(peerId)
  }
}

// ------------------------------------------------------------------------------------------- internals

const malformed: CborFail = (message, failure) => {
  throw new MalformedRecordError(message, failure?.cause === undefined ? undefined : { cause: failure.cause })
}

function unsignedMap(f: ProfileFields): Record<string, unknown> {
  const m: Record<string, unknown> = {
    v: f.v,
    peer: f.peer,
    seq: f.seq,
    issued: f.issued,
    expires: f.expires,
    relays: f.relays,
    bundle: f.bundle,
  }
  if (f.name != null) m.name = f.name
  return m
}

function checkFields(f: ProfileFields): void {
  const count = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  if (!(f.peer instanceof Uint8Array) || f.peer.length !== 32) {
    throw new MalformedRecordError('peer: expected a 32-byte Ed25519 public key')
  }
  if (!count(f.seq)) throw new MalformedRecordError('seq: expected a non-negative integer')
  if (!count(f.issued) || !count(f.expires))
    throw new MalformedRecordError('issued/expires: expected ms timestamps')
  if (f.expires <= f.issued) throw new MalformedRecordError('expires must be after issued')
  if (f.expires - f.issued > MAX_PROFILE_LIFETIME_MS) {
    throw new MalformedRecordError(`validity longer than ${MAX_PROFILE_LIFETIME_MS} ms`)
  }
  if (!(f.bundle instanceof Uint8Array)) throw new MalformedRecordError('bundle: expected bytes')
  if (f.bundle.length > MAX_BUNDLE_BYTES) {
    throw new RecordTooLargeError(`bundle has ${f.bundle.length} bytes, at most ${MAX_BUNDLE_BYTES}`)
  }
  if (!Array.isArray(f.relays) || f.relays.length > MAX_RELAYS) {
    throw new MalformedRecordError(`relays: expected at most ${MAX_RELAYS} addresses`)
  }
  for (const r of f.relays) {
    if (typeof r !== 'string' || !r.startsWith('/') || r.length > MAX_RELAY_ADDR_LENGTH) {
      throw new MalformedRecordError('relays: expected multiaddr strings')
    }
  }
  if (f.name != null) {
    if (typeof f.name !== 'string') throw new MalformedRecordError('name: expected a string')
    let normalized: string
    try {
      normalized = normalizeName(f.name)
    } catch {
      throw new MalformedRecordError('name: not a valid username')
    }
    if (normalized !== f.name) throw new MalformedRecordError('name: not in normalized form')
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!
  return d === 0
}
