/**
 * Typed failures of the local vault and of backup files.
 *
 * One class per failure, each with its own `name`, a stable `code` from {@link VAULT_ERROR_CODES} and a
 * default message that tells the user what to do next. All share {@link VaultError} (a
 * {@link PalomaError}) so callers can catch the whole family at once. Nothing in `packages/core/vault` throws
 * anything else for bad input, a bad passphrase or damaged data.
 *
 * A class with one failure fixes its code and takes `(message?, options?)`; a class with several
 * ({@link InvalidPassphraseError}, {@link InvalidBackupError}) takes the code first, as PalomaError does.
 * @module
 */
import { PalomaError } from '../errors.ts'

export const VAULT_ERROR_CODES = [
  /** {@link WrongPassphraseError}: the passphrase does not open the vault or the backup. */
  'WRONG_PASSPHRASE',
  /** {@link VaultCorruptedError} */
  'VAULT_CORRUPTED',
  /** {@link VaultLockedError} */
  'VAULT_LOCKED',
  /** {@link VaultNotFoundError} */
  'VAULT_NOT_FOUND',
  /** {@link VaultExistsError} */
  'VAULT_EXISTS',
  /** {@link InvalidPassphraseError}: no passphrase (empty, or not a string). */
  'EMPTY_PASSPHRASE',
  /** {@link InvalidPassphraseError}: a new passphrase shorter than MIN_PASSPHRASE_CHARS (passphrase.ts). */
  'SHORT_PASSPHRASE',
  /** {@link InvalidKdfParamsError} */
  'INVALID_KDF_PARAMS',
  /** {@link InvalidBackupError}: not a Paloma backup, or damaged. */
  'INVALID_BACKUP',
  /** {@link InvalidBackupError}: a backup written by a newer version of Paloma. */
  'UNSUPPORTED_BACKUP',
] as const
export type VaultErrorCode = (typeof VAULT_ERROR_CODES)[number]

/** The codes of {@link InvalidPassphraseError}. */
export type PassphraseProblem = Extract<VaultErrorCode, 'EMPTY_PASSPHRASE' | 'SHORT_PASSPHRASE'>

/** Base class of every error thrown by the vault and the backup format. */
export class VaultError extends PalomaError<VaultErrorCode> {
  constructor(code: VaultErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.name = 'VaultError'
  }
}

/** The passphrase does not open the vault (or the backup). Nothing was changed. */
export class WrongPassphraseError extends VaultError {
  constructor(
    message = 'Wrong passphrase: check it and try again. Nothing was changed.',
    options?: ErrorOptions,
  ) {
    super('WRONG_PASSPHRASE', message, options)
    this.name = 'WrongPassphraseError'
  }
}

/** A stored blob failed its integrity check: it was damaged or modified on disk. */
export class VaultCorruptedError extends VaultError {
  constructor(
    message = 'The local vault is damaged or was modified: restore your account from a backup.',
    options?: ErrorOptions,
  ) {
    super('VAULT_CORRUPTED', message, options)
    this.name = 'VaultCorruptedError'
  }
}

/** The vault was used while locked (no key in memory). */
export class VaultLockedError extends VaultError {
  constructor(message = 'The vault is locked: unlock it with your passphrase first.') {
    super('VAULT_LOCKED', message)
    this.name = 'VaultLockedError'
  }
}

/** Unlock or export was asked of a browser profile that has no vault. */
export class VaultNotFoundError extends VaultError {
  constructor(message = 'There is no account in this browser: create one, or import a backup.') {
    super('VAULT_NOT_FOUND', message)
    this.name = 'VaultNotFoundError'
  }
}

/** Create or import was asked of a browser profile that already has a vault. */
export class VaultExistsError extends VaultError {
  constructor(
    message = 'An account already exists in this browser: unlock it, or delete it before creating or importing another.',
  ) {
    super('VAULT_EXISTS', message)
    this.name = 'VaultExistsError'
  }
}

const PASSPHRASE_MESSAGES: Record<PassphraseProblem, string> = {
  EMPTY_PASSPHRASE: 'Choose a passphrase: it must not be empty.',
  SHORT_PASSPHRASE: 'Choose a longer passphrase: at least 8 characters.',
}

/**
 * The passphrase is unusable: `EMPTY_PASSPHRASE` (empty, or not a string) anywhere a passphrase is
 * asked for; `SHORT_PASSPHRASE` where a new one is chosen (see passphrase.ts).
 */
export class InvalidPassphraseError extends VaultError {
  declare readonly code: PassphraseProblem
  constructor(code: PassphraseProblem = 'EMPTY_PASSPHRASE', message = PASSPHRASE_MESSAGES[code]) {
    super(code, message)
    this.name = 'InvalidPassphraseError'
  }
}

/** KDF parameters are below the production minimum or above the safety cap. */
export class InvalidKdfParamsError extends VaultError {
  constructor(message: string) {
    super('INVALID_KDF_PARAMS', message)
    this.name = 'InvalidKdfParamsError'
  }
}

const BACKUP_MESSAGES: Record<'INVALID_BACKUP' | 'UNSUPPORTED_BACKUP', string> = {
  INVALID_BACKUP: 'This file is not a Paloma backup: choose the file exported from Paloma.',
  UNSUPPORTED_BACKUP: 'This backup was made by a newer version of Paloma: update the app to import it.',
}

/**
 * The file given to import is not a Paloma backup (`INVALID_BACKUP`), or not one this version can read
 * (`UNSUPPORTED_BACKUP`).
 */
export class InvalidBackupError extends VaultError {
  declare readonly code: 'INVALID_BACKUP' | 'UNSUPPORTED_BACKUP'
  constructor(
    code: 'INVALID_BACKUP' | 'UNSUPPORTED_BACKUP' = 'INVALID_BACKUP',
    message = BACKUP_MESSAGES[code],
    options?: ErrorOptions,
  ) {
    super(code, message, options)
    this.name = 'InvalidBackupError'
  }
}
