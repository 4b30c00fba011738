/**
 * The vault's key hierarchy below the KEK, and AES-KW (RFC 3394) wrapping.
 *
 *   passphrase --KDF--> KEK (AES-KW) --wraps--> DEK (AES-256-GCM, encrypts records)
 *                                     \-wraps--> name key (HMAC-SHA-256, blinds record names)
 *
 * Unwrapped keys are non-extractable CryptoKeys: script running in the page can use them while the vault
 * is unlocked but cannot read their bytes. Re-wrapping (passphrase change) unwraps an extractable copy
 * that lives only inside {@link rewrapKey}.
 * @module
 */
import { WrongPassphraseError } from './errors.ts'
import { type RandomSource, _buf } from './format.ts'

/** Length of the DEK and of the name key. */
export const KEY_BYTES = 32
/** Length of an AES-KW-wrapped 32-byte key. */
export const WRAPPED_KEY_BYTES = 40

/** A key the vault can wrap: its algorithm and usages once unwrapped. */
export interface KeyKind {
  readonly algorithm: AesKeyAlgorithm | HmacImportParams
  readonly usages: readonly KeyUsage[]
}

/** The data-encryption key: AES-256-GCM. */
export const DEK_KIND: KeyKind = {
  algorithm: { name: 'AES-GCM', length: 256 },
  usages: ['encrypt', 'decrypt'],
}
/** The name-blinding key: HMAC-SHA-256. */
export const NAME_KEY_KIND: KeyKind = {
  algorithm: { name: 'HMAC', hash: 'SHA-256', length: 256 },
  usages: ['sign'],
}

/**
 * Creates a key from `random` and wraps it under `kek`.
 * @returns the non-extractable key and its wrapped form (40 bytes)
 */
export async function generateWrappedKey(
  kek: CryptoKey,
  kind: KeyKind,
  random: RandomSource,
): Promise<{ key: CryptoKey; wrapped: Uint8Array }> {
  const raw = _buf(random(KEY_BYTES))
  if (raw.length !== KEY_BYTES)
    throw new RangeError(`random source: expected ${KEY_BYTES} bytes, got ${raw.length}`)
  try {
    const exportable = await crypto.subtle.importKey('raw', raw, kind.algorithm, true, [...kind.usages])
    const wrapped = new Uint8Array(await crypto.subtle.wrapKey('raw', exportable, kek, 'AES-KW'))
    const key = await crypto.subtle.importKey('raw', raw, kind.algorithm, false, [...kind.usages])
    return { key, wrapped }
  } finally {
    raw.fill(0)
  }
}

/**
 * Unwraps a key. AES-KW carries a 64-bit integrity check, so a wrong KEK (wrong passphrase) fails here.
 * @throws WrongPassphraseError if the KEK does not fit
 */
export async function unwrapKey(
  kek: CryptoKey,
  wrapped: Uint8Array,
  kind: KeyKind,
  extractable = false,
): Promise<CryptoKey> {
  try {
    return await crypto.subtle.unwrapKey('raw', _buf(wrapped), kek, 'AES-KW', kind.algorithm, extractable, [
      ...kind.usages,
    ])
  } catch (cause) {
    throw new WrongPassphraseError(undefined, { cause })
  }
}

/**
 * Moves a wrapped key from one KEK to another without re-encrypting what it protects.
 * @throws WrongPassphraseError if `oldKek` does not fit
 */
export async function rewrapKey(
  oldKek: CryptoKey,
  newKek: CryptoKey,
  wrapped: Uint8Array,
  kind: KeyKind,
): Promise<Uint8Array> {
  const transient = await unwrapKey(oldKek, wrapped, kind, true)
  return new Uint8Array(await crypto.subtle.wrapKey('raw', transient, newKek, 'AES-KW'))
}
