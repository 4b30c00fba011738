/**
 * Paloma's end-to-end encryption core: X3DH + Double Ratchet sessions bound to libp2p Ed25519
 * identities, prekey bundles, safety numbers. Pure: no DOM, libp2p or IndexedDB; time and randomness
 * are parameters; state lives behind the store interfaces. Wire formats: docs/protocol.md.
 * @module
 */
export * from './errors.ts'
export {
  MAX_SKIP,
  MAX_STORED_SKIPPED_KEYS,
  MAX_PREVIOUS_SESSIONS,
  MAX_PREVIOUS_REMOTE_RATCHETS,
  MAX_BUNDLE_ONE_TIME_PREKEYS,
  MAX_BUNDLE_BYTES,
  MAX_MESSAGE_BYTES,
  PADDING_BLOCK,
  X3DH_INFO,
  ROOT_INFO,
  MESSAGE_KEY_INFO,
  BUNDLE_SIGNATURE_PREFIX,
  SIGNED_PREKEY_ROTATION_MS,
  SIGNED_PREKEY_GRACE_MS,
} from './constants.ts'
export {
  secureRandom,
  setCryptoProvider,
  getCryptoProvider,
  portableProvider,
  type CryptoProvider,
  type MaybePromise,
  type Rng,
  type KeyPair,
} from './primitives.ts'
export {
  identityFromEd25519Private,
  generateIdentity,
  identityDhPublic,
  type IdentityKeyPair,
} from './keys.ts'
export {
  createPreKeyBundle,
  verifyPreKeyBundle,
  generateSignedPreKey,
  generateOneTimePreKeys,
  rotateSignedPreKey,
  type PreKeyBundle,
  type SignedPreKeyRecord,
  type OneTimePreKeyRecord,
} from './prekeys.ts'
export {
  processPreKeyBundle,
  encryptMessage,
  decryptMessage,
  hasSession,
  type CipherOptions,
  type EncryptedMessage,
} from './session.ts'
export { SessionRecord, type SessionState } from './session-record.ts'
export {
  InMemoryIdentityKeyStore,
  InMemorySessionStore,
  InMemoryPreKeyStore,
  InMemorySignedPreKeyStore,
  createInMemoryStores,
  type IdentityKeyStore,
  type SessionStore,
  type PreKeyStore,
  type SignedPreKeyStore,
  type ProtocolStores,
} from './stores.ts'
export { safetyNumber, verifyScannedSafetyNumber, type SafetyNumber } from './safety-number.ts'
export { pad, unpad } from './padding.ts'
