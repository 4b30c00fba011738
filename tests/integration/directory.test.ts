/**
 * The directory on a DHT of five real relay processes: profiles, usernames with collisions, records
 * refused by relays and by clients, and resolution with two relays stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { equals } from 'uint8arrays/equals'
import { freePort, startRelayMesh, type RelayProcess } from '../support/relays.ts'
import { createPalomaNode, type PalomaNode } from '@paloma/net/node.ts'
import { Directory, DirectoryUnavailableError, ProfileNotFoundError } from '@paloma/net/directory.ts'
import { dhtValidators, profileHighWater } from '@paloma/net/dht-records.ts'
import {
  MAX_PROFILE_BYTES,
  PROFILE_NAMESPACE,
  decodeProfileRecord,
  encodeProfileRecord,
  fingerprint,
  nameCid,
  profileKey,
  signProfileRecord,
} from '@paloma/core/protocol/directory.ts'

interface Client extends PalomaNode {
  privateKey: PrivateKey
  peerId: string
  directory: Directory
}

const relays: RelayProcess[] = []
const clients: Client[] = []
let relayAddrs: string[] = []

async function client(): Promise<Client> {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createPalomaNode({ privateKey, relays: relayAddrs, allowPrivateAddresses: true })
  await node.libp2p.start()
  await dhtPeers(
    node,
    relays.filter((r) => r.process.exitCode == null && r.process.signalCode == null).length,
  )
  const directory = new Directory(node.libp2p, privateKey, { timeoutMs: 20_000 })
  const c = { ...node, privateKey, peerId: node.libp2p.peerId.toString(), directory }
  clients.push(c)
  return c
}

/** Waits until the client holds a connection to, and a routing-table entry for, `count` relays. */
async function dhtPeers(node: PalomaNode, count: number): Promise<void> {
  const table = (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable
  const deadline = Date.now() + 20_000
  while (node.relays.connectedCount() < count || table.size < count) {
    if (Date.now() > deadline)
      throw new Error(`only ${table.size} of ${count} relays in the DHT routing table`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The relay PeerIds of the circuit addresses among `addrs`. */
function circuitRelayIds(addrs: string[]): string[] {
  return addrs
    .filter((a) => a.includes('/p2p-circuit'))
    .map((a) => a.split('/p2p-circuit')[0]!.split('/p2p/')[1]!)
}

/** Puts raw bytes through the client's DHT API; returns how many relays stored them and how many refused. */
async function rawPut(
  c: Client,
  key: Uint8Array,
  value: Uint8Array,
): Promise<{ stored: number; refused: number }> {
  let stored = 0
  let refused = 0
  for await (const e of c.libp2p.services.dht.put(key, value, { signal: AbortSignal.timeout(15_000) })) {
    if (e.name === 'PEER_RESPONSE' && e.messageName === 'PUT_VALUE') stored++
    if (e.name === 'QUERY_ERROR') refused++
  }
  return { stored, refused }
}

/** Every record value the relays return for `key` (asked by a client that never stored it). */
async function valuesServed(c: Client, key: Uint8Array): Promise<Uint8Array[]> {
  const served: Uint8Array[] = []
  try {
    for await (const e of c.libp2p.services.dht.get(key, { signal: AbortSignal.timeout(15_000) })) {
      if (e.name === 'PEER_RESPONSE' && e.messageName === 'GET_VALUE' && e.record != null)
        served.push(e.record.value)
    }
  } catch {
    // kad-dht may fail after the query (correction refused, nothing found): the responses count
  }
  return served
}

beforeAll(async () => {
  relays.push(...(await startRelayMesh(5)))
  relayAddrs = relays.map((r) => r.multiaddr)
}, 60_000)

afterAll(async () => {
  await Promise.all(clients.map(async (c) => c.libp2p.stop()))
  await Promise.all(relays.map((r) => r.stop()))
})

describe('directory on five relays', () => {
  const bundle = new Uint8Array(1200).map((_, i) => i % 251)
  let alice: Client
  let bob: Client
  let dave: Client
  let mallory: Client

  it('publishes a profile and resolves it from another peer', async () => {
    ;[alice, bob, dave, mallory] = await Promise.all([client(), client(), client(), client()])
    const published = await alice.directory.publish({ name: 'Alice', bundle })
    expect(published.name).toBe('alice')
    expect(published.relays.length).toBeGreaterThan(0)
    expect(published.replicas).toBe(5)

    const got = await bob.directory.resolvePeer(alice.peerId)
    expect(got.bundle).toEqual(bundle)
    expect(got.seq).toBe(published.seq)
    expect(got.fingerprint).toBe(fingerprint(alice.privateKey.publicKey.raw))

    const addrs = await bob.directory.findPeer(alice.peerId)
    expect(addrs.length).toBeGreaterThan(0)
    for (const a of addrs) expect(a.toString()).toMatch(new RegExp(`/p2p-circuit/.*p2p/${alice.peerId}$`))
    // the relayed (limited) address proves the route; WebRTC upgrades are the chat layer's business
    const relayed = addrs.find((a) => !a.toString().includes('/webrtc'))!
    const conn = await bob.libp2p.dial(relayed, { signal: AbortSignal.timeout(10_000) })
    expect(conn.remotePeer.toString()).toBe(alice.peerId)

    await expect(bob.directory.resolvePeer(mallory.peerId)).rejects.toBeInstanceOf(ProfileNotFoundError)
  })

  it('shows every claimant of a colliding username, and only real claimants', async () => {
    await dave.directory.publish({ name: '@ALICE', bundle: new Uint8Array(64) })
    // mallory provides the name's CID but her signed profile does not claim it
    await mallory.directory.publish({ name: 'mallory', bundle: new Uint8Array(64) })
    for await (const _ of mallory.libp2p.services.dht.provide(nameCid('alice'))) void _

    const found = await bob.directory.lookupName('alice')
    expect(found.map((c) => c.peerId).sort()).toEqual([alice.peerId, dave.peerId].sort())
    expect(new Set(found.map((c) => c.fingerprint)).size).toBe(2)
    expect(found.every((c) => c.name === 'alice')).toBe(true)
    expect(await bob.directory.lookupName('nobody-here')).toEqual([])
  })

  it('relays and clients refuse forged, oversized, expired, replayed-older and wrong-namespace records', async () => {
    const key = profileKey(alice.peerId)
    const current = await bob.directory.resolvePeer(alice.peerId)
    const genuine = decodeProfileRecord(
      (
        await signProfileRecord(
          alice.privateKey.publicKey.raw,
          { seq: current.seq, issued: current.issued, name: 'alice', relays: current.relays, bundle },
          (d) => alice.privateKey.sign(d),
        )
      ).bytes,
    )
    const signAlice = (over: Partial<Parameters<typeof signProfileRecord>[1]>) =>
      signProfileRecord(
        alice.privateKey.publicKey.raw,
        { seq: current.seq + 10, issued: Date.now(), relays: [], bundle: new Uint8Array(1), ...over },
        (d) => alice.privateKey.sign(d),
      ).then((r) => r.bytes)
    const bad: Record<string, Uint8Array> = {
      forged: encodeProfileRecord({ ...genuine, seq: current.seq + 5, bundle: new Uint8Array(9) }),
      impostor: (
        await signProfileRecord(
          mallory.privateKey.publicKey.raw,
          { seq: current.seq + 5, issued: Date.now(), relays: [], bundle },
          (d) => mallory.privateKey.sign(d),
        )
      ).bytes,
      oversized: new Uint8Array(MAX_PROFILE_BYTES + 100).fill(0xa1),
      expired: await signAlice({ issued: Date.now() - 3_600_000, expires: Date.now() - 60_000 }),
      future: await signAlice({ issued: Date.now() + 3_600_000 }),
      older: await signAlice({ seq: current.seq - 1 }),
    }
    for (const [what, value] of Object.entries(bad)) {
      const result = await rawPut(mallory, key, value)
      expect({ what, ...result }).toMatchObject({ what, stored: 0 })
      expect(result.refused, what).toBeGreaterThan(0)
      // a client that holds the bad copy itself (mallory stored it locally) still refuses it
      expect(() => dhtValidators[PROFILE_NAMESPACE]!(key, value), what).toThrow()
    }
    const wrongNs = new TextEncoder().encode(`/paloma-other/${alice.peerId}`)
    expect(await rawPut(mallory, wrongNs, bad.older!)).toMatchObject({ stored: 0 })
    const noNamespace = new TextEncoder().encode(`paloma-profile-${alice.peerId}`)
    expect(await rawPut(mallory, noNamespace, bad.older!)).toMatchObject({ stored: 0 })
    const pk = new TextEncoder().encode(`/pk/${alice.peerId}`)
    expect(await rawPut(mallory, pk, alice.privateKey.publicKey.raw)).toMatchObject({ stored: 0 })

    // no relay serves any of them; a fresh client and mallory herself still resolve the genuine record
    const carol = await client()
    const served = await valuesServed(carol, key)
    expect(served.length).toBeGreaterThanOrEqual(3)
    for (const v of served) expect(Object.values(bad).some((b) => equals(b, v))).toBe(false)
    expect((await mallory.directory.resolvePeer(alice.peerId)).seq).toBe(current.seq)
    expect((await carol.directory.resolvePeer(alice.peerId)).bundle).toEqual(bundle)
    expect(await valuesServed(carol, wrongNs)).toEqual([])
  })

  it('a newer publish wins and the older one is refused as a replay', async () => {
    const before = await bob.directory.resolvePeer(alice.peerId)
    const next = await alice.directory.publish({ name: 'alice', bundle: new Uint8Array(32).fill(2) })
    expect(next.seq).toBeGreaterThan(before.seq)
    const erin = await client()
    expect((await erin.directory.resolvePeer(alice.peerId)).seq).toBe(next.seq)
  })

  it('a restarted publisher whose clock went back still publishes a newer record', async () => {
    const current = await bob.directory.resolvePeer(alice.peerId)
    // a restart (this process forgets every seq it saw) with a clock one hour behind
    profileHighWater.clear()
    const restarted = new Directory(alice.libp2p, alice.privateKey, { now: () => Date.now() - 3_600_000 })
    const published = await restarted.publish({ name: 'alice', bundle })
    expect(published.seq).toBeGreaterThan(current.seq)
    expect(published.replicas).toBe(5)
    expect((await bob.directory.resolvePeer(alice.peerId)).seq).toBe(published.seq)
  })

  it('says the directory is unavailable when no relay answers', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const ghost = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const node = await createPalomaNode({
      privateKey,
      relays: [`/ip4/127.0.0.1/tcp/${await freePort()}/ws/p2p/${ghost}`],
      allowPrivateAddresses: true,
    })
    await node.libp2p.start()
    clients.push({ ...node, privateKey, peerId: '', directory: undefined as never })
    const lonely = new Directory(node.libp2p, privateKey, { timeoutMs: 1000 })
    await expect(lonely.resolvePeer(alice.peerId)).rejects.toBeInstanceOf(DirectoryUnavailableError)
    await expect(lonely.lookupName('alice')).rejects.toBeInstanceOf(DirectoryUnavailableError)
  })

  it('with 2 of 5 relays stopped: resolves profiles and names, and finds a peer that moved', async () => {
    // stop the two relays dave holds its reservations on: dave must move to the survivors
    const reservedOn = new Set(circuitRelayIds(dave.libp2p.getMultiaddrs().map(String)))
    expect(reservedOn.size).toBeGreaterThan(0)
    const victims = [...relays].sort(
      (a, b) => Number(reservedOn.has(b.peerId)) - Number(reservedOn.has(a.peerId)),
    )
    await Promise.all(victims.slice(0, 2).map((r) => r.stop('SIGKILL')))
    const live = new Set(victims.slice(2).map((r) => r.peerId))

    const frank = await client()
    const profile = await frank.directory.resolvePeer(dave.peerId)
    expect(profile.name).toBe('alice')
    const found = await frank.directory.lookupName('alice')
    expect(found.map((c) => c.peerId).sort()).toEqual([alice.peerId, dave.peerId].sort())

    // dave re-reserves on a surviving relay and publishes where it is now; peer routing follows
    const deadline = Date.now() + 30_000
    while (!circuitRelayIds(dave.libp2p.getMultiaddrs().map(String)).some((id) => live.has(id))) {
      if (Date.now() > deadline) throw new Error('dave did not reserve on a surviving relay')
      await new Promise((r) => setTimeout(r, 250))
    }
    await dave.directory.publish({ name: 'alice', bundle })
    let addrs = await frank.directory.findPeer(dave.peerId)
    while (!circuitRelayIds(addrs.map(String)).every((id) => live.has(id))) {
      if (Date.now() > deadline) throw new Error(`dave still announced at ${addrs.map(String).join(' ')}`)
      await new Promise((r) => setTimeout(r, 250))
      addrs = await frank.directory.findPeer(dave.peerId)
    }
    const relayed = addrs.find((a) => !a.toString().includes('/webrtc'))!
    const conn = await frank.libp2p.dial(relayed, { signal: AbortSignal.timeout(10_000) })
    expect(conn.remotePeer.toString()).toBe(dave.peerId)

    // publishing still works on the three survivors
    const again = await dave.directory.publish({ name: 'dave', bundle: new Uint8Array(16) })
    expect(again.replicas).toBe(3)
    expect((await frank.directory.resolvePeer(dave.peerId)).seq).toBe(again.seq)
  })

  it('withdraws a profile: lookups drop the claimant', async () => {
    await alice.directory.withdraw()
    const found = await bob.directory.lookupName('alice')
    expect(found.map((c) => c.peerId)).not.toContain(alice.peerId)
    await expect(bob.directory.resolvePeer(alice.peerId)).rejects.toMatchObject({
      name: 'ProfileWithdrawnError',
    })
  })
})
