import { encode } from 'cborg'
import { describe, expect, it } from 'vitest'
import { AppError } from '../../../src/app/errors.ts'
import {
  AppRecords,
  CONTACT_PREFIX,
  decodeAccount,
  decodeContact,
  decodeMessage,
  DEFAULT_SETTINGS,
  entry,
  SCHEMA,
  SCHEMA_VERSION,
  SETTINGS,
} from '../../../src/app/records.ts'
import { MemoryVaultBackend, Vault } from '../../../src/storage/vault.ts'
import { TEST_KDF } from '../../support/people.ts'

const newVault = () => Vault.create(new MemoryVaultBackend(), 'correct horse battery', TEST_KDF)
const PEER = '12D3KooWL6Wrv1ZGz1uXiKLa9PdrvZMyvhBNRkbbd2yxcRKPfuj8'

describe('vault records', () => {
  it('round-trips every record through its entry and decoder', async () => {
    const records = new AppRecords(await newVault())
    const contact = { peer: PEER, name: 'bob', relays: ['/x'], added: 5, keyChanged: false, lastSeen: 9 }
    const message = {
      id: 'm1',
      peer: PEER,
      direction: 'in' as const,
      text: 'hi',
      ts: 3,
      status: 'read' as const,
    }
    const outboxEntry = {
      id: 'm1',
      to: PEER,
      payload: new Uint8Array([1]),
      created: 4,
      env: new Uint8Array([2]),
      envId: 'w1',
    }
    await records.write([entry.contact(contact), entry.message(message), entry.outbox(outboxEntry)])
    expect(await records.load()).toEqual({ contacts: [contact], messages: [message], outbox: [outboxEntry] })
  })

  it('reads records of the first release (no version field), and fills settings added since', async () => {
    const vault = await newVault()
    await vault.put(
      CONTACT_PREFIX + PEER,
      encode({ peer: PEER, name: 'bob', relays: [], added: 1, keyChanged: true }),
    )
    await vault.put(SETTINGS, encode({ readReceipts: false }))
    const records = new AppRecords(vault)
    expect((await records.load()).contacts[0]!.keyChanged).toBe(true)
    expect(await records.settings()).toEqual({ ...DEFAULT_SETTINGS, readReceipts: false })
  })

  it('names the record and the field when a record is damaged', () => {
    const bad = encode({ v: 1, peer: PEER, name: 7, relays: [], added: 1, keyChanged: false })
    expect(() => decodeContact('identity/contact/x', bad)).toThrow(
      /identity\/contact\/x: name: expected a string/,
    )
    expect(() =>
      decodeMessage('history/msg/x', encode({ v: 1, id: 'a', peer: PEER, direction: 'sideways' })),
    ).toThrow(AppError)
    // Not canonical CBOR (a map with a duplicate key) is refused too.
    expect(() => decodeContact('c', new Uint8Array([0xa2, 0x61, 0x76, 0x01, 0x61, 0x76, 0x01]))).toThrow(
      expect.objectContaining({ code: 'BAD_RECORD' }),
    )
  })

  it('refuses a record written by a newer version instead of misreading it', () => {
    const newer = encode({ v: SCHEMA_VERSION + 1, name: 'x', key: new Uint8Array(1), created: 1 })
    expect(() => decodeAccount(newer)).toThrow(/identity\/account: written by a newer version/)
  })

  it('migrates a vault of the first release to the current schema once, and refuses a newer vault', async () => {
    const vault = await newVault()
    const records = new AppRecords(vault)
    await records.migrate()
    expect(await vault.get(SCHEMA)).toEqual(encode(SCHEMA_VERSION))
    await records.migrate()
    await vault.put(SCHEMA, encode(SCHEMA_VERSION + 1))
    await expect(records.migrate()).rejects.toThrow(/newer version of Paloma/)
  })

  it('hands out one-time prekey ids that never repeat', async () => {
    const records = new AppRecords(await newVault())
    expect(await records.reservePreKeyIds(50)).toBe(1)
    expect(await records.reservePreKeyIds(50)).toBe(51)
  })
})

describe('group commit of app records', () => {
  it('makes the writes asked for during a commit together in the next one, last write of a name winning', async () => {
    const backend = new MemoryVaultBackend()
    const commits: number[] = []
    const commit = backend.commit.bind(backend)
    backend.commit = async (puts, deletes) => {
      commits.push(puts.length + deletes.length)
      await commit(puts, deletes)
    }
    const vault = await Vault.create(backend, 'correct horse battery', TEST_KDF)
    const records = new AppRecords(vault)
    const a = { id: 'a', peer: PEER, direction: 'out' as const, text: 'x', ts: 1, status: 'sent' as const }
    await Promise.all([
      records.write([entry.message(a)]), // starts a commit at once
      records.write([entry.message({ ...a, status: 'delivered' })]),
      records.write([entry.message({ ...a, status: 'read' })]),
      records.deleteOutbox('a'),
    ])
    expect(commits).toEqual([1, 2])
    expect((await records.load()).messages.map((m) => m.status)).toEqual(['read'])
  })
})

describe('restoring a backup whose account record is damaged', () => {
  it('fails with BAD_RECORD and leaves the device as it was (it can restore again or create)', async () => {
    const { account } = await import('../../../src/app/account.ts')
    const { exportBackup } = await import('@paloma/core/vault/index.ts')
    const file = await exportBackup(
      new Map([['identity/account', encode({ v: 1, name: 'x', key: new Uint8Array(3), created: 1 })]]),
      'backup passphrase',
      TEST_KDF,
    )
    const backend = new MemoryVaultBackend()
    const device = account({ kdf: TEST_KDF })({ backend, now: Date.now })
    await expect(device.restore(file, 'backup passphrase', 'correct horse battery')).rejects.toMatchObject({
      code: 'BAD_RECORD',
    })
    expect(await device.exists()).toBe(false)
    expect(await backend.keys()).toEqual([])
  })
})
