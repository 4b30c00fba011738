import { describe, expect, it } from 'vitest'
import { decode, encode } from 'cborg'
import {
  VaultCorruptedError,
  createVaultHeader,
  openRecord,
  recordKey,
  sealRecord,
  type VaultKeys,
} from '@paloma/core/vault/index.ts'
import { FAST, seededRng } from './helpers.ts'

const keysP: Promise<VaultKeys> = createVaultHeader('password', FAST).then((h) => h.keys)
const random = seededRng(42)
const data = new TextEncoder().encode('secret identity key')

describe('records', () => {
  it('round-trips, with a fresh IV each time', async () => {
    const keys = await keysP
    const a = await sealRecord(keys, 'identity/key', data, (n) => crypto.getRandomValues(new Uint8Array(n)))
    const b = await sealRecord(keys, 'identity/key', data, (n) => crypto.getRandomValues(new Uint8Array(n)))
    expect(a.key).toBe(b.key)
    expect(a.blob).not.toEqual(b.blob)
    const map = decode(a.blob) as { v: number; iv: Uint8Array; ct: Uint8Array }
    expect(map.v).toBe(1)
    expect(map.iv.length).toBe(12)
    expect(await openRecord(keys, a.key, a.blob, 'identity/key')).toEqual({ name: 'identity/key', data })
    expect((await openRecord(keys, b.key, b.blob)).data).toEqual(data)
  })

  it('blinds names: the storage key does not contain the name and depends on the vault', async () => {
    const keys = await keysP
    const key = await recordKey(keys, 'history/12D3KooWAlice')
    expect(key).toMatch(/^r\/[0-9a-f]{64}$/)
    expect(key).not.toContain('Alice')
    const other = (await createVaultHeader('password', FAST)).keys
    expect(await recordKey(other, 'history/12D3KooWAlice')).not.toBe(key)
    // The plaintext name never appears in the blob either.
    const { blob } = await sealRecord(keys, 'history/12D3KooWAlice', data, random)
    expect(new TextDecoder('latin1').decode(blob)).not.toContain('Alice')
  })

  it('detects a flipped bit anywhere in the ciphertext', async () => {
    const keys = await keysP
    const { key, blob } = await sealRecord(keys, 'identity/key', data, random)
    const map = decode(blob) as { ct: Uint8Array; iv: Uint8Array }
    for (const i of [0, 5, map.ct.length - 1]) {
      const ct = new Uint8Array(map.ct)
      ct[i]! ^= 1
      const err = await openRecord(keys, key, encode({ ...map, ct })).catch((e) => e)
      expect(err).toBeInstanceOf(VaultCorruptedError)
      expect(err.message).toMatch(/backup/)
    }
    const iv = new Uint8Array(map.iv)
    iv[0]! ^= 1
    await expect(openRecord(keys, key, encode({ ...map, iv }))).rejects.toBeInstanceOf(VaultCorruptedError)
  })

  it('detects a blob swapped onto another name', async () => {
    const keys = await keysP
    const a = await sealRecord(keys, 'identity/a', data, random)
    const b = await sealRecord(keys, 'identity/b', new Uint8Array([1]), random)
    await expect(openRecord(keys, b.key, a.blob, 'identity/b')).rejects.toBeInstanceOf(VaultCorruptedError)
    await expect(openRecord(keys, b.key, a.blob)).rejects.toBeInstanceOf(VaultCorruptedError)
  })

  it('refuses a blob from another vault, garbage and unknown versions', async () => {
    const keys = await keysP
    const other = (await createVaultHeader('password', FAST)).keys
    const sealed = await sealRecord(other, 'identity/a', data, random)
    await expect(openRecord(keys, sealed.key, sealed.blob)).rejects.toBeInstanceOf(VaultCorruptedError)
    await expect(openRecord(keys, sealed.key, new Uint8Array([0xff]))).rejects.toBeInstanceOf(
      VaultCorruptedError,
    )
    const map = decode(sealed.blob) as Record<string, unknown>
    await expect(openRecord(other, sealed.key, encode({ ...map, v: 2 }))).rejects.toThrow(
      /unsupported format/,
    )
  })

  it('refuses empty names', async () => {
    await expect(sealRecord(await keysP, '', data, random)).rejects.toBeInstanceOf(TypeError)
  })
})
