/**
 * Session cipher: the entry points the messenger calls (as libsignal's session_cipher.rs and
 * session_builder.rs). Time (`now`) and randomness (`rng`) are parameters; state lives in the stores.
 *
 * Simultaneous initiation (both sides run X3DH at once): when a prekey message creates a new session
 * while the current one is our own still-unacknowledged initiator session, the session whose base key
 * (EK_A) is lexicographically smaller wins and stays/becomes current on both sides; the other is archived
 * and still decrypts what was sent on it. An archived session that decrypts an ordinary (non-prekey)
 * message becomes current again (the peer has settled on it). Operations on one address are serialized.
 * @module
 */
import { compareBytes, equalBytes, wipe } from './bytes.ts'
import { MAX_SKIP } from './constants.ts'
import {
  CryptoError,
  DecryptionFailedError,
  DuplicateMessageError,
  NoSessionError,
  TooManySkippedMessagesError,
  UnknownPreKeyError,
  UntrustedIdentityError,
} from './errors.ts'
import {
  decodePreKeyMessage,
  decodeRatchetMessage,
  encodePreKeyMessage,
  encodeRatchetMessage,
  type RatchetMessage,
} from './messages.ts'
import { pad, unpad } from './padding.ts'
import { decodePreKeyBundleUnverified, verifyPreKeyBundle, type PreKeyBundle } from './prekeys.ts'
import { x25519, x25519Batch, type KeyPair, type Rng } from './primitives.ts'
import {
  checkHeader,
  decodeHeader,
  openHeader,
  initRatchetInitiator,
  initRatchetResponder,
  ratchetDecrypt,
  ratchetEncrypt,
  startSendingChain,
  type Header,
} from './ratchet.ts'
import { SessionRecord, type SessionState } from './session-record.ts'
import type { ProtocolStores, SessionStore } from './stores.ts'
import { x3dhInitiate, x3dhRespond } from './x3dh.ts'

/** Time and randomness for an entry point. */
export interface CipherOptions {
  /** Current time, ms since the epoch. */
  readonly now: number
  readonly rng: Rng
  /**
   * Sessions started by {@link processPreKeyBundle} encrypt their message headers (Double Ratchet spec,
   * section 4); the responder follows the initiator's choice. Default false.
   */
  readonly headerEncryption?: boolean
}

/** An encrypted message as handed to the transport. */
export interface EncryptedMessage {
  readonly type: 'prekey' | 'message'
  readonly body: Uint8Array
}

const locks = new WeakMap<SessionStore, Map<string, Promise<unknown>>>()

/** `fn()`, with a synchronous throw turned into a rejection (as `then` would). */
function start<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn()
  } catch (e) {
    return Promise.reject(e as Error)
  }
}

/** Runs `fn` after every earlier operation on the same (store, address) finished. */
function withLock<T>(store: SessionStore, address: string, fn: () => Promise<T>): Promise<T> {
  let byAddress = locks.get(store)
  if (!byAddress) locks.set(store, (byAddress = new Map()))
  const map = byAddress
  const prev = map.get(address)
  // Nothing queued on this address (the common case): start at once rather than a microtask later.
  const run = prev ? prev.then(fn, fn) : start(fn)
  const release = (): void => {
    if (map.get(address) === tail) map.delete(address)
  }
  const tail: Promise<unknown> = run.then(release, release)
  map.set(address, tail)
  return run
}

async function checkTrust(stores: ProtocolStores, address: string, identityKey: Uint8Array): Promise<void> {
  if (!(await stores.identity.isTrustedIdentity(address, identityKey)))
    throw new UntrustedIdentityError(address)
}

/**
 * Starts a session with `address` from its prekey bundle (X3DH initiator). The next messages to it are
 * prekey messages until it answers.
 * @param remoteIdentityKey - the peer's Ed25519 key (from its PeerId); the bundle must be signed by it.
 * @param bundle - bundle bytes (verified here) or an already verified bundle.
 * @throws InvalidRecordError, InvalidSignatureError, UntrustedIdentityError, LowOrderPointError
 */
export function processPreKeyBundle(
  address: string,
  remoteIdentityKey: Uint8Array,
  bundle: Uint8Array | PreKeyBundle,
  stores: ProtocolStores,
  opts: CipherOptions,
): Promise<void> {
  return withLock(stores.sessions, address, async () => {
    await checkTrust(stores, address, remoteIdentityKey)
    // Key generation and every DH run concurrently with the signature check; nothing is kept unless the
    // bundle verifies (and a bad signature is reported before any DH error).
    const verifying =
      bundle instanceof Uint8Array ? verifyPreKeyBundle(bundle, remoteIdentityKey) : Promise.resolve(bundle)
    verifying.catch(() => undefined)
    const unverified = bundle instanceof Uint8Array ? decodePreKeyBundleUnverified(bundle) : bundle
    const identity = await stores.identity.getIdentityKeyPair()
    const opks = unverified.oneTimePreKeys
    const opk = opks.length > 0 ? opks[(opts.rng(1)[0] as number) % opks.length] : undefined
    const spk = unverified.signedPreKey.publicKey
    const gen = { generate: opts.rng }
    const [ephemeral, ratchetPair] = (await x25519Batch([gen, gen])) as KeyPair[] as [KeyPair, KeyPair]
    const agreeing = Promise.all([
      x3dhInitiate(identity, ephemeral, remoteIdentityKey, spk, opk?.publicKey ?? null),
      x25519(ratchetPair.privateKey, spk),
    ])
    agreeing.catch(() => undefined)
    const verified = await verifying
    if (!equalBytes(verified.identityKey, remoteIdentityKey)) throw new UntrustedIdentityError(address)
    const [x3dh, dh] = await agreeing
    const state: SessionState = {
      ratchet: initRatchetInitiator(x3dh.sharedKey, spk, ratchetPair, dh, opts.headerEncryption === true),
      associatedData: x3dh.associatedData,
      localIdentityKey: identity.publicKey,
      remoteIdentityKey: verified.identityKey,
      baseKey: ephemeral.publicKey,
      initiator: true,
      pendingPreKey: { signedPreKeyId: verified.signedPreKey.id, oneTimePreKeyId: opk?.id ?? null },
      receivedPreKey: null,
      createdAt: opts.now,
    }
    wipe(x3dh.sharedKey, dh, ephemeral.privateKey)
    const record = (await stores.sessions.loadSession(address)) ?? new SessionRecord()
    record.promote(state)
    await stores.identity.saveIdentity(address, remoteIdentityKey)
    await stores.sessions.storeSession(address, record)
  })
}

/**
 * Encrypts `plaintext` for `address` on the current session (padded to PADDING_BLOCK).
 * @throws NoSessionError, UntrustedIdentityError
 */
export function encryptMessage(
  address: string,
  plaintext: Uint8Array,
  stores: ProtocolStores,
  opts: CipherOptions,
): Promise<EncryptedMessage> {
  return withLock(stores.sessions, address, async () => {
    const record = await stores.sessions.loadSession(address)
    const state = record?.current
    if (!record || !state) throw new NoSessionError(address)
    await checkTrust(stores, address, state.remoteIdentityKey)
    if (!state.ratchet.sendingChainKey) await startSendingChain(state.ratchet, opts.rng)
    const { header, ciphertext } = ratchetEncrypt(
      state.ratchet,
      pad(plaintext),
      state.associatedData,
      opts.rng,
    )
    const message = encodeRatchetMessage({ header, ciphertext })
    await stores.sessions.storeSession(address, record)
    if (!state.pendingPreKey) return { type: 'message', body: message }
    const body = encodePreKeyMessage({
      identityKey: state.localIdentityKey,
      baseKey: state.baseKey,
      signedPreKeyId: state.pendingPreKey.signedPreKeyId,
      oneTimePreKeyId: state.pendingPreKey.oneTimePreKeyId,
      headerEncryption: state.ratchet.headerKeys !== null,
      message,
    })
    return { type: 'prekey', body }
  })
}

/**
 * Decrypts a message from `address`. A prekey message may create a session (X3DH responder).
 * @returns the plaintext (padding removed).
 * @throws DuplicateMessageError (replay), DecryptionFailedError (tampered / no matching session),
 * TooManySkippedMessagesError, UnknownPreKeyError, UntrustedIdentityError, NoSessionError,
 * LowOrderPointError, InvalidRecordError (malformed bytes).
 */
export function decryptMessage(
  address: string,
  message: EncryptedMessage,
  stores: ProtocolStores,
  opts: CipherOptions,
): Promise<Uint8Array> {
  return withLock(stores.sessions, address, () =>
    message.type === 'prekey'
      ? decryptPreKeyMessage(address, message.body, stores, opts)
      : decryptRatchetMessage(address, message.body, stores, opts),
  )
}

async function decryptRatchetMessage(
  address: string,
  body: Uint8Array,
  stores: ProtocolStores,
  opts: CipherOptions,
): Promise<Uint8Array> {
  const message = decodeRatchetMessage(body)
  const record = await stores.sessions.loadSession(address)
  if (!record || record.states().length === 0) throw new NoSessionError(address)
  // Only sessions with a still-trusted identity may decrypt (checked first: decryption commits state).
  const trusted: SessionState[] = []
  let lastKey: Uint8Array | null = null
  let lastTrusted = false
  for (const s of record.states()) {
    // States of one address nearly always share the peer's identity key: ask the store once per key.
    if (!lastKey || !equalBytes(lastKey, s.remoteIdentityKey)) {
      lastKey = s.remoteIdentityKey
      lastTrusted = await stores.identity.isTrustedIdentity(address, lastKey)
    }
    if (lastTrusted) trusted.push(s)
  }
  if (trusted.length === 0) throw new UntrustedIdentityError(address)
  const { state, plaintext } = await trialDecrypt(trusted, message, opts.rng)
  state.pendingPreKey = null
  record.promote(state)
  await stores.sessions.storeSession(address, record)
  return unpad(plaintext)
}

/**
 * Finds the session a ratchet message belongs to among `states` (current first): the one whose header keys
 * open its header, or that knows its ratchet key; else every session in turn. Headers are checked against
 * every candidate before any message key is derived.
 */
async function trialDecrypt(
  states: readonly SessionState[],
  message: RatchetMessage,
  rng: Rng,
): Promise<{ state: SessionState; plaintext: Uint8Array }> {
  // The header as each state reads it: plain (decoded once), or opened with that state's header keys.
  let plain: Header | CryptoError | undefined
  const headers = new Map<SessionState, Header | CryptoError>()
  const headerFor = (s: SessionState): Header | CryptoError => {
    let h = headers.get(s)
    if (h === undefined) {
      h = s.ratchet.headerKeys
        ? attempt(() => openHeader(s.ratchet, message.header, s.associatedData))
        : (plain ??= attempt(() => decodeHeader(message.header)))
      headers.set(s, h)
    }
    return h
  }
  const decryptOn = async (s: SessionState, header: Header) => ({
    state: s,
    plaintext: await ratchetDecrypt(
      s.ratchet,
      message.header,
      message.ciphertext,
      s.associatedData,
      rng,
      header,
    ),
  })
  for (const s of states) {
    const h = headerFor(s)
    if (h instanceof CryptoError) continue
    const r = s.ratchet
    const owns =
      r.headerKeys !== null ||
      (r.remoteRatchet !== null && equalBytes(r.remoteRatchet, h.dh)) ||
      r.previousRemoteRatchets.some((k) => equalBytes(k, h.dh))
    if (owns) return decryptOn(s, h)
  }
  const viable: [SessionState, Header][] = []
  let firstError: CryptoError | null = null
  for (const s of states) {
    const h = headerFor(s)
    try {
      if (h instanceof CryptoError) throw h
      checkHeader(s.ratchet, h)
      viable.push([s, h])
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e
      // A header no header key opens says nothing yet; a malformed or refused one is the better report.
      if (!(e instanceof DecryptionFailedError)) firstError ??= e
    }
  }
  for (const [s, h] of viable) {
    try {
      return await decryptOn(s, h)
    } catch (e) {
      if (!(e instanceof DecryptionFailedError)) throw e
    }
  }
  if (viable.length === 0 && firstError) throw firstError
  throw new DecryptionFailedError()
}

/** `fn()`, or the typed error it threw. */
function attempt<T>(fn: () => T): T | CryptoError {
  try {
    return fn()
  } catch (e) {
    if (e instanceof CryptoError) return e
    throw e
  }
}

async function decryptPreKeyMessage(
  address: string,
  body: Uint8Array,
  stores: ProtocolStores,
  opts: CipherOptions,
): Promise<Uint8Array> {
  const pkm = decodePreKeyMessage(body)
  const inner = decodeRatchetMessage(pkm.message)
  await checkTrust(stores, address, pkm.identityKey)
  const record = (await stores.sessions.loadSession(address)) ?? new SessionRecord()
  // A later prekey message of a session we already have: decrypt on it (the ratchet rejects replays).
  const existing = record
    .states()
    .find(
      (s) =>
        !s.initiator &&
        equalBytes(s.baseKey, pkm.baseKey) &&
        equalBytes(s.remoteIdentityKey, pkm.identityKey),
    )
  if (existing) {
    // Every field outside the inner message must be the one the session was built from: none is covered
    // by its AEAD, so a copy altered there would otherwise decrypt.
    const ids = existing.receivedPreKey
    if (ids?.signedPreKeyId !== pkm.signedPreKeyId || ids.oneTimePreKeyId !== pkm.oneTimePreKeyId) {
      throw new DecryptionFailedError('prekey message names other prekeys than its session was built from')
    }
    if (pkm.headerEncryption !== (existing.ratchet.headerKeys !== null)) {
      throw new DecryptionFailedError('prekey message changes header encryption of its session')
    }
    const plaintext = await ratchetDecrypt(
      existing.ratchet,
      inner.header,
      inner.ciphertext,
      existing.associatedData,
      opts.rng,
    )
    await stores.sessions.storeSession(address, record)
    return unpad(plaintext)
  }
  if (await stores.signedPreKeys.hasUsedBaseKey(pkm.signedPreKeyId, pkm.baseKey)) {
    throw new DuplicateMessageError()
  }
  const spk = await stores.signedPreKeys.loadSignedPreKey(pkm.signedPreKeyId)
  if (!spk) throw new UnknownPreKeyError('signed', pkm.signedPreKeyId)
  let opk = null
  if (pkm.oneTimePreKeyId !== null) {
    opk = (await stores.preKeys.loadPreKey(pkm.oneTimePreKeyId)) ?? null
    if (!opk) throw new UnknownPreKeyError('one-time', pkm.oneTimePreKeyId)
  }
  // An encrypted header can only be read once X3DH gave its key; a plain one is checked before any DH.
  const plainHeader = pkm.headerEncryption ? null : decodeHeader(inner.header)
  if (plainHeader && plainHeader.n > MAX_SKIP) throw new TooManySkippedMessagesError(plainHeader.n)
  const identity = await stores.identity.getIdentityKeyPair()
  const x3dh = await x3dhRespond(identity, pkm.identityKey, pkm.baseKey, spk.keyPair, opk?.keyPair ?? null)
  const ratchet = initRatchetResponder(x3dh.sharedKey, spk.keyPair, pkm.headerEncryption)
  wipe(x3dh.sharedKey)
  const header = plainHeader ?? openHeader(ratchet, inner.header, x3dh.associatedData)
  if (header.n > MAX_SKIP) throw new TooManySkippedMessagesError(header.n)
  const plaintext = await ratchetDecrypt(
    ratchet,
    inner.header,
    inner.ciphertext,
    x3dh.associatedData,
    opts.rng,
    header,
  )
  const state: SessionState = {
    ratchet,
    associatedData: x3dh.associatedData,
    localIdentityKey: identity.publicKey,
    remoteIdentityKey: pkm.identityKey,
    baseKey: pkm.baseKey,
    initiator: false,
    pendingPreKey: null,
    receivedPreKey: { signedPreKeyId: pkm.signedPreKeyId, oneTimePreKeyId: pkm.oneTimePreKeyId },
    createdAt: opts.now,
  }
  const current = record.current
  const keepCurrent =
    current !== null &&
    current.initiator &&
    current.pendingPreKey !== null &&
    compareBytes(current.baseKey, pkm.baseKey) < 0
  if (keepCurrent) record.archive(state)
  else record.promote(state)
  if (opk) await stores.preKeys.removePreKey(opk.id)
  await stores.signedPreKeys.markBaseKeyUsed(pkm.signedPreKeyId, pkm.baseKey)
  await stores.identity.saveIdentity(address, pkm.identityKey)
  await stores.sessions.storeSession(address, record)
  return unpad(plaintext)
}

/** True when there is a usable session with `address`. */
export async function hasSession(
  address: string,
  stores: Pick<ProtocolStores, 'sessions'>,
): Promise<boolean> {
  const record = await stores.sessions.loadSession(address)
  return !!record?.current
}
