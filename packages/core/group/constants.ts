/**
 * Named limits, labels and sizes of Paloma's group conversations. Every value here is part of the protocol
 * (docs/protocol.md, "Groups") unless marked as a local policy the app enforces.
 * @module
 */

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Version `v` of every group record and wire format defined here (1 = sender keys; MLS would be another). */
export const GROUP_VERSION = 1

/** Domain-separation prefix of the Ed25519 signature over a membership change (identity key). */
export const CHANGE_SIGNATURE_PREFIX = 'Paloma_Group_Change_Signature_v1\u0000'
/** Prefix hashed (SHA-256) with a change's unsigned encoding to form its id. */
export const CHANGE_ID_PREFIX = 'Paloma_Group_Change_Id_v1\u0000'
/** Domain-separation prefix of the proof that a sender key's signing key belongs to its owner. */
export const SENDER_KEY_SIGNATURE_PREFIX = 'Paloma_Group_SenderKey_Signature_v1\u0000'
/** Domain-separation prefix of a group message's signature, and of its AEAD associated data. */
export const MESSAGE_SIGNATURE_PREFIX = 'Paloma_Group_Message_v1\u0000'
/** HKDF info deriving the AES-256-GCM key and nonce from a group message key. */
export const GROUP_MESSAGE_KEY_INFO = 'Paloma_Group_MessageKeys_v1'
/** HKDF info deriving the gossipsub topic from the group secret. */
export const GROUP_TOPIC_INFO = 'Paloma_Group_Topic_v1'
/** Text before the hex digest in a group's topic name. */
export const GROUP_TOPIC_PREFIX = 'paloma/group/1/'

export const CHANGE_SIGNATURE_PREFIX_BYTES = utf8(CHANGE_SIGNATURE_PREFIX)
export const CHANGE_ID_PREFIX_BYTES = utf8(CHANGE_ID_PREFIX)
export const SENDER_KEY_SIGNATURE_PREFIX_BYTES = utf8(SENDER_KEY_SIGNATURE_PREFIX)
export const MESSAGE_SIGNATURE_PREFIX_BYTES = utf8(MESSAGE_SIGNATURE_PREFIX)
export const GROUP_MESSAGE_KEY_INFO_BYTES = utf8(GROUP_MESSAGE_KEY_INFO)
export const GROUP_TOPIC_INFO_BYTES = utf8(GROUP_TOPIC_INFO)

/** Length of identities, group ids, change ids, chain keys, signing keys and the group secret. */
export const KEY_LENGTH = 32
/** Length of an Ed25519 signature. */
export const SIGNATURE_LENGTH = 64
/** Length of the random nonce in a `create` change (makes every group id unique). */
export const CREATE_NONCE_LENGTH = 16

// ------------------------------------------------------------------------------------------ membership

/** Most members a group may have: an `add` is valid only while its view has fewer. */
export const MAX_GROUP_MEMBERS = 256
/** Longest group name, in Unicode code points (at least one). */
export const MAX_GROUP_NAME_LENGTH = 64
/** Most parents one change may name. */
export const MAX_CHANGE_PARENTS = 16
/** Largest encoded change accepted (bytes). */
export const MAX_CHANGE_BYTES = 1024
/** Most changes one group's log holds; beyond it the group must be re-created (docs: "Log size"). */
export const MAX_LOG_CHANGES = 4096
/** Most changes waiting for unknown parents, per log. */
export const MAX_PENDING_CHANGES = 256
/** Largest encoded welcome part (fits, padded and encrypted, in one 1:1 envelope of 60 KiB). */
export const MAX_WELCOME_PART_BYTES = 48 * 1024
/** Most parts one welcome may be split into (a full log of MAX_LOG_CHANGES changes fits). */
export const MAX_WELCOME_PARTS = 128

// ----------------------------------------------------------------------------------------- sender keys

/** Most keys skipped for one group message: how far past its chain's next iteration it may be. */
export const GROUP_MAX_SKIP = 1000
/** Most skipped message keys kept per sender (current and previous key together); oldest evicted. */
export const GROUP_MAX_STORED_SKIPPED_KEYS = 2000
/**
 * A sender key encrypts at most this many messages; its sender must then rotate. Receivers refuse an
 * iteration at or beyond it.
 */
export const SENDER_KEY_MAX_MESSAGES = 10_000
/** Local policy, enforced by `groupEncrypt`: a sender key older than this (7 days) must be rotated. */
export const SENDER_KEY_MAX_AGE_MS = 7 * 24 * 3600 * 1000
/**
 * How long a receiver keeps a sender's previous key after the next one arrived (30 days, the relay
 * mailbox's retention), so messages still in flight on it decrypt.
 */
export const SENDER_KEY_GRACE_MS = 30 * 24 * 3600 * 1000
/** Largest key id (epoch) of a sender key: ids start below 2^31 and grow by one per rotation. */
export const MAX_SENDER_KEY_ID = 0xffffffff

/** Largest group message on the wire (bytes). */
export const MAX_GROUP_MESSAGE_BYTES = 64 * 1024
/** Largest encoded sender key distribution message (bytes). */
export const MAX_DISTRIBUTION_BYTES = 256
/** Largest serialized sender or receiver state accepted (bytes). */
export const MAX_STATE_BYTES = 1 << 20

/** Local policy the app enforces per sender and group (token bucket): burst size, in messages. */
export const GROUP_RATE_LIMIT_BURST = 30
/** Local policy the app enforces per sender and group (token bucket): sustained messages per second. */
export const GROUP_RATE_LIMIT_PER_SECOND = 5
