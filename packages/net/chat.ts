/**
 * Paloma's chat protocol (`/paloma/chat/1.0.0`) over libp2p streams.
 *
 * One long-lived stream per peer carries length-prefixed chat frames both ways. `deliver()` sends an
 * envelope and resolves once the peer acknowledged it, which the peer does only after its handler
 * resolved (the envelope is stored, or deliberately dropped): the same promise `deposit()` gives for a
 * relay mailbox. `post()` sends one without waiting (typing, presence). The stream prefers the direct
 * WebRTC connection and may run on a relayed (limited) one while that is being set up. Envelopes are
 * opaque here.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { chatFrameReader, encodeChatFrame, type ChatFrame } from '@paloma/core/protocol/chat.ts'
import { encodeLengthPrefixed } from '@paloma/core/protocol/frames.ts'
import { PalomaError } from '@paloma/core/errors.ts'
import { CHAT_PROTOCOL } from './protocols.ts'
import type { PalomaLibp2p } from './node.ts'

export const CHAT_ERROR_CODES = [
  /** No stream could be opened to the peer. */
  'UNREACHABLE',
  /** The peer did not acknowledge in time. */
  'TIMEOUT',
  /** The stream closed before the peer acknowledged. */
  'CLOSED',
  /** The peer answered that it does not take the envelope on this path (use the mailbox). */
  'REFUSED',
] as const
export type ChatErrorCode = (typeof CHAT_ERROR_CODES)[number]

/** A direct delivery that did not complete; the envelope must be taken as not received. */
export class ChatError extends PalomaError<ChatErrorCode> {
  override name = 'ChatError'
}

/**
 * Takes an envelope from `from`. Resolving acknowledges it (the sender's `deliver()` resolves); throwing
 * answers `nack` (the sender's `deliver()` fails at once with `REFUSED` and it uses another path).
 */
export type EnvelopeHandler = (from: string, id: string, env: Uint8Array) => Promise<void>

export interface ChatInit {
  /** How long `deliver()` waits for the acknowledgement. @default 5000 */
  ackTimeoutMs?: number
  /** How long opening a stream (dial included) may take. @default 20000 */
  openTimeoutMs?: number
}

export interface DeliverOptions {
  signal?: AbortSignal
}

interface Channel {
  stream: Stream
  connection: Connection
}

/** A delivery waiting for its acknowledgement, which may come back on any stream to the peer. */
interface Pending {
  /** The stream it left on: if that one ends first, the delivery fails at once. */
  ch: Channel
  resolve(): void
  reject(err: Error): void
}

export class ChatService {
  readonly #libp2p: PalomaLibp2p
  readonly #onEnvelope: EnvelopeHandler
  readonly #ackTimeoutMs: number
  readonly #openTimeoutMs: number
  readonly #channels = new Map<string, Channel>()
  readonly #opening = new Map<string, Promise<Channel>>()
  /** By `<peer>/<envelope id>`. */
  readonly #pending = new Map<string, Pending>()

  constructor(libp2p: PalomaLibp2p, onEnvelope: EnvelopeHandler, init: ChatInit = {}) {
    this.#libp2p = libp2p
    this.#onEnvelope = onEnvelope
    this.#ackTimeoutMs = init.ackTimeoutMs ?? 5000
    this.#openTimeoutMs = init.openTimeoutMs ?? 20_000
  }

  async start(): Promise<void> {
    await this.#libp2p.handle(CHAT_PROTOCOL, (stream, connection) => void this.#adopt(stream, connection), {
      runOnLimitedConnection: true,
    })
  }

  async stop(): Promise<void> {
    await this.#libp2p.unhandle(CHAT_PROTOCOL)
    const stopped = new ChatError('CLOSED', 'chat service stopped')
    for (const ch of this.#channels.values()) ch.stream.abort(stopped)
    for (const p of [...this.#pending.values()]) p.reject(stopped)
    this.#channels.clear()
  }

  /**
   * Sends `env` to `peer` and resolves once the peer acknowledged it.
   * @throws ChatError `UNREACHABLE` (no stream), `TIMEOUT` (no acknowledgement in time, or `signal`
   *   aborted), `CLOSED` (the stream ended first).
   */
  async deliver(peer: PeerId, id: string, env: Uint8Array, options: DeliverOptions = {}): Promise<void> {
    const ch = await this.#channel(peer)
    const key = `${peer.toString()}/${id}`
    if (this.#pending.has(key)) throw new ChatError('CLOSED', `envelope ${id} is already being delivered`)
    const acked = new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        this.#pending.delete(key)
      }
      const onAbort = () => {
        done()
        reject(new ChatError('TIMEOUT', 'delivery aborted'))
      }
      const timer = setTimeout(() => {
        done()
        reject(new ChatError('TIMEOUT', `no acknowledgement within ${this.#ackTimeoutMs} ms`))
      }, this.#ackTimeoutMs)
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(key, {
        ch,
        resolve: () => {
          done()
          resolve()
        },
        reject: (err) => {
          done()
          reject(err)
        },
      })
    })
    try {
      await this.#write(peer, ch, { t: 'env', id, env })
    } catch (err) {
      this.#pending.get(key)?.reject(err as Error)
    }
    return acked
  }

  /** Sends `env` to `peer` without waiting for an acknowledgement. @throws ChatError `UNREACHABLE`, `CLOSED` */
  async post(peer: PeerId, id: string, env: Uint8Array): Promise<void> {
    const ch = await this.#channel(peer)
    await this.#write(peer, ch, { t: 'env', id, env })
  }

  async #write(peer: PeerId, ch: Channel, frame: ChatFrame): Promise<void> {
    try {
      if (!ch.stream.send(encodeLengthPrefixed(encodeChatFrame(frame)))) await ch.stream.onDrain()
    } catch (err) {
      this.#close(
        ch,
        new ChatError('CLOSED', `chat stream failed: ${(err as Error).message}`, { cause: err }),
      )
      this.#drop(peer, ch)
      throw new ChatError('CLOSED', `chat stream to ${peer.toString()} failed`, { cause: err })
    }
  }

  #channel(peer: PeerId): Promise<Channel> {
    const existing = this.#channels.get(peer.toString())
    if (existing !== undefined && existing.stream.status === 'open') return Promise.resolve(existing)
    // Concurrent sends share one stream instead of racing to open several.
    let opening = this.#opening.get(peer.toString())
    if (opening === undefined) {
      opening = this.#open(peer).finally(() => this.#opening.delete(peer.toString()))
      this.#opening.set(peer.toString(), opening)
    }
    return opening
  }

  async #open(peer: PeerId): Promise<Channel> {
    const signal = AbortSignal.timeout(this.#openTimeoutMs)
    try {
      const connection = await this.#libp2p.dial(peer, { signal })
      const stream = await connection.newStream(CHAT_PROTOCOL, { runOnLimitedConnection: true, signal })
      return this.#adopt(stream, connection)
    } catch (err) {
      throw new ChatError('UNREACHABLE', `no chat stream to ${peer.toString()}: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }

  #adopt(stream: Stream, connection: Connection): Channel {
    const peer = connection.remotePeer
    const ch: Channel = { stream, connection }
    const previous = this.#channels.get(peer.toString())
    // A direct connection replaces a relayed one; otherwise the newest stream wins.
    if (
      previous === undefined ||
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
    const from = peer.toString()
    const reader = chatFrameReader()
    try {
      for await (const chunk of ch.stream) {
        for (const frame of reader.push(chunk.subarray())) {
          if (frame.t === 'ack') {
            this.#pending.get(`${from}/${frame.id}`)?.resolve()
            continue
          }
          if (frame.t === 'nack') {
            this.#pending
              .get(`${from}/${frame.id}`)
              ?.reject(new ChatError('REFUSED', 'not taken on this path'))
            continue
          }
          const { id } = frame
          this.#onEnvelope(from, id, frame.env).then(
            () => this.#write(peer, ch, { t: 'ack', id }).catch(() => {}),
            () => this.#write(peer, ch, { t: 'nack', id }).catch(() => {}),
          )
        }
      }
    } catch (err) {
      // A malformed frame ends the stream; so does the peer going away. Either way, pending deliveries fail.
      if ((err as Error).name === 'ChatFrameError') ch.stream.abort(err as Error)
    } finally {
      this.#close(ch, new ChatError('CLOSED', 'the chat stream ended before the acknowledgement'))
      this.#drop(peer, ch)
    }
  }

  #close(ch: Channel, err: ChatError): void {
    for (const p of [...this.#pending.values()]) if (p.ch === ch) p.reject(err)
  }

  #drop(peer: PeerId, ch: Channel): void {
    if (this.#channels.get(peer.toString()) === ch) this.#channels.delete(peer.toString())
  }
}
