import { describe, expect, it } from 'vitest'
import { decode, encode } from 'cborg'
import {
  VaultCorruptedError,
  WrongPassphraseError,
  VaultError,
  createVaultHeader,
  decodeVaultHeader,
  openVaultHeader,
  rewrapVaultHeader,
  sealRecord,
  openRecord,
} from '@paloma/core/vault/index.ts'
import { FAST, FAST_ARGON, seededRng } from './helpers.ts'

describe('vault header', () => {
  it('unlocks with the passphrase and yields non-extractable keys', async () => {
    const { header, keys } = await createVaultHeader('correct horse', FAST)
    expect(keys.dek.extractable).toBe(false)
    expect(keys.nameKey.extractable).toBe(false)
    const again = await openVaultHeader(header, 'correct horse')
    expect(again.dek.extractable).toBe(false)
    expect(again.dek.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 })
    // The re-opened DEK is the same key: it decrypts what the first one sealed.
    const sealed = await sealRecord(keys, 'identity/x', new Uint8Array([1, 2, 3]), seededRng())
    expect((await openRecord(again, sealed.key, sealed.blob, 'identity/x')).data).toEqual(
      new Uint8Array([1, 2, 3]),
    )
  })

  it('works with Argon2id too and records the parameters', async () => {
    const { header } = await createVaultHeader('password', FAST_ARGON)
    expect(decodeVaultHeader(header).kdf).toMatchObject({ alg: 'argon2id', m: 64, t: 1, p: 1 })
    await expect(openVaultHeader(header, 'password')).resolves.toBeDefined()
    await expect(openVaultHeader(header, 'passWord')).rejects.toBeInstanceOf(WrongPassphraseError)
  })

  it('has a versioned, typed format with a random salt', async () => {
    const { header } = await createVaultHeader('password', FAST)
    const map = decode(header) as Record<string, unknown>
    expect(map).toMatchObject({ type: 'paloma-vault', v: 1, kdf: { alg: 'pbkdf2-sha256', i: 1000 } })
    const other = decode((await createVaultHeader('password', FAST)).header) as { kdf: { salt: Uint8Array } }
    expect(other.kdf.salt).not.toEqual((map.kdf as { salt: Uint8Array }).salt)
  })

  it('refuses a wrong passphrase with WrongPassphraseError', async () => {
    const { header } = await createVaultHeader('correct horse', FAST)
    const err = await openVaultHeader(header, 'correct hose').catch((e) => e)
    expect(err).toBeInstanceOf(WrongPassphraseError)
    expect(err).toBeInstanceOf(VaultError)
    expect(err.name).toBe('WrongPassphraseError')
    expect(err.message).toMatch(/try again/)
  })

  it('a lowered KDF cost in the header does not help: the KEK changes and unwrap fails', async () => {
    const { header } = await createVaultHeader('password', FAST)
    const map = decode(header) as { kdf: { i: number } }
    map.kdf.i = 1
    await expect(openVaultHeader(encode(map), 'password')).rejects.toBeInstanceOf(WrongPassphraseError)
  })

  it('reports garbage and newer formats as VaultCorruptedError', async () => {
    await expect(openVaultHeader(new Uint8Array([1, 2, 3]), 'password')).rejects.toBeInstanceOf(
      VaultCorruptedError,
    )
    const { header } = await createVaultHeader('password', FAST)
    const map = decode(header) as Record<string, unknown>
    expect(() => decodeVaultHeader(encode({ ...map, v: 2 }))).toThrow(/newer version/)
    expect(() => decodeVaultHeader(encode({ ...map, type: 'x' }))).toThrow(VaultCorruptedError)
    expect(() => decodeVaultHeader(encode({ ...map, dek: new Uint8Array(39) }))).toThrow(VaultCorruptedError)
    expect(() =>
      decodeVaultHeader(
        encode({ ...map, kdf: { alg: 'argon2id', salt: new Uint8Array(16), m: 1 << 30, t: 1, p: 1 } }),
      ),
    ).toThrow(VaultCorruptedError)
  })

  it('re-wraps the same keys under a new passphrase', async () => {
    const { header, keys } = await createVaultHeader('old passphrase', FAST)
    const sealed = await sealRecord(keys, 'identity/k', new Uint8Array([9]), seededRng())
    await expect(
      rewrapVaultHeader(header, 'wrong passphrase', 'new passphrase', FAST),
    ).rejects.toBeInstanceOf(WrongPassphraseError)
    const next = await rewrapVaultHeader(header, 'old passphrase', 'new passphrase', FAST)
    await expect(openVaultHeader(next, 'old passphrase')).rejects.toBeInstanceOf(WrongPassphraseError)
    const reopened = await openVaultHeader(next, 'new passphrase')
    expect((await openRecord(reopened, sealed.key, sealed.blob)).data).toEqual(new Uint8Array([9]))
    const salts = [header, next].map((h) => decodeVaultHeader(h).kdf.salt)
    expect(salts[0]).not.toEqual(salts[1])
  })
})
