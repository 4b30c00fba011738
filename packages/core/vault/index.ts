/**
 * Paloma's local vault, pure part: passphrase-derived key hierarchy, record encryption and the backup file
 * format. No DOM, IndexedDB or libp2p: storage is `src/storage/vault.ts`. Randomness and KDF cost are
 * parameters. Threat model and formats: docs/security.md, "The vault".
 * @module
 */
export * from './errors.ts'
export { MIN_PASSPHRASE_CHARS, passphraseProblem, checkNewPassphrase } from './passphrase.ts'
export { FORMAT_VERSION, VAULT_HEADER_TYPE, BACKUP_TYPE, secureRandom, type RandomSource } from './format.ts'
export {
  DEFAULT_KDF,
  KDF_MINIMUMS,
  KDF_LIMITS,
  SALT_LENGTH,
  newKdfParams,
  checkKdfParams,
  deriveKek,
  type Argon2idCost,
  type Pbkdf2Cost,
  type KdfChoice,
  type KdfParams,
} from './kdf.ts'
export {
  createVaultHeader,
  openVaultHeader,
  rewrapVaultHeader,
  decodeVaultHeader,
  encodeVaultHeader,
  type VaultHeader,
  type VaultKeys,
  type KdfOptions,
} from './header.ts'
export { recordKey, sealRecord, openRecord, RECORD_KEY_PREFIX, type SealedRecord } from './record.ts'
export { exportBackup, importBackup } from './backup.ts'
export { IDENTITY_PREFIX, HISTORY_PREFIX, SESSION_PREFIX, inBackupScope } from './names.ts'
