/**
 * A Paloma peer's network, as the app sees it: one object over the libp2p node, the chat protocol, the
 * relay services (mailbox, one-time prekeys) and the directory on the DHT.
 *
 * The app layer depends on the {@link PeerNetwork} interface only, so its components run in unit tests
 * against an in-memory twin (`tests/support/twins.ts`) and in the browser and Node against
 * {@link createPeerNetwork}. Peers and relays are named by strings (PeerIds, multiaddrs); every address
 * is parsed and built in `addresses.ts`. Knows nothing about sessions, storage or the UI.
 */
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  circuitAddress,
  isCircuit,
  isDirectWebRTC,
  parseAddress,
  peerOf,
  relayOf,
  webrtcAddresses,
} from './addresses.ts'
import { ChatService, type DeliverOptions, type EnvelopeHandler } from './chat.ts'
import { Directory, type DirectoryInit } from './directory.ts'
import {
  deposit,
  depositAll,
  openMailbox,
  type DepositRequest,
  type DepositResult,
  type MailboxCallOptions,
  type MailboxEnvelope,
  type MailboxSubscription,
  type OpenMailboxOptions,
} from './mailbox-client.ts'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { closeSilent } from './liveness.ts'
import { createPalomaNode, type PalomaNode } from './node.ts'
import {
  countOneTimePreKeys,
  takeOneTimePreKey,
  uploadOneTimePreKeys,
  type OneTimePreKeyPublic,
  type PreKeysCallOptions,
  type UploadOptions,
  type UploadResult,
} from './prekeys-client.ts'

export type { EnvelopeHandler } from './chat.ts'
export type { MailboxEnvelope, MailboxSubscription, DepositRequest, DepositResult } from './mailbox-client.ts'
export type { VerifiedProfile, NameClaimant, PublishInput, PublishedProfile } from './directory.ts'

/** What the app needs of the directory: one-shot operations (the app owns when to publish). */
export type DirectoryOps = Pick<Directory, 'publish' | 'withdraw' | 'resolvePeer' | 'lookupName'>

export interface NetworkEvents {
  /** A connection to `peer` (a contact, a relay) opened or closed. */
  connection: { peer: string; open: boolean }
  /** This node's own addresses changed (a reservation was made or lost). */
  addresses: undefined
}

/** A message received on a pubsub topic. */
export interface TopicMessage {
  /** The PeerId of the node that published (and signed) it. */
  from: string
  data: Uint8Array
}

export interface TopicOptions {
  /**
   * Checks a message's data before it is taken or forwarded: false rejects it (gossipsub then neither
   * delivers nor forwards it, and lowers the score of the peer that sent it). @default accept all
   */
  accept?(data: Uint8Array): boolean
}

/** One open connection, for diagnostics. */
export interface ConnectionInfo {
  peer: string
  addr: string
  /** Relayed (limited) connection. */
  limited: boolean
  /** Direct WebRTC between the two peers. */
  direct: boolean
}

export interface PeerNetwork {
  readonly peerId: string
  /** The configured relay addresses (each ending in /p2p/<relay>). */
  readonly relays: readonly string[]
  start(): Promise<void>
  stop(): Promise<void>
  on<K extends keyof NetworkEvents>(event: K, listener: (detail: NetworkEvents[K]) => void): () => void
  /** Whether a relay reservation is held: others can reach this node. */
  isReachable(): boolean
  /**
   * Where others reach this node and leave its mail: a circuit address per configured relay, except
   * relays unreachable for longer than `relayGoneMs` (gone for good, as far as anyone can tell: contacts
   * should stop depositing there). When every relay is gone, all are listed: they may come back.
   */
  ownCircuits(): string[]
  isConnected(peer: string): boolean
  /** Relays (by PeerId) that hold a reservation for this node: its circuit address through them listens. */
  reservedRelays(): string[]
  /** The round trip to `peer` last measured on an open connection (libp2p's connection monitor), in ms. */
  rttMs(peer: string): number | undefined
  /** A direct WebRTC connection to `peer` is open. */
  isDirect(peer: string): boolean
  /** Closes the direct WebRTC connections to `peer` (relayed ones stay). */
  closeDirect(peer: string): Promise<void>
  connections(): ConnectionInfo[]
  /** Opens a direct WebRTC connection to `peer`, signalled through one of the relays behind `circuits`. */
  connectDirect(peer: string, circuits: readonly string[], options?: { signal?: AbortSignal }): Promise<void>
  /** Connects to a relay (one learned from a contact) and keeps it connected, redialing when it drops. */
  dialRelay(relay: string, options?: { signal?: AbortSignal }): Promise<void>
  /**
   * The device's network changed (or came back): every open connection is asked for a ping over itself,
   * those that do not answer within `timeoutMs` are closed (their address may be gone), and missing
   * relays are dialled at once.
   */
  checkConnections(timeoutMs?: number): Promise<void>
  /** Sends an envelope over the chat protocol; resolves once `peer` acknowledged it. */
  deliver(peer: string, id: string, env: Uint8Array, options?: DeliverOptions): Promise<void>
  /** Sends an envelope over the chat protocol without waiting for an acknowledgement. */
  post(peer: string, id: string, env: Uint8Array): Promise<void>
  deposit(relay: string, request: DepositRequest, options?: MailboxCallOptions): Promise<void>
  /** Deposits several envelopes pipelined over one stream; one result per request, in order. */
  depositAll(
    relay: string,
    requests: readonly DepositRequest[],
    options?: MailboxCallOptions,
  ): Promise<DepositResult[]>
  openMailbox(
    relay: string,
    onEnvelope: (e: MailboxEnvelope) => Promise<void>,
    options?: OpenMailboxOptions,
  ): Promise<MailboxSubscription>
  takePreKey(
    relay: string,
    owner: string,
    options?: PreKeysCallOptions,
  ): Promise<OneTimePreKeyPublic | undefined>
  countPreKeys(relay: string, options?: PreKeysCallOptions): Promise<number>
  uploadPreKeys(relay: string, records: readonly Uint8Array[], options?: UploadOptions): Promise<UploadResult>
  readonly directory: DirectoryOps
  /**
   * Subscribes to a pubsub topic (gossipsub among the nodes connected to this one; relays do not run it):
   * `onMessage` gets every message another node publishes on it, once. One handler per topic; subscribing
   * again replaces it. Works before `start()` too (the subscription begins then). @returns unsubscribe
   */
  subscribe(topic: string, onMessage: (message: TopicMessage) => void, options?: TopicOptions): () => void
  /**
   * Publishes `data` on `topic`, signed by this node. @returns how many connected peers it went to: 0 when
   * none is subscribed (never an error: publishing to nobody is normal with few peers online).
   */
  publish(topic: string, data: Uint8Array): Promise<number>
  /** The connected peers subscribed to `topic`. */
  topicPeers(topic: string): string[]
}

export interface PeerNetworkInit {
  privateKey: PrivateKey
  /** Relay multiaddrs, each ending in /p2p/<relay peer id>. */
  relays: string[]
  /** STUN/TURN servers for WebRTC. @default [] */
  iceServers?: RTCIceServer[]
  /** Dial loopback and private addresses (local development and tests). @default false */
  allowPrivateAddresses?: boolean
  /** Takes every envelope that arrives over the chat protocol; resolving acknowledges it. */
  onEnvelope: EnvelopeHandler
  /** How long a direct delivery waits for its acknowledgement. @default 5000 */
  ackTimeoutMs?: number
  /** How long opening a direct WebRTC connection may take. @default 15000 */
  directDialTimeoutMs?: number
  /** A configured relay unreachable for this long leaves the published addresses. @default 600000 (10 min) */
  relayGoneMs?: number
  directory?: DirectoryInit
}

/** A libp2p-backed {@link PeerNetwork}: what the browser and Node peers run. */
export async function createPeerNetwork(init: PeerNetworkInit): Promise<PeerNetwork> {
  const node = await createPalomaNode({
    privateKey: init.privateKey,
    relays: init.relays,
    iceServers: init.iceServers,
    allowPrivateAddresses: init.allowPrivateAddresses,
  })
  return new Libp2pNetwork(node, init)
}

type Listeners = { [K in keyof NetworkEvents]: Set<(detail: NetworkEvents[K]) => void> }

class Libp2pNetwork implements PeerNetwork {
  readonly peerId: string
  readonly relays: readonly string[]
  readonly directory: DirectoryOps
  readonly #node: PalomaNode
  readonly #chat: ChatService
  readonly #directDialTimeoutMs: number
  readonly #relayGoneMs: number
  readonly #listeners: Listeners = { connection: new Set(), addresses: new Set() }
  /** Per configured relay (by PeerId): when it was last connected (or, before that, when we started). */
  readonly #relaySeen = new Map<string, number>()
  readonly #goneTimers = new Map<string, ReturnType<typeof setTimeout>>()
  readonly #topics = new Map<string, (message: TopicMessage) => void>()

  constructor(node: PalomaNode, init: PeerNetworkInit) {
    this.#node = node
    this.peerId = node.libp2p.peerId.toString()
    this.relays = [...init.relays]
    this.#chat = new ChatService(node.libp2p, init.onEnvelope, { ackTimeoutMs: init.ackTimeoutMs })
    this.directory = new Directory(node.libp2p, init.privateKey, init.directory)
    this.#directDialTimeoutMs = init.directDialTimeoutMs ?? 15_000
    this.#relayGoneMs = init.relayGoneMs ?? 600_000
    const libp2p = node.libp2p
    libp2p.addEventListener('connection:open', (e) => {
      const peer = e.detail.remotePeer.toString()
      this.#relayUp(peer)
      this.#emit('connection', { peer, open: true })
    })
    libp2p.addEventListener('connection:close', (e) => {
      const peer = e.detail.remotePeer.toString()
      this.#relayDown(peer)
      this.#emit('connection', { peer, open: false })
    })
    libp2p.addEventListener('self:peer:update', () => this.#emit('addresses', undefined))
    libp2p.services.pubsub.addEventListener('message', (e) => {
      const msg = e.detail
      if (msg.type !== 'signed') return // StrictSign: unsigned messages are refused before this point
      this.#topics.get(msg.topic)?.({ from: msg.from.toString(), data: msg.data })
    })
  }

  #emit<K extends keyof NetworkEvents>(event: K, detail: NetworkEvents[K]): void {
    for (const l of this.#listeners[event]) l(detail)
  }

  on<K extends keyof NetworkEvents>(event: K, listener: (detail: NetworkEvents[K]) => void): () => void {
    this.#listeners[event].add(listener)
    return () => this.#listeners[event].delete(listener)
  }

  async start(): Promise<void> {
    await this.#chat.start()
    await this.#node.libp2p.start()
    for (const r of this.relays) this.#relayDown(peerOf(r)!)
    for (const topic of this.#topics.keys()) this.#node.libp2p.services.pubsub.subscribe(topic)
  }

  async stop(): Promise<void> {
    for (const t of this.#goneTimers.values()) clearTimeout(t)
    this.#goneTimers.clear()
    await this.#chat.stop().catch(() => {})
    await this.#node.libp2p.stop()
  }

  #relayUp(peer: string): void {
    if (!this.#relaySeen.has(peer) && !this.relays.some((r) => peerOf(r) === peer)) return
    const wasGone = this.#isGone(peer)
    this.#relaySeen.set(peer, Date.now())
    clearTimeout(this.#goneTimers.get(peer))
    this.#goneTimers.delete(peer)
    if (wasGone) this.#emit('addresses', undefined)
  }

  /** A configured relay is not connected: from now, it counts as gone after `relayGoneMs`. */
  #relayDown(peer: string): void {
    if (!this.relays.some((r) => peerOf(r) === peer) || this.isConnected(peer)) return
    if (!this.#relaySeen.has(peer)) this.#relaySeen.set(peer, Date.now())
    if (this.#goneTimers.has(peer)) return
    const since = this.#relaySeen.get(peer)!
    const timer = setTimeout(
      () => {
        this.#goneTimers.delete(peer)
        if (this.#isGone(peer)) this.#emit('addresses', undefined) // the published addresses change
      },
      Math.max(0, since + this.#relayGoneMs - Date.now()) + 1,
    )
    this.#goneTimers.set(peer, timer)
  }

  #isGone(peer: string): boolean {
    return (
      !this.isConnected(peer) && Date.now() - (this.#relaySeen.get(peer) ?? Date.now()) >= this.#relayGoneMs
    )
  }

  isReachable(): boolean {
    const libp2p = this.#node.libp2p
    return libp2p.status === 'started' && libp2p.getMultiaddrs().some((a) => isCircuit(a))
  }

  ownCircuits(): string[] {
    const here = this.relays.filter((r) => !this.#isGone(peerOf(r)!))
    return (here.length > 0 ? here : this.relays).map((r) => circuitAddress(r, this.peerId))
  }

  #connections(peer: string) {
    let id: PeerId
    try {
      id = peerIdFromString(peer)
    } catch {
      return []
    }
    return this.#node.libp2p.getConnections(id).filter((c) => c.status === 'open')
  }

  isConnected(peer: string): boolean {
    return this.#connections(peer).length > 0
  }

  isDirect(peer: string): boolean {
    return this.#connections(peer).some(isDirectWebRTC)
  }

  async closeDirect(peer: string): Promise<void> {
    await Promise.all(
      this.#connections(peer)
        .filter(isDirectWebRTC)
        .map((c) => c.close().catch((err: unknown) => c.abort(err as Error))),
    )
  }

  reservedRelays(): string[] {
    const circuits = this.#node.libp2p.getMultiaddrs().filter((a) => isCircuit(a))
    return [...new Set(circuits.map((a) => peerOf(relayOf(a.toString()))).filter((p) => p !== undefined))]
  }

  rttMs(peer: string): number | undefined {
    const rtts = this.#connections(peer).flatMap((c) => (c.rtt === undefined ? [] : [c.rtt]))
    return rtts.length === 0 ? undefined : Math.min(...rtts)
  }

  connections(): ConnectionInfo[] {
    return this.#node.libp2p.getConnections().map((c) => ({
      peer: c.remotePeer.toString(),
      addr: c.remoteAddr.toString(),
      limited: c.limits != null,
      direct: isDirectWebRTC(c),
    }))
  }

  async connectDirect(
    peer: string,
    circuits: readonly string[],
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    let last: unknown = new Error(`no relay address known for ${peer}`)
    for (const target of webrtcAddresses(peer, circuits)) {
      const timeout = AbortSignal.timeout(this.#directDialTimeoutMs)
      const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
      try {
        await this.#node.libp2p.dial(target, { signal })
        return
      } catch (err) {
        last = err // try the next relay
      }
    }
    throw last
  }

  async dialRelay(relay: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const addr = parseAddress(relay)
    const peer = addr === undefined ? undefined : peerOf(addr)
    if (addr === undefined || peer === undefined) throw new Error(`not a relay address: ${relay}`)
    this.#node.relays.add({ addr, peer: peerIdFromString(peer) }) // kept connected from now on
    await this.#node.libp2p.dial(addr, { signal: options.signal ?? AbortSignal.timeout(10_000) })
  }

  async checkConnections(timeoutMs = 3000): Promise<void> {
    // Relayed connections are a dial's short-lived signalling path; they follow their relay connection.
    const open = this.#node.libp2p.getConnections().filter((c) => c.status === 'open' && c.limits == null)
    await closeSilent(open, timeoutMs, 'no answer after a network change')
    this.#node.relays.retryNow()
  }

  deliver(peer: string, id: string, env: Uint8Array, options?: DeliverOptions): Promise<void> {
    return this.#chat.deliver(peerIdFromString(peer), id, env, options)
  }

  post(peer: string, id: string, env: Uint8Array): Promise<void> {
    return this.#chat.post(peerIdFromString(peer), id, env)
  }

  deposit(relay: string, request: DepositRequest, options?: MailboxCallOptions): Promise<void> {
    return deposit(this.#node.libp2p, relay, request, options)
  }

  depositAll(
    relay: string,
    requests: readonly DepositRequest[],
    options?: MailboxCallOptions,
  ): Promise<DepositResult[]> {
    return depositAll(this.#node.libp2p, relay, requests, options)
  }

  openMailbox(
    relay: string,
    onEnvelope: (e: MailboxEnvelope) => Promise<void>,
    options?: OpenMailboxOptions,
  ): Promise<MailboxSubscription> {
    return openMailbox(this.#node.libp2p, relay, onEnvelope, options)
  }

  takePreKey(relay: string, owner: string, options?: PreKeysCallOptions) {
    return takeOneTimePreKey(this.#node.libp2p, relay, owner, options)
  }

  countPreKeys(relay: string, options?: PreKeysCallOptions): Promise<number> {
    return countOneTimePreKeys(this.#node.libp2p, relay, options)
  }

  uploadPreKeys(relay: string, records: readonly Uint8Array[], options?: UploadOptions) {
    return uploadOneTimePreKeys(this.#node.libp2p, relay, records, options)
  }

  subscribe(
    topic: string,
    onMessage: (message: TopicMessage) => void,
    options: TopicOptions = {},
  ): () => void {
    const pubsub = this.#node.libp2p.services.pubsub
    const started = () => this.#node.libp2p.status === 'started'
    const accept = options.accept
    if (accept === undefined) pubsub.topicValidators.delete(topic)
    else
      pubsub.topicValidators.set(topic, (_peer, msg) =>
        accept(msg.data) ? TopicValidatorResult.Accept : TopicValidatorResult.Reject,
      )
    this.#topics.set(topic, onMessage)
    if (started()) pubsub.subscribe(topic)
    return () => {
      if (this.#topics.get(topic) !== onMessage) return
      this.#topics.delete(topic)
      pubsub.topicValidators.delete(topic)
      if (started()) pubsub.unsubscribe(topic)
    }
  }

  async publish(topic: string, data: Uint8Array): Promise<number> {
    if (this.#node.libp2p.status !== 'started') return 0
    try {
      return (await this.#node.libp2p.services.pubsub.publish(topic, data)).recipients.length
    } catch (err) {
      // Gossipsub throws when no connected peer is subscribed (allowPublishToZeroTopicPeers is off).
      if (err instanceof Error && err.message === 'PublishError.NoPeersSubscribedToTopic') return 0
      throw err
    }
  }

  topicPeers(topic: string): string[] {
    return this.#node.libp2p.services.pubsub.getSubscribers(topic).map((p) => p.toString())
  }
}
