/**
 * In-memory twins of what the app's components need from the network: a {@link TwinWorld} of relays
 * (mailboxes that keep envelopes until acknowledged, one-time prekeys served once), a directory of
 * profiles and name claims, and peers whose direct connections the test opens and closes. Each peer's
 * {@link PeerNetwork} behaves as the libp2p one does where the app can tell: deliveries resolve once the
 * other side's handler resolved, deposits once stored, a relay that is down refuses everything.
 *
 * Everything else is real: the app's components, the crypto core, the vault. No timers of its own, so
 * tests may use fake timers freely.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { fingerprint, normalizeName, publicKeyFromPeerIdString } from '@paloma/core/protocol/directory.ts'
import { verifyOneTimePreKey } from '@paloma/core/protocol/prekeys.ts'
import { circuitAddress, peerOf, relayOf } from '@paloma/net/addresses.ts'
import { ChatError } from '@paloma/net/chat.ts'
import { MailboxError, type MailboxEnvelope, type MailboxSubscription } from '@paloma/net/mailbox-client.ts'
import type {
  ConnectionInfo,
  DirectoryOps,
  EnvelopeHandler,
  NetworkEvents,
  PeerNetwork,
  TopicMessage,
  TopicOptions,
} from '@paloma/net/network.ts'
import type { NameClaimant, PublishInput, VerifiedProfile } from '@paloma/net/directory.ts'
import { DirectoryUnavailableError, ProfileNotFoundError } from '@paloma/net/directory.ts'
import type { NetworkFactory } from '../../src/app/messenger.ts'

interface Stored {
  seq: number
  from: string
  id: string
  envelope: Uint8Array
  storedAt: number
}

/** One relay: its mailboxes and one-time prekeys, and whether it is up. */
export class TwinRelay {
  readonly addr: string
  readonly peerId: string
  up = true
  readonly mailboxes = new Map<string, Stored[]>()
  readonly preKeys = new Map<string, Uint8Array[]>()
  /** Deposits refused with this code while set (quota, rate limit…). */
  refuse: MailboxError['code'] | undefined
  readonly subscribers = new Map<string, Set<(e: Stored) => void>>()
  readonly #seen = new Set<string>()
  #seq = 0

  constructor(addr: string) {
    this.addr = addr
    this.peerId = peerOf(addr)!
  }

  store(to: string, from: string, id: string, envelope: Uint8Array, now: number): void {
    if (this.#seen.has(`${from}/${id}`)) return // a retry of a stored (or delivered) envelope
    this.#seen.add(`${from}/${id}`)
    const e = { seq: ++this.#seq, from, id, envelope, storedAt: now }
    const box = this.mailboxes.get(to) ?? []
    box.push(e)
    this.mailboxes.set(to, box)
    for (const push of this.subscribers.get(to) ?? []) push(e)
  }

  acknowledge(to: string, seq: number): void {
    this.mailboxes.set(
      to,
      (this.mailboxes.get(to) ?? []).filter((e) => e.seq !== seq),
    )
  }
}

export class TwinWorld {
  readonly relays: TwinRelay[]
  readonly profiles = new Map<string, VerifiedProfile>()
  readonly peers = new Map<string, TwinNetwork>()
  readonly #links = new Set<string>()
  /** Profile publications that reached the directory, in order. */
  readonly publications: Array<{ peer: string; profile: VerifiedProfile }> = []
  readonly #waiting = new Set<() => void>()
  /** While true, every directory operation fails as if no relay answered. */
  directoryDown = false
  /** Peers for which the directory answers nothing (their DHT queries fail). */
  readonly directoryDownFor = new Set<string>()
  /**
   * Pubsub: every message published on a topic goes to every other started peer subscribed to it (as if
   * the members' nodes formed one gossipsub mesh). While `pubsubDown`, publishing reaches nobody.
   */
  pubsubDown = false
  /** Every message published on a topic, in order (what a peer watching every topic would see). */
  readonly gossip: Array<{ topic: string; from: string; data: Uint8Array; recipients: number }> = []
  now: () => number

  /** A world of `relayCount` relays, each with a fixed identity (from its index). */
  static async create(relayCount = 1, now: () => number = Date.now): Promise<TwinWorld> {
    const ids = await Promise.all(
      Array.from({ length: relayCount }, async (_, i) =>
        peerIdFromPrivateKey(
          await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(200 + i)),
        ).toString(),
      ),
    )
    return new TwinWorld(
      ids.map((id, i) => new TwinRelay(`/ip4/10.0.0.${i + 1}/tcp/443/wss/p2p/${id}`)),
      now,
    )
  }

  private constructor(relays: TwinRelay[], now: () => number) {
    this.relays = relays
    this.now = now
  }

  /** Resolves once `peer` has published `count` profiles in all. */
  published(peer: string, count = 1): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.publications.filter((p) => p.peer === peer).length < count) return
        this.#waiting.delete(check)
        resolve()
      }
      this.#waiting.add(check)
      check()
    })
  }

  /** Called by the directory twin after each publication. */
  notePublication(peer: string, profile: VerifiedProfile): void {
    this.publications.push({ peer, profile })
    for (const check of [...this.#waiting]) check()
  }

  relay(addrOrPeer: string): TwinRelay | undefined {
    const id = peerOf(relayOf(addrOrPeer)) ?? addrOrPeer
    return this.relays.find((r) => r.peerId === id)
  }

  /** The factory the app takes: a twin network on `relays` (default: every relay of the world). */
  factory(relays: string[] = this.relays.map((r) => r.addr)): NetworkFactory {
    return async ({ unlocked, onEnvelope }) => new TwinNetwork(this, unlocked.privateKey, relays, onEnvelope)
  }

  register(net: TwinNetwork): void {
    this.peers.set(net.peerId, net)
  }

  #key(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`
  }

  linked(a: string, b: string): boolean {
    return (
      this.#links.has(this.#key(a, b)) &&
      this.peers.get(a)?.started === true &&
      this.peers.get(b)?.started === true
    )
  }

  /** Opens a direct connection between two peers (both told). */
  connect(a: string, b: string): void {
    if (this.#links.has(this.#key(a, b))) return
    this.#links.add(this.#key(a, b))
    this.peers.get(a)?.emit('connection', { peer: b, open: true })
    this.peers.get(b)?.emit('connection', { peer: a, open: true })
  }

  disconnect(a: string, b: string): void {
    if (!this.#links.delete(this.#key(a, b))) return
    this.peers.get(a)?.emit('connection', { peer: b, open: false })
    this.peers.get(b)?.emit('connection', { peer: a, open: false })
  }

  /** Started peers subscribed to `topic`, other than `self`. */
  subscribers(topic: string, self: string): TwinNetwork[] {
    if (this.pubsubDown) return []
    return [...this.peers.values()].filter((p) => p.peerId !== self && p.started && p.topics.has(topic))
  }

  setRelayUp(relay: TwinRelay, up: boolean): void {
    relay.up = up
    for (const net of this.peers.values()) {
      if (net.started && net.relays.includes(relay.addr))
        net.emit('connection', { peer: relay.peerId, open: up })
    }
    if (!up) for (const net of this.peers.values()) net.closeSubscriptions(relay)
  }
}

type Listeners = { [K in keyof NetworkEvents]: Set<(d: NetworkEvents[K]) => void> }

export class TwinNetwork implements PeerNetwork {
  readonly peerId: string
  readonly relays: readonly string[]
  readonly directory: PeerNetwork['directory']
  started = false
  /** Every envelope this peer posted or delivered directly, for assertions. */
  readonly sent: Array<{ to: string; id: string; acked: boolean }> = []
  readonly #world: TwinWorld
  readonly #onEnvelope: EnvelopeHandler
  readonly #listeners: Listeners = { connection: new Set(), addresses: new Set() }
  readonly #subs = new Set<{ relay: TwinRelay; close(): void }>()
  /** Pubsub topics this peer is subscribed to, with their handlers. */
  readonly topics = new Map<string, { onMessage: (m: TopicMessage) => void; options: TopicOptions }>()

  constructor(world: TwinWorld, key: PrivateKey, relays: readonly string[], onEnvelope: EnvelopeHandler) {
    this.#world = world
    this.peerId = peerIdFromPrivateKey(key).toString()
    this.relays = relays
    this.#onEnvelope = onEnvelope
    this.directory = new TwinDirectory(world, this)
    world.register(this)
  }

  emit<K extends keyof NetworkEvents>(event: K, detail: NetworkEvents[K]): void {
    if (this.started) for (const l of this.#listeners[event]) l(detail)
  }

  on<K extends keyof NetworkEvents>(event: K, listener: (d: NetworkEvents[K]) => void): () => void {
    this.#listeners[event].add(listener)
    return () => this.#listeners[event].delete(listener)
  }

  async start(): Promise<void> {
    this.started = true
  }

  async stop(): Promise<void> {
    for (const s of [...this.#subs]) s.close()
    for (const other of this.#world.peers.keys())
      if (other !== this.peerId) this.#world.disconnect(this.peerId, other)
    this.started = false
  }

  #relay(addr: string): TwinRelay {
    const r = this.#world.relay(addr)
    if (r === undefined || !r.up || !this.started)
      throw new MailboxError('UNREACHABLE', `relay ${addr} is down`)
    return r
  }

  isReachable(): boolean {
    return this.started && this.relays.some((a) => this.#world.relay(a)?.up === true)
  }

  ownCircuits(): string[] {
    return this.relays.map((r) => circuitAddress(r, this.peerId))
  }

  isConnected(peer: string): boolean {
    if (this.#world.linked(this.peerId, peer)) return true
    const relay = this.#world.relay(peer)
    return relay?.up === true && this.started && this.relays.includes(relay.addr)
  }

  isDirect(peer: string): boolean {
    return this.#world.linked(this.peerId, peer)
  }

  async closeDirect(peer: string): Promise<void> {
    if (this.#world.linked(this.peerId, peer)) this.#world.disconnect(this.peerId, peer)
  }

  /** A twin holds a reservation on every relay it is connected to. */
  reservedRelays(): string[] {
    return this.relays.map((r) => peerOf(r)!).filter((relay) => this.isConnected(relay))
  }

  /** The twins measure no round trips. */
  rttMs(): number | undefined {
    return undefined
  }

  connections(): ConnectionInfo[] {
    return [...this.#world.peers.keys()]
      .filter((p) => p !== this.peerId && this.#world.linked(this.peerId, p))
      .map((peer) => ({ peer, addr: `/webrtc/p2p/${peer}`, limited: false, direct: true }))
  }

  /** Succeeds when both peers are started and the other shares a relay that is up. */
  connectDirectAttempts = 0
  async connectDirect(peer: string, circuits: readonly string[]): Promise<void> {
    this.connectDirectAttempts++
    const other = this.#world.peers.get(peer)
    const viaUp = circuits.some((c) => this.#world.relay(c)?.up === true)
    if (other?.started !== true || !viaUp) throw new ChatError('UNREACHABLE', `cannot reach ${peer}`)
    this.#world.connect(this.peerId, peer)
  }

  async dialRelay(relay: string): Promise<void> {
    this.#relay(relay)
  }

  async checkConnections(): Promise<void> {}

  async deliver(peer: string, id: string, env: Uint8Array): Promise<void> {
    const other = this.#world.peers.get(peer)
    if (other === undefined || !this.#world.linked(this.peerId, peer))
      throw new ChatError('UNREACHABLE', `no connection to ${peer}`)
    try {
      await other.#onEnvelope(this.peerId, id, env)
    } catch (err) {
      this.sent.push({ to: peer, id, acked: false })
      throw new ChatError('CLOSED', 'not acknowledged', { cause: err })
    }
    this.sent.push({ to: peer, id, acked: true })
  }

  async post(peer: string, id: string, env: Uint8Array): Promise<void> {
    const other = this.#world.peers.get(peer)
    if (other === undefined || !this.#world.linked(this.peerId, peer))
      throw new ChatError('UNREACHABLE', `no connection to ${peer}`)
    this.sent.push({ to: peer, id, acked: false })
    void other.#onEnvelope(this.peerId, id, env).catch(() => {})
  }

  async deposit(relay: string, request: { to: string; id: string; envelope: Uint8Array }): Promise<void> {
    const r = this.#relay(relay)
    if (r.refuse !== undefined) throw new MailboxError(r.refuse, 'refused')
    r.store(request.to, this.peerId, request.id, request.envelope, this.#world.now())
  }

  async depositAll(relay: string, requests: ReadonlyArray<{ to: string; id: string; envelope: Uint8Array }>) {
    const r = this.#world.relay(relay)
    if (r === undefined || !r.up || !this.started)
      throw new MailboxError('UNREACHABLE', `relay ${relay} is down`)
    return requests.map((req) => {
      if (r.refuse !== undefined) return { id: req.id, error: new MailboxError(r.refuse, 'refused') }
      r.store(req.to, this.peerId, req.id, req.envelope, this.#world.now())
      return { id: req.id }
    })
  }

  async openMailbox(
    relay: string,
    onEnvelope: (e: MailboxEnvelope) => Promise<void>,
  ): Promise<MailboxSubscription> {
    const r = this.#relay(relay)
    let end: (err: Error | undefined) => void = () => {}
    const closed = new Promise<Error | undefined>((resolve) => (end = resolve))
    let open = true
    // One envelope at a time, oldest first, acknowledged once the handler resolved (as the relay does).
    let chain = Promise.resolve()
    const take = (e: Stored) => {
      chain = chain.then(async () => {
        if (!open) return
        try {
          await onEnvelope({ seq: e.seq, from: e.from, id: e.id, envelope: e.envelope, storedAt: e.storedAt })
          r.acknowledge(this.peerId, e.seq)
        } catch {
          // stays on the relay: delivered again on the next subscription
        }
      })
    }
    const pushers = r.subscribers.get(this.peerId) ?? new Set()
    r.subscribers.set(this.peerId, pushers)
    pushers.add(take)
    for (const e of r.mailboxes.get(this.peerId) ?? []) take(e)
    const synced = chain
    const sub = {
      relay: r,
      close: () => {
        if (!open) return
        open = false
        pushers.delete(take)
        this.#subs.delete(sub)
        end(undefined)
      },
    }
    this.#subs.add(sub)
    return {
      synced,
      closed,
      close: async () => sub.close(),
    }
  }

  closeSubscriptions(relay: TwinRelay): void {
    for (const s of [...this.#subs]) if (s.relay === relay) s.close()
  }

  async takePreKey(relay: string, owner: string) {
    const r = this.#relay(relay)
    const rec = r.preKeys.get(owner)?.shift()
    return rec === undefined ? undefined : verifyOneTimePreKey(rec, publicKeyFromPeerIdString(owner))
  }

  async countPreKeys(relay: string): Promise<number> {
    return this.#relay(relay).preKeys.get(this.peerId)?.length ?? 0
  }

  async uploadPreKeys(relay: string, records: readonly Uint8Array[], options: { replace?: boolean } = {}) {
    const r = this.#relay(relay)
    const list = options.replace === true ? [] : (r.preKeys.get(this.peerId) ?? [])
    list.push(...records)
    r.preKeys.set(this.peerId, list)
    return { stored: records.length, total: list.length }
  }

  subscribe(topic: string, onMessage: (m: TopicMessage) => void, options: TopicOptions = {}): () => void {
    const entry = { onMessage, options }
    this.topics.set(topic, entry)
    return () => {
      if (this.topics.get(topic) === entry) this.topics.delete(topic)
    }
  }

  async publish(topic: string, data: Uint8Array): Promise<number> {
    const to = this.started ? this.#world.subscribers(topic, this.peerId) : []
    this.#world.gossip.push({ topic, from: this.peerId, data, recipients: to.length })
    for (const peer of to) {
      const sub = peer.topics.get(topic)
      if (sub === undefined || sub.options.accept?.(data) === false) continue
      // No acknowledgement on pubsub: the handler runs later, as a message from the mesh would.
      queueMicrotask(() => sub.onMessage({ from: this.peerId, data }))
    }
    return to.length
  }

  topicPeers(topic: string): string[] {
    return this.#world.subscribers(topic, this.peerId).map((p) => p.peerId)
  }
}

class TwinDirectory implements DirectoryOps {
  readonly #world: TwinWorld
  readonly #net: TwinNetwork

  constructor(world: TwinWorld, net: TwinNetwork) {
    this.#world = world
    this.#net = net
  }

  #check(): void {
    if (
      this.#world.directoryDown ||
      this.#world.directoryDownFor.has(this.#net.peerId) ||
      !this.#net.isReachable()
    )
      throw new DirectoryUnavailableError()
  }

  async publish(input: PublishInput) {
    this.#check()
    const now = this.#world.now()
    const peerId = this.#net.peerId
    const profile: VerifiedProfile = {
      peerId,
      fingerprint: fingerprint(publicKeyFromPeerIdString(peerId)),
      ...(input.name === undefined ? {} : { name: normalizeName(input.name) }),
      relays: input.relays ?? this.#net.ownCircuits(),
      bundle: input.bundle,
      seq: now,
      issued: now,
      expires: now + 72 * 3600_000,
    }
    this.#world.profiles.set(peerId, profile)
    this.#world.notePublication(peerId, profile)
    return { ...profile, replicas: 1 }
  }

  async withdraw(): Promise<void> {
    this.#check()
    this.#world.profiles.delete(this.#net.peerId)
  }

  async resolvePeer(peerId: unknown): Promise<VerifiedProfile> {
    this.#check()
    const profile = this.#world.profiles.get(String(peerId))
    if (profile === undefined) throw new ProfileNotFoundError(String(peerId))
    return profile
  }

  async lookupName(name: string): Promise<NameClaimant[]> {
    this.#check()
    const n = normalizeName(name)
    return [...this.#world.profiles.values()]
      .filter((p) => p.name === n)
      .map((p) => ({
        peerId: p.peerId,
        name: n,
        fingerprint: p.fingerprint,
        relays: p.relays,
        bundle: p.bundle,
      }))
  }
}
