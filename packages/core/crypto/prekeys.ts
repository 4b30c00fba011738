/**
 * Prekeys and the signed prekey bundle.
 *
 * A bundle is `CBOR {v: 1, body: bytes, sig: bytes(64)}` where `body` is
 * `CBOR {v: 1, ik: bytes(32), spk: {id, k: bytes(32), t}, opk: [{id, k: bytes(32)}...]}` and `sig` is the
 * Ed25519 signature by `ik` over `BUNDLE_SIGNATURE_PREFIX || body`. Signing the whole body authenticates the
 * signed prekey (as X3DH requires) and also the one-time prekeys offered with it.
 * Knows nothing of where bundles are published (DHT, relay mailbox).
 * @module
 */
import { concatBytes, equalBytes } from './bytes.ts'
import {
  decodeRecord,
  encodeCbor,
  expectArray,
  expectBytes,
  expectMap,
  expectUint,
  type CborMap,
} from './cbor.ts'
import {
  BUNDLE_SIGNATURE_PREFIX_BYTES,
  KEY_LENGTH,
  MAX_BUNDLE_BYTES,
  MAX_BUNDLE_ONE_TIME_PREKEYS,
  MAX_COUNTER,
  RECORD_VERSION,
  SIGNATURE_LENGTH,
  SIGNED_PREKEY_GRACE_MS,
  SIGNED_PREKEY_ROTATION_MS,
} from './constants.ts'
import { InvalidRecordError, InvalidSignatureError } from './errors.ts'
import type { IdentityKeyPair } from './keys.ts'
import { ed25519Sign, ed25519Verify, generateX25519KeyPair, type KeyPair, type Rng } from './primitives.ts'
import type { SignedPreKeyStore } from './stores.ts'

/** A signed prekey held by its owner. */
export interface SignedPreKeyRecord {
  readonly id: number
  readonly keyPair: KeyPair
  /** Creation time, ms since the epoch. */
  readonly createdAt: number
}

/** A one-time prekey held by its owner (deleted once used). */
export interface OneTimePreKeyRecord {
  readonly id: number
  readonly keyPair: KeyPair
}

/** A verified prekey bundle as seen by an initiator. */
export interface PreKeyBundle {
  /** Ed25519 identity key of the bundle owner. */
  readonly identityKey: Uint8Array
  readonly signedPreKey: { readonly id: number; readonly publicKey: Uint8Array; readonly createdAt: number }
  readonly oneTimePreKeys: readonly { readonly id: number; readonly publicKey: Uint8Array }[]
}

function checkId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_COUNTER) {
    throw new RangeError(`${what}: expected integer in [0, ${MAX_COUNTER}], got ${id}`)
  }
}

/** New signed prekey with id `id`, created at `now`. */
export async function generateSignedPreKey(id: number, rng: Rng, now: number): Promise<SignedPreKeyRecord> {
  checkId(id, 'signed prekey id')
  return { id, keyPair: await generateX25519KeyPair(rng), createdAt: now }
}

/** `count` one-time prekeys with consecutive ids from `startId`. */
export async function generateOneTimePreKeys(
  startId: number,
  count: number,
  rng: Rng,
): Promise<OneTimePreKeyRecord[]> {
  checkId(startId + count, 'one-time prekey id')
  const out: OneTimePreKeyRecord[] = []
  for (let i = 0; i < count; i++) out.push({ id: startId + i, keyPair: await generateX25519KeyPair(rng) })
  return out
}

/**
 * Signs a prekey bundle for publication.
 * @param identity - the owner's identity.
 * @param signedPreKey - the current signed prekey.
 * @param oneTimePreKeys - up to MAX_BUNDLE_ONE_TIME_PREKEYS one-time prekeys (empty: last-resort bundle).
 * @returns the bundle bytes.
 */
export async function createPreKeyBundle(
  identity: IdentityKeyPair,
  signedPreKey: SignedPreKeyRecord,
  oneTimePreKeys: readonly OneTimePreKeyRecord[],
): Promise<Uint8Array> {
  if (oneTimePreKeys.length > MAX_BUNDLE_ONE_TIME_PREKEYS) {
    throw new RangeError(`expected at most ${MAX_BUNDLE_ONE_TIME_PREKEYS} one-time prekeys`)
  }
  const body = encodeCbor({
    v: RECORD_VERSION,
    ik: identity.publicKey,
    spk: { id: signedPreKey.id, k: signedPreKey.keyPair.publicKey, t: signedPreKey.createdAt },
    opk: oneTimePreKeys.map((p) => ({ id: p.id, k: p.keyPair.publicKey })),
  })
  const sig = await ed25519Sign(identity.seed, concatBytes(BUNDLE_SIGNATURE_PREFIX_BYTES, body))
  return encodeCbor({ v: RECORD_VERSION, body, sig })
}

/**
 * Decodes and verifies a prekey bundle against the identity it must come from.
 * @param bytes - bundle bytes.
 * @param expectedIdentity - the Ed25519 key of the peer (its PeerId key).
 * @throws InvalidRecordError on malformed bytes.
 * @throws InvalidSignatureError when not signed by `expectedIdentity`.
 */
export async function verifyPreKeyBundle(
  bytes: Uint8Array,
  expectedIdentity: Uint8Array,
): Promise<PreKeyBundle> {
  const { bundle, body, signature } = parseBundle(bytes)
  if (!equalBytes(bundle.identityKey, expectedIdentity)) {
    throw new InvalidSignatureError('prekey bundle: made by a different identity than expected')
  }
  if (!(await ed25519Verify(expectedIdentity, signature, concatBytes(BUNDLE_SIGNATURE_PREFIX_BYTES, body)))) {
    throw new InvalidSignatureError()
  }
  return bundle
}

/**
 * Decodes a bundle WITHOUT checking its signature, so that work can start while the signature is being
 * verified; never use the result unless {@link verifyPreKeyBundle} succeeds on the same bytes.
 * @throws InvalidRecordError
 */
export function decodePreKeyBundleUnverified(bytes: Uint8Array): PreKeyBundle {
  return parseBundle(bytes).bundle
}

function parseBundle(bytes: Uint8Array): { bundle: PreKeyBundle; body: Uint8Array; signature: Uint8Array } {
  const outer = decodeRecord(bytes, 'bundle', MAX_BUNDLE_BYTES)
  const body = expectBytes(outer, 'body', -MAX_BUNDLE_BYTES, 'bundle')
  const signature = expectBytes(outer, 'sig', SIGNATURE_LENGTH, 'bundle')
  const inner = decodeRecord(body, 'bundle.body', MAX_BUNDLE_BYTES)
  const identityKey = expectBytes(inner, 'ik', KEY_LENGTH, 'bundle.body')
  const spk = expectMap(inner.spk, 'bundle.body.spk')
  const signedPreKey = {
    id: expectUint(spk, 'id', MAX_COUNTER, 'bundle.body.spk'),
    publicKey: expectBytes(spk, 'k', KEY_LENGTH, 'bundle.body.spk'),
    createdAt: expectUint(spk, 't', Number.MAX_SAFE_INTEGER, 'bundle.body.spk'),
  }
  const ids = new Set<number>()
  const oneTimePreKeys = expectArray(inner, 'opk', MAX_BUNDLE_ONE_TIME_PREKEYS, 'bundle.body').map((e) => {
    const m: CborMap = expectMap(e, 'bundle.body.opk[]')
    const id = expectUint(m, 'id', MAX_COUNTER, 'bundle.body.opk[]')
    if (ids.has(id)) throw new InvalidRecordError(`bundle.body.opk: duplicate id ${id}`)
    ids.add(id)
    return { id, publicKey: expectBytes(m, 'k', KEY_LENGTH, 'bundle.body.opk[]') }
  })
  return { bundle: { identityKey, signedPreKey, oneTimePreKeys }, body, signature }
}

/**
 * Signed prekey rotation: returns the current signed prekey, generating a new one when the newest is
 * older than SIGNED_PREKEY_ROTATION_MS, and deletes replaced ones whose successor is older than
 * SIGNED_PREKEY_GRACE_MS (messages in flight to them still decrypt during the grace period).
 */
export async function rotateSignedPreKey(
  store: SignedPreKeyStore,
  opts: { now: number; rng: Rng },
): Promise<SignedPreKeyRecord> {
  const all = [...(await store.listSignedPreKeys())].sort((a, b) => a.createdAt - b.createdAt || a.id - b.id)
  let newest = all[all.length - 1]
  if (!newest || opts.now - newest.createdAt >= SIGNED_PREKEY_ROTATION_MS) {
    const nextId = newest ? (newest.id + 1) % (MAX_COUNTER + 1) : 1
    newest = await generateSignedPreKey(nextId, opts.rng, opts.now)
    await store.storeSignedPreKey(newest)
    all.push(newest)
  }
  for (let i = 0; i < all.length - 1; i++) {
    const successor = all[i + 1] as SignedPreKeyRecord
    if (opts.now - successor.createdAt >= SIGNED_PREKEY_GRACE_MS) {
      await store.removeSignedPreKey((all[i] as SignedPreKeyRecord).id)
    }
  }
  return newest
}
