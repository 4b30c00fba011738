import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { identityFromEd25519Private, SIGNED_PREKEY_ROTATION_MS } from '@paloma/core/crypto/index.ts'
import { decodePreKeyBundleUnverified } from '@paloma/core/crypto/prekeys.ts'
import { prekeyUpkeep, type PrekeyUpkeepInit } from '../../../src/app/prekey-upkeep.ts'
import { AppRecords } from '../../../src/app/records.ts'
import { createScheduler, type Scheduler } from '../../../src/app/scheduler.ts'
import { VaultProtocolStores } from '../../../src/storage/protocol-stores.ts'
import { MemoryVaultBackend, Vault } from '../../../src/storage/vault.ts'
import { TEST_KDF } from '../../support/people.ts'
import { seededRng } from '../../support/rng.ts'
import { TwinNetwork, TwinWorld } from '../../support/twins.ts'

let scheduler: Scheduler
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  scheduler = createScheduler()
})
afterEach(() => {
  scheduler.stop()
  vi.useRealTimers()
})

async function setup(relayCount = 2, init: PrekeyUpkeepInit = {}) {
  const world = await TwinWorld.create(relayCount)
  const key = await generateKeyPair('Ed25519')
  const identity = await identityFromEd25519Private(key.raw)
  const vault = await Vault.create(new MemoryVaultBackend(), 'correct horse battery', TEST_KDF)
  const records = new AppRecords(vault)
  const stores = new VaultProtocolStores(vault, identity)
  const network = new TwinNetwork(
    world,
    key,
    world.relays.map((r) => r.addr),
    async () => {},
  )
  await network.start()
  const upkeep = prekeyUpkeep({
    lowWater: 20,
    batch: 50,
    firstTopUpMs: 2000,
    topUpCheckMs: 600_000,
    ...init,
  })({
    records,
    stores,
    identity,
    network,
    scheduler,
    name: 'alice',
    now: Date.now,
    rng: seededRng(7),
  })
  const held = () => world.relays.map((r) => r.preKeys.get(network.peerId)?.length ?? 0)
  const published = () => world.publications.filter((p) => p.peer === network.peerId)
  return { world, network, upkeep, records, stores, held, published }
}

/** Moves the clock on, then waits for what the timers started (crypto and the vault run on real time). */
async function advance(upkeep: { settled(): Promise<void> }, ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms)
  await upkeep.settled()
}

describe('prekey upkeep', () => {
  it('publishes at start and stocks every relay with one-time prekeys, ids never reused', async () => {
    const { world, upkeep, held, published, stores } = await setup()
    upkeep.start()
    await advance(upkeep, 0)
    expect(published()).toHaveLength(1)
    expect(published()[0]!.profile.name).toBe('alice')
    await advance(upkeep, 2000)
    expect(held()).toEqual([50, 50])
    const ids = world.relays.flatMap((r) => [...r.preKeys.values()].flat())
    expect(ids).toHaveLength(100)
    // The private halves are in the vault: every uploaded key can be used.
    expect(await stores.direct.preKeys.loadPreKey(1)).toBeDefined()
    expect(await stores.direct.preKeys.loadPreKey(100)).toBeDefined()
  })

  it('tops a relay up only when it holds fewer than the low-water mark', async () => {
    const { world, upkeep, held, network } = await setup()
    upkeep.start()
    await advance(upkeep, 2000)
    world.relays[0]!.preKeys.get(network.peerId)!.splice(0, 31) // 19 left there
    world.relays[1]!.preKeys.get(network.peerId)!.splice(0, 30) // 20 left
    await advance(upkeep, 600_000)
    expect(held()).toEqual([69, 20])
  })

  it('after a restore, replaces every relay’s stock, and keeps trying until every relay took it', async () => {
    const { world, upkeep, held, records, network } = await setup()
    world.relays[0]!.preKeys.set(network.peerId, [new Uint8Array(1)]) // made after the backup
    world.relays[1]!.up = false
    await records.setPreKeyReset(true)
    await upkeep.topUp()
    expect(held()).toEqual([50, 0])
    expect(await records.preKeyResetPending()).toBe(true)
    world.relays[1]!.up = true
    await upkeep.topUp()
    expect(held()).toEqual([50, 50])
    expect(await records.preKeyResetPending()).toBe(false)
  })

  it('retries a failed publication with backoff until the directory takes it', async () => {
    const { world, network, upkeep, published } = await setup()
    world.directoryDown = true
    upkeep.start()
    // Tries at 0, 2 and 6 s (the publication loop sleeps between tries: nothing to wait for but time).
    await vi.advanceTimersByTimeAsync(7000)
    expect(published()).toHaveLength(0)
    world.directoryDown = false
    await vi.advanceTimersByTimeAsync(8000) // the try at 14 s
    await world.published(network.peerId)
    expect(published()).toHaveLength(1)
  })

  it('rotates the signed prekey on its own schedule and publishes the new bundle', async () => {
    // (Top-ups every week only, so the week the clock moves through costs ~170 rotation checks, no more.)
    const { upkeep, published } = await setup(2, { topUpCheckMs: SIGNED_PREKEY_ROTATION_MS })
    upkeep.start()
    await advance(upkeep, 0)
    const spkOf = (i: number) => decodePreKeyBundleUnverified(published()[i]!.profile.bundle).signedPreKey.id
    expect(spkOf(0)).toBe(1)
    await advance(upkeep, SIGNED_PREKEY_ROTATION_MS + 3_600_000)
    // Republished (12 h) several times meanwhile; the rotation made a new signed prekey, published.
    expect(spkOf(published().length - 1)).toBe(2)
  })

  it('republishes every 12 h, each time with a newer record (kad-dht drops records after 48 h)', async () => {
    const { upkeep, published } = await setup()
    upkeep.start()
    await advance(upkeep, 0)
    await advance(upkeep, 12 * 3_600_000 - 1)
    expect(published()).toHaveLength(1)
    await advance(upkeep, 1)
    await advance(upkeep, 12 * 3_600_000)
    expect(published()).toHaveLength(3)
    const seqs = published().map((p) => p.profile.seq)
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs)
  })

  it('publishes again when a relay that was lost comes back', async () => {
    const { world, upkeep, published } = await setup()
    upkeep.start()
    await advance(upkeep, 0)
    world.setRelayUp(world.relays[0]!, false)
    world.setRelayUp(world.relays[0]!, true)
    await advance(upkeep, 0)
    expect(published()).toHaveLength(2)
  })
})
