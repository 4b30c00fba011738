/**
 * Identity keys. A Paloma identity IS the user's libp2p Ed25519 key (their PeerId): option (a) of the
 * design, the same key is used for signatures (Ed25519) and, through the birational map of RFC 7748
 * section 4.1, for X3DH Diffie-Hellman (its X25519 form). There is no second identity key to bind.
 * Knows nothing of libp2p: callers pass the 32-byte seed (the first half of `privateKey.raw`).
 * @module
 */
import { KEY_LENGTH } from './constants.ts'
import { InvalidKeyError } from './errors.ts'
import {
  ed25519PublicFromSeed,
  ed25519PublicToX25519,
  ed25519SeedToX25519,
  x25519KeyPairFromPrivate,
  type KeyPair,
  type Rng,
} from './primitives.ts'

/** A local identity: Ed25519 key pair plus its X25519 form. */
export interface IdentityKeyPair {
  /** Ed25519 public key (32 bytes): the PeerId key. */
  readonly publicKey: Uint8Array
  /** Ed25519 seed (32 bytes, RFC 8032 private key). */
  readonly seed: Uint8Array
  /** X25519 form of the key, used for X3DH. */
  readonly dh: KeyPair
}

/**
 * Identity from a 32-byte Ed25519 seed, or from libp2p's 64-byte `seed || public` raw private key.
 * @throws InvalidKeyError on a bad length, or when a 64-byte input's public half does not match.
 * @example
 * const id = await identityFromEd25519Private(privateKey.raw) // libp2p Ed25519PrivateKey
 */
export async function identityFromEd25519Private(raw: Uint8Array): Promise<IdentityKeyPair> {
  if (!(raw instanceof Uint8Array) || (raw.length !== KEY_LENGTH && raw.length !== 2 * KEY_LENGTH)) {
    throw new InvalidKeyError(`Ed25519 private key: expected 32 or 64 bytes`)
  }
  const seed = raw.slice(0, KEY_LENGTH)
  const publicKey = await ed25519PublicFromSeed(seed)
  if (raw.length === 2 * KEY_LENGTH) {
    const claimed = raw.subarray(KEY_LENGTH)
    if (!claimed.every((b, i) => b === publicKey[i])) {
      throw new InvalidKeyError('Ed25519 private key: public half does not match the seed')
    }
  }
  const dhPrivate = ed25519SeedToX25519(seed)
  const dh = await x25519KeyPairFromPrivate(dhPrivate)
  const expected = ed25519PublicToX25519(publicKey)
  if (!expected.every((b, i) => b === dh.publicKey[i])) throw new InvalidKeyError('X25519 form mismatch')
  return { publicKey, seed, dh }
}

/** Fresh random identity (tests and tools; real identities come from the libp2p key). */
export function generateIdentity(rng: Rng): Promise<IdentityKeyPair> {
  return identityFromEd25519Private(rng(KEY_LENGTH))
}

/**
 * X25519 form of a peer's Ed25519 identity key.
 * @throws InvalidKeyError when it is not a valid Ed25519 point.
 */
export function identityDhPublic(identityKey: Uint8Array): Uint8Array {
  return ed25519PublicToX25519(identityKey)
}
