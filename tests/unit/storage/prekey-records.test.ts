import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { MemoryVaultBackend, Vault } from '../../../src/storage/vault.ts'
import { VaultProtocolStores } from '../../../src/storage/protocol-stores.ts'
import { generateIdentity } from '@paloma/core/crypto/index.ts'
import { VaultCorruptedError } from '@paloma/core/vault/index.ts'
import { FAST } from '../core/vault/helpers.ts'
import { rejection, strictViolations } from '../core/strict-cbor.ts'

const rng = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff)
const key = (fill: number) => new Uint8Array(32).fill(fill)

async function stores() {
  const vault = await Vault.create(new MemoryVaultBackend(), 'correct horse', FAST)
  return { vault, stores: new VaultProtocolStores(vault, await generateIdentity(rng)).direct }
}

describe('prekey records in the vault', () => {
  it('round-trip one-time and signed prekeys', async () => {
    const { stores: s } = await stores()
    await s.preKeys.storePreKey({ id: 4, keyPair: { publicKey: key(1), privateKey: key(2) } })
    expect(await s.preKeys.loadPreKey(4)).toEqual({
      id: 4,
      keyPair: { publicKey: key(1), privateKey: key(2) },
    })
    const spk = { id: 2, keyPair: { publicKey: key(3), privateKey: key(4) }, createdAt: 1_700_000_000_000 }
    await s.signedPreKeys.storeSignedPreKey(spk)
    expect(await s.signedPreKeys.loadSignedPreKey(2)).toEqual(spk)
  })

  it('decode strictly and check every field: a damaged record is a VaultCorruptedError', async () => {
    const { vault, stores: s } = await stores()
    const valid = { v: 1, id: 4, pub: key(1), priv: key(2) }
    const bad = [
      ...strictViolations(valid).map(([, b]) => b),
      encode({ id: 4, pub: key(1), priv: new Uint8Array(31) }),
      encode({ id: -1, pub: key(1), priv: key(2) }),
      encode([4]),
    ]
    for (const bytes of bad) {
      await vault.put('identity/opk/4', bytes)
      expect(await rejection(s.preKeys.loadPreKey(4))).toBeInstanceOf(VaultCorruptedError)
    }
  })
})
