import { describe, expect, it } from 'vitest'
import { decode, encode } from 'cborg'
import {
  InvalidBackupError,
  VaultError,
  WrongPassphraseError,
  createVaultHeader,
  exportBackup,
  importBackup,
  InvalidKdfParamsError,
} from '@paloma/core/vault/index.ts'
import { FAST, FAST_ARGON } from './helpers.ts'

const records = new Map<string, Uint8Array>([
  ['identity/ed25519', new Uint8Array(64).fill(1)],
  ['identity/profile', new TextEncoder().encode('{"username":"paloma"}')],
  ['history/peer/1', new Uint8Array(0)],
])

describe('backup files', () => {
  it('round-trips a set of records', async () => {
    const file = await exportBackup(records, 'backup pass', FAST)
    expect(await importBackup(file, 'backup pass')).toEqual(records)
    const argon = await exportBackup(records, 'backup pass', FAST_ARGON)
    expect(await importBackup(argon, 'backup pass')).toEqual(records)
  })

  it('is typed, versioned and salted independently', async () => {
    const a = decode(await exportBackup(records, 'passphrase', FAST)) as Record<string, { salt: Uint8Array }>
    const b = decode(await exportBackup(records, 'passphrase', FAST)) as Record<string, { salt: Uint8Array }>
    expect(a).toMatchObject({ type: 'paloma-backup', v: 1, kdf: { alg: 'pbkdf2-sha256', i: 1000 } })
    expect(a.kdf!.salt).not.toEqual(b.kdf!.salt)
  })

  it('uses the production KDF cost unless a test lowers it', async () => {
    await expect(exportBackup(records, 'passphrase', { kdf: FAST.kdf })).rejects.toBeInstanceOf(
      InvalidKdfParamsError,
    )
  })

  it('refuses a wrong backup passphrase', async () => {
    const file = await exportBackup(records, 'backup pass', FAST)
    const err = await importBackup(file, 'vault pass').catch((e) => e)
    expect(err).toBeInstanceOf(WrongPassphraseError)
    expect(err.message).toMatch(/backup passphrase/)
  })

  it('names a wrong file clearly', async () => {
    const { header } = await createVaultHeader('passphrase', FAST)
    const wrongFiles = [
      new TextEncoder().encode('hello, this is a text file'),
      new Uint8Array(0),
      header,
      encode({ type: 'something-else', v: 1 }),
      encode([1, 2, 3]),
    ]
    for (const bytes of wrongFiles) {
      const err = await importBackup(bytes, 'passphrase').catch((e) => e)
      expect(err).toBeInstanceOf(InvalidBackupError)
      expect(err).toBeInstanceOf(VaultError)
      expect(err.name).toBe('InvalidBackupError')
      expect(err.message).toMatch(/not a .*Paloma backup/)
    }
  })

  it('refuses a newer format, a garbled payload and truncation', async () => {
    const file = await exportBackup(records, 'passphrase', FAST)
    const map = decode(file) as Record<string, Uint8Array>
    await expect(importBackup(encode({ ...map, v: 2 }), 'passphrase')).rejects.toThrow(/newer version/)
    const ct = new Uint8Array(map.ct!)
    ct[10]! ^= 0x80
    const err = await importBackup(encode({ ...map, ct }), 'passphrase').catch((e) => e)
    expect(err).toBeInstanceOf(InvalidBackupError)
    expect(err.message).toMatch(/damaged/)
    await expect(importBackup(file.subarray(0, file.length - 5), 'passphrase')).rejects.toBeInstanceOf(
      InvalidBackupError,
    )
  })
})
