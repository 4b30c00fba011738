/**
 * X3DH key agreement (Signal, "The X3DH Key Agreement Protocol", rev. 1) over X25519 and SHA-256.
 *
 * DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B) if an OPK is
 * used; SK = HKDF-SHA-256(salt = 32 zero bytes, IKM = 32 x 0xFF || DH1 || DH2 || DH3 [|| DH4],
 * info = X3DH_INFO, 32 bytes); AD = Encode(IK_A) || Encode(IK_B) with Encode = the 32-byte Ed25519 identity
 * key (binding the exact PeerId key, not just its X25519 form, which two Ed25519 keys share).
 * Every DH output is checked for all-zero (LowOrderPointError). Pure: no stores, no time.
 * @module
 */
import { concatBytes, wipe } from './bytes.ts'
import { KEY_LENGTH, X3DH_INFO_BYTES } from './constants.ts'
import { identityDhPublic, type IdentityKeyPair } from './keys.ts'
import { hkdfSha256, x25519Batch, type KeyPair, type X25519Op } from './primitives.ts'

const ZERO_SALT = new Uint8Array(KEY_LENGTH)
const FF_PREFIX = new Uint8Array(KEY_LENGTH).fill(0xff)

/** The outcome of X3DH on either side. */
export interface X3dhResult {
  /** SK, 32 bytes: the initial root key of the Double Ratchet. */
  readonly sharedKey: Uint8Array
  /** AD = IK_A || IK_B (Ed25519 keys), 64 bytes. */
  readonly associatedData: Uint8Array
}

/** The DH outputs of `pairs` (see {@link x25519Batch}: no promise per DH with a synchronous provider). */
function dhAll(pairs: readonly X25519Op[]): Uint8Array[] | Promise<Uint8Array[]> {
  return x25519Batch(pairs) as Uint8Array[] | Promise<Uint8Array[]>
}

/** SK from the DH outputs DH1..DH3[..DH4] (the X3DH KDF). */
export function x3dhKdf(dhOutputs: readonly Uint8Array[]): Uint8Array {
  const ikm = concatBytes(FF_PREFIX, ...dhOutputs)
  const sk = hkdfSha256(ikm, ZERO_SALT, X3DH_INFO_BYTES, KEY_LENGTH)
  wipe(ikm)
  return sk
}

/** AD = Encode(IK_A) || Encode(IK_B). */
export function x3dhAssociatedData(
  initiatorIdentityKey: Uint8Array,
  responderIdentityKey: Uint8Array,
): Uint8Array {
  return concatBytes(initiatorIdentityKey, responderIdentityKey)
}

/**
 * Initiator (Alice) side.
 * @param identity - Alice's identity.
 * @param ephemeral - Alice's fresh ephemeral key pair EK_A.
 * @param responderIdentityKey - Bob's Ed25519 identity key (from a verified bundle).
 * @param signedPreKey - SPK_B public key.
 * @param oneTimePreKey - OPK_B public key, or null on the last-resort path.
 * @throws LowOrderPointError, InvalidKeyError
 */
export async function x3dhInitiate(
  identity: IdentityKeyPair,
  ephemeral: KeyPair,
  responderIdentityKey: Uint8Array,
  signedPreKey: Uint8Array,
  oneTimePreKey: Uint8Array | null,
): Promise<X3dhResult> {
  const ikB = identityDhPublic(responderIdentityKey)
  const dhs = await dhAll([
    [identity.dh.privateKey, signedPreKey],
    [ephemeral.privateKey, ikB],
    [ephemeral.privateKey, signedPreKey],
    ...(oneTimePreKey ? [[ephemeral.privateKey, oneTimePreKey] as const] : []),
  ])
  const sharedKey = x3dhKdf(dhs)
  wipe(...dhs)
  return { sharedKey, associatedData: x3dhAssociatedData(identity.publicKey, responderIdentityKey) }
}

/**
 * Responder (Bob) side.
 * @param identity - Bob's identity.
 * @param initiatorIdentityKey - Alice's Ed25519 identity key (from her prekey message).
 * @param ephemeralPublic - EK_A.
 * @param signedPreKey - Bob's SPK pair named by the message.
 * @param oneTimePreKey - Bob's OPK pair named by the message, or null.
 * @throws LowOrderPointError, InvalidKeyError
 */
export async function x3dhRespond(
  identity: IdentityKeyPair,
  initiatorIdentityKey: Uint8Array,
  ephemeralPublic: Uint8Array,
  signedPreKey: KeyPair,
  oneTimePreKey: KeyPair | null,
): Promise<X3dhResult> {
  const ikA = identityDhPublic(initiatorIdentityKey)
  const dhs = await dhAll([
    [signedPreKey.privateKey, ikA],
    [identity.dh.privateKey, ephemeralPublic],
    [signedPreKey.privateKey, ephemeralPublic],
    ...(oneTimePreKey ? [[oneTimePreKey.privateKey, ephemeralPublic] as const] : []),
  ])
  const sharedKey = x3dhKdf(dhs)
  wipe(...dhs)
  return { sharedKey, associatedData: x3dhAssociatedData(initiatorIdentityKey, identity.publicKey) }
}
