/**
 * The vault header: KDF parameters and the wrapped DEK and name key. It is the only unencrypted vault
 * structure; changing the passphrase rewrites it and nothing else.
 *
 * Wire form (CBOR map): `{ type: 'paloma-vault', v: 1, kdf: {alg, salt, ...cost}, dek: bytes(40),
 * names: bytes(40) }`. The key check is AES-KW's integrity check: a wrong passphrase cannot unwrap.
 * @module
 */
import { VaultCorruptedError } from './errors.ts'
import { checkNewPassphrase } from './passphrase.ts'
import {
  FORMAT_VERSION,
  VAULT_HEADER_TYPE,
  type FormatErrorFactory,
  type RandomSource,
  decodeMap,
  encodeCbor,
  expectBytes,
  expectString,
  secureRandom,
  show,
} from './format.ts'
import {
  type KdfChoice,
  type KdfParams,
  DEFAULT_KDF,
  decodeKdfParams,
  deriveKek,
  encodeKdfParams,
  newKdfParams,
} from './kdf.ts'
import {
  DEK_KIND,
  NAME_KEY_KIND,
  WRAPPED_KEY_BYTES,
  generateWrappedKey,
  rewrapKey,
  unwrapKey,
} from './keys.ts'

/** The decoded header. */
export interface VaultHeader {
  readonly kdf: KdfParams
  /** The DEK wrapped under the KEK. */
  readonly dek: Uint8Array
  /** The name key wrapped under the KEK. */
  readonly names: Uint8Array
}

/** The unlocked keys: both non-extractable. */
export interface VaultKeys {
  /** AES-256-GCM: encrypts records. */
  readonly dek: CryptoKey
  /** HMAC-SHA-256: turns record names into storage keys. */
  readonly nameKey: CryptoKey
}

/** Cost and randomness of the key-derivation step. */
export interface KdfOptions {
  /** KDF and cost for new wrappings. @default DEFAULT_KDF (Argon2id, 19 MiB, t=2, p=1) */
  readonly kdf?: KdfChoice
  /** Accept a cost below the production minimum. Tests only. @default false */
  readonly allowWeakKdf?: boolean
  /** Source of salts, keys and IVs. @default crypto.getRandomValues */
  readonly random?: RandomSource
}

const corrupted: FormatErrorFactory = (message, cause) =>
  new VaultCorruptedError(
    `The vault header is damaged (${message}): restore your account from a backup.`,
    cause === undefined ? undefined : { cause },
  )

/** Encodes a header. */
export function encodeVaultHeader(header: VaultHeader): Uint8Array {
  return encodeCbor({
    type: VAULT_HEADER_TYPE,
    v: FORMAT_VERSION,
    kdf: encodeKdfParams(header.kdf),
    dek: header.dek,
    names: header.names,
  })
}

/**
 * Decodes a header.
 * @throws VaultCorruptedError for anything but a well-formed version-1 header
 */
export function decodeVaultHeader(bytes: Uint8Array): VaultHeader {
  const map = decodeMap(bytes, 'vault header', corrupted)
  if (expectString(map, 'type', 'vault header', corrupted) !== VAULT_HEADER_TYPE) {
    throw corrupted(`expected type '${VAULT_HEADER_TYPE}'`)
  }
  if (map.v !== FORMAT_VERSION) {
    throw new VaultCorruptedError(
      `This vault was written by a newer version of Paloma (format ${show(map.v)}): update the app to open it.`,
    )
  }
  return {
    kdf: decodeKdfParams(map.kdf, 'vault header', corrupted),
    dek: expectBytes(map, 'dek', 'vault header', corrupted, WRAPPED_KEY_BYTES),
    names: expectBytes(map, 'names', 'vault header', corrupted, WRAPPED_KEY_BYTES),
  }
}

/**
 * Creates fresh vault keys wrapped under `passphrase`, a new passphrase (passphrase.ts rules).
 * @returns the encoded header to store and the unlocked keys
 * @throws InvalidPassphraseError, InvalidKdfParamsError
 */
export async function createVaultHeader(
  passphrase: string,
  opts: KdfOptions = {},
): Promise<{ header: Uint8Array; keys: VaultKeys }> {
  checkNewPassphrase(passphrase)
  const random = opts.random ?? secureRandom
  const kdf = newKdfParams(opts.kdf ?? DEFAULT_KDF, random, opts.allowWeakKdf)
  const kek = await deriveKek(passphrase, kdf)
  const dek = await generateWrappedKey(kek, DEK_KIND, random)
  const names = await generateWrappedKey(kek, NAME_KEY_KIND, random)
  return {
    header: encodeVaultHeader({ kdf, dek: dek.wrapped, names: names.wrapped }),
    keys: { dek: dek.key, nameKey: names.key },
  }
}

/**
 * Unlocks a header.
 * @throws WrongPassphraseError, VaultCorruptedError, InvalidPassphraseError
 */
export async function openVaultHeader(bytes: Uint8Array, passphrase: string): Promise<VaultKeys> {
  const header = decodeVaultHeader(bytes)
  const kek = await deriveKek(passphrase, header.kdf)
  return {
    dek: await unwrapKey(kek, header.dek, DEK_KIND),
    nameKey: await unwrapKey(kek, header.names, NAME_KEY_KIND),
  }
}

/**
 * Re-wraps the same keys under a new passphrase, with a new salt (and the cost in `opts`).
 * @returns the new encoded header; records encrypted under the old one stay readable
 * @throws InvalidPassphraseError if `newPassphrase` breaks the passphrase.ts rules (checked first)
 * @throws WrongPassphraseError if `oldPassphrase` does not open `bytes`
 */
export async function rewrapVaultHeader(
  bytes: Uint8Array,
  oldPassphrase: string,
  newPassphrase: string,
  opts: KdfOptions = {},
): Promise<Uint8Array> {
  checkNewPassphrase(newPassphrase)
  const header = decodeVaultHeader(bytes)
  const newKdf = newKdfParams(opts.kdf ?? DEFAULT_KDF, opts.random ?? secureRandom, opts.allowWeakKdf)
  const oldKek = await deriveKek(oldPassphrase, header.kdf)
  const newKek = await deriveKek(newPassphrase, newKdf)
  return encodeVaultHeader({
    kdf: newKdf,
    dek: await rewrapKey(oldKek, newKek, header.dek, DEK_KIND),
    names: await rewrapKey(oldKek, newKek, header.names, NAME_KEY_KIND),
  })
}
