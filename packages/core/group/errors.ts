/**
 * Typed failures of the group core.
 *
 * One class per failure, each with its own `name`, a stable `code` from {@link GROUP_ERROR_CODES} and a
 * default message saying what went wrong and what the caller should do next. All share
 * {@link GroupError} (a {@link PalomaError}), so callers can catch the whole family at once, and
 * `switch (err.code)` is checked by the compiler. Nothing in `packages/core/group` throws anything else for bad
 * input or bad peers.
 * @module
 */
import { PalomaError } from '../errors.ts'

export const GROUP_ERROR_CODES = [
  /** Bytes that should hold a change, message, distribution, welcome or state are malformed. */
  'GROUP_MALFORMED',
  /** A signature (change, sender key proof, message) does not verify. */
  'GROUP_BAD_SIGNATURE',
  /** The record belongs to another group than the one it was given to. */
  'GROUP_WRONG_GROUP',
  /** A change's author lacks the authority for it in the change's own causal view. */
  'GROUP_UNAUTHORIZED',
  /** An `add` in a view that already has MAX_GROUP_MEMBERS members. */
  'GROUP_FULL',
  /** The log holds MAX_LOG_CHANGES changes: re-create the group. */
  'GROUP_LOG_FULL',
  /** MAX_PENDING_CHANGES changes already wait for their parents: fetch the missing ones first. */
  'GROUP_PENDING_FULL',
  /** The identity is not a member of the group (now): nothing from or for it is accepted. */
  'GROUP_NOT_A_MEMBER',
  /** No sender key is known for this message (not distributed yet, or retired): wait for one. */
  'GROUP_UNKNOWN_SENDER_KEY',
  /** A sender key distribution conflicts with one already held (same key id or signing key). */
  'GROUP_SENDER_KEY_CONFLICT',
  /** The message was already decrypted (a replay), or its key was discarded. */
  'GROUP_DUPLICATE',
  /** The message is more than GROUP_MAX_SKIP ahead of its chain; refused before any key is derived. */
  'GROUP_TOO_FAR_AHEAD',
  /** Authenticated decryption failed: the message was tampered with. */
  'GROUP_DECRYPTION_FAILED',
  /** The sender key must be rotated (and distributed) before sending again. */
  'GROUP_ROTATION_REQUIRED',
  /** The message would exceed MAX_GROUP_MESSAGE_BYTES. */
  'GROUP_MESSAGE_TOO_LARGE',
  /** A welcome is missing parts, or its parts disagree. */
  'GROUP_INCOMPLETE_WELCOME',
] as const
export type GroupErrorCode = (typeof GROUP_ERROR_CODES)[number]

/** Base class of every error thrown by `packages/core/group`. */
export class GroupError extends PalomaError<GroupErrorCode> {
  override name = 'GroupError'
}

/** Bytes that should hold a group record are malformed (CBOR, fields, sizes, version, canonical form). */
export class MalformedGroupRecordError extends GroupError {
  override name = 'MalformedGroupRecordError'
  constructor(message = 'malformed group record', options?: ErrorOptions) {
    super('GROUP_MALFORMED', message, options)
  }
}

/** A signature does not verify under the key it claims. */
export class GroupSignatureError extends GroupError {
  override name = 'GroupSignatureError'
  constructor(message = 'signature does not verify: the record was forged or altered') {
    super('GROUP_BAD_SIGNATURE', message)
  }
}

/** The record names another group. */
export class WrongGroupError extends GroupError {
  override name = 'WrongGroupError'
  constructor(message = 'the record belongs to another group') {
    super('GROUP_WRONG_GROUP', message)
  }
}

/** The change's author may not make it (in the change's own causal view). The change is refused. */
export class UnauthorizedChangeError extends GroupError {
  override name = 'UnauthorizedChangeError'
  constructor(message = 'the author of this change lacks the authority for it') {
    super('GROUP_UNAUTHORIZED', message)
  }
}

/** An `add` to a group that already has the most members allowed. */
export class GroupFullError extends GroupError {
  override name = 'GroupFullError'
  constructor(message = 'the group already has the most members allowed: remove someone first') {
    super('GROUP_FULL', message)
  }
}

/** The log is full. */
export class GroupLogFullError extends GroupError {
  override name = 'GroupLogFullError'
  constructor(message = 'the group log is full: create a new group with the current members') {
    super('GROUP_LOG_FULL', message)
  }
}

/** Too many changes already wait for unknown parents. */
export class PendingChangesFullError extends GroupError {
  override name = 'PendingChangesFullError'
  constructor(message = 'too many changes wait for unknown parents: fetch the missing changes first') {
    super('GROUP_PENDING_FULL', message)
  }
}

/** The identity is not a current member of the group. */
export class NotAGroupMemberError extends GroupError {
  override name = 'NotAGroupMemberError'
  constructor(message = 'not a member of this group') {
    super('GROUP_NOT_A_MEMBER', message)
  }
}

/** No sender key is held for the message's key id. */
export class UnknownSenderKeyError extends GroupError {
  override name = 'UnknownSenderKeyError'
  constructor(message = 'no sender key for this message: wait for its distribution, or it was retired') {
    super('GROUP_UNKNOWN_SENDER_KEY', message)
  }
}

/** A distribution reuses a key id or a signing key with different contents. */
export class SenderKeyConflictError extends GroupError {
  override name = 'SenderKeyConflictError'
  constructor(message = 'sender key distribution conflicts with a key already held') {
    super('GROUP_SENDER_KEY_CONFLICT', message)
  }
}

/** The message was already decrypted, or its key discarded. */
export class DuplicateGroupMessageError extends GroupError {
  override name = 'DuplicateGroupMessageError'
  constructor(message = 'duplicate group message: already decrypted, or its key was discarded') {
    super('GROUP_DUPLICATE', message)
  }
}

/** The message is too far ahead of its chain. */
export class TooFarAheadError extends GroupError {
  override name = 'TooFarAheadError'
  readonly skip: number
  constructor(skip: number, message?: string) {
    super('GROUP_TOO_FAR_AHEAD', message ?? `message is ${skip} messages ahead of its chain: refused`)
    this.skip = skip
  }
}

/** Authenticated decryption failed. */
export class GroupDecryptionFailedError extends GroupError {
  override name = 'GroupDecryptionFailedError'
  constructor(message = 'group message decryption failed: the message was tampered with') {
    super('GROUP_DECRYPTION_FAILED', message)
  }
}

/** Why a sender key must be rotated. */
export type RotationReason = 'removal' | 'count' | 'age'

/** The sender key must be rotated and distributed before the next message. */
export class RotationRequiredError extends GroupError {
  override name = 'RotationRequiredError'
  readonly reason: RotationReason
  constructor(reason: RotationReason, message?: string) {
    super(
      'GROUP_ROTATION_REQUIRED',
      message ??
        {
          removal: 'a holder of this sender key left the group: rotate it before sending',
          count: 'this sender key encrypted the most messages allowed: rotate it',
          age: 'this sender key is older than allowed: rotate it',
        }[reason],
    )
    this.reason = reason
  }
}

/** The message is too large for the group wire format. */
export class GroupMessageTooLargeError extends GroupError {
  override name = 'GroupMessageTooLargeError'
  constructor(message = 'group message too large: send less at once') {
    super('GROUP_MESSAGE_TOO_LARGE', message)
  }
}

/** A welcome's parts are missing or disagree. */
export class IncompleteWelcomeError extends GroupError {
  override name = 'IncompleteWelcomeError'
  constructor(message = 'the welcome is incomplete or its parts disagree: ask for it again') {
    super('GROUP_INCOMPLETE_WELCOME', message)
  }
}
