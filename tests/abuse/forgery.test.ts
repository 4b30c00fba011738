/**
 * Forged and replayed records and envelopes against a real relay process (tests/support/relays.ts): the
 * targets are full Paloma apps (tests/support/people.ts); the attackers are bare Node libp2p peers built
 * from the core and net packages, so they can write what no app would send.
 *
 * Already shown elsewhere, not repeated here:
 * - tests/integration/directory.test.ts "relays and clients refuse forged, oversized, expired,
 *   replayed-older and wrong-namespace records" (five relay processes: a bad signature, another identity,
 *   an older sequence, oversize, an unknown namespace, no namespace, /pk/; refused by relays and by
 *   clients) and "a newer publish wins and the older one is refused as a replay";
 * - tests/integration/prekeys.test.ts "refuses forged and malformed records at upload", "only lets the
 *   owner upload and count its own keys", "refuses, client side, a record the owner did not sign (a lying
 *   relay)" and "runs X3DH with a key taken from the relay; … a replay is refused";
 * - tests/unit/app/inbox.test.ts "takes (acknowledges) a replayed envelope without showing or logging it",
 *   tests/unit/app/flows.twin.test.ts (the copies from two relays shown once), and the crypto interaction
 *   fuzzer (tests/unit/core/crypto/interaction.fuzz.test.ts: replays, tampering, far-ahead forgeries).
 * What this file adds: a DHT node that lies to clients, the relay process's own refusal of forged
 * one-time prekeys, a prekey message claiming another person's identity, replays through a relay process
 * and over a direct chat stream to a running app, and what a stranger can make an app do.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { peerIdFromString } from '@libp2p/peer-id'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import {
  UntrustedIdentityError,
  createInMemoryStores,
  createPreKeyBundle,
  encryptMessage,
  generateSignedPreKey,
  identityFromEd25519Private,
  processPreKeyBundle,
  secureRandom,
  verifyPreKeyBundle,
  type IdentityKeyPair,
} from '@paloma/core/crypto/index.ts'
import {
  decodePreKeyMessage,
  encodePreKeyMessage,
  encodeRatchetMessage,
} from '@paloma/core/crypto/messages.ts'
import { encodeEnvelope } from '@paloma/core/protocol/envelope.ts'
import { encodePayload } from '@paloma/core/protocol/payload.ts'
import {
  decodeProfileRecord,
  encodeProfileRecord,
  profileKey,
  signProfileRecord,
} from '@paloma/core/protocol/directory.ts'
import { signOneTimePreKey } from '@paloma/core/protocol/prekeys.ts'
import { createPalomaNode, type PalomaNode } from '@paloma/net/node.ts'
import { Directory, DirectoryError } from '@paloma/net/directory.ts'
import { deposit, openMailbox, type MailboxEnvelope } from '@paloma/net/mailbox-client.ts'
import { PreKeysError, countOneTimePreKeys, uploadOneTimePreKeys } from '@paloma/net/prekeys-client.ts'
import { ChatService } from '@paloma/net/chat.ts'
import { DHT_PROTOCOL } from '@paloma/net/protocols.ts'
import { profileHighWater } from '@paloma/net/dht-records.ts'
import { startRelay, untilMetric, type RelayProcess } from '../support/relays.ts'
import { PASSPHRASE, person, until, type Person } from '../support/people.ts'
import { waitFor } from '../support/wait.ts'

const stops: Array<() => unknown> = []
let relay: RelayProcess
let alice: Person
let bob: Person

beforeAll(async () => {
  relay = await startRelay({ args: ['--metrics-port', '0'] })
  stops.push(() => relay.stop())
  alice = person([relay.multiaddr])
  bob = person([relay.multiaddr])
  stops.push(
    () => alice.app.stop(),
    () => bob.app.stop(),
  )
  await Promise.all([alice.app.open(), bob.app.open()])
  await Promise.all([alice.app.createAccount('alice', PASSPHRASE), bob.app.createAccount('bob', PASSPHRASE)])
  await until(alice.app, (s) => s.state === 'online')
  await until(bob.app, (s) => s.state === 'online')
  // Bob knows Alice: she is a pinned contact of his.
  await bob.app.addContact(alice.app.snapshot().me!.inviteLink!)
}, 90_000)

afterAll(async () => {
  for (const stop of stops.reverse())
    await Promise.resolve()
      .then(stop)
      .catch(() => {})
})

/** A bare Paloma peer: a libp2p node on the relay, its directory, and the crypto core on memory stores. */
interface Bare {
  node: PalomaNode
  key: PrivateKey
  peerId: string
  identity: IdentityKeyPair
  stores: ReturnType<typeof createInMemoryStores>
  directory: Directory
}

async function bare(relays = [relay.multiaddr], timeoutMs = 20_000): Promise<Bare> {
  const key = await generateKeyPair('Ed25519')
  const node = await createPalomaNode({ privateKey: key, relays, allowPrivateAddresses: true })
  await node.libp2p.start()
  stops.push(() => node.libp2p.stop())
  const table = (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable
  await waitFor(
    () => node.relays.connectedCount() >= relays.length && table.size >= relays.length,
    'DHT peers',
    20_000,
  )
  const identity = await identityFromEd25519Private(key.raw)
  const stores = createInMemoryStores(identity)
  const directory = new Directory(node.libp2p, key, { timeoutMs })
  return { node, key, peerId: node.libp2p.peerId.toString(), identity, stores, directory }
}

/** Publishes a last-resort bundle, so others (an app) can start sessions with this peer. */
async function publish(p: Bare): Promise<void> {
  const spk = await generateSignedPreKey(1, secureRandom, Date.now())
  await p.stores.signedPreKeys.storeSignedPreKey(spk)
  await p.directory.publish({ bundle: await createPreKeyBundle(p.identity, spk, []) })
}

/** A session with `peer` from its directory profile (header encryption on, as the app does). */
async function sessionWith(p: Bare, peer: string): Promise<void> {
  const key = peerIdFromString(peer).publicKey!.raw
  const profile = await p.directory.resolvePeer(peer)
  const bundle = await verifyPreKeyBundle(profile.bundle, key)
  await processPreKeyBundle(peer, key, bundle, p.stores, {
    now: Date.now(),
    rng: secureRandom,
    headerEncryption: true,
  })
}

let textId = 0
/** A text payload for `peer`, end-to-end encrypted (with the text as its id too). */
async function textTo(p: Bare, peer: string, text: string) {
  const payload = encodePayload({
    k: 'text',
    id: `t${textId++}-${text.slice(0, 20)}`,
    ts: Date.now() + textId,
    text,
  })
  return encryptMessage(peer, payload, p.stores, { now: Date.now(), rng: secureRandom })
}

/** Polls an asynchronous condition (every 100 ms) until it holds. @throws after `ms`, naming `what`. */
async function eventually(cond: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The texts Bob's app shows in his conversation with `peer`. */
/** What `app` shows from `peer`: their chat's messages if a contact, else their message request's. */
async function shownBy(app: Person['app'], peer: string): Promise<string[]> {
  const request = app.snapshot().requests.find((r) => r.peerId === peer)
  if (request !== undefined) return request.messages.map((m) => m.text)
  if (!app.snapshot().contacts.some((c) => c.peerId === peer)) return []
  await app.openChat(peer)
  return app
    .snapshot()
    .messages.filter((m) => m.direction === 'in')
    .map((m) => m.text)
}

// --------------------------------------------------------------------------------------- the directory

/** A DHT server that stores and serves anything (its validator accepts every value). */
async function lyingDhtNode(): Promise<Libp2p<{ dht: KadDHT }>> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0/ws'] },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        validators: { 'paloma-profile': async () => {} },
        selectors: { 'paloma-profile': () => 0 },
        peerInfoMapper: passthroughMapper,
      }),
    },
  })
  stops.push(() => node.stop())
  return node
}

async function putLocally(node: Libp2p<{ dht: KadDHT }>, key: Uint8Array, value: Uint8Array): Promise<void> {
  try {
    for await (const _ of node.services.dht.put(key, value, { signal: AbortSignal.timeout(5000) })) void _
  } catch {
    // no peer to send it to: the node keeps its own copy, which is all a liar needs
  }
}

describe('a DHT node that lies', () => {
  it('cannot make a client accept a forged profile: a client that reaches an honest relay gets the genuine one, one that reaches only the liar gets nothing or an older genuine record', async () => {
    const owner = await bare()
    await publish(owner)
    const genuine = await owner.directory.resolvePeer(owner.peerId)
    const key = profileKey(owner.peerId)
    const liar = await lyingDhtNode()
    const liarAddr = liar.getMultiaddrs()[0]!.toString()

    // An older record the owner really signed (seq 1): the liar serves it alone first.
    const older = await signProfileRecord(
      owner.key.publicKey.raw,
      { seq: 1, issued: Date.now(), relays: [], bundle: new Uint8Array(8).fill(1) },
      (d) => owner.key.sign(d),
    )
    await putLocally(liar, key, older.bytes)
    // Each client stands for another device: this process holds them all, so forget what the others saw.
    profileHighWater.clear()
    const carol = await bare([liarAddr])
    const stale = await carol.directory.resolvePeer(owner.peerId)
    expect(stale.seq).toBe(1) // the documented limit: valid until its `expires`, to a client that saw nothing newer

    // Then a forgery: the owner's record with the bundle swapped, a higher seq, the old signature.
    const forged = encodeProfileRecord({
      ...decodeProfileRecord(older.bytes),
      seq: genuine.seq + 1000,
      bundle: new Uint8Array(64).fill(6),
    })
    await putLocally(liar, key, forged)
    profileHighWater.clear()
    const dave = await bare([liarAddr], 4000)
    // Refused by the client's own validator: to it, the liar had nothing to say.
    const refused = await dave.directory.resolvePeer(owner.peerId).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(DirectoryError)
    expect(['PROFILE_NOT_FOUND', 'DIRECTORY_UNAVAILABLE']).toContain((refused as DirectoryError).code)

    // A client that reaches the honest relay as well gets the genuine, newest record.
    const erin = await bare([relay.multiaddr, liarAddr])
    const got = await erin.directory.resolvePeer(owner.peerId)
    expect(got.seq).toBe(genuine.seq)
    expect(got.bundle).toEqual(genuine.bundle)
  })
})

// ------------------------------------------------------------------------------------ one-time prekeys

describe('one-time prekeys on the relay process', () => {
  it('refuses records the uploader did not sign, and another person’s genuine records uploaded as one’s own', async () => {
    const [bobLike, eve] = [await bare(), await bare()]
    const k = () => secureRandom(32)
    const forged = await signOneTimePreKey(eve.identity.seed, bobLike.identity.publicKey, 1, k())
    const err = await uploadOneTimePreKeys(bobLike.node.libp2p, relay.multiaddr, [forged]).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(PreKeysError)
    expect((err as PreKeysError).code).toBe('BAD_SIGNATURE')
    const genuine = await signOneTimePreKey(bobLike.identity.seed, bobLike.identity.publicKey, 2, k())
    const asEve = await uploadOneTimePreKeys(eve.node.libp2p, relay.multiaddr, [genuine]).catch(
      (e: unknown) => e,
    )
    expect((asEve as PreKeysError).code).toBe('BAD_SIGNATURE')
    expect(await countOneTimePreKeys(bobLike.node.libp2p, relay.multiaddr)).toBe(0)
    expect(await countOneTimePreKeys(eve.node.libp2p, relay.multiaddr)).toBe(0)
  })
})

// ------------------------------------------------------------------------------------------- envelopes

describe('envelopes claiming another sender', () => {
  it('a prekey message from Mallory carrying Alice’s identity key is refused (UntrustedIdentityError), never shown as Alice’s', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    try {
      const mallory = await bare()
      const bobId = bob.app.peerId!
      const aliceId = alice.app.peerId!
      await sessionWith(mallory, bobId)
      const send = (message: Parameters<typeof encodeEnvelope>[0], id: string) =>
        deposit(mallory.node.libp2p, relay.multiaddr, { to: bobId, id, envelope: encodeEnvelope(message) })

      // Control: her own message, as a stranger, is shown (a message request, under her PeerId).
      await send(await textTo(mallory, bobId, 'hello from mallory'), 'm1')
      await until(bob.app, (s) => s.requests.find((r) => r.peerId === mallory.peerId))
      // The forgery: the same session's next prekey message with Alice's identity key in it.
      const next = await textTo(mallory, bobId, 'this is alice, really')
      expect(next.type).toBe('prekey')
      const claim = decodePreKeyMessage(next.body)
      const forged = encodePreKeyMessage({ ...claim, identityKey: peerIdFromString(aliceId).publicKey!.raw })
      await send({ type: 'prekey', body: forged }, 'm2')
      await send(await textTo(mallory, bobId, 'after'), 'm3')
      await eventually(
        async () => (await shownBy(bob.app, mallory.peerId)).includes('after'),
        'the last message',
      )

      expect(await shownBy(bob.app, mallory.peerId)).toEqual(['hello from mallory', 'after'])
      expect(await shownBy(bob.app, aliceId)).toEqual([])
      const dropped = warn.mock.calls.find(
        ([what, err]) => String(what).includes(mallory.peerId) && err instanceof UntrustedIdentityError,
      )
      expect(dropped, 'the forgery was dropped as an untrusted identity').toBeDefined()
    } finally {
      warn.mockRestore()
    }
  })
})

describe('replayed envelopes', () => {
  it('the same envelope deposited three times, and delivered three times over a direct chat stream, is shown once; every copy is acknowledged', async () => {
    const carol = await bare()
    const bobId = bob.app.peerId!
    await sessionWith(carol, bobId)
    const boxed = encodeEnvelope(await textTo(carol, bobId, 'boxed once'))
    for (const id of ['r1', 'r2', 'r3'])
      await deposit(carol.node.libp2p, relay.multiaddr, { to: bobId, id, envelope: boxed })

    // Carol is a stranger: her first messages wait in Bob's requests; he accepts her, and from then on
    // his app acknowledges her envelopes on the direct stream too (to a stranger it answers nack).
    await until(bob.app, (s) => s.requests.find((r) => r.peerId === carol.peerId))
    await bob.app.acceptRequest(carol.peerId)
    const direct = encodeEnvelope(await textTo(carol, bobId, 'direct once'))
    const chat = new ChatService(carol.node.libp2p, async () => {})
    await chat.start()
    stops.push(() => chat.stop())
    await carol.node.libp2p.dial(multiaddr(`${relay.multiaddr}/p2p-circuit/p2p/${bobId}`), {
      signal: AbortSignal.timeout(20_000),
    })
    // Each copy resolves: Bob's app acknowledged it (committed, or recognised as one it already has).
    for (const id of ['d1', 'd2', 'd3']) await chat.deliver(peerIdFromString(bobId), id, direct)

    await eventually(async () => (await shownBy(bob.app, carol.peerId)).length >= 2, 'both messages')
    // The three mailbox copies were each stored (three ids) and each acknowledged: none is left waiting.
    await untilMetric(relay.metricsUrl!, 'paloma_relay_mailbox_envelopes', (n) => n === 0)
    expect((await shownBy(bob.app, carol.peerId)).sort()).toEqual(['boxed once', 'direct once'])
  })
})

describe('what a stranger can do', () => {
  it('a stranger’s envelope nobody can decrypt gets no answer: no contact, no session reset, nothing', async () => {
    const trudy = await bare()
    await publish(trudy)
    const got: MailboxEnvelope[] = []
    const sub = await openMailbox(trudy.node.libp2p, relay.multiaddr, (e) => {
      got.push(e)
    })
    stops.push(() => sub.close())
    const bobId = bob.app.peerId!
    const junk = encodeRatchetMessage({ header: secureRandom(76), ciphertext: secureRandom(40) })
    await deposit(trudy.node.libp2p, relay.multiaddr, {
      to: bobId,
      id: 'junk',
      envelope: encodeEnvelope({ type: 'message', body: junk }),
    })
    // A barrier: her next, readable message arrives after the junk, as a request.
    await sessionWith(trudy, bobId)
    await deposit(trudy.node.libp2p, relay.multiaddr, {
      to: bobId,
      id: 't1',
      envelope: encodeEnvelope(await textTo(trudy, bobId, 'hello?')),
    })
    await until(bob.app, (s) => s.requests.find((r) => r.peerId === trudy.peerId))
    // The junk (handled before it) made Bob answer nothing and add nobody: his device did not show it is online.
    expect(bob.app.snapshot().contacts.some((c) => c.peerId === trudy.peerId)).toBe(false)
    await untilMetric(relay.metricsUrl!, 'paloma_relay_mailbox_envelopes', (n) => n === 0)
    expect(got.filter((e) => e.from === bobId)).toEqual([])
  })
})
