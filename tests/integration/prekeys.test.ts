/**
 * One-time prekeys on a relay end to end: real libp2p nodes (WebSockets on loopback, Noise, Yamux), the
 * prekey service on a relay-like node, the client from packages/net, and an X3DH session that uses a key
 * taken from the relay.
 */
import { describe, expect, it } from 'vitest'
import { join } from 'node:path'
import type { Libp2p } from 'libp2p'
import type { PrivateKey } from '@libp2p/interface'
import {
  PreKeysError,
  countOneTimePreKeys,
  takeOneTimePreKey,
  uploadOneTimePreKeys,
} from '@paloma/net/prekeys-client.ts'
import {
  FrameReader,
  PREKEYS_PROTOCOL,
  encodeFrame,
  signOneTimePreKey,
} from '@paloma/core/protocol/prekeys.ts'
import { identityFromEd25519Private, type IdentityKeyPair } from '@paloma/core/crypto/keys.ts'
import {
  createPreKeyBundle,
  generateOneTimePreKeys,
  generateSignedPreKey,
  verifyPreKeyBundle,
  type OneTimePreKeyRecord,
} from '@paloma/core/crypto/prekeys.ts'
import { decryptMessage, encryptMessage, processPreKeyBundle } from '@paloma/core/crypto/session.ts'
import { createInMemoryStores } from '@paloma/core/crypto/stores.ts'
import { secureRandom } from '@paloma/core/crypto/primitives.ts'
import { CryptoError, DuplicateMessageError } from '@paloma/core/crypto/errors.ts'
import type { PreKeyServiceInit } from '../../relay-node/src/prekeys/index.ts'
import {
  addrOf,
  keyFromSeed,
  startClient,
  startPreKeyRelay,
  type PreKeyRelayNode,
} from './fixtures/prekeys-nodes.ts'
import { waitFor } from './fixtures/nodes.ts'
import { cleanupAfterEach, frameTestKit } from './fixtures/frame-tests.ts'

const { nodes, tempDir } = cleanupAfterEach()

interface Peer {
  node: Libp2p
  key: PrivateKey
  identity: IdentityKeyPair
}

async function peer(seed: number): Promise<Peer> {
  const key = await keyFromSeed(seed)
  const node = await startClient(key)
  nodes.push(node)
  return { node, key, identity: await identityFromEd25519Private(key.raw) }
}

async function setup(init: PreKeyServiceInit = {}): Promise<{
  relay: PreKeyRelayNode
  alice: Peer
  bob: Peer
  eve: Peer
}> {
  const relay = await startPreKeyRelay(init)
  nodes.push(relay)
  const [alice, bob, eve] = await Promise.all([peer(11), peer(12), peer(13)])
  return { relay, alice, bob, eve }
}

const tempDb = (): string => join(tempDir('paloma-prekeys-'), 'prekeys.sqlite')

/** `count` fresh one-time prekeys from `startId`, and their signed records. */
async function makeKeys(
  owner: IdentityKeyPair,
  startId: number,
  count: number,
): Promise<{ keys: OneTimePreKeyRecord[]; records: Uint8Array[] }> {
  const keys = await generateOneTimePreKeys(startId, count, secureRandom)
  const records = await Promise.all(
    keys.map((k) => signOneTimePreKey(owner.seed, owner.publicKey, k.id, k.keyPair.publicKey)),
  )
  return { keys, records }
}

const { expectCode, rawExchange } = frameTestKit({
  error: PreKeysError,
  protocol: PREKEYS_PROTOCOL,
  encodeFrame,
  newReader: () => new FrameReader(),
})

describe('one-time prekeys on a relay', () => {
  it('serves each uploaded key once, then none', async () => {
    const { relay, alice, bob } = await setup()
    const { keys, records } = await makeKeys(bob.identity, 1, 10)
    expect(await uploadOneTimePreKeys(bob.node, addrOf(relay), records)).toEqual({ stored: 10, total: 10 })
    expect(await countOneTimePreKeys(bob.node, addrOf(relay))).toBe(10)

    const taken = []
    for (let i = 0; i < 10; i++) {
      const opk = await takeOneTimePreKey(alice.node, addrOf(relay), bob.node.peerId)
      expect(opk).toBeDefined()
      taken.push(opk)
    }
    expect(new Set(taken.map((k) => k?.id)).size).toBe(10)
    for (const k of taken) {
      const mine = keys.find((x) => x.id === k?.id)
      expect(k?.publicKey).toEqual(mine?.keyPair.publicKey)
    }
    expect(await takeOneTimePreKey(alice.node, addrOf(relay), bob.node.peerId.toString())).toBeUndefined()
    expect(await countOneTimePreKeys(bob.node, addrOf(relay))).toBe(0)
    expect(relay.services.prekeys.stats()).toEqual({ keys: 0, owners: 0, served: 10 })
  })

  it('hands each key to at most one of 20 concurrent takers', async () => {
    const { relay, alice, bob, eve } = await setup()
    const { records } = await makeKeys(bob.identity, 100, 5)
    await uploadOneTimePreKeys(bob.node, addrOf(relay), records)
    // Four takers, five takes each at once (yamux refuses more than 10 unacknowledged new streams on
    // one connection, so one peer never opens 20 at once).
    const extra = await Promise.all([peer(14), peer(15)])
    const takers = [alice.node, eve.node, ...extra.map((p) => p.node)]
    await Promise.all(takers.map((n) => n.dial(addrOf(relay))))
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        takeOneTimePreKey(takers[i % 4] as Libp2p, addrOf(relay), bob.node.peerId),
      ),
    )
    const ids = results.filter((r) => r !== undefined).map((r) => r.id)
    expect(ids).toHaveLength(5)
    expect(new Set(ids)).toEqual(new Set([100, 101, 102, 103, 104]))
    expect(results.filter((r) => r === undefined)).toHaveLength(15)
  })

  it('only lets the owner upload and count its own keys', async () => {
    const { relay, bob, eve } = await setup()
    const { records } = await makeKeys(bob.identity, 1, 3)
    // Eve relays Bob's genuine records as her own upload: they are checked against Eve's key.
    await expectCode(uploadOneTimePreKeys(eve.node, addrOf(relay), records), 'BAD_SIGNATURE')
    expect(await countOneTimePreKeys(eve.node, addrOf(relay))).toBe(0)
    expect(relay.services.prekeys.stats().keys).toBe(0)
    // Eve's own keys land under Eve, never under Bob.
    await uploadOneTimePreKeys(eve.node, addrOf(relay), (await makeKeys(eve.identity, 1, 2)).records)
    expect(await countOneTimePreKeys(bob.node, addrOf(relay))).toBe(0)
    expect(relay.services.prekeys.count(eve.node.peerId.toString())).toBe(2)
  })

  it('refuses forged and malformed records at upload, storing nothing of the frame', async () => {
    const { relay, bob, eve } = await setup()
    const good = (await makeKeys(bob.identity, 1, 4)).records
    // Eve signs a key in Bob's name (binding Bob's public key): the relay refuses it.
    const forged = await signOneTimePreKey(
      eve.identity.seed,
      bob.identity.publicKey,
      50,
      new Uint8Array(32).fill(9),
    )
    const err = await expectCode(
      uploadOneTimePreKeys(bob.node, addrOf(relay), [...good, forged]),
      'BAD_SIGNATURE',
    )
    expect(err.message).toMatch(/opks\[4\]/)
    expect(err.retryable).toBe(false)
    await expectCode(
      uploadOneTimePreKeys(bob.node, addrOf(relay), [good[0] as Uint8Array, Uint8Array.of(1, 2, 3)]),
      'BAD_RECORD',
    )
    expect(await countOneTimePreKeys(bob.node, addrOf(relay))).toBe(0)
  })

  it('answers the per-owner cap with OWNER_QUOTA and never re-serves a served id', async () => {
    const { relay, alice, bob } = await setup({ maxKeysPerOwner: 15 })
    const first = await makeKeys(bob.identity, 1, 10)
    const second = await makeKeys(bob.identity, 11, 10)
    await uploadOneTimePreKeys(bob.node, addrOf(relay), first.records)
    const full = await expectCode(
      uploadOneTimePreKeys(bob.node, addrOf(relay), second.records),
      'OWNER_QUOTA',
    )
    expect(full.message).toMatch(/at most 15 .* at most 5 more fit/)
    expect(await countOneTimePreKeys(bob.node, addrOf(relay))).toBe(10)
    expect(await uploadOneTimePreKeys(bob.node, addrOf(relay), second.records.slice(0, 5))).toEqual({
      stored: 5,
      total: 15,
    })
    // A retried upload stores nothing twice, and a served key cannot be put back.
    const opk = await takeOneTimePreKey(alice.node, addrOf(relay), bob.node.peerId)
    expect(opk?.id).toBe(1)
    expect(await uploadOneTimePreKeys(bob.node, addrOf(relay), first.records)).toEqual({
      stored: 0,
      total: 14,
    })
    // After a restore, `replace` starts over (old keys and served ids dropped).
    const fresh = await makeKeys(bob.identity, 1, 3)
    expect(await uploadOneTimePreKeys(bob.node, addrOf(relay), fresh.records, { replace: true })).toEqual({
      stored: 3,
      total: 3,
    })
    expect((await takeOneTimePreKey(alice.node, addrOf(relay), bob.node.peerId))?.publicKey).toEqual(
      fresh.keys[0]?.keyPair.publicKey,
    )
  })

  it('rate limits takes per taker with RATE_LIMITED', async () => {
    let now = 1_000_000
    const { relay, alice, bob, eve } = await setup({
      takeRateLimit: { burst: 3, perSecond: 1 },
      now: () => now,
    })
    await uploadOneTimePreKeys(bob.node, addrOf(relay), (await makeKeys(bob.identity, 1, 10)).records)
    for (let i = 0; i < 3; i++)
      expect(await takeOneTimePreKey(alice.node, addrOf(relay), bob.node.peerId)).toBeDefined()
    const limited = await expectCode(
      takeOneTimePreKey(alice.node, addrOf(relay), bob.node.peerId),
      'RATE_LIMITED',
    )
    expect(limited.retryable).toBe(true)
    // Another taker has its own bucket; Alice gets one token back per second.
    expect(await takeOneTimePreKey(eve.node, addrOf(relay), bob.node.peerId)).toBeDefined()
    now += 1000
    expect(await takeOneTimePreKey(alice.node, addrOf(relay), bob.node.peerId)).toBeDefined()
    expect(await countOneTimePreKeys(bob.node, addrOf(relay))).toBe(5)
  })

  it('answers bad owners and malformed frames with codes', async () => {
    const { relay, alice } = await setup()
    await expectCode(takeOneTimePreKey(alice.node, addrOf(relay), 'QmNotAPeerId'), 'BAD_OWNER')
    const badOwner = await rawExchange(alice.node, relay, [{ t: 'take', owner: 'QmTooShort' }])
    expect(badOwner).toMatchObject([{ t: 'err', code: 'BAD_OWNER' }])
    const garbage = await rawExchange(alice.node, relay, [Uint8Array.of(3, 0xff, 0xff, 0xff)])
    expect(garbage).toMatchObject([{ t: 'err', code: 'BAD_FRAME' }])
    const huge = await rawExchange(alice.node, relay, [Uint8Array.of(0xff, 0xff, 0xff, 0x7f)])
    expect(huge).toMatchObject([{ t: 'err', code: 'TOO_LARGE' }])
    const unexpected = await rawExchange(alice.node, relay, [{ t: 'none' }])
    expect(unexpected).toMatchObject([{ t: 'err', code: 'UNEXPECTED_FRAME' }])
    // Several requests on one stream are answered in order.
    const many = await rawExchange(alice.node, relay, [
      { t: 'count' },
      { t: 'take', owner: alice.node.peerId.toString() },
    ])
    expect(many).toEqual([{ t: 'count', n: 0 }, { t: 'none' }])
  })

  it('refuses, client side, a record the owner did not sign (a lying relay)', async () => {
    const { bob, eve } = await setup()
    const liar = await startClient(undefined, true)
    nodes.push(liar)
    const forged = await signOneTimePreKey(
      eve.identity.seed,
      bob.identity.publicKey,
      7,
      new Uint8Array(32).fill(1),
    )
    await liar.handle(PREKEYS_PROTOCOL, async (stream) => {
      for await (const _ of stream) {
        stream.send(encodeFrame({ t: 'opk', rec: forged }))
        break
      }
      await stream.close()
    })
    const err = await expectCode(takeOneTimePreKey(eve.node, addrOf(liar), bob.node.peerId), 'BAD_RECORD')
    expect(err.retryable).toBe(false)
  })

  it('keeps untaken keys across a relay restart on the same database file', async () => {
    const path = tempDb()
    const privateKey = await keyFromSeed(3)
    const relay1 = await startPreKeyRelay({ path }, { privateKey })
    const [alice, bob] = await Promise.all([peer(21), peer(22)])
    const { records } = await makeKeys(bob.identity, 1, 6)
    await uploadOneTimePreKeys(bob.node, addrOf(relay1), records)
    const before = [
      await takeOneTimePreKey(alice.node, addrOf(relay1), bob.node.peerId),
      await takeOneTimePreKey(alice.node, addrOf(relay1), bob.node.peerId),
    ].map((k) => k?.id)
    await relay1.stop()
    await waitFor(() => alice.node.getConnections(relay1.peerId).length === 0)

    const relay2 = await startPreKeyRelay({ path }, { privateKey })
    nodes.push(relay2)
    expect(relay2.services.prekeys.count(bob.node.peerId.toString())).toBe(4)
    const after = []
    for (;;) {
      const k = await takeOneTimePreKey(alice.node, addrOf(relay2), bob.node.peerId)
      if (k === undefined) break
      after.push(k.id)
    }
    expect(before).toEqual([1, 2])
    expect(after).toEqual([3, 4, 5, 6])
    // Served ids are remembered across the restart too.
    expect(await uploadOneTimePreKeys(bob.node, addrOf(relay2), records)).toEqual({ stored: 0, total: 0 })
  })

  it('runs X3DH with a key taken from the relay; the key is used once and a replay is refused', async () => {
    const { relay, alice, bob } = await setup()
    const now = Date.now()
    const opts = { now, rng: secureRandom }
    // Bob: a signed prekey for the DHT bundle, one-time prekeys in his store and on the relay.
    const bobStores = createInMemoryStores(bob.identity)
    const spk = await generateSignedPreKey(1, secureRandom, now)
    await bobStores.signedPreKeys.storeSignedPreKey(spk)
    const { keys, records } = await makeKeys(bob.identity, 1, 3)
    for (const k of keys) await bobStores.preKeys.storePreKey(k)
    await uploadOneTimePreKeys(bob.node, addrOf(relay), records)
    const dhtBundle = await createPreKeyBundle(bob.identity, spk, [])

    // Alice: verifies the last-resort bundle from the DHT, adds the one-time prekey from the relay.
    const aliceStores = createInMemoryStores(alice.identity)
    const bobKey = bob.node.peerId.publicKey?.raw as Uint8Array
    const verified = await verifyPreKeyBundle(dhtBundle, bobKey)
    expect(verified.oneTimePreKeys).toEqual([])
    const taken = await takeOneTimePreKey(alice.node, addrOf(relay), bob.node.peerId)
    expect(taken).toBeDefined()
    const bundle = { ...verified, oneTimePreKeys: [taken as NonNullable<typeof taken>] }
    const bobAddr = bob.node.peerId.toString()
    const aliceAddr = alice.node.peerId.toString()
    await processPreKeyBundle(bobAddr, bobKey, bundle, aliceStores, opts)
    const hello = new TextEncoder().encode('hello Bob')
    const msg = await encryptMessage(bobAddr, hello, aliceStores, opts)
    expect(msg.type).toBe('prekey')

    expect(await bobStores.preKeys.loadPreKey(taken?.id as number)).toBeDefined()
    expect(await decryptMessage(aliceAddr, msg, bobStores, opts)).toEqual(hello)
    // The one-time prekey is gone from Bob's store; the others remain.
    expect(await bobStores.preKeys.loadPreKey(taken?.id as number)).toBeUndefined()
    expect(bobStores.preKeys.size).toBe(2)
    // The same initial message again: refused, never decrypted twice.
    const replay = await decryptMessage(aliceAddr, msg, bobStores, opts).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(replay).toBeInstanceOf(CryptoError)
    expect(replay).toBeInstanceOf(DuplicateMessageError)
    // And on a device that lost the session but kept its keys: the one-time prekey is gone, so refused.
    const fresh = { ...bobStores, sessions: createInMemoryStores(bob.identity).sessions }
    await expect(decryptMessage(aliceAddr, msg, fresh, opts)).rejects.toBeInstanceOf(CryptoError)
  })
})
