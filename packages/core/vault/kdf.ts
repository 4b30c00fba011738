/**
 * Passphrase → key-encryption key (KEK).
 *
 * Argon2id (RFC 9106, noble-hashes) with OWASP's minimum (19 MiB, t=2, p=1) is the default; PBKDF2-SHA-256
 * (WebCrypto) with >= 600,000 iterations is also readable and writable. The parameters and a random
 * 16-byte salt travel with the ciphertext (vault header, backup file), so each can change independently.
 * The KEK is a non-extractable AES-KW key: it can only wrap and unwrap.
 *
 * Costs below the production minimum are refused unless `allowWeakKdf` is set, which only tests do.
 * Costs above {@link KDF_LIMITS} are refused when reading, so a crafted file cannot freeze the tab.
 * @module
 */
import { argon2idAsync } from '@noble/hashes/argon2.js'
import { InvalidKdfParamsError, InvalidPassphraseError } from './errors.ts'
import {
  type CborMap,
  type FormatErrorFactory,
  type RandomSource,
  _buf,
  _utf8,
  expectBytes,
  expectString,
  expectUint,
} from './format.ts'

/** Argon2id cost: memory `m` in KiB, `t` passes, `p` lanes. */
export interface Argon2idCost {
  readonly alg: 'argon2id'
  readonly m: number
  readonly t: number
  readonly p: number
}

/** PBKDF2-HMAC-SHA-256 cost. */
export interface Pbkdf2Cost {
  readonly alg: 'pbkdf2-sha256'
  readonly iterations: number
}

/** A KDF and its cost, without salt: what a caller chooses. */
export type KdfChoice = Argon2idCost | Pbkdf2Cost

/** A KDF, its cost and its salt: what is stored next to the wrapped key. */
export type KdfParams = KdfChoice & { readonly salt: Uint8Array }

/** Production default: Argon2id at OWASP's recommended minimum (m = 19 MiB, t = 2, p = 1). */
export const DEFAULT_KDF: Argon2idCost = { alg: 'argon2id', m: 19 * 1024, t: 2, p: 1 }

/** Production minimums (OWASP Password Storage Cheat Sheet, 2023+). */
export const KDF_MINIMUMS = { argon2id: { m: 19 * 1024, t: 2, p: 1 }, pbkdf2Iterations: 600_000 } as const

/** Upper bounds accepted when reading a header or backup, so a crafted file cannot exhaust the device. */
export const KDF_LIMITS = { argon2id: { m: 256 * 1024, t: 16, p: 4 }, pbkdf2Iterations: 10_000_000 } as const

/** Length of the random KDF salt. */
export const SALT_LENGTH = 16

/**
 * Picks a fresh salt for `choice` after checking its cost.
 * @param choice - the KDF and cost; {@link DEFAULT_KDF} in production
 * @param random - source of the salt
 * @param allowWeakKdf - accept costs below the production minimum (tests only)
 * @returns the parameters to store
 * @throws InvalidKdfParamsError if the cost is below the minimum (and not allowed) or above the cap
 * @example
 * ```ts
 * const params = newKdfParams(DEFAULT_KDF, secureRandom)
 * const kek = await deriveKek('correct horse battery staple', params)
 * ```
 */
export function newKdfParams(choice: KdfChoice, random: RandomSource, allowWeakKdf = false): KdfParams {
  const params = { ...choice, salt: random(SALT_LENGTH) } as KdfParams
  checkKdfParams(params, allowWeakKdf)
  return params
}

/**
 * Checks a KDF's cost against the cap and, unless `allowWeak`, the production minimum.
 * @throws InvalidKdfParamsError
 */
export function checkKdfParams(params: KdfParams, allowWeak: boolean): void {
  if (params.salt.length !== SALT_LENGTH) {
    throw new InvalidKdfParamsError(`KDF salt: expected ${SALT_LENGTH} bytes, got ${params.salt.length}`)
  }
  if (params.alg === 'argon2id') {
    const { m, t, p } = params
    const max = KDF_LIMITS.argon2id
    for (const [k, v] of [
      ['m', m],
      ['t', t],
      ['p', p],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 1 || v > max[k]) {
        throw new InvalidKdfParamsError(`Argon2id ${k}: expected an integer in 1..${max[k]}, got ${v}`)
      }
    }
    if (m < 8 * p)
      throw new InvalidKdfParamsError(`Argon2id m: expected at least 8*p = ${8 * p} KiB, got ${m}`)
    const min = KDF_MINIMUMS.argon2id
    if (!allowWeak && (m < min.m || t < min.t)) {
      throw new InvalidKdfParamsError(
        `Argon2id cost m=${m} KiB t=${t} is below the minimum m=${min.m} t=${min.t}; only tests may use allowWeakKdf`,
      )
    }
    return
  }
  if (params.alg === 'pbkdf2-sha256') {
    const n = params.iterations
    if (!Number.isSafeInteger(n) || n < 1 || n > KDF_LIMITS.pbkdf2Iterations) {
      throw new InvalidKdfParamsError(
        `PBKDF2 iterations: expected an integer in 1..${KDF_LIMITS.pbkdf2Iterations}, got ${n}`,
      )
    }
    if (!allowWeak && n < KDF_MINIMUMS.pbkdf2Iterations) {
      throw new InvalidKdfParamsError(
        `PBKDF2 iterations ${n} are below the minimum ${KDF_MINIMUMS.pbkdf2Iterations}; only tests may use allowWeakKdf`,
      )
    }
    return
  }
  throw new InvalidKdfParamsError(`unknown KDF '${String((params as { alg: unknown }).alg)}'`)
}

/**
 * The passphrase as bytes: Unicode NFC, so the same passphrase typed on another system (composed or
 * decomposed accents) derives the same key.
 * @throws InvalidPassphraseError for an empty or non-string passphrase
 */
export function passphraseBytes(passphrase: string): Uint8Array<ArrayBuffer> {
  if (typeof passphrase !== 'string' || passphrase.length === 0)
    throw new InvalidPassphraseError('EMPTY_PASSPHRASE')
  return _utf8(passphrase.normalize('NFC'))
}

/**
 * Derives the key-encryption key.
 * @param passphrase - the user's passphrase
 * @param params - KDF, cost and salt (from {@link newKdfParams} or a stored header)
 * @returns a non-extractable AES-KW key with usages `wrapKey` and `unwrapKey`
 * @throws InvalidPassphraseError, InvalidKdfParamsError
 */
export async function deriveKek(passphrase: string, params: KdfParams): Promise<CryptoKey> {
  checkKdfParams(params, true)
  const secret = passphraseBytes(passphrase)
  const usages: KeyUsage[] = ['wrapKey', 'unwrapKey']
  try {
    if (params.alg === 'argon2id') {
      const raw = await argon2idAsync(secret, _buf(params.salt), {
        m: params.m,
        t: params.t,
        p: params.p,
        dkLen: 32,
        maxmem: (KDF_LIMITS.argon2id.m + 1) * 1024,
      })
      try {
        return await crypto.subtle.importKey('raw', _buf(raw), 'AES-KW', false, usages)
      } finally {
        raw.fill(0)
      }
    }
    const base = await crypto.subtle.importKey('raw', secret, 'PBKDF2', false, ['deriveKey'])
    return await crypto.subtle.deriveKey(
      { name: 'PBKDF2', hash: 'SHA-256', salt: _buf(params.salt), iterations: params.iterations },
      base,
      { name: 'AES-KW', length: 256 },
      false,
      usages,
    )
  } finally {
    secret.fill(0)
  }
}

/** The stored form of KDF parameters (a CBOR map). */
export function encodeKdfParams(params: KdfParams): CborMap {
  return params.alg === 'argon2id'
    ? { alg: params.alg, salt: params.salt, m: params.m, t: params.t, p: params.p }
    : { alg: params.alg, salt: params.salt, i: params.iterations }
}

/** Reads stored KDF parameters, enforcing {@link KDF_LIMITS} (never the minimum: old files stay readable). */
export function decodeKdfParams(value: unknown, what: string, fail: FormatErrorFactory): KdfParams {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw fail(`${what}: expected a KDF map`)
  }
  const map = value as CborMap
  const alg = expectString(map, 'alg', what, fail)
  const salt = expectBytes(map, 'salt', what, fail, SALT_LENGTH)
  let params: KdfParams
  if (alg === 'argon2id') {
    params = {
      alg,
      salt,
      m: expectUint(map, 'm', what, fail),
      t: expectUint(map, 't', what, fail),
      p: expectUint(map, 'p', what, fail),
    }
  } else if (alg === 'pbkdf2-sha256') {
    params = { alg, salt, iterations: expectUint(map, 'i', what, fail) }
  } else {
    throw fail(`${what}: unknown KDF '${alg}'`)
  }
  try {
    checkKdfParams(params, true)
  } catch (cause) {
    throw fail(`${what}: ${(cause as Error).message}`, cause)
  }
  return params
}
