/**
 * Sender keys: each member encrypts to the group with a symmetric chain of its own and signs with a group
 * signing key of its own; both are handed to every other member over the pairwise Double Ratchet sessions
 * in a sender key distribution message.
 *
 * ```
 * KDF_CK(ck)         : mk = HMAC-SHA-256(ck, 0x01), next ck = HMAC-SHA-256(ck, 0x02)   (as the Double Ratchet)
 * key || nonce       = HKDF-SHA-256(salt = 32 zero bytes, ikm = mk, info = "Paloma_Group_MessageKeys_v1", 44)
 * header             = "Paloma_Group_Message_v1" || 0x00 || group (32) || sender identity (32)
 *                      || signing key (32) || iteration (uint32 big-endian)
 * c                  = AES-256-GCM(key, nonce, pad(plaintext), aad = header) || tag
 * sig                = Ed25519(signing key, header || c)
 * message            = { "v": 1, "g": bytes(32), "k": bytes(32) signing key, "n": uint iteration, "c": bytes,
 *                        "sig": bytes(64) }
 * ```
 * The sender's identity is not on the wire: the receiver learns it from the distribution (which came over
 * that person's 1:1 session), and it enters the AEAD and the signature, so a message cannot be attributed to
 * anyone else.
 *
 * Values are immutable: `groupEncrypt` and `groupDecrypt` return new states and never change their inputs,
 * so a refused message leaves the caller's state exactly as it was. A message more than GROUP_MAX_SKIP ahead
 * is refused from its header alone, before any key is derived. Pure: time and randomness are parameters.
 * @module
 */
import { concatBytes, equalBytes, toHex, wipe } from '../crypto/bytes.ts'
import { pad, unpad } from '../crypto/padding.ts'
import { InvalidRecordError } from '../crypto/errors.ts'
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519PublicFromSeed,
  ed25519Sign,
  ed25519Verify,
  hkdfSha256,
  hmacSha256Pair,
  type Rng,
} from '../crypto/primitives.ts'
import type { Identity } from './change.ts'
import {
  GROUP_MAX_SKIP,
  GROUP_MAX_STORED_SKIPPED_KEYS,
  GROUP_MESSAGE_KEY_INFO_BYTES,
  GROUP_VERSION,
  KEY_LENGTH,
  MAX_DISTRIBUTION_BYTES,
  MAX_GROUP_MESSAGE_BYTES,
  MAX_GROUP_MEMBERS,
  MAX_SENDER_KEY_ID,
  MAX_STATE_BYTES,
  MESSAGE_SIGNATURE_PREFIX_BYTES,
  SENDER_KEY_GRACE_MS,
  SENDER_KEY_MAX_AGE_MS,
  SENDER_KEY_MAX_MESSAGES,
  SENDER_KEY_SIGNATURE_PREFIX_BYTES,
  SIGNATURE_LENGTH,
} from './constants.ts'
import { _array, _bytes, _bytesList, _decodeMap, _encode, _map, _u32, _uint, type CborMap } from './codec.ts'
import {
  DuplicateGroupMessageError,
  GroupDecryptionFailedError,
  GroupMessageTooLargeError,
  GroupSignatureError,
  MalformedGroupRecordError,
  NotAGroupMemberError,
  RotationRequiredError,
  SenderKeyConflictError,
  TooFarAheadError,
  UnknownSenderKeyError,
  WrongGroupError,
  type RotationReason,
} from './errors.ts'

const ZERO_SALT = new Uint8Array(KEY_LENGTH)
const MESSAGE_KEY_SEED = Uint8Array.of(0x01)
const CHAIN_KEY_SEED = Uint8Array.of(0x02)
const TAG_BYTES = 16
/** CBOR map of a group message minus the ciphertext: 156 bytes, 158 once `c` needs a 5-byte head. */
export const MESSAGE_FRAMING_BYTES = 158

/** An Ed25519 key pair for signing group messages (one per sender key). */
export interface SigningKeyPair {
  readonly publicKey: Uint8Array
  readonly seed: Uint8Array
}

/** One's own sender key in one group: what `groupEncrypt` uses and advances. */
export interface SenderKeyState {
  readonly group: Uint8Array
  /** The owner's identity (Ed25519 public key). */
  readonly owner: Identity
  /**
   * Key id (epoch): max(previous + 1, creation time in whole seconds). It grows with every rotation and
   * across a lost state (a device restored from a backup), so receivers tell a newer key from a late older
   * one.
   */
  readonly keyId: number
  /** Chain key of iteration `iteration`. */
  readonly chainKey: Uint8Array
  /** The iteration the next message will use. */
  readonly iteration: number
  readonly signing: SigningKeyPair
  /** Ed25519(signing key, SENDER_KEY_SIGNATURE_PREFIX || group || owner || keyId || signing public key). */
  readonly proof: Uint8Array
  /** When the key was made (ms), for rotation by age. */
  readonly createdAt: number
  /** Identities this key was distributed to, sorted: if any of them leaves, the key must be rotated. */
  readonly recipients: readonly Identity[]
}

/** A sender's chain as a receiver holds it. */
export interface SenderChain {
  readonly keyId: number
  /** The sender's signing public key for this chain (also what messages name it by). */
  readonly signingKey: Uint8Array
  /** Chain key of iteration `iteration`. */
  readonly chainKey: Uint8Array
  /** The next iteration expected. */
  readonly iteration: number
  /** Message keys of skipped iterations, oldest first. */
  readonly skipped: ReadonlyMap<number, Uint8Array>
}

/** What a receiver holds for one sender: its current chain and, for a grace window, its previous one. */
export interface SenderRecord {
  readonly owner: Identity
  readonly current: SenderChain
  readonly previous: SenderChain | null
  /** Until when (ms) `previous` is kept. */
  readonly previousUntil: number
}

/** Everything a member holds to read one group: a record per other member. */
export interface GroupReceiverState {
  readonly group: Uint8Array
  /** By owner identity (hex). */
  readonly senders: ReadonlyMap<string, SenderRecord>
}

/** A decoded sender key distribution message. */
export interface SenderKeyDistribution {
  readonly group: Uint8Array
  readonly keyId: number
  readonly signingKey: Uint8Array
  readonly chainKey: Uint8Array
  readonly iteration: number
  readonly proof: Uint8Array
}

/** A decoded group message. */
export interface GroupMessage {
  readonly group: Uint8Array
  readonly signingKey: Uint8Array
  readonly iteration: number
  readonly ciphertext: Uint8Array
  readonly signature: Uint8Array
}

/** Options of the operations that check membership. */
export interface MembershipOptions {
  /** Current time (ms). */
  readonly now: number
  /** The group's current members (`memberList(log)`). */
  readonly members: readonly Identity[]
}

// ---------------------------------------------------------------------------------------- key schedule

/** KDF_CK: (next chain key, message key), exactly as the Double Ratchet's. */
export function groupChainStep(chainKey: Uint8Array): [Uint8Array, Uint8Array] {
  return hmacSha256Pair(chainKey, CHAIN_KEY_SEED, MESSAGE_KEY_SEED)
}

/** AES-256-GCM key and nonce of a group message key. */
export function groupMessageKeyMaterial(messageKey: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const okm = hkdfSha256(messageKey, ZERO_SALT, GROUP_MESSAGE_KEY_INFO_BYTES, 44)
  return { key: okm.subarray(0, 32), nonce: okm.subarray(32, 44) }
}

/** The header bytes a message's AEAD binds and its signature covers (before the ciphertext). */
export function groupMessageHeader(
  group: Uint8Array,
  owner: Identity,
  signingKey: Uint8Array,
  iteration: number,
): Uint8Array {
  return concatBytes(MESSAGE_SIGNATURE_PREFIX_BYTES, group, owner, signingKey, _u32(iteration))
}

/** What a sender key's proof signs: SENDER_KEY_SIGNATURE_PREFIX || group || owner || keyId (uint32) || key. */
export function senderKeyProofMessage(
  group: Uint8Array,
  owner: Identity,
  keyId: number,
  signingKey: Uint8Array,
): Uint8Array {
  return concatBytes(SENDER_KEY_SIGNATURE_PREFIX_BYTES, group, owner, _u32(keyId), signingKey)
}

const contains = (list: readonly Identity[], id: Identity): boolean => list.some((m) => equalBytes(m, id))

function checkMember(members: readonly Identity[], id: Identity, who: string): void {
  if (!contains(members, id)) throw new NotAGroupMemberError(`${who} is not a member of the group`)
}

// ------------------------------------------------------------------------------------------ sending side

/**
 * A fresh sender key for `owner` in `group`: a random chain key, a new signing key pair and its proof.
 * Its key id is the creation time in whole seconds, or the id of `previous` (the key it replaces) plus one
 * when that is larger. Randomness is drawn in this order: chain key (32 bytes), signing seed (32).
 * @throws MalformedGroupRecordError for a bad group or owner, or when key ids are exhausted (year 2106).
 * @example
 * const mine = await newSenderKey(secureRandom, { group: log.group, owner: me.publicKey, now: Date.now() })
 */
export async function newSenderKey(
  rng: Rng,
  opts: {
    readonly group: Uint8Array
    readonly owner: Identity
    readonly now: number
    readonly previous?: SenderKeyState
  },
): Promise<SenderKeyState> {
  const { group, owner, now, previous } = opts
  if (group.length !== KEY_LENGTH || owner.length !== KEY_LENGTH) {
    throw new MalformedGroupRecordError('sender key: group and owner must be 32 bytes')
  }
  const id = Math.max(previous ? previous.keyId + 1 : 0, Math.floor(now / 1000))
  if (!Number.isSafeInteger(id) || id < 0 || id > MAX_SENDER_KEY_ID)
    throw new MalformedGroupRecordError('sender key: key ids exhausted')
  const chainKey = rng(KEY_LENGTH)
  const seed = rng(KEY_LENGTH)
  const publicKey = await ed25519PublicFromSeed(seed)
  const proof = await ed25519Sign(seed, senderKeyProofMessage(group, owner, id, publicKey))
  return {
    group,
    owner,
    keyId: id,
    chainKey,
    iteration: 0,
    signing: { publicKey, seed },
    proof,
    createdAt: now,
    recipients: [],
  }
}

/** The sender key that replaces `state` (key id + 1, fresh chain and signing key, no recipients yet). */
export function rotateSenderKey(
  state: SenderKeyState,
  rng: Rng,
  opts: { readonly now: number },
): Promise<SenderKeyState> {
  return newSenderKey(rng, { group: state.group, owner: state.owner, now: opts.now, previous: state })
}

/**
 * Why `state` must be rotated before its next message, or null: a recipient is no longer a member
 * (`removal`), SENDER_KEY_MAX_MESSAGES were sent (`count`), or it is SENDER_KEY_MAX_AGE_MS old (`age`).
 */
export function senderKeyNeedsRotation(
  state: SenderKeyState,
  opts: MembershipOptions,
): RotationReason | null {
  if (state.recipients.some((r) => !contains(opts.members, r))) return 'removal'
  if (state.iteration >= SENDER_KEY_MAX_MESSAGES) return 'count'
  if (opts.now - state.createdAt >= SENDER_KEY_MAX_AGE_MS) return 'age'
  return null
}

/**
 * The distribution message of `state` at its current iteration, to send to `recipients` inside their 1:1
 * sessions; the returned state remembers them as holders of the key (so their removal forces a rotation).
 * Holders can decrypt this key's messages from the current iteration on, none before.
 */
export function distributeSenderKey(
  state: SenderKeyState,
  recipients: readonly Identity[],
): { state: SenderKeyState; distribution: Uint8Array } {
  if (state.iteration >= SENDER_KEY_MAX_MESSAGES) throw new RotationRequiredError('count')
  const all = new Map(state.recipients.map((r) => [toHex(r), r]))
  for (const r of recipients) if (!equalBytes(r, state.owner)) all.set(toHex(r), r)
  const sorted = [...all.keys()].sort().map((k) => all.get(k) as Identity)
  return {
    state: { ...state, recipients: sorted },
    distribution: encodeSenderKeyDistribution({
      group: state.group,
      keyId: state.keyId,
      signingKey: state.signing.publicKey,
      chainKey: state.chainKey,
      iteration: state.iteration,
      proof: state.proof,
    }),
  }
}

/**
 * Encrypts `plaintext` (padded as 1:1 messages are) for the group and signs it.
 * @returns the advanced state and the message bytes to publish.
 * @throws NotAGroupMemberError (the owner was removed), RotationRequiredError (a holder of the key was
 * removed, or the key is used up or too old: rotate and distribute first), GroupMessageTooLargeError
 * @example
 * const { state: next, message } = await groupEncrypt(mine, text, { now: Date.now(), members: memberList(log) })
 */
export async function groupEncrypt(
  state: SenderKeyState,
  plaintext: Uint8Array,
  opts: MembershipOptions,
): Promise<{ state: SenderKeyState; message: Uint8Array }> {
  checkMember(opts.members, state.owner, 'the sender')
  const reason = senderKeyNeedsRotation(state, opts)
  if (reason) throw new RotationRequiredError(reason)
  const padded = pad(plaintext)
  // The map around the ciphertext and its tag takes at most MESSAGE_FRAMING_BYTES: refuse before any key is used.
  if (padded.length + TAG_BYTES + MESSAGE_FRAMING_BYTES > MAX_GROUP_MESSAGE_BYTES) {
    throw new GroupMessageTooLargeError()
  }
  const [nextChainKey, messageKey] = groupChainStep(state.chainKey)
  const header = groupMessageHeader(state.group, state.owner, state.signing.publicKey, state.iteration)
  const { key, nonce } = groupMessageKeyMaterial(messageKey)
  const ciphertext = aesGcmEncrypt(key, nonce, padded, header)
  wipe(key, messageKey)
  const signature = await ed25519Sign(state.signing.seed, concatBytes(header, ciphertext))
  const message = _encode({
    v: GROUP_VERSION,
    g: state.group,
    k: state.signing.publicKey,
    n: state.iteration,
    c: ciphertext,
    sig: signature,
  })
  return { state: { ...state, chainKey: nextChainKey, iteration: state.iteration + 1 }, message }
}

// ---------------------------------------------------------------------------------------- receiving side

/** An empty receiver state for `group`. */
export function newGroupReceiverState(group: Uint8Array): GroupReceiverState {
  return { group, senders: new Map() }
}

const keyIndexCache = new WeakMap<GroupReceiverState, Map<string, [string, 'current' | 'previous']>>()

/** The sender and slot holding signing key `k`, from an index built once per state value. */
function findChain(
  r: GroupReceiverState,
  k: Uint8Array,
): { record: SenderRecord; slot: 'current' | 'previous'; chain: SenderChain } | null {
  let index = keyIndexCache.get(r)
  if (!index) {
    index = new Map()
    for (const [owner, rec] of r.senders) {
      index.set(toHex(rec.current.signingKey), [owner, 'current'])
      if (rec.previous) index.set(toHex(rec.previous.signingKey), [owner, 'previous'])
    }
    keyIndexCache.set(r, index)
  }
  const hit = index.get(toHex(k))
  if (!hit) return null
  const record = r.senders.get(hit[0]) as SenderRecord
  const chain = hit[1] === 'current' ? record.current : (record.previous as SenderChain)
  return { record, slot: hit[1], chain }
}

function withRecord(r: GroupReceiverState, record: SenderRecord): GroupReceiverState {
  const senders = new Map(r.senders)
  senders.set(toHex(record.owner), record)
  return { group: r.group, senders }
}

function dropExpired(record: SenderRecord, now: number): SenderRecord {
  return record.previous && now >= record.previousUntil
    ? { owner: record.owner, current: record.current, previous: null, previousUntil: 0 }
    : record
}

/**
 * Takes in a sender key distribution received from `from` over its 1:1 session. A distribution already held
 * (same signing key) changes nothing: it never rewinds a chain. Otherwise a key id at least the current
 * one's makes the current key the previous one (kept SENDER_KEY_GRACE_MS); a lower one is kept as the
 * previous key if its id is at least that key's, else ignored (a late distribution of a retired key).
 * @throws MalformedGroupRecordError, WrongGroupError, NotAGroupMemberError (`from` is not a member now),
 * GroupSignatureError (the proof does not bind the signing key to `from`), SenderKeyConflictError (the
 * signing key is held for another sender, or under another key id)
 */
export async function processSenderKeyDistribution(
  receiver: GroupReceiverState,
  from: Identity,
  distribution: Uint8Array,
  opts: MembershipOptions,
): Promise<GroupReceiverState> {
  const d = decodeSenderKeyDistribution(distribution)
  if (!equalBytes(d.group, receiver.group)) throw new WrongGroupError()
  checkMember(opts.members, from, 'the distributor')
  if (
    !(await ed25519Verify(d.signingKey, d.proof, senderKeyProofMessage(d.group, from, d.keyId, d.signingKey)))
  ) {
    throw new GroupSignatureError('sender key proof does not verify for this sender')
  }
  const owner = toHex(from)
  const held = findChain(receiver, d.signingKey)
  if (held) {
    if (toHex(held.record.owner) !== owner || held.chain.keyId !== d.keyId) throw new SenderKeyConflictError()
    return receiver
  }
  const chain: SenderChain = {
    keyId: d.keyId,
    signingKey: d.signingKey,
    chainKey: d.chainKey,
    iteration: d.iteration,
    skipped: new Map(),
  }
  const existing = receiver.senders.get(owner)
  const rec = existing && dropExpired(existing, opts.now)
  const until = opts.now + SENDER_KEY_GRACE_MS
  let next: SenderRecord
  if (!rec) {
    next = { owner: from, current: chain, previous: null, previousUntil: 0 }
  } else if (d.keyId >= rec.current.keyId) {
    // Equal ids: a sender that lost its state made a new key within the same second; the later one wins.
    next = { owner: from, current: chain, previous: rec.current, previousUntil: until }
  } else if (!rec.previous || d.keyId >= rec.previous.keyId) {
    next = { owner: from, current: rec.current, previous: chain, previousUntil: until }
  } else {
    return receiver
  }
  return withRecord(receiver, next)
}

/** The receiver state without the records of senders that are not in `members` (call after a removal). */
export function forgetFormerMembers(
  receiver: GroupReceiverState,
  members: readonly Identity[],
): GroupReceiverState {
  const keep = new Set(members.map(toHex))
  const senders = new Map([...receiver.senders].filter(([k]) => keep.has(k)))
  return senders.size === receiver.senders.size ? receiver : { group: receiver.group, senders }
}

/** What {@link groupDecrypt} returns. */
export interface GroupDecryptResult {
  readonly state: GroupReceiverState
  /** The sender's identity. */
  readonly sender: Identity
  readonly plaintext: Uint8Array
  readonly keyId: number
  readonly iteration: number
}

function capSkipped(current: Map<number, Uint8Array>, previous: Map<number, Uint8Array> | null): void {
  let excess = current.size + (previous?.size ?? 0) - GROUP_MAX_STORED_SKIPPED_KEYS
  for (const map of [previous, current]) {
    if (!map) continue
    for (const k of map.keys()) {
      if (excess <= 0) return
      map.delete(k)
      excess--
    }
  }
}

/**
 * Decrypts a group message: finds the sender by the message's signing key, checks membership, replay and
 * skip bounds, the signature, then derives the key and opens it.
 * @returns the new receiver state, the sender's identity, the plaintext, key id and iteration.
 * @throws MalformedGroupRecordError, WrongGroupError, UnknownSenderKeyError (no distribution yet, or
 * retired), NotAGroupMemberError (the sender is not a member now), DuplicateGroupMessageError,
 * TooFarAheadError (before any key is derived), GroupSignatureError, GroupDecryptionFailedError
 */
export async function groupDecrypt(
  receiver: GroupReceiverState,
  message: Uint8Array,
  opts: MembershipOptions,
): Promise<GroupDecryptResult> {
  const m = decodeGroupMessage(message)
  if (!equalBytes(m.group, receiver.group)) throw new WrongGroupError()
  const found = findChain(receiver, m.signingKey)
  if (!found || (found.slot === 'previous' && opts.now >= found.record.previousUntil)) {
    throw new UnknownSenderKeyError()
  }
  const { record, slot, chain } = found
  checkMember(opts.members, record.owner, 'the sender')
  const n = m.iteration
  const stored = n < chain.iteration ? chain.skipped.get(n) : undefined
  if (n < chain.iteration && !stored) throw new DuplicateGroupMessageError()
  if (n - chain.iteration > GROUP_MAX_SKIP) throw new TooFarAheadError(n - chain.iteration)
  const header = groupMessageHeader(receiver.group, record.owner, m.signingKey, n)
  if (!(await ed25519Verify(m.signingKey, m.signature, concatBytes(header, m.ciphertext)))) {
    throw new GroupSignatureError('group message signature does not verify')
  }
  let messageKey: Uint8Array
  let chainKey = chain.chainKey
  const fresh: [number, Uint8Array][] = []
  if (stored) {
    messageKey = stored
  } else {
    for (let i = chain.iteration; i < n; i++) {
      const [next, mk] = groupChainStep(chainKey)
      fresh.push([i, mk])
      chainKey = next
    }
    const [next, mk] = groupChainStep(chainKey)
    messageKey = mk
    chainKey = next
  }
  const { key, nonce } = groupMessageKeyMaterial(messageKey)
  let padded: Uint8Array
  try {
    padded = aesGcmDecrypt(key, nonce, m.ciphertext, header)
  } catch {
    throw new GroupDecryptionFailedError()
  } finally {
    wipe(key)
    if (!stored) wipe(messageKey)
  }
  let plaintext: Uint8Array
  try {
    plaintext = unpad(padded)
  } catch (e) {
    if (e instanceof InvalidRecordError) throw new MalformedGroupRecordError('group message: bad padding')
    throw e
  }
  // Commit: a new chain value (skipped keys copied only when they change).
  let skipped = chain.skipped as Map<number, Uint8Array>
  let otherSkipped: Map<number, Uint8Array> | null = null
  if (stored || fresh.length > 0) {
    skipped = new Map(chain.skipped)
    if (stored) skipped.delete(n)
    for (const [i, mk] of fresh) skipped.set(i, mk)
    const other = slot === 'current' ? record.previous : record.current
    if (other && skipped.size + other.skipped.size > GROUP_MAX_STORED_SKIPPED_KEYS) {
      otherSkipped = new Map(other.skipped)
      if (slot === 'current') capSkipped(skipped, otherSkipped)
      else capSkipped(otherSkipped, skipped)
    } else {
      capSkipped(skipped, null)
    }
  }
  const updated: SenderChain = stored
    ? { ...chain, skipped }
    : { keyId: chain.keyId, signingKey: chain.signingKey, chainKey, iteration: n + 1, skipped }
  const withOther = (c: SenderChain | null) => (c && otherSkipped ? { ...c, skipped: otherSkipped } : c)
  const next: SenderRecord =
    slot === 'current'
      ? { ...record, current: updated, previous: withOther(record.previous) }
      : { ...record, current: withOther(record.current) as SenderChain, previous: updated }
  return {
    state: withRecord(receiver, next),
    sender: record.owner,
    plaintext: new Uint8Array(plaintext),
    keyId: chain.keyId,
    iteration: n,
  }
}

// ----------------------------------------------------------------------------------------------- codecs

/** Encodes a distribution: `{v: 1, g, e: key id, k: signing key, ck: chain key, n: iteration, sig: proof}`. */
export function encodeSenderKeyDistribution(d: SenderKeyDistribution): Uint8Array {
  return _encode({
    v: GROUP_VERSION,
    g: d.group,
    e: d.keyId,
    k: d.signingKey,
    ck: d.chainKey,
    n: d.iteration,
    sig: d.proof,
  })
}

/** Decodes a distribution (structure only; the proof is checked by `processSenderKeyDistribution`). */
export function decodeSenderKeyDistribution(bytes: Uint8Array): SenderKeyDistribution {
  const w = 'sender key distribution'
  const m = _decodeMap(bytes, w, MAX_DISTRIBUTION_BYTES, ['v', 'g', 'e', 'k', 'ck', 'n', 'sig'])
  return {
    group: _bytes(m, 'g', KEY_LENGTH, w),
    keyId: _uint(m, 'e', MAX_SENDER_KEY_ID, w),
    signingKey: _bytes(m, 'k', KEY_LENGTH, w),
    chainKey: _bytes(m, 'ck', KEY_LENGTH, w),
    iteration: _uint(m, 'n', SENDER_KEY_MAX_MESSAGES - 1, w),
    proof: _bytes(m, 'sig', SIGNATURE_LENGTH, w),
  }
}

/** Decodes a group message (structure only). */
export function decodeGroupMessage(bytes: Uint8Array): GroupMessage {
  const w = 'group message'
  const m = _decodeMap(bytes, w, MAX_GROUP_MESSAGE_BYTES, ['v', 'g', 'k', 'n', 'c', 'sig'])
  return {
    group: _bytes(m, 'g', KEY_LENGTH, w),
    signingKey: _bytes(m, 'k', KEY_LENGTH, w),
    iteration: _uint(m, 'n', SENDER_KEY_MAX_MESSAGES - 1, w),
    ciphertext: _bytes(m, 'c', -MAX_GROUP_MESSAGE_BYTES, w),
    signature: _bytes(m, 'sig', SIGNATURE_LENGTH, w),
  }
}

/** Serializes one's own sender key for local storage (the vault seals it). */
export function encodeSenderKeyState(s: SenderKeyState): Uint8Array {
  return _encode({
    v: GROUP_VERSION,
    g: s.group,
    o: s.owner,
    e: s.keyId,
    ck: s.chainKey,
    n: s.iteration,
    ss: s.signing.seed,
    k: s.signing.publicKey,
    pf: s.proof,
    t: s.createdAt,
    r: [...s.recipients],
  })
}

/** Loads a stored sender key (structure checked; it came from this device's sealed vault). */
export function decodeSenderKeyState(bytes: Uint8Array): SenderKeyState {
  const w = 'sender key state'
  const m = _decodeMap(bytes, w, MAX_STATE_BYTES, ['v', 'g', 'o', 'e', 'ck', 'n', 'ss', 'k', 'pf', 't', 'r'])
  return {
    group: _bytes(m, 'g', KEY_LENGTH, w),
    owner: _bytes(m, 'o', KEY_LENGTH, w),
    keyId: _uint(m, 'e', MAX_SENDER_KEY_ID, w),
    chainKey: _bytes(m, 'ck', KEY_LENGTH, w),
    iteration: _uint(m, 'n', SENDER_KEY_MAX_MESSAGES, w),
    signing: { seed: _bytes(m, 'ss', KEY_LENGTH, w), publicKey: _bytes(m, 'k', KEY_LENGTH, w) },
    proof: _bytes(m, 'pf', SIGNATURE_LENGTH, w),
    createdAt: _uint(m, 't', Number.MAX_SAFE_INTEGER, w),
    recipients: _bytesList(_array(m, 'r', MAX_GROUP_MEMBERS * 16, w), KEY_LENGTH, 'sender key state.r'),
  }
}

function chainToCbor(c: SenderChain): CborMap {
  return {
    e: c.keyId,
    k: c.signingKey,
    ck: c.chainKey,
    n: c.iteration,
    sk: [...c.skipped].map(([i, mk]) => [i, mk]),
  }
}

function chainFromCbor(value: unknown, w: string): SenderChain {
  const m = _map(value, w)
  const fields = Object.keys(m).sort().join(',')
  if (fields !== 'ck,e,k,n,sk') throw new MalformedGroupRecordError(`${w}: unexpected fields`)
  const skipped = new Map<number, Uint8Array>()
  for (const entry of _array(m, 'sk', GROUP_MAX_STORED_SKIPPED_KEYS, w)) {
    if (!Array.isArray(entry) || entry.length !== 2) throw new MalformedGroupRecordError(`${w}.sk: bad entry`)
    const pair = { i: entry[0], mk: entry[1] }
    const i = _uint(pair, 'i', SENDER_KEY_MAX_MESSAGES, `${w}.sk`)
    skipped.set(i, _bytes(pair, 'mk', KEY_LENGTH, `${w}.sk`))
  }
  return {
    keyId: _uint(m, 'e', MAX_SENDER_KEY_ID, w),
    signingKey: _bytes(m, 'k', KEY_LENGTH, w),
    chainKey: _bytes(m, 'ck', KEY_LENGTH, w),
    iteration: _uint(m, 'n', SENDER_KEY_MAX_MESSAGES, w),
    skipped,
  }
}

/**
 * Serializes a receiver state for local storage:
 * `{v: 1, g, s: [{o: owner, c: chain, p: chain | null, u: previous kept until (ms)}, ...]}` (sorted by owner),
 * chain = `{e: key id, k: signing key, ck: chain key, n: next iteration, sk: [[iteration, message key], ...]}`.
 */
export function encodeGroupReceiverState(r: GroupReceiverState): Uint8Array {
  return _encode({
    v: GROUP_VERSION,
    g: r.group,
    s: [...r.senders.keys()].sort().map((k) => {
      const rec = r.senders.get(k) as SenderRecord
      return {
        o: rec.owner,
        c: chainToCbor(rec.current),
        p: rec.previous ? chainToCbor(rec.previous) : null,
        u: rec.previousUntil,
      }
    }),
  })
}

/** Loads a stored receiver state. @throws MalformedGroupRecordError */
export function decodeGroupReceiverState(bytes: Uint8Array): GroupReceiverState {
  const w = 'group receiver state'
  const m = _decodeMap(bytes, w, MAX_STATE_BYTES, ['v', 'g', 's'])
  const senders = new Map<string, SenderRecord>()
  for (const value of _array(m, 's', MAX_GROUP_MEMBERS * 16, w)) {
    const s = _map(value, `${w}.s`)
    if (Object.keys(s).sort().join(',') !== 'c,o,p,u') throw new MalformedGroupRecordError(`${w}.s: fields`)
    const owner = _bytes(s, 'o', KEY_LENGTH, `${w}.s`)
    const key = toHex(owner)
    if (senders.has(key)) throw new MalformedGroupRecordError(`${w}.s: duplicate sender`)
    senders.set(key, {
      owner,
      current: chainFromCbor(s.c, `${w}.s.c`),
      previous: s.p === null ? null : chainFromCbor(s.p, `${w}.s.p`),
      previousUntil: _uint(s, 'u', Number.MAX_SAFE_INTEGER, `${w}.s`),
    })
  }
  return { group: _bytes(m, 'g', KEY_LENGTH, w), senders }
}
