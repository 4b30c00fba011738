import { describe, expect, it } from 'vitest'
import { HEADER_KEY, MemoryVaultBackend, Vault, type VaultBackend } from '../../../src/storage/vault.ts'
import {
  InvalidBackupError,
  InvalidPassphraseError,
  VaultCorruptedError,
  VaultExistsError,
  VaultLockedError,
  VaultNotFoundError,
  WrongPassphraseError,
} from '@paloma/core/vault/index.ts'
import { FAST } from '../core/vault/helpers.ts'

const enc = (s: string) => new TextEncoder().encode(s)

async function snapshot(backend: VaultBackend): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>()
  for (const k of (await backend.keys()).sort()) out.set(k, (await backend.get(k))!)
  return out
}

async function freshVault(passphrase = 'correct horse') {
  const backend = new MemoryVaultBackend()
  const vault = await Vault.create(backend, passphrase, FAST)
  return { backend, vault }
}

describe('Vault', () => {
  it('creates, stores, reopens', async () => {
    const { backend, vault } = await freshVault()
    expect(await Vault.exists(backend)).toBe(true)
    expect(vault.isLocked).toBe(false)
    await vault.put('identity/key', enc('k1'))
    await vault.put('session/bob', enc('ratchet'))
    expect(await vault.get('identity/key')).toEqual(enc('k1'))
    expect(await vault.get('missing')).toBeUndefined()
    await vault.put('identity/key', enc('k2'))
    const reopened = await Vault.unlock(backend, 'correct horse', FAST)
    expect(await reopened.get('identity/key')).toEqual(enc('k2'))
    expect(await reopened.names()).toEqual(['identity/key', 'session/bob'])
    expect(await reopened.names('session/')).toEqual(['session/bob'])
    await reopened.delete('session/bob')
    expect(await reopened.get('session/bob')).toBeUndefined()
  })

  it('stores nothing in the clear: names and data are not visible in the backend', async () => {
    const { backend, vault } = await freshVault()
    await vault.put('history/12D3KooWAlice', enc('hello Alice'))
    for (const [key, blob] of await snapshot(backend)) {
      expect(key).not.toContain('Alice')
      expect(new TextDecoder('latin1').decode(blob)).not.toContain('Alice')
    }
  })

  it('refuses a second create and an unlock without a vault', async () => {
    const { backend } = await freshVault()
    await expect(Vault.create(backend, 'x', FAST)).rejects.toBeInstanceOf(VaultExistsError)
    await expect(Vault.unlock(new MemoryVaultBackend(), 'x')).rejects.toBeInstanceOf(VaultNotFoundError)
    expect(await Vault.exists(new MemoryVaultBackend())).toBe(false)
  })

  it('refuses an empty passphrase and writes nothing', async () => {
    const backend = new MemoryVaultBackend()
    await expect(Vault.create(backend, '', FAST)).rejects.toBeInstanceOf(InvalidPassphraseError)
    expect(await backend.keys()).toEqual([])
    const { vault } = await freshVault()
    await expect(vault.changePassphrase('correct horse', '')).rejects.toBeInstanceOf(InvalidPassphraseError)
  })

  it('refuses a wrong passphrase and leaves the data untouched', async () => {
    const { backend, vault } = await freshVault()
    await vault.put('identity/key', enc('k'))
    const before = await snapshot(backend)
    const err = await Vault.unlock(backend, 'wrong horse', FAST).catch((e) => e)
    expect(err).toBeInstanceOf(WrongPassphraseError)
    expect(await snapshot(backend)).toEqual(before)
    expect(await (await Vault.unlock(backend, 'correct horse')).get('identity/key')).toEqual(enc('k'))
  })

  it('forgets the key on lock', async () => {
    const { vault } = await freshVault()
    await vault.put('identity/key', enc('k'))
    vault.lock()
    expect(vault.isLocked).toBe(true)
    await expect(vault.get('identity/key')).rejects.toBeInstanceOf(VaultLockedError)
    await expect(vault.put('a', enc('b'))).rejects.toBeInstanceOf(VaultLockedError)
    await expect(vault.putMany([['a', enc('b')]])).rejects.toBeInstanceOf(VaultLockedError)
    await expect(vault.delete('a')).rejects.toBeInstanceOf(VaultLockedError)
    await expect(vault.names()).rejects.toBeInstanceOf(VaultLockedError)
    await expect(vault.exportBackup('p', FAST)).rejects.toBeInstanceOf(VaultLockedError)
    await expect(vault.changePassphrase('correct horse', 'n')).rejects.toBeInstanceOf(VaultLockedError)
    const err = await vault.get('x').catch((e) => e)
    expect(err.name).toBe('VaultLockedError')
    expect(err.message).toMatch(/unlock/)
  })

  it('changes the passphrase by rewriting only the header', async () => {
    const { backend, vault } = await freshVault('old pass')
    await vault.putMany([
      ['identity/key', enc('k')],
      ['history/1', enc('m')],
    ])
    const before = await snapshot(backend)
    await expect(vault.changePassphrase('not it', 'new pass')).rejects.toBeInstanceOf(WrongPassphraseError)
    expect(await snapshot(backend)).toEqual(before)
    await vault.changePassphrase('old pass', 'new pass')
    const after = await snapshot(backend)
    for (const [key, blob] of before) {
      if (key === HEADER_KEY) expect(after.get(key)).not.toEqual(blob)
      else expect(after.get(key)).toEqual(blob)
    }
    expect(await vault.get('history/1')).toEqual(enc('m'))
    await expect(Vault.unlock(backend, 'old pass')).rejects.toBeInstanceOf(WrongPassphraseError)
    expect(await (await Vault.unlock(backend, 'new pass')).get('identity/key')).toEqual(enc('k'))
  })

  it('detects a tampered record and a record swapped onto another name', async () => {
    const { backend, vault } = await freshVault()
    const keysBefore = new Set(await backend.keys())
    await vault.put('identity/a', enc('A'))
    const ka = (await backend.keys()).find((k) => !keysBefore.has(k))!
    await vault.put('identity/b', enc('B'))
    const kb = (await backend.keys()).find((k) => !keysBefore.has(k) && k !== ka)!
    const blobA = (await backend.get(ka))!
    const blobB = (await backend.get(kb))!

    // An unlocked vault serves what it wrote from memory; tampering shows on the next read from storage.
    expect(await vault.get('identity/b')).toEqual(enc('B'))
    const reopen = () => Vault.unlock(backend, 'correct horse', FAST)

    await backend.put(kb, blobA)
    const swapped = await (await reopen()).get('identity/b').catch((e) => e)
    expect(swapped).toBeInstanceOf(VaultCorruptedError)
    expect(swapped.message).toMatch(/'identity\/b'.*restore/)
    await backend.put(kb, blobB)
    expect(await (await reopen()).get('identity/b')).toEqual(enc('B'))

    const flipped = new Uint8Array(blobA)
    flipped[flipped.length - 1]! ^= 1
    await backend.put(ka, flipped)
    await expect((await reopen()).get('identity/a')).rejects.toBeInstanceOf(VaultCorruptedError)
    await expect((await reopen()).names()).rejects.toBeInstanceOf(VaultCorruptedError)
  })

  it('serves its own writes from memory and forgets them on lock', async () => {
    const { backend, vault } = await freshVault()
    await vault.put('session/x', enc('one'))
    await vault.putMany([
      ['session/x', enc('two')],
      ['history/y', enc('three')],
    ])
    expect(await vault.get('session/x')).toEqual(enc('two'))
    await vault.delete('history/y')
    expect(await vault.get('history/y')).toBeUndefined()
    // Reads after a reopen come from storage and agree with the cache.
    const again = await Vault.unlock(backend, 'correct horse', FAST)
    expect(await again.get('session/x')).toEqual(enc('two'))
    expect(await again.get('history/y')).toBeUndefined()
    vault.lock()
    await expect(vault.get('session/x')).rejects.toThrow()
  })

  it('reports a damaged header on unlock', async () => {
    const { backend } = await freshVault()
    await backend.put(HEADER_KEY, enc('garbage'))
    await expect(Vault.unlock(backend, 'correct horse')).rejects.toBeInstanceOf(VaultCorruptedError)
  })

  it('writes putMany atomically through the backend', async () => {
    const { backend, vault } = await freshVault()
    const calls: number[] = []
    const original = backend.putMany.bind(backend)
    backend.putMany = async (entries) => {
      calls.push(entries.length)
      return original(entries)
    }
    await vault.putMany([
      ['history/m1', enc('message')],
      ['session/bob', enc('ratchet')],
    ])
    expect(calls).toEqual([2])
    expect(await vault.get('session/bob')).toEqual(enc('ratchet'))
  })

  it('exports identity (and optionally history) and imports it into a fresh backend', async () => {
    const { vault } = await freshVault('vault pass')
    await vault.putMany([
      ['identity/ed25519', enc('private key')],
      ['history/bob/1', enc('hi bob')],
      ['session/bob', enc('ratchet state')],
    ])
    const slim = await vault.exportBackup('backup pass', FAST)
    const full = await vault.exportBackup('backup pass', { ...FAST, includeHistory: true })

    const target = new MemoryVaultBackend()
    await expect(Vault.importBackup(target, slim, 'vault pass', 'new pass', FAST)).rejects.toBeInstanceOf(
      WrongPassphraseError,
    )
    expect(await target.keys()).toEqual([])
    await expect(
      Vault.importBackup(target, enc('not a backup'), 'x', 'new pass', FAST),
    ).rejects.toBeInstanceOf(InvalidBackupError)

    const restored = await Vault.importBackup(target, slim, 'backup pass', 'new pass', FAST)
    expect(await restored.names()).toEqual(['identity/ed25519'])
    expect(await restored.get('identity/ed25519')).toEqual(enc('private key'))
    const unlocked = await Vault.unlock(target, 'new pass')
    expect(await unlocked.get('identity/ed25519')).toEqual(enc('private key'))
    await expect(Vault.importBackup(target, full, 'backup pass', 'p', FAST)).rejects.toBeInstanceOf(
      VaultExistsError,
    )

    const target2 = new MemoryVaultBackend()
    const restored2 = await Vault.importBackup(target2, full, 'backup pass', 'other pass', FAST)
    expect(await restored2.names()).toEqual(['history/bob/1', 'identity/ed25519'])
  })

  it('destroys everything', async () => {
    const { backend, vault } = await freshVault()
    await vault.put('identity/key', enc('k'))
    await vault.destroy()
    expect(vault.isLocked).toBe(true)
    expect(await backend.keys()).toEqual([])
    expect(await Vault.exists(backend)).toBe(false)
    const again = await freshVault()
    await Vault.wipe(again.backend)
    expect(await Vault.exists(again.backend)).toBe(false)
  })

  it('memory backend stores copies', async () => {
    const backend = new MemoryVaultBackend()
    const bytes = enc('abc')
    await backend.put('k', bytes)
    bytes[0] = 0
    const got = (await backend.get('k'))!
    got[1] = 0
    expect(await backend.get('k')).toEqual(enc('abc'))
  })
})
