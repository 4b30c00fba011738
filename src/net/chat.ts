/**
 * Paloma's chat protocol (`/paloma/chat/1.0.0`) over libp2p streams.
 *
 * One long-lived stream per peer carries length-prefixed chat frames both ways; each `msg` is answered
 * with an `ack` once the receiving app has taken it. The stream prefers the direct WebRTC connection and
 * may run on a relayed (limited) one while that is being set up. Frames are opaque to this layer beyond
 * their codec: what goes inside `text` is the application's business.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  decodeChatFrame,
  encodeChatFrame,
  MAX_CHAT_FRAME_BYTES,
  type ChatFrame,
} from '../core/protocol/chat.ts'
import { CHAT_PROTOCOL } from './protocols.ts'
import type { PalomaLibp2p } from './node.ts'

export interface ChatEvents {
  /** A frame arrived from `peer`. */
  frame: { peer: PeerId; frame: ChatFrame; connection: Connection }
  /** A frame could not be decoded; the stream it came on was closed. */
  error: { peer: PeerId; error: Error }
}

type Listener<K extends keyof ChatEvents> = (detail: ChatEvents[K]) => void

interface Channel {
  lp: LengthPrefixedStream<Stream>
  stream: Stream
  connection: Connection
}

export class ChatService {
  readonly #libp2p: PalomaLibp2p
  readonly #channels = new Map<string, Channel>()
  readonly #listeners: { [K in keyof ChatEvents]: Set<Listener<K>> } = { frame: new Set(), error: new Set() }

  constructor(libp2p: PalomaLibp2p) {
    this.#libp2p = libp2p
  }

  async start(): Promise<void> {
    await this.#libp2p.handle(CHAT_PROTOCOL, (stream, connection) => void this.#adopt(stream, connection), {
      runOnLimitedConnection: true,
    })
  }

  async stop(): Promise<void> {
    await this.#libp2p.unhandle(CHAT_PROTOCOL)
    for (const ch of this.#channels.values()) ch.stream.abort(new Error('Chat service stopped'))
    this.#channels.clear()
  }

  on<K extends keyof ChatEvents>(event: K, listener: Listener<K>): () => void {
    this.#listeners[event].add(listener)
    return () => this.#listeners[event].delete(listener)
  }

  /**
   * Sends one frame to `peer`, opening a stream if needed. `via` is an address to dial when no usable
   * connection exists (a WebRTC address makes the connection direct).
   */
  async send(peer: PeerId, frame: ChatFrame, via?: Multiaddr): Promise<void> {
    const ch = await this.#channel(peer, via)
    try {
      await ch.lp.write(encodeChatFrame(frame))
    } catch (err) {
      this.#drop(peer, ch)
      throw err
    }
  }

  async #channel(peer: PeerId, via?: Multiaddr): Promise<Channel> {
    const existing = this.#channels.get(peer.toString())
    if (existing != null && existing.stream.status === 'open') return existing
    const signal = AbortSignal.timeout(20_000)
    const connection = await this.#libp2p.dial(via ?? peer, { signal })
    const stream = await connection.newStream(CHAT_PROTOCOL, { runOnLimitedConnection: true, signal })
    return this.#adopt(stream, connection)
  }

  #adopt(stream: Stream, connection: Connection): Channel {
    const peer = connection.remotePeer
    const lp = lpStream(stream, { maxDataLength: MAX_CHAT_FRAME_BYTES })
    const ch: Channel = { lp, stream, connection }
    const previous = this.#channels.get(peer.toString())
    // A direct connection replaces a relayed one; otherwise the newest stream wins.
    if (
      previous == null ||
      previous.stream.status !== 'open' ||
      previous.connection.limits != null ||
      connection.limits == null
    ) {
      this.#channels.set(peer.toString(), ch)
    }
    void this.#readLoop(peer, ch)
    return ch
  }

  async #readLoop(peer: PeerId, ch: Channel): Promise<void> {
    try {
      while (ch.stream.status === 'open') {
        const bytes = await ch.lp.read()
        const frame = decodeChatFrame(bytes.subarray())
        for (const l of this.#listeners.frame) l({ peer, frame, connection: ch.connection })
      }
    } catch (err) {
      if ((err as Error).name === 'ChatFrameError') {
        for (const l of this.#listeners.error) l({ peer, error: err as Error })
        ch.stream.abort(err as Error)
      }
    } finally {
      this.#drop(peer, ch)
    }
  }

  #drop(peer: PeerId, ch: Channel): void {
    if (this.#channels.get(peer.toString()) === ch) this.#channels.delete(peer.toString())
  }
}
