/**
 * The messenger service: composes the pure core, the libp2p node and storage into what a person does —
 * be reachable, connect to someone, send and receive messages. The UI and the tests drive this; it has
 * no DOM of its own, so it runs in the browser and in Node alike.
 */
import type { Connection, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { advanceStatus, newMessageId, type ChatMessage, type MessageStatus } from '../core/messages.ts'
import type { ChatFrame } from '../core/protocol/chat.ts'
import { ChatService } from '../net/chat.ts'
import { createPalomaNode, isDirectWebRTC, webrtcAddresses, type PalomaNode } from '../net/node.ts'
import type { KeyStore } from '../storage/key-store.ts'
import { loadOrCreateNodeKey } from '../storage/key-store.ts'
import type { MessageStore } from '../storage/message-store.ts'
import type { AppConfig } from './config.ts'

const DIRECT_DIAL_ATTEMPTS = 3
const DIRECT_DIAL_TIMEOUT_MS = 15_000

export type ConnectionState = 'online' | 'connecting' | 'offline'

export interface MessengerInit {
  config: AppConfig
  keys: KeyStore
  messages: MessageStore
  /** Randomness for message ids. @default WebCrypto */
  rng?: (n: number) => Uint8Array
  /** Clock. @default Date.now */
  now?: () => number
  /** Whether the device has a network at all (navigator.onLine in the browser). @default () => true */
  isNetworkUp?: () => boolean
}

export interface MessengerSnapshot {
  peerId: string
  state: ConnectionState
  /** Addresses others can use to reach this peer directly (WebRTC through a relay's signalling). */
  addresses: string[]
  /** The peer currently chatted with, and whether the connection to them is direct WebRTC. */
  contact?: { peerId: string; direct: boolean }
  messages: ChatMessage[]
}

export class MessengerError extends Error {
  override name = 'MessengerError'
}

export class Messenger {
  readonly #init: Required<MessengerInit>
  readonly #listeners = new Set<(s: MessengerSnapshot) => void>()
  #node!: PalomaNode
  #chat!: ChatService
  #contact: { peer: PeerId; addr?: Multiaddr } | undefined
  #messages: ChatMessage[] = []
  #timer: ReturnType<typeof setInterval> | undefined
  readonly #statusWrites = new Map<string, Promise<void>>()

  constructor(init: MessengerInit) {
    this.#init = {
      rng: (n) => crypto.getRandomValues(new Uint8Array(n)),
      now: Date.now,
      isNetworkUp: () => true,
      ...init,
    }
  }

  get peerId(): PeerId {
    return this.#node.libp2p.peerId
  }

  get node(): PalomaNode {
    return this.#node
  }

  async start(): Promise<void> {
    const privateKey = await loadOrCreateNodeKey(this.#init.keys)
    const { config } = this.#init
    this.#node = await createPalomaNode({
      privateKey,
      relays: config.relays,
      iceServers: config.iceServers,
      allowPrivateAddresses: config.allowPrivateAddresses,
    })
    this.#chat = new ChatService(this.#node.libp2p)
    this.#chat.on('frame', ({ peer, frame, connection }) => void this.#onFrame(peer, frame, connection))
    const libp2p = this.#node.libp2p
    for (const ev of ['self:peer:update', 'connection:open', 'connection:close'] as const) {
      libp2p.addEventListener(ev, () => this.#emit())
    }
    await this.#chat.start()
    await libp2p.start()
    // Connection state also depends on things that raise no libp2p event (the browser's network).
    this.#timer = setInterval(() => this.#emit(), 1000)
    this.#emit()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.#chat?.stop()
    await this.#node?.libp2p.stop()
  }

  /** The network is back (browser `online` event): redial relays now instead of waiting for backoff. */
  networkChanged(): void {
    this.#node.relays.retryNow()
    this.#emit()
  }

  subscribe(listener: (s: MessengerSnapshot) => void): () => void {
    this.#listeners.add(listener)
    listener(this.snapshot())
    return () => this.#listeners.delete(listener)
  }

  snapshot(): MessengerSnapshot {
    const libp2p = this.#node.libp2p
    const addresses = webrtcAddresses(libp2p).map((a) => a.toString())
    const contact = this.#contact
    return {
      peerId: libp2p.peerId.toString(),
      state: addresses.length > 0 ? 'online' : this.#init.isNetworkUp() ? 'connecting' : 'offline',
      addresses,
      contact:
        contact == null
          ? undefined
          : { peerId: contact.peer.toString(), direct: this.#directConnection(contact.peer) != null },
      messages: this.#messages.map((m) => ({ ...m })),
    }
  }

  /** Opens a direct WebRTC connection to the peer at `address` and makes them the current contact. */
  async connect(address: string): Promise<void> {
    let addr: Multiaddr
    let peer: PeerId
    try {
      addr = multiaddr(address.trim())
      const id = addr.getComponents().findLast((c) => c.name === 'p2p')?.value
      if (id == null) throw new Error('no /p2p/ part')
      peer = peerIdFromString(id)
    } catch (err) {
      throw new MessengerError(
        `That is not a Paloma address (${(err as Error).message}). Paste the whole address your contact shared.`,
      )
    }
    if (peer.equals(this.peerId)) throw new MessengerError('That is your own address.')
    this.#contact = { peer, addr }
    this.#messages = await this.#init.messages.list(peer.toString())
    this.#emit()
    this.#contact.addr = await this.#dialPreferringDirect(addr)
    this.#emit()
  }

  /**
   * Dials `addr`, retrying the WebRTC upgrade a few times; if it keeps failing (e.g. a strict NAT with no
   * TURN server), falls back to the relayed circuit so the conversation still works. Returns the address
   * that connected.
   */
  async #dialPreferringDirect(addr: Multiaddr): Promise<Multiaddr> {
    const libp2p = this.#node.libp2p
    let lastError: unknown
    for (let attempt = 0; attempt < DIRECT_DIAL_ATTEMPTS; attempt++) {
      try {
        await libp2p.dial(addr, { signal: AbortSignal.timeout(DIRECT_DIAL_TIMEOUT_MS) })
        return addr
      } catch (err) {
        lastError = err
      }
    }
    const relayed = multiaddr(addr.toString().replace('/p2p-circuit/webrtc/', '/p2p-circuit/'))
    if (relayed.equals(addr)) throw lastError
    await libp2p.dial(relayed, { signal: AbortSignal.timeout(DIRECT_DIAL_TIMEOUT_MS) })
    return relayed
  }

  /** Sends `text` to the current contact. The message shows at once as pending, then advances. */
  async send(text: string): Promise<ChatMessage> {
    const contact = this.#contact
    if (contact == null) throw new MessengerError('Connect to someone first.')
    if (text.trim() === '') throw new MessengerError('Type a message first.')
    const message: ChatMessage = {
      id: newMessageId(this.#init.rng),
      peer: contact.peer.toString(),
      direction: 'out',
      text,
      ts: this.#init.now(),
      status: 'pending',
    }
    await this.#init.messages.put(message)
    this.#show(message)
    await this.#chat.send(contact.peer, { t: 'msg', id: message.id, ts: message.ts, text }, contact.addr)
    await this.#setStatus(message.id, 'sent')
    return message
  }

  #directConnection(peer: PeerId): Connection | undefined {
    return this.#node.libp2p.getConnections(peer).find((c) => c.status === 'open' && isDirectWebRTC(c))
  }

  async #onFrame(peer: PeerId, frame: ChatFrame, _connection: Connection): Promise<void> {
    if (frame.t === 'ack') {
      await this.#setStatus(frame.id, 'delivered')
      return
    }
    if (this.#contact == null) {
      this.#contact = { peer }
      this.#messages = await this.#init.messages.list(peer.toString())
    }
    const message: ChatMessage = {
      id: frame.id,
      peer: peer.toString(),
      direction: 'in',
      text: frame.text,
      ts: frame.ts,
      status: 'delivered',
    }
    // Idempotent: a message delivered twice is stored and shown once, and acknowledged again.
    if (await this.#init.messages.add(message)) this.#show(message)
    await this.#chat.send(peer, { t: 'ack', id: frame.id }).catch(() => {})
  }

  #show(message: ChatMessage): void {
    if (message.peer === this.#contact?.peer.toString()) this.#messages.push({ ...message })
    this.#emit()
  }

  async #setStatus(id: string, status: MessageStatus): Promise<void> {
    // Status changes of one message are serialized so a late, lower status never overwrites a higher one.
    const previous = this.#statusWrites.get(id) ?? Promise.resolve()
    const write = previous.then(async () => {
      const stored = await this.#init.messages.get(id)
      if (stored == null || stored.direction !== 'out') return
      const next = advanceStatus(stored.status, status)
      if (next === stored.status) return
      const shown = this.#messages.find((m) => m.id === id)
      if (shown != null) shown.status = next
      this.#emit()
      await this.#init.messages.put({ ...stored, status: next })
    })
    const settled = write.catch(() => {})
    this.#statusWrites.set(id, settled)
    await write
    if (this.#statusWrites.get(id) === settled) this.#statusWrites.delete(id)
  }

  #emit(): void {
    if (this.#listeners.size === 0) return
    const s = this.snapshot()
    for (const l of this.#listeners) l(s)
  }
}
