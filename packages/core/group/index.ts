/**
 * Paloma's group conversations, the pure core: a signed, causally ordered membership log that every member
 * resolves to the same member list whatever order changes arrive in, sender keys (a symmetric chain and a
 * signing key per member, handed out over the 1:1 Double Ratchet sessions, rotated after every removal),
 * the versioned group message format, the welcome a new member receives and the topic name.
 *
 * Pure: no DOM, libp2p or IndexedDB; time and randomness are parameters; every value is immutable and every
 * operation returns a new one. Primitives come from `packages/core/crypto/primitives.ts`. Wire formats, labels,
 * limits and the conflict rule: docs/protocol.md, "Groups".
 *
 * How the app uses it: the creator calls {@link createGroup}; to add someone, {@link makeChange} (`add`),
 * publish the change on {@link groupTopic}, send {@link encodeWelcome}'s parts over the 1:1 session; every
 * member who sees the add sends the newcomer its {@link distributeSenderKey} message over 1:1. Received
 * changes go through {@link applyChange}. Before each send, {@link groupEncrypt} refuses with
 * `RotationRequiredError` when the key must be rotated ({@link rotateSenderKey}, then distribute to all
 * members); after a removal, {@link forgetFormerMembers} drops the removed member's keys.
 * @module
 */
export * from './errors.ts'
export * from './constants.ts'
export {
  CHANGE_KINDS,
  checkGroupName,
  decodeChange,
  verifyChangeSignature,
  type ChangeKind,
  type ChangeRequest,
  type GroupChange,
  type GroupSigner,
  type Identity,
} from './change.ts'
export {
  GroupLog,
  createGroup,
  openLog,
  makeChange,
  applyChange,
  applyChanges,
  groupState,
  memberList,
  isMember,
  roleOf,
  history,
  logChanges,
  heads,
  hasChange,
  missingChanges,
  pendingCount,
  encodeGroupLog,
  decodeGroupLog,
  type ApplyResult,
  type GroupRole,
  type GroupState,
  type HistoryEntry,
} from './log.ts'
export {
  newSenderKey,
  rotateSenderKey,
  senderKeyNeedsRotation,
  distributeSenderKey,
  groupEncrypt,
  newGroupReceiverState,
  processSenderKeyDistribution,
  forgetFormerMembers,
  groupDecrypt,
  encodeSenderKeyDistribution,
  decodeSenderKeyDistribution,
  decodeGroupMessage,
  encodeSenderKeyState,
  decodeSenderKeyState,
  encodeGroupReceiverState,
  decodeGroupReceiverState,
  type SenderKeyState,
  type SenderChain,
  type SenderRecord,
  type GroupReceiverState,
  type SenderKeyDistribution,
  type GroupMessage,
  type GroupDecryptResult,
  type MembershipOptions,
  type SigningKeyPair,
} from './sender-key.ts'
export { groupTopic } from './topic.ts'
export { encodeWelcome, decodeWelcomePart, openWelcome, type WelcomePart } from './welcome.ts'
