/**
 * Regression (found by tests/abuse/local.fuzz.test.ts, Vault.importBackup): a backup holding a record
 * named "" (or longer than a vault record name may be) decrypted fine and then made the vault throw a
 * TypeError while sealing it, an untyped error. And a backup could carry records no export ever writes
 * (`session/…` ratchet states, which must never be restored, `outbox/…`, `state/…`). Import now refuses
 * every name an export would not write, with InvalidBackupError, before anything is stored.
 */
import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { InvalidBackupError, importBackup } from '@paloma/core/vault/index.ts'
import { DEK_KIND, generateWrappedKey } from '@paloma/core/vault/keys.ts'
import { deriveKek, encodeKdfParams, newKdfParams } from '@paloma/core/vault/kdf.ts'
import { MemoryVaultBackend, Vault } from '../../../src/storage/vault.ts'

const PASSPHRASE = 'backup passphrase'
const CHEAP = { kdf: { alg: 'pbkdf2-sha256', iterations: 1 }, allowWeakKdf: true } as const
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n))

/** A well-made backup file of exactly these entries (as anyone holding the passphrase can make one). */
async function backupOf(entries: Array<[string, Uint8Array]>): Promise<Uint8Array> {
  const kdf = newKdfParams(CHEAP.kdf, random, true)
  const { key, wrapped } = await generateWrappedKey(await deriveKek(PASSPHRASE, kdf), DEK_KIND, random)
  const iv = random(12)
  const ad = new TextEncoder().encode('Paloma_Backup_v1\u0000paloma-backup\u00001')
  const body = encode({ records: entries })
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad }, key, body),
  )
  return encode({ type: 'paloma-backup', v: 1, kdf: encodeKdfParams(kdf), key: wrapped, iv, ct })
}

describe('a backup with records no export writes', () => {
  const names = [
    '',
    `identity/${'x'.repeat(1024)}`,
    'session/12D3KooWCcaXMjm8LxcusnsZLY4JnnMbaJBh5pZJj43KUBca6znG',
    'outbox/m1',
    'state/schema',
    'other',
  ]
  for (const name of names) {
    it(`is refused, and nothing is stored: ${JSON.stringify(name.slice(0, 40))}`, async () => {
      const file = await backupOf([
        ['identity/account', Uint8Array.of(1)],
        [name, Uint8Array.of(2)],
      ])
      await expect(importBackup(file, PASSPHRASE)).rejects.toBeInstanceOf(InvalidBackupError)
      const backend = new MemoryVaultBackend()
      const err = await Vault.importBackup(backend, file, PASSPHRASE, 'new vault passphrase', CHEAP).catch(
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(InvalidBackupError)
      expect(await backend.keys()).toEqual([])
    })
  }
  it('while identity and history records restore', async () => {
    const file = await backupOf([
      ['identity/account', Uint8Array.of(1)],
      ['history/msg/a/in/1', Uint8Array.of(2)],
    ])
    expect([...(await importBackup(file, PASSPHRASE)).keys()]).toEqual([
      'identity/account',
      'history/msg/a/in/1',
    ])
  })
})
