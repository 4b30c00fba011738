/**
 * The Double Ratchet (Signal, "The Double Ratchet Algorithm", rev. 1, sections 3 and 5.2), and optionally
 * with header encryption (section 4).
 *
 * KDF_RK(rk, dh) = HKDF-SHA-256(salt = rk, IKM = dh, info = ROOT_INFO, 64) split into (root key, chain key).
 * KDF_CK(ck): message key = HMAC-SHA-256(ck, 0x01), next chain key = HMAC-SHA-256(ck, 0x02).
 * ENCRYPT(mk, pt, ad): (key 32 || nonce 12) = HKDF-SHA-256(salt = 32 zero bytes, IKM = mk,
 * info = MESSAGE_KEY_INFO, 44); AES-256-GCM(key, nonce, pt, ad) with ad = X3DH AD || header bytes.
 * Header = CBOR {v: 1, dh: bytes(32), pn: uint, n: uint}.
 *
 * Decryption is transactional: the state is changed only after the AEAD tag verified, so a rejected
 * message (tampered, replayed, too far ahead) leaves it exactly as it was. A message more than MAX_SKIP
 * ahead is rejected from its header alone, before any key is derived. Knows nothing of sessions or stores.
 *
 * The DH ratchet step is split at its two halves: on receipt of a new ratchet key only the receiving half
 * runs (DH(DHs, DHr), KDF_RK, PN = Ns, Ns = 0); the sending half (GENERATE_DH, DH(DHs, DHr), KDF_RK) runs
 * when the next message is sent ({@link startSendingChain}). Every key, header and ciphertext is the one
 * the spec's DHRatchet gives for the same random bytes (the published vectors do not change); a session
 * that only receives skips a key generation and a DH per step.
 *
 * Header encryption (a session option, chosen by the initiator): KDF_RK_HE(rk, dh) = HKDF-SHA-256(salt = rk,
 * IKM = dh, info = ROOT_HE_INFO, 96) split into (root key, chain key, next header key); HENCRYPT(hk, header) =
 * nonce(12, random) || AES-256-GCM(hk, nonce, header, ad = X3DH AD). The message AEAD then binds X3DH AD ||
 * encrypted header. A received header is opened with HKr, NHKr, the header keys of chains with skipped
 * message keys, and (to classify replays) the last MAX_PREVIOUS_REMOTE_RATCHETS HKr; the plain header found
 * inside then goes through exactly the checks of an unencrypted one.
 * @module
 */
import { compareBytes, concatBytes, equalBytes, toHex, wipe } from './bytes.ts'
import {
  decodeRecord,
  encodeCbor,
  expectArray,
  expectBytes,
  expectMap,
  expectUint,
  expectX25519Public,
} from './cbor.ts'
import {
  KEY_LENGTH,
  MAX_COUNTER,
  MAX_PREVIOUS_REMOTE_RATCHETS,
  MAX_SKIP,
  MAX_STORED_SKIPPED_KEYS,
  HEADER_KEYS_INFO_BYTES,
  MESSAGE_KEY_INFO_BYTES,
  NONCE_LENGTH,
  RECORD_VERSION,
  ROOT_HE_INFO_BYTES,
  ROOT_INFO_BYTES,
  TAG_LENGTH,
} from './constants.ts'
import {
  DecryptionFailedError,
  DuplicateMessageError,
  InvalidRecordError,
  TooManySkippedMessagesError,
} from './errors.ts'
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  hkdfSha256,
  generateX25519KeyPair,
  hmacSha256Pair,
  x25519,
  type KeyPair,
  type Rng,
} from './primitives.ts'

const ZERO_SALT = new Uint8Array(KEY_LENGTH)
const MESSAGE_KEY_SEED = Uint8Array.of(0x01)
const CHAIN_KEY_SEED = Uint8Array.of(0x02)
/** Largest encoded header: CBOR map of v, dh(32), pn and n as uint32. */
const MAX_HEADER_BYTES = 64
/** Largest encrypted header: nonce, the largest header, tag. */
export const MAX_ENCRYPTED_HEADER_BYTES = NONCE_LENGTH + MAX_HEADER_BYTES + TAG_LENGTH

/** A message key kept for a message that has not arrived yet. */
export interface SkippedKey {
  readonly dh: Uint8Array
  readonly n: number
  readonly messageKey: Uint8Array
  /** With header encryption: the header key of its chain (HKr then), to open the late message's header. */
  readonly hk?: Uint8Array
}

/** The header keys of a session that encrypts headers (the spec's HKs, HKr, NHKs, NHKr). */
export interface HeaderKeys {
  /** HKs; null until a responder's first sending chain. */
  sending: Uint8Array | null
  /** HKr; null until the first message is received. */
  receiving: Uint8Array | null
  /** NHKs; null while the sending half of a DH ratchet step is pending. */
  nextSending: Uint8Array | null
  /** NHKr. */
  nextReceiving: Uint8Array
  /** HKr of the chains this state moved past, newest last (replay classification only). */
  previousReceiving: Uint8Array[]
}

/** Double Ratchet state of one session (the spec's DHs, DHr, RK, CKs, CKr, Ns, Nr, PN, MKSKIPPED). */
export interface RatchetState {
  rootKey: Uint8Array
  /**
   * DHs; null from a DH ratchet step on receipt until the next send, which generates it and derives the
   * sending chain (see {@link startSendingChain}).
   */
  sendingRatchet: KeyPair | null
  remoteRatchet: Uint8Array | null
  sendingChainKey: Uint8Array | null
  receivingChainKey: Uint8Array | null
  sendCount: number
  receiveCount: number
  previousCount: number
  /** Skipped message keys in arrival order (oldest first), keyed by {@link skippedKeyId}. */
  skipped: Map<string, SkippedKey>
  /** Remote ratchet keys this state has moved past, newest last (replay classification only). */
  previousRemoteRatchets: Uint8Array[]
  /** Header keys when this session encrypts headers, else null. */
  headerKeys: HeaderKeys | null
}

/** A decoded message header. */
export interface Header {
  readonly dh: Uint8Array
  readonly pn: number
  readonly n: number
}

/** KDF_RK: (new root key, chain key). */
export function kdfRoot(rootKey: Uint8Array, dhOutput: Uint8Array): [Uint8Array, Uint8Array] {
  const out = hkdfSha256(dhOutput, rootKey, ROOT_INFO_BYTES, 2 * KEY_LENGTH)
  return [out.slice(0, KEY_LENGTH), out.slice(KEY_LENGTH)]
}

/** KDF_RK_HE: (new root key, chain key, next header key). */
export function kdfRootHe(rootKey: Uint8Array, dhOutput: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const out = hkdfSha256(dhOutput, rootKey, ROOT_HE_INFO_BYTES, 3 * KEY_LENGTH)
  return [out.slice(0, KEY_LENGTH), out.slice(KEY_LENGTH, 2 * KEY_LENGTH), out.slice(2 * KEY_LENGTH)]
}

/** KDF_RK or KDF_RK_HE, as the session uses; the third key is null without header encryption. */
function rootStep(
  he: boolean,
  rootKey: Uint8Array,
  dhOutput: Uint8Array,
): [Uint8Array, Uint8Array, Uint8Array | null] {
  return he ? kdfRootHe(rootKey, dhOutput) : [...kdfRoot(rootKey, dhOutput), null]
}

/** HENCRYPT: nonce || AES-256-GCM(hk, nonce, header, ad). */
export function encryptHeader(hk: Uint8Array, header: Uint8Array, ad: Uint8Array, rng: Rng): Uint8Array {
  const nonce = rng(NONCE_LENGTH)
  return concatBytes(nonce, aesGcmEncrypt(hk, nonce, header, ad))
}

/** HDECRYPT: the header bytes, or null when `hk` is not the key (or the bytes were altered). */
export function decryptHeader(hk: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (sealed.length < NONCE_LENGTH + TAG_LENGTH || sealed.length > MAX_ENCRYPTED_HEADER_BYTES) return null
  try {
    return aesGcmDecrypt(hk, sealed.subarray(0, NONCE_LENGTH), sealed.subarray(NONCE_LENGTH), ad)
  } catch (e) {
    if (e instanceof DecryptionFailedError) return null
    throw e
  }
}

/**
 * Opens an encrypted header with the state's header keys and checks that the key that opened it agrees with
 * the ratchet key inside (HKr: the current remote key; NHKr: a new one). Changes nothing.
 * @throws DecryptionFailedError when no key opens it (not for this session, or altered),
 * InvalidRecordError for a malformed header inside.
 */
export function openHeader(state: RatchetState, sealed: Uint8Array, ad: Uint8Array): Header {
  const keys = state.headerKeys
  if (!keys) throw new InvalidRecordError('session does not encrypt headers')
  const isCurrent = (h: Header) => !!state.remoteRatchet && equalBytes(h.dh, state.remoteRatchet)
  const isPrevious = (h: Header) => state.previousRemoteRatchets.some((k) => equalBytes(k, h.dh))
  const tries: [Uint8Array | null, (h: Header) => boolean][] = [
    [keys.receiving, isCurrent],
    [keys.nextReceiving, (h) => !isCurrent(h) && !isPrevious(h)],
  ]
  const skippedChains = new Map<string, Uint8Array>()
  for (const k of state.skipped.values()) if (k.hk) skippedChains.set(toHex(k.hk), k.hk)
  for (const hk of [...skippedChains.values(), ...keys.previousReceiving]) {
    tries.push([hk, (h) => isCurrent(h) || isPrevious(h)])
  }
  for (const [hk, agrees] of tries) {
    const bytes = hk && decryptHeader(hk, sealed, ad)
    if (!bytes) continue
    const header = decodeHeader(bytes)
    if (!agrees(header)) throw new DecryptionFailedError('header key and ratchet key disagree')
    return header
  }
  throw new DecryptionFailedError()
}

/** KDF_CK: (next chain key, message key). */
export function kdfChain(chainKey: Uint8Array): [Uint8Array, Uint8Array] {
  return hmacSha256Pair(chainKey, CHAIN_KEY_SEED, MESSAGE_KEY_SEED)
}

/** AES-256-GCM key and nonce of a message key. */
export function messageKeyMaterial(messageKey: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const out = hkdfSha256(messageKey, ZERO_SALT, MESSAGE_KEY_INFO_BYTES, 44)
  return { key: out.subarray(0, 32), nonce: out.subarray(32, 44) }
}

/** ENCRYPT(mk, plaintext, ad). */
export function encryptWithMessageKey(
  messageKey: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
): Uint8Array {
  const { key, nonce } = messageKeyMaterial(messageKey)
  const ct = aesGcmEncrypt(key, nonce, plaintext, ad)
  wipe(key)
  return ct
}

/** DECRYPT(mk, ciphertext, ad). @throws DecryptionFailedError */
export function decryptWithMessageKey(
  messageKey: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
): Uint8Array {
  const { key, nonce } = messageKeyMaterial(messageKey)
  try {
    return aesGcmDecrypt(key, nonce, ciphertext, ad)
  } finally {
    wipe(key)
  }
}

/** Encodes a header: CBOR {v: 1, dh, pn, n}. */
export function encodeHeader(header: Header): Uint8Array {
  return encodeCbor({ v: RECORD_VERSION, dh: header.dh, pn: header.pn, n: header.n })
}

/** Decodes and validates a header. @throws InvalidRecordError */
export function decodeHeader(bytes: Uint8Array): Header {
  const m = decodeRecord(bytes, 'header', MAX_HEADER_BYTES)
  return {
    dh: expectX25519Public(m, 'dh', 'header'),
    pn: expectUint(m, 'pn', MAX_COUNTER, 'header'),
    n: expectUint(m, 'n', MAX_COUNTER, 'header'),
  }
}

/** The header as sent: plain, or opened with the session's header keys. */
function readHeader(state: RatchetState, headerBytes: Uint8Array, associatedData: Uint8Array): Header {
  return state.headerKeys ? openHeader(state, headerBytes, associatedData) : decodeHeader(headerBytes)
}

/** Map key of a skipped message key. */
export function skippedKeyId(dh: Uint8Array, n: number): string {
  return `${toHex(dh)}:${n}`
}

/** The two shared header keys of a header-encrypting session (HKa, NHKb), from the X3DH shared key. */
export function sharedHeaderKeys(sharedKey: Uint8Array): { initiator: Uint8Array; responder: Uint8Array } {
  const out = hkdfSha256(sharedKey, ZERO_SALT, HEADER_KEYS_INFO_BYTES, 2 * KEY_LENGTH)
  return { initiator: out.slice(0, KEY_LENGTH), responder: out.slice(KEY_LENGTH) }
}

/**
 * RatchetInitAlice (RatchetInitAliceHE with `headerEncryption`): the initiator knows SK and Bob's ratchet key
 * (his signed prekey), and has generated her first ratchet pair. `dhOutput` = DH(sendingRatchet,
 * remoteRatchet), computed by the caller so it can run concurrently with X3DH.
 */
export function initRatchetInitiator(
  sharedKey: Uint8Array,
  remoteRatchet: Uint8Array,
  sendingRatchet: KeyPair,
  dhOutput: Uint8Array,
  headerEncryption = false,
): RatchetState {
  const [rootKey, sendingChainKey, nextSending] = rootStep(headerEncryption, sharedKey, dhOutput)
  const shared = headerEncryption ? sharedHeaderKeys(sharedKey) : null
  return {
    headerKeys: shared && {
      sending: shared.initiator,
      receiving: null,
      nextSending,
      nextReceiving: shared.responder,
      previousReceiving: [],
    },
    rootKey,
    sendingRatchet,
    remoteRatchet,
    sendingChainKey,
    receivingChainKey: null,
    sendCount: 0,
    receiveCount: 0,
    previousCount: 0,
    skipped: new Map(),
    previousRemoteRatchets: [],
  }
}

/** RatchetInitBob (RatchetInitBobHE): the responder's first ratchet key pair is his signed prekey. */
export function initRatchetResponder(
  sharedKey: Uint8Array,
  ownRatchet: KeyPair,
  headerEncryption = false,
): RatchetState {
  const shared = headerEncryption ? sharedHeaderKeys(sharedKey) : null
  return {
    headerKeys: shared && {
      sending: null,
      receiving: null,
      nextSending: shared.responder,
      nextReceiving: shared.initiator,
      previousReceiving: [],
    },
    rootKey: new Uint8Array(sharedKey),
    sendingRatchet: ownRatchet,
    remoteRatchet: null,
    sendingChainKey: null,
    receivingChainKey: null,
    sendCount: 0,
    receiveCount: 0,
    previousCount: 0,
    skipped: new Map(),
    previousRemoteRatchets: [],
  }
}

/**
 * The sending half of a DH ratchet step, deferred from the last receipt: a fresh DHs, then
 * RK, CKs = KDF_RK(RK, DH(DHs, DHr)). Call it before {@link ratchetEncrypt} when `sendingChainKey` is null.
 * @throws InvalidRecordError when the session has not received anything yet (a responder before the first
 * message), LowOrderPointError.
 */
export async function startSendingChain(state: RatchetState, rng: Rng): Promise<void> {
  if (!state.remoteRatchet) throw new InvalidRecordError('session cannot send before it has received')
  const [rootKey, sendingRatchet, sendingChainKey, nextHeaderKey] = await sendingHalf(
    state,
    state.rootKey,
    state.remoteRatchet,
    rng,
  )
  wipe(state.rootKey)
  state.rootKey = rootKey
  state.sendingRatchet = sendingRatchet
  state.sendingChainKey = sendingChainKey
  if (state.headerKeys) state.headerKeys.nextSending = nextHeaderKey
}

async function sendingHalf(
  state: RatchetState,
  rootKey: Uint8Array,
  remoteRatchet: Uint8Array,
  rng: Rng,
): Promise<[rootKey: Uint8Array, ratchet: KeyPair, chainKey: Uint8Array, nextHeaderKey: Uint8Array | null]> {
  const ratchet = await generateX25519KeyPair(rng)
  const dh = await x25519(ratchet.privateKey, remoteRatchet)
  const [nextRootKey, chainKey, nextHeaderKey] = rootStep(!!state.headerKeys, rootKey, dh)
  wipe(dh)
  return [nextRootKey, ratchet, chainKey, nextHeaderKey]
}

/**
 * RatchetEncrypt (RatchetEncryptHE) on the current sending chain: returns the header bytes (encrypted with
 * header encryption) and ciphertext, and advances the chain.
 * @param rng - the encrypted header's nonce (header encryption only).
 * @throws InvalidRecordError when there is no sending chain (see {@link startSendingChain}).
 */
export function ratchetEncrypt(
  state: RatchetState,
  plaintext: Uint8Array,
  associatedData: Uint8Array,
  rng?: Rng,
): { header: Uint8Array; ciphertext: Uint8Array } {
  if (!state.sendingChainKey || !state.sendingRatchet) throw new InvalidRecordError('no sending chain')
  if (state.sendCount >= MAX_COUNTER) throw new InvalidRecordError('sending chain exhausted')
  const hk = state.headerKeys?.sending
  if (state.headerKeys && (!hk || !rng)) throw new InvalidRecordError('no header key or nonce source')
  const [nextChainKey, messageKey] = kdfChain(state.sendingChainKey)
  const plainHeader = encodeHeader({
    dh: state.sendingRatchet.publicKey,
    pn: state.previousCount,
    n: state.sendCount,
  })
  const header = hk && rng ? encryptHeader(hk, plainHeader, associatedData, rng) : plainHeader
  const ciphertext = encryptWithMessageKey(messageKey, plaintext, concatBytes(associatedData, header))
  wipe(messageKey, state.sendingChainKey)
  state.sendingChainKey = nextChainKey
  state.sendCount++
  return { header, ciphertext }
}

function addSkipped(state: RatchetState, keys: SkippedKey[]): void {
  if (keys.length === 0) return
  for (const k of keys) state.skipped.set(skippedKeyId(k.dh, k.n), k)
  while (state.skipped.size > MAX_STORED_SKIPPED_KEYS) {
    const oldest = state.skipped.keys().next().value as string
    wipe(state.skipped.get(oldest)?.messageKey)
    state.skipped.delete(oldest)
  }
}

function skipChain(
  chainKey: Uint8Array,
  dh: Uint8Array,
  hk: Uint8Array | null,
  from: number,
  until: number,
  out: SkippedKey[],
): Uint8Array {
  let ck = chainKey
  for (let n = from; n < until; n++) {
    const [next, messageKey] = kdfChain(ck)
    out.push(hk ? { dh, n, messageKey, hk } : { dh, n, messageKey })
    ck = next
  }
  return ck
}

/**
 * Checks, from the header alone, whether a message could be decrypted without exceeding MAX_SKIP;
 * throws before any key derivation otherwise.
 * @throws TooManySkippedMessagesError, DuplicateMessageError
 */
export function checkHeader(state: RatchetState, header: Header): void {
  if (state.skipped.size > 0 && state.skipped.has(skippedKeyId(header.dh, header.n))) return
  if (state.remoteRatchet && equalBytes(header.dh, state.remoteRatchet)) {
    if (header.n < state.receiveCount) throw new DuplicateMessageError()
    if (header.n - state.receiveCount > MAX_SKIP)
      throw new TooManySkippedMessagesError(header.n - state.receiveCount)
    return
  }
  if (state.previousRemoteRatchets.some((k) => equalBytes(k, header.dh))) throw new DuplicateMessageError()
  const pnSkip = state.receivingChainKey ? header.pn - state.receiveCount : 0
  if (pnSkip > MAX_SKIP) throw new TooManySkippedMessagesError(pnSkip)
  if (header.n > MAX_SKIP) throw new TooManySkippedMessagesError(header.n)
}

/**
 * RatchetDecrypt. Changes `state` only on success.
 * @param header - `headerBytes` already decoded by the caller (saves decoding it twice), or omitted.
 * @throws DuplicateMessageError for a replay, TooManySkippedMessagesError when too far ahead (no key
 * derived), DecryptionFailedError when the tag does not verify, InvalidRecordError for a malformed header.
 */
export async function ratchetDecrypt(
  state: RatchetState,
  headerBytes: Uint8Array,
  ciphertext: Uint8Array,
  associatedData: Uint8Array,
  rng: Rng,
  header: Header = readHeader(state, headerBytes, associatedData),
): Promise<Uint8Array> {
  checkHeader(state, header)
  const ad = concatBytes(associatedData, headerBytes)
  if (state.skipped.size > 0) {
    const id = skippedKeyId(header.dh, header.n)
    const stored = state.skipped.get(id)
    if (stored) {
      const plaintext = decryptWithMessageKey(stored.messageKey, ciphertext, ad)
      state.skipped.delete(id)
      wipe(stored.messageKey)
      return plaintext
    }
  }
  const newSkipped: SkippedKey[] = []
  if (state.remoteRatchet && state.receivingChainKey && equalBytes(header.dh, state.remoteRatchet)) {
    const hk = state.headerKeys?.receiving ?? null
    const ck = skipChain(state.receivingChainKey, header.dh, hk, state.receiveCount, header.n, newSkipped)
    const [nextChainKey, messageKey] = kdfChain(ck)
    const plaintext = decryptWithMessageKey(messageKey, ciphertext, ad)
    state.receivingChainKey = nextChainKey
    state.receiveCount = header.n + 1
    addSkipped(state, newSkipped)
    return plaintext
  }
  // A new remote ratchet key: finish the current receiving chain up to pn, then the receiving half of a DH
  // ratchet step (the sending half waits for the next send).
  const keys = state.headerKeys
  if (state.remoteRatchet && state.receivingChainKey) {
    const hk = keys?.receiving ?? null
    skipChain(state.receivingChainKey, state.remoteRatchet, hk, state.receiveCount, header.pn, newSkipped)
  }
  let rootKey = state.rootKey
  let ownRatchet = state.sendingRatchet
  let nextSendingHeaderKey = keys?.nextSending ?? null
  if (!ownRatchet && state.remoteRatchet) {
    // The sending half of the previous step never ran (the peer stepped again without hearing from us,
    // which a conforming peer does not do): run it now, as the spec would have at that receipt.
    const [rk, ratchet, unusedChainKey, nhk] = await sendingHalf(state, rootKey, state.remoteRatchet, rng)
    wipe(unusedChainKey)
    rootKey = rk
    ownRatchet = ratchet
    nextSendingHeaderKey = nhk
  }
  if (!ownRatchet) throw new InvalidRecordError('session has no ratchet key')
  const dhReceive = await x25519(ownRatchet.privateKey, header.dh)
  const [nextRootKey, receivingChainKey, nextReceivingHeaderKey] = rootStep(!!keys, rootKey, dhReceive)
  const ck = skipChain(receivingChainKey, header.dh, keys?.nextReceiving ?? null, 0, header.n, newSkipped)
  const [nextChainKey, messageKey] = kdfChain(ck)
  let plaintext: Uint8Array
  try {
    plaintext = decryptWithMessageKey(messageKey, ciphertext, ad)
  } finally {
    if (rootKey !== state.rootKey) wipe(rootKey)
  }
  if (state.remoteRatchet) {
    state.previousRemoteRatchets.push(state.remoteRatchet)
    if (state.previousRemoteRatchets.length > MAX_PREVIOUS_REMOTE_RATCHETS)
      state.previousRemoteRatchets.shift()
  }
  wipe(state.rootKey, dhReceive, state.sendingChainKey, state.receivingChainKey)
  state.remoteRatchet = header.dh
  state.previousCount = state.sendCount
  state.sendCount = 0
  state.receiveCount = header.n + 1
  state.sendingRatchet = null
  state.rootKey = nextRootKey
  state.sendingChainKey = null
  state.receivingChainKey = nextChainKey
  if (keys && nextReceivingHeaderKey) {
    // HKs = NHKs, HKr = NHKr, NHKr from KDF_RK_HE; NHKs waits for the sending half.
    if (keys.receiving) {
      keys.previousReceiving.push(keys.receiving)
      if (keys.previousReceiving.length > MAX_PREVIOUS_REMOTE_RATCHETS) keys.previousReceiving.shift()
    }
    keys.sending = nextSendingHeaderKey
    keys.receiving = keys.nextReceiving
    keys.nextReceiving = nextReceivingHeaderKey
    keys.nextSending = null
  }
  addSkipped(state, newSkipped)
  return plaintext
}

/** Number of skipped message keys stored. */
export function skippedKeyCount(state: RatchetState): number {
  return state.skipped.size
}

/** Plain CBOR-ready form of a ratchet state. */
export function ratchetStateToCbor(s: RatchetState): Record<string, unknown> {
  return {
    rk: s.rootKey,
    dhs: s.sendingRatchet?.publicKey ?? null,
    dhsp: s.sendingRatchet?.privateKey ?? null,
    dhr: s.remoteRatchet,
    cks: s.sendingChainKey,
    ckr: s.receivingChainKey,
    ns: s.sendCount,
    nr: s.receiveCount,
    pn: s.previousCount,
    sk: [...s.skipped.values()].map((k) =>
      k.hk ? [k.dh, k.n, k.messageKey, k.hk] : [k.dh, k.n, k.messageKey],
    ),
    prr: s.previousRemoteRatchets,
    ...(s.headerKeys && {
      hk: {
        s: s.headerKeys.sending,
        r: s.headerKeys.receiving,
        ns: s.headerKeys.nextSending,
        nr: s.headerKeys.nextReceiving,
        p: s.headerKeys.previousReceiving,
      },
    }),
  }
}

function headerKeysFromCbor(value: unknown, w: string): HeaderKeys {
  const m = expectMap(value, w)
  const p = expectArray(m, 'p', MAX_PREVIOUS_REMOTE_RATCHETS, w)
  return {
    sending: optionalKey(m, 's', w),
    receiving: optionalKey(m, 'r', w),
    nextSending: optionalKey(m, 'ns', w),
    nextReceiving: expectBytes(m, 'nr', KEY_LENGTH, w),
    previousReceiving: p.map((k, i) => expectBytes({ k }, 'k', KEY_LENGTH, `${w}.p[${i}]`)),
  }
}

function optionalKey(m: Record<string, unknown>, key: string, what: string): Uint8Array | null {
  return m[key] === null ? null : expectBytes(m, key, KEY_LENGTH, what)
}

/** Validates and rebuilds a ratchet state from its CBOR form. @throws InvalidRecordError */
export function ratchetStateFromCbor(m: Record<string, unknown>): RatchetState {
  const w = 'session.ratchet'
  const sk = m.sk
  const prr = m.prr
  if (!Array.isArray(sk) || sk.length > MAX_STORED_SKIPPED_KEYS)
    throw new InvalidRecordError(`${w}.sk: bad list`)
  if (!Array.isArray(prr) || prr.length > MAX_PREVIOUS_REMOTE_RATCHETS) {
    throw new InvalidRecordError(`${w}.prr: bad list`)
  }
  const skipped = new Map<string, SkippedKey>()
  for (const e of sk) {
    if (!Array.isArray(e) || (e.length !== 3 && e.length !== 4)) {
      throw new InvalidRecordError(`${w}.sk[]: expected [dh, n, mk] or [dh, n, mk, hk]`)
    }
    const entry = { dh: e[0], n: e[1], mk: e[2], hk: e[3] }
    const dh = expectBytes(entry, 'dh', KEY_LENGTH, `${w}.sk[]`)
    const n = expectUint(entry, 'n', MAX_COUNTER, `${w}.sk[]`)
    const messageKey = expectBytes(entry, 'mk', KEY_LENGTH, `${w}.sk[]`)
    const hk = e.length === 4 ? expectBytes(entry, 'hk', KEY_LENGTH, `${w}.sk[]`) : null
    skipped.set(skippedKeyId(dh, n), hk ? { dh, n, messageKey, hk } : { dh, n, messageKey })
  }
  return {
    rootKey: expectBytes(m, 'rk', KEY_LENGTH, w),
    sendingRatchet:
      m.dhs === null && m.dhsp === null
        ? null
        : {
            publicKey: expectBytes(m, 'dhs', KEY_LENGTH, w),
            privateKey: expectBytes(m, 'dhsp', KEY_LENGTH, w),
          },
    remoteRatchet: optionalKey(m, 'dhr', w),
    sendingChainKey: optionalKey(m, 'cks', w),
    receivingChainKey: optionalKey(m, 'ckr', w),
    sendCount: expectUint(m, 'ns', MAX_COUNTER, w),
    receiveCount: expectUint(m, 'nr', MAX_COUNTER, w),
    previousCount: expectUint(m, 'pn', MAX_COUNTER, w),
    skipped,
    previousRemoteRatchets: prr.map((k, i) => expectBytes({ k }, 'k', KEY_LENGTH, `${w}.prr[${i}]`)),
    headerKeys: m.hk === undefined ? null : headerKeysFromCbor(m.hk, `${w}.hk`),
  }
}

/** Compares two ratchet public keys (used for deterministic tie-breaks). */
export const compareKeys = compareBytes
