import { describe, expect, it } from 'vitest'
import { argon2id } from '@noble/hashes/argon2.js'
import { pbkdf2 } from '@noble/hashes/pbkdf2.js'
import { sha256 } from '@noble/hashes/sha2.js'
import {
  DEFAULT_KDF,
  InvalidKdfParamsError,
  InvalidPassphraseError,
  VaultError,
  checkKdfParams,
  deriveKek,
  newKdfParams,
  type KdfParams,
} from '@paloma/core/vault/index.ts'
import { seededRng } from './helpers.ts'

const KNOWN_KEY = new Uint8Array(32).fill(7)

/** AES-KW is deterministic, so wrapping a known key reveals whether two KEKs are equal. */
async function fingerprint(kek: CryptoKey): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey('raw', KNOWN_KEY, 'AES-GCM', true, ['encrypt'])
  return new Uint8Array(await crypto.subtle.wrapKey('raw', k, kek, 'AES-KW'))
}

async function rawKek(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', new Uint8Array(raw), 'AES-KW', false, ['wrapKey'])
}

const salt = new Uint8Array(16).fill(9)

describe('deriveKek', () => {
  it('PBKDF2-SHA-256 matches an independent implementation', async () => {
    const params: KdfParams = { alg: 'pbkdf2-sha256', iterations: 1000, salt }
    const kek = await deriveKek('pässword', params)
    const expected = pbkdf2(sha256, new TextEncoder().encode('pässword'), salt, { c: 1000, dkLen: 32 })
    expect(await fingerprint(kek)).toEqual(await fingerprint(await rawKek(expected)))
  })

  it('Argon2id matches the reference call', async () => {
    const params: KdfParams = { alg: 'argon2id', m: 64, t: 1, p: 1, salt }
    const kek = await deriveKek('pw', params)
    const expected = argon2id(new TextEncoder().encode('pw'), salt, { m: 64, t: 1, p: 1, dkLen: 32 })
    expect(await fingerprint(kek)).toEqual(await fingerprint(await rawKek(expected)))
  })

  it('normalizes the passphrase to NFC', async () => {
    const params: KdfParams = { alg: 'pbkdf2-sha256', iterations: 10, salt }
    const composed = await deriveKek('caf\u00e9', params)
    const decomposed = await deriveKek('cafe\u0301', params)
    expect(await fingerprint(composed)).toEqual(await fingerprint(decomposed))
  })

  it('returns a non-extractable AES-KW key', async () => {
    const kek = await deriveKek('pw', { alg: 'pbkdf2-sha256', iterations: 10, salt })
    expect(kek.extractable).toBe(false)
    expect(kek.algorithm.name).toBe('AES-KW')
    expect([...kek.usages].sort()).toEqual(['unwrapKey', 'wrapKey'])
  })

  it('refuses an empty passphrase', async () => {
    const err = await deriveKek('', { alg: 'pbkdf2-sha256', iterations: 10, salt }).catch((e) => e)
    expect(err).toBeInstanceOf(InvalidPassphraseError)
    expect(err).toBeInstanceOf(VaultError)
    expect(err.name).toBe('InvalidPassphraseError')
  })
})

describe('KDF cost', () => {
  const random = seededRng()

  it('defaults to Argon2id at the OWASP minimum, which passes the production check', () => {
    expect(DEFAULT_KDF).toEqual({ alg: 'argon2id', m: 19456, t: 2, p: 1 })
    expect(() => newKdfParams(DEFAULT_KDF, random)).not.toThrow()
    expect(() => newKdfParams({ alg: 'pbkdf2-sha256', iterations: 600_000 }, random)).not.toThrow()
  })

  it('refuses weak costs unless explicitly allowed', () => {
    expect(() => newKdfParams({ alg: 'pbkdf2-sha256', iterations: 599_999 }, random)).toThrow(
      InvalidKdfParamsError,
    )
    expect(() => newKdfParams({ alg: 'argon2id', m: 19456, t: 1, p: 1 }, random)).toThrow(
      InvalidKdfParamsError,
    )
    expect(() => newKdfParams({ alg: 'argon2id', m: 1024, t: 2, p: 1 }, random)).toThrow(/minimum/)
    expect(() => newKdfParams({ alg: 'pbkdf2-sha256', iterations: 1000 }, random, true)).not.toThrow()
  })

  it('refuses costs above the cap even when weak costs are allowed (crafted files)', () => {
    const p = (extra: object) => ({ alg: 'argon2id', m: 64, t: 1, p: 1, salt, ...extra }) as KdfParams
    expect(() => checkKdfParams(p({ m: 4 * 1024 * 1024 }), true)).toThrow(InvalidKdfParamsError)
    expect(() => checkKdfParams(p({ t: 1000 }), true)).toThrow(InvalidKdfParamsError)
    expect(() => checkKdfParams(p({ t: 0 }), true)).toThrow(InvalidKdfParamsError)
    expect(() => checkKdfParams({ alg: 'pbkdf2-sha256', iterations: 1e9, salt }, true)).toThrow(
      InvalidKdfParamsError,
    )
    expect(() => checkKdfParams({ alg: 'scrypt', salt } as unknown as KdfParams, true)).toThrow(/unknown KDF/)
  })

  it('draws a fresh 16-byte salt each time', () => {
    const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n))
    const b = newKdfParams(DEFAULT_KDF, rnd)
    const c = newKdfParams(DEFAULT_KDF, rnd)
    expect(b.salt.length).toBe(16)
    expect(b.salt).not.toEqual(c.salt)
    expect(b.alg).toBe('argon2id')
  })
})
