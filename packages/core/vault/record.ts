/**
 * Encryption of one named vault record.
 *
 * A record's storage key is `r/` + hex(HMAC-SHA-256(name key, label || name)), so a disk image does not
 * show record names (which would reveal contacts). The blob is a CBOR map `{ v: 1, iv: bytes(12), ct }`
 * where `ct` is AES-256-GCM under the DEK of the CBOR map `{ n: name, d: data }`, with a fresh random IV
 * and associated data `label || storage key`: a blob moved to another name fails authentication.
 * Record sizes, count and write times are not hidden.
 * @module
 */
import { VaultCorruptedError } from './errors.ts'
import {
  FORMAT_VERSION,
  type FormatErrorFactory,
  type RandomSource,
  _buf,
  _concat,
  _utf8,
  decodeMap,
  encodeCbor,
  expectBytes,
  expectString,
  show,
} from './format.ts'
import type { VaultKeys } from './header.ts'

/** Prefix of every record's storage key (the header lives under another key). */
export const RECORD_KEY_PREFIX = 'r/'
/** AES-GCM IV length. */
export const IV_BYTES = 12
/** Longest record name accepted. */
export const MAX_NAME_LENGTH = 1024

const NAME_LABEL = _utf8('Paloma_Vault_RecordName_v1\u0000')
const AD_LABEL = _utf8('Paloma_Vault_Record_v1\u0000')
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** A sealed record, ready to store. */
export interface SealedRecord {
  /** Storage key. */
  readonly key: string
  /** Encrypted blob. */
  readonly blob: Uint8Array
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new TypeError(
      `record name: expected a string of 1..${MAX_NAME_LENGTH} characters, got ${String(name)}`,
    )
  }
}

/**
 * The storage key of record `name`.
 * @throws TypeError for an empty or over-long name
 */
export async function recordKey(keys: VaultKeys, name: string): Promise<string> {
  checkName(name)
  let known = _recordKeys.get(keys)
  if (known === undefined) _recordKeys.set(keys, (known = new Map()))
  const cached = known.get(name)
  if (cached !== undefined) return cached
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', keys.nameKey, _concat(NAME_LABEL, _utf8(name))))
  let hex = ''
  for (const b of mac) hex += HEX[b]
  const key = RECORD_KEY_PREFIX + hex
  known.set(name, key)
  return key
}

/** Storage keys already computed, per unlocked key set (an HMAC per name is a WebCrypto round trip). */
const _recordKeys = new WeakMap<VaultKeys, Map<string, string>>()

/**
 * Encrypts `data` as record `name`.
 * @example
 * ```ts
 * const { key, blob } = await sealRecord(keys, 'identity/ed25519', secretKey, secureRandom)
 * await backend.put(key, blob)
 * ```
 */
export async function sealRecord(
  keys: VaultKeys,
  name: string,
  data: Uint8Array,
  random: RandomSource,
  /** `recordKey(keys, name)`, when the caller already has it (it is the same for every write of `name`). */
  knownKey?: string,
): Promise<SealedRecord> {
  if (!(data instanceof Uint8Array)) throw new TypeError(`record '${name}': expected Uint8Array data`)
  const key = knownKey ?? (await recordKey(keys, name))
  const iv = _buf(random(IV_BYTES))
  if (iv.length !== IV_BYTES)
    throw new RangeError(`random source: expected ${IV_BYTES} bytes, got ${iv.length}`)
  const plaintext = _buf(encodeCbor({ n: name, d: data }))
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: _concat(AD_LABEL, _utf8(key)) },
    keys.dek,
    plaintext,
  )
  plaintext.fill(0)
  return { key, blob: encodeCbor({ v: FORMAT_VERSION, iv, ct: new Uint8Array(ct) }) }
}

/**
 * Decrypts the blob stored under storage key `key`.
 * @param expectedName - if given, the name the caller asked for (checked against the sealed name)
 * @returns the record's name and data
 * @throws VaultCorruptedError if the blob is malformed, was modified, or belongs to another name
 */
export async function openRecord(
  keys: VaultKeys,
  key: string,
  blob: Uint8Array,
  expectedName?: string,
): Promise<{ name: string; data: Uint8Array }> {
  const label = expectedName === undefined ? `stored under ${key}` : `'${expectedName}'`
  const fail: FormatErrorFactory = (message, cause) =>
    new VaultCorruptedError(
      `The vault record ${label} is damaged or was modified (${message}): restore your account from a backup.`,
      cause === undefined ? undefined : { cause },
    )
  const map = decodeMap(blob, 'record', fail)
  if (map.v !== FORMAT_VERSION) throw fail(`unsupported format ${show(map.v)}`)
  const iv = expectBytes(map, 'iv', 'record', fail, IV_BYTES)
  const ct = expectBytes(map, 'ct', 'record', fail)
  let plaintext: Uint8Array
  try {
    plaintext = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: _buf(iv), additionalData: _concat(AD_LABEL, _utf8(key)) },
        keys.dek,
        _buf(ct),
      ),
    )
  } catch (cause) {
    throw fail('authentication failed', cause)
  }
  const inner = decodeMap(plaintext, 'record body', fail)
  const name = expectString(inner, 'n', 'record body', fail)
  const data = expectBytes(inner, 'd', 'record body', fail)
  if (expectedName !== undefined && name !== expectedName) throw fail(`holds '${name}'`)
  return { name, data }
}
