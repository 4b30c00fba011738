/**
 * Named limits, labels and sizes of Paloma's end-to-end encryption. Every value here is part of the
 * protocol (docs/protocol.md, "End-to-end encryption") unless marked as a local policy.
 * @module
 */

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** HKDF info of the X3DH shared key. */
export const X3DH_INFO = 'Paloma_X3DH_X25519_SHA256_v1'
/** HKDF info of KDF_RK (root chain). */
export const ROOT_INFO = 'Paloma_Ratchet_Root_v1'
/** HKDF info deriving the AES-256-GCM key and nonce from a message key. */
export const MESSAGE_KEY_INFO = 'Paloma_Ratchet_MessageKeys_v1'
/** HKDF info of KDF_RK_HE (root chain of a session with header encryption). */
export const ROOT_HE_INFO = 'Paloma_Ratchet_Root_HE_v1'
/** HKDF info deriving the two shared header keys of a header-encrypting session from the X3DH key. */
export const HEADER_KEYS_INFO = 'Paloma_Ratchet_HeaderKeys_v1'
/** Domain-separation prefix of the Ed25519 signature over a prekey bundle body. */
export const BUNDLE_SIGNATURE_PREFIX = 'Paloma_PreKeyBundle_Signature_v1\u0000'

export const X3DH_INFO_BYTES = utf8(X3DH_INFO)
export const ROOT_INFO_BYTES = utf8(ROOT_INFO)
export const MESSAGE_KEY_INFO_BYTES = utf8(MESSAGE_KEY_INFO)
export const ROOT_HE_INFO_BYTES = utf8(ROOT_HE_INFO)
export const HEADER_KEYS_INFO_BYTES = utf8(HEADER_KEYS_INFO)
export const BUNDLE_SIGNATURE_PREFIX_BYTES = utf8(BUNDLE_SIGNATURE_PREFIX)

/** Length of X25519 / Ed25519 public and private keys, root, chain and message keys. */
export const KEY_LENGTH = 32
/** Length of an Ed25519 signature. */
export const SIGNATURE_LENGTH = 64
/** AES-256-GCM tag length. */
export const TAG_LENGTH = 16
/** AES-256-GCM nonce length. */
export const NONCE_LENGTH = 12

/** Most messages a single chain may jump ahead by (skipped keys derived for one message). */
export const MAX_SKIP = 1000
/** Most skipped message keys kept per session state; the oldest is evicted beyond it. */
export const MAX_STORED_SKIPPED_KEYS = 2000
/** Previous (archived) session states kept per address for trial decryption. */
export const MAX_PREVIOUS_SESSIONS = 5
/** Remote ratchet public keys remembered per session to classify late replays as duplicates. */
export const MAX_PREVIOUS_REMOTE_RATCHETS = 5
/**
 * Most one-time prekeys carried in one bundle: a bundle with this many (and the largest ids and time)
 * still fits in {@link MAX_BUNDLE_BYTES} (3,069 bytes; tests/unit/core/crypto/codec.test.ts).
 */
export const MAX_BUNDLE_ONE_TIME_PREKEYS = 64
/**
 * Largest prekey bundle, in bytes: what a directory profile record (at most 8 KiB, with up to 8 relay
 * addresses) carries. The one bundle limit: packages/core/protocol/directory.ts uses it too.
 */
export const MAX_BUNDLE_BYTES = 4096
/** Largest message body accepted (bytes). */
export const MAX_MESSAGE_BYTES = 1 << 20
/** Largest serialized session record accepted (bytes). */
export const MAX_SESSION_RECORD_BYTES = 4 << 20
/** Largest counter value in a header (unsigned 32-bit). */
export const MAX_COUNTER = 0xffffffff

/** Plaintexts are padded (0x80 then zeros) to a multiple of this many bytes. */
export const PADDING_BLOCK = 160

/** Local policy: a new signed prekey is generated when the newest is this old (7 days). */
export const SIGNED_PREKEY_ROTATION_MS = 7 * 24 * 3600 * 1000
/** Local policy: a replaced signed prekey is kept this long after its successor appears (30 days). */
export const SIGNED_PREKEY_GRACE_MS = 30 * 24 * 3600 * 1000

/** Version `v` of every CBOR record defined here. */
export const RECORD_VERSION = 1

/** Safety numbers: SHA-512 iterations per identity (as Signal). */
export const SAFETY_NUMBER_ITERATIONS = 5200
/** Safety numbers: version of the hash input and of the QR payload. */
export const SAFETY_NUMBER_VERSION = 0
