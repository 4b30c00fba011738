/**
 * What one address, one connection or one peer may cost the relay, beyond libp2p's own limits, and the
 * counting of every refusal by reason (`paloma_relay_connections_refused_total`,
 * `paloma_relay_streams_refused_total`, `paloma_relay_dht_puts_refused_total{reason="RATE_LIMITED"}`).
 *
 * - Connections: libp2p refuses an inbound connection when the per-IP rate (`--connection-rate`), the pending
 *   upgrades (`--max-pending-connections`) or the total (`--max-connections`) is exceeded, silently;
 *   {@link countConnectionRefusals} tells them apart. {@link ConnectionsPerIp} caps the connections open at
 *   once from one IP address (`--max-connections-per-ip`).
 * - Streams: {@link limitedMuxer} wraps the stream muxer of every connection: a token bucket of inbound
 *   streams per connection (`--stream-rate`, `--stream-burst`) resets a stream beyond it before any protocol
 *   negotiation, a connection that goes on after as many refusals again is closed (`stream-flood`), and the
 *   muxer's own refusals (more than `--max-streams` open, more than a protocol's per-connection limit) are
 *   counted.
 * - DHT: {@link limitDhtWrites} puts a per-peer token bucket in front of the DHT's PUT_VALUE and ADD_PROVIDER
 *   handlers (`--dht-put-rate`, `--dht-put-burst`); a PUT beyond it is refused before its record is validated.
 *
 * These reach into libp2p objects that have no public hook for them; each check of the shape throws at start
 * if an upgrade changed it, rather than silently stop limiting.
 */
import { getNetConfig, isNetworkAddress } from '@libp2p/utils'
import type {
  Connection,
  StreamMuxer,
  StreamMuxerFactory,
  MultiaddrConnection,
  Stream,
} from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { TokenBuckets, type RateLimit } from './rate-limit.ts'

/** Counters the limits move; `reason` is a bounded set of words. */
export interface RefusalCounters {
  connectionsRefused: { inc(labels: { reason: string }): void }
  streamsRefused: { inc(labels: { reason: string }): void }
  dhtRefused: { inc(labels: { reason: string }): void }
}

export const CONNECTION_REFUSAL_REASONS = [
  'rate',
  'pending',
  'limit',
  'per-ip',
  'draining',
  'stream-flood',
] as const
export const STREAM_REFUSAL_REASONS = ['rate', 'limit', 'protocol-limit'] as const

/** The host part of a network address, or undefined for a relayed (circuit) or unix address. */
export function ipOf(ma: Multiaddr): string | undefined {
  try {
    if (ma.getComponents().some((c) => c.name === 'p2p-circuit')) return undefined
    return isNetworkAddress(ma) ? getNetConfig(ma).host : undefined
  } catch {
    return undefined
  }
}

interface ConnectionManagerInternals {
  acceptIncomingConnection(maConn: MultiaddrConnection): boolean
  incomingPendingConnections: number
  maxIncomingPendingConnections: number
  inboundConnectionRateLimiter: { consume(key: string, points?: number): unknown }
}

/**
 * Counts the inbound connections libp2p's connection manager refuses, by reason: `rate` (more than
 * `--connection-rate` per second from one IP), `pending` (`--max-pending-connections` upgrading), `limit`
 * (`--max-connections` open).
 */
export function countConnectionRefusals(connectionManager: unknown, counters: RefusalCounters): void {
  const cm = connectionManager as Partial<ConnectionManagerInternals>
  const limiter = cm.inboundConnectionRateLimiter
  if (
    typeof cm.acceptIncomingConnection !== 'function' ||
    typeof cm.incomingPendingConnections !== 'number' ||
    typeof cm.maxIncomingPendingConnections !== 'number' ||
    typeof limiter?.consume !== 'function'
  ) {
    throw new Error(
      'libp2p changed: its connection manager has no acceptIncomingConnection to count refusals',
    )
  }
  const consume = limiter.consume.bind(limiter)
  let rateRefused = false
  limiter.consume = (key: string, points?: number) => {
    try {
      return consume(key, points)
    } catch (err) {
      rateRefused = true
      throw err
    }
  }
  const accept = cm.acceptIncomingConnection.bind(cm)
  cm.acceptIncomingConnection = (maConn: MultiaddrConnection): boolean => {
    const pendingFull = cm.incomingPendingConnections === cm.maxIncomingPendingConnections
    rateRefused = false
    const accepted = accept(maConn)
    if (!accepted)
      counters.connectionsRefused.inc({ reason: pendingFull ? 'pending' : rateRefused ? 'rate' : 'limit' })
    return accepted
  }
}

/** Connections open at once per IP address, for the gater's `denyInboundConnection`. */
export class ConnectionsPerIp {
  readonly #max: number
  readonly #open = new Map<string, number>()
  readonly #counters: RefusalCounters

  constructor(max: number, counters: RefusalCounters) {
    this.#max = max
    this.#counters = counters
  }

  /** True when `remoteAddr`'s IP already has the most connections allowed (counted as refused). */
  deny(remoteAddr: Multiaddr): boolean {
    const ip = ipOf(remoteAddr)
    if (ip === undefined || (this.#open.get(ip) ?? 0) < this.#max) return false
    this.#counters.connectionsRefused.inc({ reason: 'per-ip' })
    return true
  }

  opened(connection: Connection): void {
    const ip = ipOf(connection.remoteAddr)
    if (ip !== undefined) this.#open.set(ip, (this.#open.get(ip) ?? 0) + 1)
  }

  closed(connection: Connection): void {
    const ip = ipOf(connection.remoteAddr)
    if (ip === undefined) return
    const n = (this.#open.get(ip) ?? 1) - 1
    if (n <= 0) this.#open.delete(ip)
    else this.#open.set(ip, n)
  }

  get size(): number {
    return this.#open.size
  }
}

interface YamuxInternals {
  onRemoteStream(stream: Stream): void
  incomingStream(id: number): void
  numInboundStreams: number
  maxInboundStreams: number
  localGoAway?: unknown
  streams: Array<{ streamId?: number }>
}

/**
 * Wraps a stream muxer factory (Yamux) so that each connection's inbound streams are limited by a token
 * bucket (`limit`) and every refusal is counted: `rate` (this limit; the stream is reset before protocol
 * negotiation), `limit` (the muxer's own most open inbound streams), `protocol-limit` (a protocol's most
 * streams per connection, e.g. `--max-service-streams`). A connection refused as many streams again as
 * `limit` lets through is closed and counted as a refused connection, `stream-flood`.
 */
export function limitedMuxer(
  factory: StreamMuxerFactory,
  limit: RateLimit,
  counters: RefusalCounters,
  options: { now?: () => number; onMuxer?(muxer: StreamMuxer): void } = {},
): StreamMuxerFactory {
  const now = options.now ?? Date.now
  return {
    protocol: factory.protocol,
    createStreamMuxer(maConn: MultiaddrConnection): StreamMuxer {
      const muxer = factory.createStreamMuxer(maConn)
      options.onMuxer?.(muxer)
      const m = muxer as unknown as Partial<YamuxInternals>
      if (
        typeof m.onRemoteStream !== 'function' ||
        typeof m.incomingStream !== 'function' ||
        typeof m.numInboundStreams !== 'number' ||
        typeof m.maxInboundStreams !== 'number'
      ) {
        throw new Error(
          '@libp2p/yamux changed: its muxer has no onRemoteStream/incomingStream to limit streams',
        )
      }
      const buckets = new TokenBuckets(limit)
      // A connection that goes on opening streams after as many refusals again as the limit allows is a
      // flood, not a burst: it is closed, and a new one is subject to the per-IP connection rate.
      const strikes = new TokenBuckets(limit)
      const incoming = m.incomingStream.bind(muxer)
      m.incomingStream = (id: number) => {
        if (
          m.localGoAway === undefined &&
          (m.numInboundStreams ?? 0) >= (m.maxInboundStreams ?? Infinity) &&
          !(m.streams ?? []).some((s) => s.streamId === id)
        ) {
          counters.streamsRefused.inc({ reason: 'limit' })
        }
        incoming(id)
      }
      const onRemote = m.onRemoteStream.bind(muxer)
      m.onRemoteStream = (stream: Stream) => {
        onRemote(stream)
        const t = now()
        if (!buckets.take('', t)) {
          counters.streamsRefused.inc({ reason: 'rate' })
          const err = new Error(`more than ${limit.burst} streams in a burst or ${limit.perSecond}/s`)
          stream.abort(err)
          if (!strikes.take('', t) && maConn.status === 'open') {
            counters.connectionsRefused.inc({ reason: 'stream-flood' })
            // A close, not an abort: @libp2p/websockets resets with a close code no WebSocket sends, and
            // the socket would stay open (packages/net/websocket-reset.ts).
            void maConn.close().catch(() => maConn.abort(err))
          }
          return
        }
        stream.addEventListener(
          'close',
          (evt) => {
            const name = (evt as Event & { error?: Error }).error?.name
            if (name === 'TooManyInboundProtocolStreamsError')
              counters.streamsRefused.inc({ reason: 'protocol-limit' })
          },
          { once: true },
        )
      }
      return muxer
    },
  }
}

interface RpcInternals {
  handleMessage(peerId: { toString(): string }, msg: { type: string }): Promise<unknown>
}

/**
 * Puts a per-peer token bucket in front of a kad-dht server's record writes (PUT_VALUE, ADD_PROVIDER). A write
 * beyond it fails before its record is validated or stored (the DHT aborts that stream) and is counted as
 * `paloma_relay_dht_puts_refused_total{reason="RATE_LIMITED"}`. Returns the buckets (pruned by the caller).
 */
export function limitDhtWrites(
  dht: unknown,
  limit: RateLimit,
  counters: RefusalCounters,
  now: () => number = Date.now,
): TokenBuckets {
  const rpc = (dht as { rpc?: Partial<RpcInternals> }).rpc
  if (rpc === undefined || typeof rpc.handleMessage !== 'function') {
    throw new Error('@libp2p/kad-dht changed: it has no rpc.handleMessage to rate-limit PUTs')
  }
  const buckets = new TokenBuckets(limit)
  const handle = rpc.handleMessage.bind(rpc)
  let pruned = now()
  rpc.handleMessage = async (peerId, msg) => {
    const t = now()
    if (t - pruned > 60_000) {
      buckets.prune(t)
      pruned = t
    }
    if ((msg.type === 'PUT_VALUE' || msg.type === 'ADD_PROVIDER') && !buckets.take(peerId.toString(), t)) {
      counters.dhtRefused.inc({ reason: 'RATE_LIMITED' })
      throw new Error(`more than ${limit.burst} DHT writes in a burst or ${limit.perSecond}/s from this peer`)
    }
    return handle(peerId, msg)
  }
  return buckets
}
