/**
 * Typed failures of the end-to-end encryption core.
 *
 * One class per failure, each with its own `name`, a stable `code` from {@link CRYPTO_ERROR_CODES} and a
 * default message that says what went wrong and, where it helps, what the caller should do next. All
 * share {@link CryptoError} (a {@link PalomaError}) so callers can catch the whole family at once. The
 * module never throws anything else for bad input or bad peers.
 * @module
 */
import { PalomaError } from '../errors.ts'

export const CRYPTO_ERROR_CODES = [
  /** {@link InvalidKeyError} */
  'INVALID_KEY',
  /** {@link InvalidSignatureError} */
  'INVALID_SIGNATURE',
  /** {@link LowOrderPointError} */
  'LOW_ORDER_POINT',
  /** {@link UnknownPreKeyError} */
  'UNKNOWN_PREKEY',
  /** {@link DuplicateMessageError} */
  'DUPLICATE_MESSAGE',
  /** {@link DecryptionFailedError} */
  'DECRYPTION_FAILED',
  /** {@link TooManySkippedMessagesError} */
  'TOO_MANY_SKIPPED',
  /** {@link InvalidRecordError} */
  'INVALID_RECORD',
  /** {@link UntrustedIdentityError} */
  'UNTRUSTED_IDENTITY',
  /** {@link NoSessionError} */
  'NO_SESSION',
] as const
export type CryptoErrorCode = (typeof CRYPTO_ERROR_CODES)[number]

/** Base class of every error thrown by `packages/core/crypto`. */
export class CryptoError extends PalomaError<CryptoErrorCode> {
  constructor(code: CryptoErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.name = 'CryptoError'
  }
}

/** A key has the wrong length or is not a valid curve point. */
export class InvalidKeyError extends CryptoError {
  constructor(message = 'invalid key: expected a valid 32-byte key', options?: ErrorOptions) {
    super('INVALID_KEY', message, options)
    this.name = 'InvalidKeyError'
  }
}

/** A signature (prekey bundle) does not verify against the claimed identity key. */
export class InvalidSignatureError extends CryptoError {
  constructor(message = 'invalid signature: the record was not signed by the expected identity') {
    super('INVALID_SIGNATURE', message)
    this.name = 'InvalidSignatureError'
  }
}

/** A Diffie-Hellman output was all zeros: the peer sent a low-order (small-subgroup) point. */
export class LowOrderPointError extends CryptoError {
  constructor(message = 'X25519 produced an all-zero output: the peer key is a low-order point') {
    super('LOW_ORDER_POINT', message)
    this.name = 'LowOrderPointError'
  }
}

/** A prekey message names a signed or one-time prekey id that this device does not hold (any more). */
export class UnknownPreKeyError extends CryptoError {
  readonly kind: 'signed' | 'one-time'
  readonly id: number
  constructor(kind: 'signed' | 'one-time', id: number, message?: string) {
    super(
      'UNKNOWN_PREKEY',
      message ?? `unknown ${kind} prekey id ${id}: it was used, rotated out, or never existed`,
    )
    this.name = 'UnknownPreKeyError'
    this.kind = kind
    this.id = id
  }
}

/** The message was already decrypted (replay), or its key was discarded. */
export class DuplicateMessageError extends CryptoError {
  constructor(message = 'duplicate message: already decrypted, or its key was discarded') {
    super('DUPLICATE_MESSAGE', message)
    this.name = 'DuplicateMessageError'
  }
}

/** Authenticated decryption failed: the message was tampered with or belongs to no known session. */
export class DecryptionFailedError extends CryptoError {
  constructor(message = 'decryption failed: message tampered with or not for this session') {
    super('DECRYPTION_FAILED', message)
    this.name = 'DecryptionFailedError'
  }
}

/** The message is more than MAX_SKIP messages ahead of its chain; rejected before any key is derived. */
export class TooManySkippedMessagesError extends CryptoError {
  readonly skip: number
  constructor(skip: number, message?: string) {
    super(
      'TOO_MANY_SKIPPED',
      message ?? `message is ${skip} messages ahead of its chain, more than MAX_SKIP: rejected`,
    )
    this.name = 'TooManySkippedMessagesError'
    this.skip = skip
  }
}

/** Bytes that should hold a record, bundle, header or message are malformed. */
export class InvalidRecordError extends CryptoError {
  constructor(message = 'invalid record: malformed bytes', options?: ErrorOptions) {
    super('INVALID_RECORD', message, options)
    this.name = 'InvalidRecordError'
  }
}

/** The peer's identity key differs from the one trusted for this address. Ask the user to verify. */
export class UntrustedIdentityError extends CryptoError {
  readonly address: string
  constructor(address: string, message?: string) {
    super(
      'UNTRUSTED_IDENTITY',
      message ?? `identity key of ${address} changed: compare safety numbers before trusting it`,
    )
    this.name = 'UntrustedIdentityError'
    this.address = address
  }
}

/** There is no session with this address: fetch and process its prekey bundle first. */
export class NoSessionError extends CryptoError {
  readonly address: string
  constructor(address: string, message?: string) {
    super('NO_SESSION', message ?? `no session with ${address}: process its prekey bundle first`)
    this.name = 'NoSessionError'
    this.address = address
  }
}
