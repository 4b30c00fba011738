/**
 * Damaged local data, a wrong passphrase, and backups that are not this person's, through the app facade
 * (src/app/paloma.ts over the in-memory network twins): what a person sees (the phase, the error's area
 * and code), and that nothing stored is overwritten (the backend's bytes compared before and after).
 *
 * The backend is MemoryVaultBackend: fake-indexeddb is not a dependency, and IdbVaultBackend only moves the
 * same opaque blobs (tests/unit/storage/vault.test.ts covers both through the one VaultBackend interface).
 */
import { describe, expect, it } from 'vitest'
import { decode } from 'cborg'
import { userError } from '../../src/app/codes.ts'
import { paloma, type Paloma } from '../../src/app/paloma.ts'
import { HEADER_KEY, MemoryVaultBackend, Vault } from '../../src/storage/vault.ts'
import { TEST_KDF } from '../support/people.ts'
import { PASSPHRASE, next, twinPerson } from '../support/twin-people.ts'
import { TwinWorld } from '../support/twins.ts'

/** Every blob of the backend, as hex (to compare before and after). */
async function bytesOf(backend: MemoryVaultBackend): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const key of (await backend.keys()).sort())
    out.set(key, Buffer.from((await backend.get(key))!).toString('hex'))
  return out
}

/** A fresh tab on `backend` (the app opened, nothing unlocked yet). */
async function tab(world: TwinWorld, backend: MemoryVaultBackend): Promise<Paloma> {
  const app = paloma({
    config: { relays: world.relays.map((r) => r.addr), iceServers: [], allowPrivateAddresses: true },
    kdf: TEST_KDF,
  })({
    backend,
    createNetwork: world.factory(),
    platform: { inviteBase: 'http://paloma.test/' },
    now: world.now,
  })
  await app.open()
  return app
}

/** What a failed action shows: its area and code (src/app/codes.ts), or the error when it has none. */
async function shown(action: Promise<unknown>): Promise<unknown> {
  const err = await action.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err, 'the action should have failed').toBeDefined()
  return userError(err) ?? err
}

/** Alice with a contact and a message, her tab closed: a vault with every kind of record in it. */
async function aliceAtRest(world: TwinWorld) {
  const alice = await twinPerson(world, 'alice')
  const bob = await twinPerson(world, 'bob')
  await alice.app.addContact(bob.app.inviteLink()!)
  await alice.app.send('hello')
  // Quiet before the tabs close: the message is on Bob's device and his receipt is back.
  await next(alice.app, (s) => s.messages.length === 1 && s.messages.every((m) => m.status === 'delivered'))
  await alice.app.stop()
  await bob.app.stop()
  return { alice, bob }
}

describe('a damaged vault', () => {
  it('every damaged blob is refused with a clear error at unlock, nothing is overwritten, and the intact copy opens again', async () => {
    const world = await TwinWorld.create(1)
    const { alice } = await aliceAtRest(world)
    const backend = alice.backend
    const keys = await backend.keys()
    expect(keys.length).toBeGreaterThan(5)
    for (const key of keys) {
      const good = (await backend.get(key))!
      for (const damage of ['flip', 'truncate', 'empty'] as const) {
        const bad =
          damage === 'flip'
            ? good.map((b, i) => (i === Math.floor(good.length / 2) ? b ^ 0x10 : b))
            : damage === 'truncate'
              ? good.subarray(0, good.length - 1)
              : new Uint8Array(0)
        await backend.put(key, bad)
        const before = await bytesOf(backend)
        const app = await tab(world, backend)
        expect(app.snapshot().phase).toBe('unlock')
        const error = await shown(app.unlock(PASSPHRASE))
        // A damaged record says so. Damage in the header's wrapped keys reads as a wrong passphrase: AES-KW's
        // check cannot tell the two apart (docs/security.md), and either way nothing opens or changes.
        const expected =
          key === HEADER_KEY && damage === 'flip'
            ? ['WRONG_PASSPHRASE', 'VAULT_CORRUPTED']
            : ['VAULT_CORRUPTED']
        expect(error).toMatchObject({ area: 'vault' })
        expect(expected).toContain((error as { code: string }).code)
        expect(app.snapshot().phase).toBe('unlock')
        expect(await bytesOf(backend)).toEqual(before)
        await app.stop()
      }
      await backend.put(key, good)
    }
    // Every byte put back: the account opens as it was.
    const app = await tab(world, backend)
    await app.unlock(PASSPHRASE)
    expect(app.snapshot().phase).toBe('ready')
    expect(app.peerId).toBe(alice.peerId)
    await app.stop()
  })

  it('every single-bit flip of the header is refused: as a wrong passphrase in the salt, the cost and the wrapped keys, as damage elsewhere', async () => {
    const backend = new MemoryVaultBackend()
    await Vault.create(backend, PASSPHRASE, TEST_KDF)
    const header = (await backend.get(HEADER_KEY))!
    const fields = decode(header) as { dek: Uint8Array; names: Uint8Array; kdf: { salt: Uint8Array } }
    const at = (part: Uint8Array) => Buffer.from(header).indexOf(Buffer.from(part))
    const keyBytes = new Set<number>()
    for (const part of [fields.dek, fields.names, fields.kdf.salt])
      for (let i = 0; i < part.length; i++) keyBytes.add(at(part) + i)
    const codes = new Map<string, number>()
    for (let i = 0; i < header.length; i++) {
      await backend.put(
        HEADER_KEY,
        header.map((b, j) => (j === i ? b ^ 0x01 : b)),
      )
      const code = await Vault.unlock(backend, PASSPHRASE, TEST_KDF).then(
        () => 'OPENED',
        (e: { code?: string }) => e.code ?? 'UNTYPED',
      )
      codes.set(code, (codes.get(code) ?? 0) + 1)
      if (keyBytes.has(i)) expect(code, `byte ${i}`).toBe('WRONG_PASSPHRASE')
      else expect(['WRONG_PASSPHRASE', 'VAULT_CORRUPTED'], `byte ${i}`).toContain(code)
    }
    expect(codes.get('OPENED')).toBeUndefined()
    expect(codes.get('VAULT_CORRUPTED')).toBeGreaterThan(0)
  })

  it('a blob moved under another record’s key is refused, and nothing is overwritten', async () => {
    const world = await TwinWorld.create(1)
    const { alice } = await aliceAtRest(world)
    const records = (await alice.backend.keys()).filter((k) => k !== HEADER_KEY)
    const [a, b] = [records[0]!, records[1]!]
    const [blobA, blobB] = [(await alice.backend.get(a))!, (await alice.backend.get(b))!]
    await alice.backend.put(a, blobB)
    await alice.backend.put(b, blobA)
    const before = await bytesOf(alice.backend)
    const app = await tab(world, alice.backend)
    expect(await shown(app.unlock(PASSPHRASE))).toEqual({ area: 'vault', code: 'VAULT_CORRUPTED' })
    expect(await bytesOf(alice.backend)).toEqual(before)
    await app.stop()
  })

  it('a wrong passphrase changes nothing, and the right one still opens it', async () => {
    const world = await TwinWorld.create(1)
    const { alice } = await aliceAtRest(world)
    const before = await bytesOf(alice.backend)
    const app = await tab(world, alice.backend)
    for (const wrong of ['correct horse batterY', 'x', ' correct horse battery']) {
      expect(await shown(app.unlock(wrong))).toEqual({ area: 'vault', code: 'WRONG_PASSPHRASE' })
      expect(app.snapshot().phase).toBe('unlock')
    }
    expect(await shown(app.unlock(''))).toEqual({ area: 'vault', code: 'EMPTY_PASSPHRASE' })
    expect(await bytesOf(alice.backend)).toEqual(before)
    await app.unlock(PASSPHRASE)
    expect(app.snapshot().phase).toBe('ready')
    await app.stop()
  })
})

describe('backups that are not this person’s', () => {
  it('a backup of another identity cannot replace the account on this device: refused, nothing overwritten', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    const alicesBackup = await alice.app.exportBackup('alice backup passphrase', true)
    await bob.app.stop()
    const before = await bytesOf(bob.backend)
    const app = await tab(world, bob.backend)
    expect(app.snapshot().phase).toBe('unlock')
    expect(
      await shown(app.importBackup(alicesBackup, 'alice backup passphrase', 'a new passphrase')),
    ).toEqual({
      area: 'vault',
      code: 'VAULT_EXISTS',
    })
    expect(await bytesOf(bob.backend)).toEqual(before)
    await app.unlock(PASSPHRASE)
    expect(app.peerId).toBe(bob.peerId)
    await app.stop()
    await alice.app.stop()
  })

  it('on an empty device it makes the device that identity (a backup is the identity key), under a new passphrase', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const file = await alice.app.exportBackup('alice backup passphrase', false)
    await alice.app.stop()
    const backend = new MemoryVaultBackend()
    const app = await tab(world, backend)
    expect(app.snapshot().phase).toBe('create')
    await app.importBackup(file, 'alice backup passphrase', 'another passphrase')
    expect(app.snapshot().phase).toBe('ready')
    expect(app.peerId).toBe(alice.peerId)
    await app.stop()
  })

  it('a wrong backup passphrase, or a damaged or foreign file, writes nothing on an empty device', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const file = await alice.app.exportBackup('alice backup passphrase', false)
    await alice.app.stop()
    const damaged = file.map((b, i) => (i === file.length - 3 ? b ^ 1 : b))
    const cases: Array<[Uint8Array, string, unknown]> = [
      [file, 'not the backup passphrase', { area: 'vault', code: 'WRONG_PASSPHRASE' }],
      [damaged, 'alice backup passphrase', { area: 'vault', code: 'INVALID_BACKUP' }],
      [file.subarray(0, 100), 'alice backup passphrase', { area: 'vault', code: 'INVALID_BACKUP' }],
      [
        new TextEncoder().encode('{"not": "a backup"}'),
        'alice backup passphrase',
        { area: 'vault', code: 'INVALID_BACKUP' },
      ],
      [file, 'alice backup passphrase', { area: 'vault', code: 'SHORT_PASSPHRASE' }], // the new vault passphrase
    ]
    for (const [bytes, passphrase, expected] of cases) {
      const backend = new MemoryVaultBackend()
      const app = await tab(world, backend)
      const newPassphrase =
        expected !== null && (expected as { code: string }).code === 'SHORT_PASSPHRASE'
          ? 'short'
          : 'a new passphrase'
      expect(await shown(app.importBackup(bytes, passphrase, newPassphrase))).toEqual(expected)
      expect(app.snapshot().phase).toBe('create')
      expect(await backend.keys()).toEqual([])
      await app.stop()
    }
  })
})

describe('what the vault does not protect against', () => {
  it('an older blob of the same record put back (a rollback from an earlier disk copy) opens: blobs authenticate their name, not their age', async () => {
    const backend = new MemoryVaultBackend()
    const vault = await Vault.create(backend, PASSPHRASE, TEST_KDF)
    await vault.put('identity/opk-next', Uint8Array.of(1))
    const [key] = (await backend.keys()).filter((k) => k !== HEADER_KEY)
    const older = (await backend.get(key!))!
    await vault.put('identity/opk-next', Uint8Array.of(2))
    await backend.put(key!, older)
    const reopened = await Vault.unlock(backend, PASSPHRASE, TEST_KDF)
    expect(await reopened.get('identity/opk-next')).toEqual(Uint8Array.of(1))
  })
})
