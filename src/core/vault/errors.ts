/**
 * Typed failures of the local vault and of backup files.
 *
 * One class per failure, each with its own `name` and a default message that tells the user what to do
 * next. All share {@link VaultError} so callers can catch the whole family at once. Nothing in
 * `src/core/vault` throws anything else for bad input, a bad passphrase or damaged data.
 * @module
 */

/** Base class of every error thrown by the vault and the backup format. */
export class VaultError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'VaultError'
  }
}

/** The passphrase does not open the vault (or the backup). Nothing was changed. */
export class WrongPassphraseError extends VaultError {
  constructor(
    message = 'Wrong passphrase: check it and try again. Nothing was changed.',
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'WrongPassphraseError'
  }
}

/** A stored blob failed its integrity check: it was damaged or modified on disk. */
export class VaultCorruptedError extends VaultError {
  constructor(
    message = 'The local vault is damaged or was modified: restore your account from a backup.',
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'VaultCorruptedError'
  }
}

/** The vault was used while locked (no key in memory). */
export class VaultLockedError extends VaultError {
  constructor(message = 'The vault is locked: unlock it with your passphrase first.') {
    super(message)
    this.name = 'VaultLockedError'
  }
}

/** Unlock or export was asked of a browser profile that has no vault. */
export class VaultNotFoundError extends VaultError {
  constructor(message = 'There is no account in this browser: create one, or import a backup.') {
    super(message)
    this.name = 'VaultNotFoundError'
  }
}

/** Create or import was asked of a browser profile that already has a vault. */
export class VaultExistsError extends VaultError {
  constructor(
    message = 'An account already exists in this browser: unlock it, or delete it before creating or importing another.',
  ) {
    super(message)
    this.name = 'VaultExistsError'
  }
}

/** The passphrase is unusable (empty, or not a string). */
export class InvalidPassphraseError extends VaultError {
  constructor(message = 'Choose a passphrase: it must not be empty.') {
    super(message)
    this.name = 'InvalidPassphraseError'
  }
}

/** KDF parameters are below the production minimum or above the safety cap. */
export class InvalidKdfParamsError extends VaultError {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidKdfParamsError'
  }
}

/** The file given to import is not a Paloma backup, or not one this version can read. */
export class InvalidBackupError extends VaultError {
  constructor(
    message = 'This file is not a Paloma backup: choose the file exported from Paloma.',
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'InvalidBackupError'
  }
}
