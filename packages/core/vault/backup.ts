/**
 * Backup files: a passphrase-encrypted export of named records, independent of the vault's keys.
 *
 * Wire form (CBOR map): `{ type: 'paloma-backup', v: 1, kdf: {alg, salt, ...cost}, key: bytes(40),
 * iv: bytes(12), ct }`. `key` is a fresh AES-256-GCM key wrapped (AES-KW) under a KEK derived from the
 * backup passphrase with its own salt; `ct` is AES-256-GCM of the CBOR map `{ records: [[name, data]...] }`
 * with associated data `label || type || v`. A wrong passphrase fails the AES-KW check
 * ({@link WrongPassphraseError}); a damaged payload fails GCM ({@link InvalidBackupError}).
 * @module
 */
import { InvalidBackupError, WrongPassphraseError } from './errors.ts'
import {
  BACKUP_TYPE,
  FORMAT_VERSION,
  type FormatErrorFactory,
  _buf,
  _concat,
  _utf8,
  decodeMap,
  encodeCbor,
  expectBytes,
  secureRandom,
  show,
} from './format.ts'
import type { KdfOptions } from './header.ts'
import { DEFAULT_KDF, decodeKdfParams, deriveKek, encodeKdfParams, newKdfParams } from './kdf.ts'
import { DEK_KIND, WRAPPED_KEY_BYTES, generateWrappedKey, unwrapKey } from './keys.ts'
import { checkNewPassphrase } from './passphrase.ts'
import { IV_BYTES, MAX_NAME_LENGTH } from './record.ts'
import { inBackupScope } from './names.ts'

const AD = _utf8(`Paloma_Backup_v1\u0000${BACKUP_TYPE}\u0000${FORMAT_VERSION}`)

const invalid: FormatErrorFactory = (message, cause) =>
  new InvalidBackupError(
    'INVALID_BACKUP',
    `This file is not a readable Paloma backup (${message}): choose the file exported from Paloma.`,
    cause === undefined ? undefined : { cause },
  )

/**
 * Encrypts `records` under `passphrase`.
 * @param records - record name → data (typically the identity, optionally the history)
 * @param passphrase - the backup passphrase (may differ from the vault's; passphrase.ts rules)
 * @param opts - KDF cost and randomness; {@link DEFAULT_KDF} unless a test lowers it
 * @returns the file's bytes
 * @throws InvalidPassphraseError, InvalidKdfParamsError
 * @example
 * ```ts
 * const file = await exportBackup(new Map([['identity/ed25519', sk]]), 'backup passphrase')
 * const again = await importBackup(file, 'backup passphrase')
 * ```
 */
export async function exportBackup(
  records: ReadonlyMap<string, Uint8Array>,
  passphrase: string,
  opts: KdfOptions = {},
): Promise<Uint8Array> {
  checkNewPassphrase(passphrase)
  const random = opts.random ?? secureRandom
  const entries: [string, Uint8Array][] = []
  for (const [name, data] of records) {
    if (typeof name !== 'string' || !(data instanceof Uint8Array)) {
      throw new TypeError('backup records: expected a Map<string, Uint8Array>')
    }
    entries.push([name, data])
  }
  const kdf = newKdfParams(opts.kdf ?? DEFAULT_KDF, random, opts.allowWeakKdf)
  const kek = await deriveKek(passphrase, kdf)
  const { key, wrapped } = await generateWrappedKey(kek, DEK_KIND, random)
  const iv = _buf(random(IV_BYTES))
  const plaintext = _buf(encodeCbor({ records: entries }))
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: AD }, key, plaintext),
  )
  plaintext.fill(0)
  return encodeCbor({ type: BACKUP_TYPE, v: FORMAT_VERSION, kdf: encodeKdfParams(kdf), key: wrapped, iv, ct })
}

/**
 * Decrypts a backup file.
 * @returns record name → data
 * @throws InvalidBackupError for a file that is not a (readable, intact) Paloma backup
 * @throws WrongPassphraseError when the passphrase does not open it
 */
export async function importBackup(bytes: Uint8Array, passphrase: string): Promise<Map<string, Uint8Array>> {
  let map
  try {
    map = decodeMap(bytes, 'backup', invalid)
  } catch (cause) {
    throw new InvalidBackupError('INVALID_BACKUP', undefined, { cause })
  }
  if (map.type !== BACKUP_TYPE) throw new InvalidBackupError()
  if (map.v !== FORMAT_VERSION) {
    throw new InvalidBackupError(
      'UNSUPPORTED_BACKUP',
      `This backup was made by a newer version of Paloma (format ${show(map.v)}): update the app to import it.`,
    )
  }
  const kdf = decodeKdfParams(map.kdf, 'backup', invalid)
  const wrapped = expectBytes(map, 'key', 'backup', invalid, WRAPPED_KEY_BYTES)
  const iv = expectBytes(map, 'iv', 'backup', invalid, IV_BYTES)
  const ct = expectBytes(map, 'ct', 'backup', invalid)
  const kek = await deriveKek(passphrase, kdf)
  let key: CryptoKey
  try {
    key = await unwrapKey(kek, wrapped, DEK_KIND)
  } catch (cause) {
    throw new WrongPassphraseError(
      'Wrong backup passphrase: use the passphrase chosen when the backup was made.',
      {
        cause,
      },
    )
  }
  let plaintext: Uint8Array
  try {
    plaintext = new Uint8Array(
      await crypto.subtle.decrypt({ name: 'AES-GCM', iv: _buf(iv), additionalData: AD }, key, _buf(ct)),
    )
  } catch (cause) {
    throw invalid('the file is damaged', cause)
  }
  const body = decodeMap(plaintext, 'backup body', invalid)
  const list = body.records
  if (!Array.isArray(list)) throw invalid('expected a record list')
  const records = new Map<string, Uint8Array>()
  for (const entry of list as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2) throw invalid('expected [name, data] pairs')
    const [name, data] = entry as [unknown, unknown]
    if (typeof name !== 'string' || !(data instanceof Uint8Array))
      throw invalid('expected [name, data] pairs')
    // Only what an export writes: a vault record name (1 to MAX_NAME_LENGTH characters) of the backup's
    // scope, never a ratchet session or anything else a device keeps to itself.
    if (name.length === 0 || name.length > MAX_NAME_LENGTH || !inBackupScope(name, true)) {
      throw invalid(`a record no Paloma backup holds: ${show(name)}`)
    }
    if (records.has(name)) throw invalid(`duplicate record ${show(name)}`)
    records.set(name, data)
  }
  return records
}
