import { describe, expect, it } from 'vitest'
import {
  InvalidPassphraseError,
  MIN_PASSPHRASE_CHARS,
  VAULT_ERROR_CODES,
  createVaultHeader,
  exportBackup,
  openVaultHeader,
  passphraseProblem,
  rewrapVaultHeader,
  WrongPassphraseError,
} from '@paloma/core/vault/index.ts'
import { MemoryVaultBackend, Vault } from '../../../../src/storage/vault.ts'
import { FAST } from './helpers.ts'

const codeOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'resolved',
    (err: unknown) => (err instanceof InvalidPassphraseError ? err.code : err),
  )

describe('passphrase rules', () => {
  it('asks for at least MIN_PASSPHRASE_CHARS code points of the NFC form', () => {
    expect(MIN_PASSPHRASE_CHARS).toBe(8)
    expect(passphraseProblem('')).toBe('EMPTY_PASSPHRASE')
    expect(passphraseProblem(undefined as unknown as string)).toBe('EMPTY_PASSPHRASE')
    expect(passphraseProblem('1234567')).toBe('SHORT_PASSPHRASE')
    expect(passphraseProblem('12345678')).toBeUndefined()
    // Seven emoji are 14 UTF-16 units but 7 characters; eight are enough.
    expect(passphraseProblem('🕊'.repeat(7))).toBe('SHORT_PASSPHRASE')
    expect(passphraseProblem('🕊'.repeat(8))).toBeUndefined()
    // "ñ" decomposed (n + U+0303) is one character after NFC.
    expect(passphraseProblem('n\u0303'.repeat(7))).toBe('SHORT_PASSPHRASE')
    expect(passphraseProblem('n\u0303'.repeat(8))).toBeUndefined()
  })

  it('its codes are vault codes', () => {
    for (const code of ['EMPTY_PASSPHRASE', 'SHORT_PASSPHRASE']) expect(VAULT_ERROR_CODES).toContain(code)
  })

  it('is enforced wherever a new passphrase is chosen, before any key derivation', async () => {
    expect(await codeOf(createVaultHeader('short', FAST))).toBe('SHORT_PASSPHRASE')
    expect(await codeOf(createVaultHeader('', FAST))).toBe('EMPTY_PASSPHRASE')
    const { header } = await createVaultHeader('long enough', FAST)
    // The new passphrase is checked first: a wrong old one is not even tried.
    expect(await codeOf(rewrapVaultHeader(header, 'not the old one', 'short', FAST))).toBe('SHORT_PASSPHRASE')
    expect(await codeOf(exportBackup(new Map(), 'short', FAST))).toBe('SHORT_PASSPHRASE')
    const backup = await exportBackup(new Map([['identity/x', new Uint8Array([1])]]), 'backup pass', FAST)
    const backend = new MemoryVaultBackend()
    expect(await codeOf(Vault.importBackup(backend, backup, 'backup pass', 'short', FAST))).toBe(
      'SHORT_PASSPHRASE',
    )
    expect(await backend.keys()).toEqual([])
    const vault = await Vault.create(backend, 'long enough', FAST)
    expect(await codeOf(vault.changePassphrase('long enough', 'short'))).toBe('SHORT_PASSPHRASE')
    expect(await codeOf(vault.exportBackup('short', FAST))).toBe('SHORT_PASSPHRASE')
  })

  it('never applies when opening, so passphrases chosen under older rules keep working', async () => {
    const { header } = await createVaultHeader('long enough', FAST)
    // A short passphrase is tried (and is wrong), not refused as too short.
    await expect(openVaultHeader(header, 'short')).rejects.toBeInstanceOf(WrongPassphraseError)
    await expect(openVaultHeader(header, '')).rejects.toBeInstanceOf(InvalidPassphraseError)
  })
})
