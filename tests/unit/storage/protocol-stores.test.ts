import { describe, expect, it } from 'vitest'
import { generateIdentity } from '@paloma/core/crypto/index.ts'
import { VaultProtocolStores } from '../../../src/storage/protocol-stores.ts'
import { MemoryVaultBackend, Vault } from '../../../src/storage/vault.ts'
import { TEST_KDF } from '../../support/people.ts'
import { seededRng } from '../../support/rng.ts'

/** A backend that counts atomic writes (records written or removed) and can be told to fail the next one. */
class CountingBackend extends MemoryVaultBackend {
  batches: number[] = []
  failNext = false
  override async commit(
    puts: ReadonlyArray<readonly [string, Uint8Array]>,
    deletes: readonly string[],
  ): Promise<void> {
    if (this.failNext) {
      this.failNext = false
      throw new Error('disk full')
    }
    this.batches.push(puts.length + deletes.length)
    await super.commit(puts, deletes)
  }
}

async function setup() {
  const backend = new CountingBackend()
  const vault = await Vault.create(backend, 'correct horse battery', TEST_KDF)
  const identity = await generateIdentity(seededRng(1))
  return { backend, vault, stores: new VaultProtocolStores(vault, identity) }
}

const key = (n: number) => ({
  id: n,
  keyPair: { publicKey: new Uint8Array(32).fill(n), privateKey: new Uint8Array(32).fill(n) },
})

describe('VaultProtocolStores.transaction', () => {
  it('writes every store change and the caller’s records in one atomic write', async () => {
    const { backend, vault, stores } = await setup()
    await stores.transaction(
      async (s) => {
        await s.preKeys.storePreKey(key(1))
        await s.preKeys.storePreKey(key(2))
        return 'ok'
      },
      (result) => [[`history/msg/${result}`, new Uint8Array([9])]],
    )
    expect(backend.batches).toEqual([3])
    expect(await vault.get('history/msg/ok')).toEqual(new Uint8Array([9]))
    expect(await stores.direct.preKeys.loadPreKey(2)).toBeDefined()
  })

  it('writes nothing when the function throws', async () => {
    const { backend, stores } = await setup()
    await expect(
      stores.transaction(async (s) => {
        await s.preKeys.storePreKey(key(1))
        throw new Error('decryption failed')
      }),
    ).rejects.toThrow('decryption failed')
    expect(backend.batches).toEqual([])
    expect(await stores.direct.preKeys.loadPreKey(1)).toBeUndefined()
  })

  it('keeps neither the store changes nor the caller’s records when the write fails', async () => {
    const { backend, vault, stores } = await setup()
    backend.failNext = true
    await expect(
      stores.transaction(
        async (s) => s.preKeys.storePreKey(key(1)),
        () => [['outbox/x', new Uint8Array([1])]],
      ),
    ).rejects.toThrow('disk full')
    expect(await vault.get('outbox/x')).toBeUndefined()
    expect(await stores.direct.preKeys.loadPreKey(1)).toBeUndefined()
  })

  it('reads its own uncommitted writes inside the transaction, and others see them only after', async () => {
    const { stores } = await setup()
    let outside: unknown = 'unread'
    await stores.transaction(async (s) => {
      await s.preKeys.storePreKey(key(3))
      expect(await s.preKeys.loadPreKey(3)).toBeDefined()
      outside = await stores.direct.preKeys.loadPreKey(3)
    })
    expect(outside).toBeUndefined()
    expect(await stores.direct.preKeys.loadPreKey(3)).toBeDefined()
  })
})

describe('VaultProtocolStores.transactionBatch', () => {
  it('runs items in turn, each seeing the ones before, and writes the successful ones in one commit', async () => {
    const { backend, stores } = await setup()
    const outcomes = await stores.transactionBatch(
      [1, 2, 3],
      (n) => async (s) => {
        if (n === 2) {
          await s.preKeys.storePreKey(key(20))
          throw new Error('item 2 fails')
        }
        // Item 3 sees what item 1 stored, and nothing of item 2.
        if (n === 3)
          expect([await s.preKeys.loadPreKey(1), await s.preKeys.loadPreKey(20)]).toEqual([key(1), undefined])
        await s.preKeys.storePreKey(key(n))
        return n * 10
      },
      (value) => [[`history/msg/${value}`, new Uint8Array([value])]],
    )
    expect(outcomes.map((o) => (o.ok ? o.value : (o.error as Error).message))).toEqual([
      10,
      'item 2 fails',
      30,
    ])
    expect(backend.batches).toEqual([4])
    expect(await stores.direct.preKeys.loadPreKey(20)).toBeUndefined()
    expect(await stores.direct.preKeys.loadPreKey(3)).toBeDefined()
  })

  it('removes a used one-time prekey in the same commit as what it decrypted', async () => {
    const { backend, stores } = await setup()
    await stores.direct.preKeys.storePreKey(key(5))
    backend.batches.length = 0
    await stores.transaction(
      async (s) => s.preKeys.removePreKey(5),
      () => [['history/msg/x', new Uint8Array([1])]],
    )
    expect(backend.batches).toEqual([2])
    expect(await stores.direct.preKeys.loadPreKey(5)).toBeUndefined()
  })
})
