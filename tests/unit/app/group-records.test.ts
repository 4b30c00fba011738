// The group records in the vault: each round-trips through its entry and the one-pass load, each refuses
// a damaged or newer record with AppError('BAD_RECORD'), and the backup takes what it should: the group's
// record (log, secret) always, its history on request, sender keys and everything else never.
import { encode } from 'cborg'
import { describe, expect, it } from 'vitest'
import { inBackupScope } from '@paloma/core/vault/names.ts'
import { AppError } from '../../../src/app/errors.ts'
import {
  decodeGroupEntries,
  decodeGroupMessageRecord,
  decodeGroupRecord,
  groupEntry,
  groupNames,
  type GroupMessageRecord,
  type GroupRecord,
} from '../../../src/app/group-records.ts'
import { AppRecords, SCHEMA_VERSION } from '../../../src/app/records.ts'
import { MemoryVaultBackend, Vault } from '../../../src/storage/vault.ts'
import { TEST_KDF } from '../../support/people.ts'

const GID = 'ab'.repeat(32)
const PEER = '12D3KooWL6Wrv1ZGz1uXiKLa9PdrvZMyvhBNRkbbd2yxcRKPfuj8'
const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill)

const group: GroupRecord = {
  id: GID,
  log: bytes(40),
  secret: bytes(32, 2),
  status: 'member',
  people: [{ peer: PEER, name: 'bob', relays: ['/ip4/10.0.0.1/tcp/443/wss/p2p/x/p2p-circuit/p2p/y'] }],
  joined: 7,
}
const message: GroupMessageRecord = {
  group: GID,
  id: 'm1',
  sender: PEER,
  direction: 'out',
  text: 'hola',
  ts: 9,
  status: 'sent',
  to: [PEER],
  delivered: [PEER],
  read: [],
}

describe('group records', () => {
  it('round-trip through their entries, the vault and the one-pass load', async () => {
    const records = new AppRecords(
      await Vault.create(new MemoryVaultBackend(), 'correct horse battery', TEST_KDF),
    )
    const fanout = { group: GID, id: 'm1', message: bytes(329), pending: [PEER], due: 11 }
    const held = { group: GID, key: 'k1', kind: 'message' as const, from: PEER, bytes: bytes(3), at: 12 }
    const invitation = { group: GID, from: PEER, parts: [bytes(5)], at: 13 }
    const welcome = { group: GID, from: PEER, parts: [bytes(6)] }
    const kept = { seq: '000000000000001-000000', from: PEER, via: 'mailbox' as const, payload: bytes(4) }
    await records.write([
      groupEntry.group(group),
      groupEntry.message(message),
      groupEntry.ownKey(GID, bytes(8, 3)),
      groupEntry.receiver(GID, bytes(9, 4)),
      groupEntry.fanout(fanout),
      groupEntry.held(held),
      groupEntry.invitation(invitation),
      groupEntry.welcome(welcome),
      groupEntry.kept(kept),
    ])
    const loaded = await records.load()
    expect(loaded.contacts).toEqual([])
    const groups = decodeGroupEntries(loaded.groups ?? [])
    expect(groups.groups).toEqual([group])
    expect(groups.messages).toEqual([message])
    expect(groups.ownKeys.get(GID)).toEqual(bytes(8, 3))
    expect(groups.receivers.get(GID)).toEqual(bytes(9, 4))
    expect(groups.fanouts).toEqual([fanout])
    expect(groups.held).toEqual([held])
    expect(groups.invitations).toEqual([invitation])
    expect(groups.welcomes).toEqual([welcome])
    expect(groups.kept).toEqual([kept])
  })

  it('leave the load as it was for a vault without groups', async () => {
    const records = new AppRecords(
      await Vault.create(new MemoryVaultBackend(), 'correct horse battery', TEST_KDF),
    )
    expect(await records.load()).toEqual({ contacts: [], messages: [], outbox: [] })
    expect((await records.load()).groups).toBeUndefined()
  })

  it.each([
    ['an unknown field', { ...group, v: 1, extra: 1 }],
    ['a newer version', { ...group, v: SCHEMA_VERSION + 1 }],
    ['no version', { ...group }],
    ['a bad status', { ...group, v: 1, status: 'banned' }],
    ['a person without relays', { ...group, v: 1, people: [{ peer: PEER, name: 'bob' }] }],
    ['a secret as text', { ...group, v: 1, secret: 'secret' }],
  ])('refuse a group record with %s', (_what, raw) => {
    expect(() => decodeGroupRecord(groupNames.group(GID), encode(raw))).toThrow(AppError)
    try {
      decodeGroupRecord(groupNames.group(GID), encode(raw))
    } catch (err) {
      expect((err as AppError).code).toBe('BAD_RECORD')
      expect((err as AppError).message).toContain(groupNames.group(GID))
    }
  })

  it('refuse a message record with a bad direction or status', () => {
    const name = groupNames.message(GID, PEER, 'm1')
    expect(() => decodeGroupMessageRecord(name, encode({ ...message, v: 1, direction: 'up' }))).toThrow(
      AppError,
    )
    expect(() => decodeGroupMessageRecord(name, encode({ ...message, v: 1, status: 'seen' }))).toThrow(
      AppError,
    )
    expect(() => decodeGroupMessageRecord(name, encode({ ...message, v: 1, ts: -1 }))).toThrow(AppError)
  })

  it('are in a backup as 1:1 records are: the group always, history on request, keys never', () => {
    expect(inBackupScope(groupNames.group(GID), false)).toBe(true)
    expect(inBackupScope(groupNames.message(GID, PEER, 'm1'), false)).toBe(false)
    expect(inBackupScope(groupNames.message(GID, PEER, 'm1'), true)).toBe(true)
    for (const name of [
      groupNames.ownKey(GID),
      groupNames.receiver(GID),
      groupNames.fanout(GID, 'm1'),
      groupNames.held(GID, 'k'),
      groupNames.invitation(GID),
      groupNames.welcome(GID, PEER),
      groupNames.kept('1'),
    ])
      expect(inBackupScope(name, true), name).toBe(false)
  })
})
