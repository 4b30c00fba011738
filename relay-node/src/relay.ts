/**
 * The Paloma relay: a Node libp2p node that browsers reach over WebSockets (plain `/ws` behind a TLS
 * proxy, or secure `/tls/ws` from its own certificate) and WebRTC-Direct.
 *
 * It owns: the circuit relay v2 server (NAT traversal and WebRTC signalling), the kad-dht in server mode
 * under Paloma's protocol prefix, the mailbox and one-time prekey services, identify and ping, its own
 * persistent peer key and WebRTC-Direct certificate (so its addresses are stable across restarts), the
 * counters of what it refuses, and its graceful stop ({@link gracefulStop}). It knows nothing about
 * message contents: everything it carries is opaque.
 */
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { createLibp2p, type Libp2p } from 'libp2p'
import { webSockets } from '@libp2p/websockets'
import { webRTCDirect } from '@libp2p/webrtc'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import {
  kadDHT,
  passthroughMapper,
  removePrivateAddressesMapper,
  type KadDHT,
  type ValidateFn,
} from '@libp2p/kad-dht'
import { isPrivate } from '@libp2p/utils'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { ComponentLogger, PeerId, PrivateKey } from '@libp2p/interface'
import { DHT_PROTOCOL } from '@paloma/net/protocols.ts'
import { dhtSelectors, dhtValidators } from '@paloma/net/dht-records.ts'
import { closeSilentOnReconnect } from '@paloma/net/liveness.ts'
import { PeerKeeper } from '@paloma/net/peer-keeper.ts'
import { relayTarget } from '@paloma/net/addresses.ts'
import { mailbox, type MailboxInit, type MailboxService } from './mailbox/index.ts'
import { prekeyService, type PreKeyService, type PreKeyServiceInit } from './prekeys/index.ts'
import { RelayMetrics } from './metrics.ts'
import { ConnectionsPerIp, countConnectionRefusals, limitDhtWrites, limitedMuxer } from './limits.ts'
import { KeepAlive, withPingHandler } from './keepalive.ts'
import { ping } from '@libp2p/ping'
import type { RateLimit } from './rate-limit.ts'
import { loadCertificate, tlsReloader, type TlsReloader } from './tls.ts'
import { loadOrCreateWebRTCDirectCertificate } from './webrtc-cert.ts'

export interface RelayOptions {
  /** Where the relay keeps its key, its certificate, its mailbox and its one-time prekeys. @default '.data/relay' */
  dataDir?: string
  /** IPv4 interface to listen on. @default '0.0.0.0' */
  host?: string
  /** Plain WebSocket port; 0 picks a free one. @default 9090 */
  port?: number
  /** Secure WebSockets from certificate files (reloaded when they change). */
  tls?: { cert: string; key: string; /** @default 9443 */ port?: number }
  /** UDP port for WebRTC-Direct; 0 picks a free one; absent: off. */
  webrtcDirectPort?: number
  /** Public multiaddrs to announce instead of the listen addresses (e.g. behind a TLS proxy). */
  announce?: string[]
  /** Other relays to join into one DHT (multiaddrs with /p2p/). @default [] */
  peers?: string[]
  /** Circuit relay reservations held at once. @default 1024 */
  maxReservations?: number
  /** Seconds a relayed connection may last before the peers must upgrade or reconnect. @default 600 */
  relayedConnectionSeconds?: number
  /** Bytes a relayed connection may carry. @default 16 MiB */
  relayedConnectionBytes?: number
  /**
   * Keep private/loopback addresses in DHT peer records and allow dialing them (local networks and
   * tests); false drops them and refuses to dial them. @default true
   */
  allowPrivateAddresses?: boolean
  /** Open connections at once. @default 2048 */
  maxConnections?: number
  /** Inbound connections still upgrading at once. @default 64 */
  maxPendingConnections?: number
  /** Inbound connections per second from one host. @default 5 */
  connectionRate?: number
  /** Connections open at once from one IP address. @default 128 */
  maxConnectionsPerIp?: number
  /** Inbound streams per connection (yamux). @default 256 */
  maxStreams?: number
  /**
   * Each connection gets a Yamux ping once per this many milliseconds (spread evenly: one timer for all);
   * one unanswered for 20 s closes it. @default 60000
   */
  keepAliveIntervalMs?: number
  /** Inbound streams one connection may open: a token bucket. @default { burst: 128, perSecond: 32 } */
  streamRate?: RateLimit
  /** DHT record writes (PUT_VALUE, ADD_PROVIDER) per peer: a token bucket. @default { burst: 20, perSecond: 1 } */
  dhtPutRate?: RateLimit
  /**
   * Below this many free bytes on the data directory's file system, new mailbox deposits and prekey uploads
   * are refused (retryable). @default 64 MiB
   */
  minFreeDiskBytes?: number
  /** Inbound mailbox or prekey streams per connection. @default 32 */
  maxServiceStreams?: number
  /** Idle timeout of mailbox and prekey streams, in milliseconds. @default 30000 */
  streamIdleTimeoutMs?: number
  /** Mailbox limits (the path is always `<dataDir>/mailbox.sqlite`). */
  mailbox?: Omit<MailboxInit, 'path' | 'maxInboundStreams' | 'idleTimeoutMs' | 'minFreeBytes'>
  /** Prekey limits (the path is always `<dataDir>/prekeys.sqlite`). */
  prekeys?: Omit<PreKeyServiceInit, 'path' | 'maxInboundStreams' | 'idleTimeoutMs'>
  /** The registry and counters; one is made when absent. */
  metrics?: RelayMetrics
  /** libp2p's logger component (the CLI routes it into pino). */
  logger?: ComponentLogger
}

/** Draining: set by {@link gracefulStop}; the connection gater and readiness read it. */
export interface RelayLifecycle {
  readonly draining: boolean
  startDraining(): void
}

export interface RelayServices {
  identify: unknown
  ping: unknown
  relay: CircuitRelayService
  mailbox: MailboxService
  prekeys: PreKeyService
  dht: KadDHT
  lifecycle: RelayLifecycle
  tls?: TlsReloader
  [key: string]: unknown
}

export type Relay = Libp2p<RelayServices> & { relayMetrics: RelayMetrics }

export const RELAY_DEFAULTS = {
  dataDir: '.data/relay',
  host: '0.0.0.0',
  port: 9090,
  tlsPort: 9443,
  maxReservations: 1024,
  relayedConnectionSeconds: 600,
  relayedConnectionBytes: 16 * 1024 * 1024,
  maxConnections: 2048,
  maxPendingConnections: 64,
  connectionRate: 5,
  maxConnectionsPerIp: 128,
  maxStreams: 256,
  streamRate: { burst: 128, perSecond: 32 },
  keepAliveIntervalMs: 60_000,
  dhtPutRate: { burst: 20, perSecond: 1 },
  minFreeDiskBytes: 64 * 1024 * 1024,
  maxServiceStreams: 32,
  streamIdleTimeoutMs: 30_000,
} as const

/** Loads the relay's peer key from `dir`, creating and saving one on first start. */
export async function loadOrCreateKey(dir: string): Promise<PrivateKey> {
  const file = join(dir, 'peer-key')
  try {
    return privateKeyFromProtobuf(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dir, { recursive: true })
  const key = await generateKeyPair('Ed25519')
  const tmp = `${file}.tmp`
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 })
  await rename(tmp, file)
  return key
}

/** The label of a refused DHT PUT: the validator's error class, a bounded set. */
function refusalReason(err: unknown): string {
  const name = err instanceof Error ? err.name : ''
  return /^[A-Za-z]{1,40}$/.test(name) ? name : 'Error'
}

/**
 * Paloma's DHT validators, counting what they accept and refuse. On a relay (DHT server that makes no
 * queries of its own) a validation is an inbound PUT: accepted means stored.
 */
function countingValidators(metrics: RelayMetrics): Record<string, ValidateFn> {
  return Object.fromEntries(
    Object.entries(dhtValidators).map(([namespace, validate]) => [
      namespace,
      async (key: Uint8Array, value: Uint8Array) => {
        try {
          await validate(key, value)
        } catch (err) {
          metrics.dhtRefused.inc({ reason: refusalReason(err) })
          throw err
        }
        metrics.dhtStored.inc({ namespace })
      },
    ]),
  )
}

/**
 * The circuit relay server with its reservation decisions counted. The server has no events for them;
 * its reservation store's `reserve` is where each one is decided (granted, renewed or refused as full).
 */
function countedRelayServer(
  init: Parameters<typeof circuitRelayServer>[0],
  metrics: RelayMetrics,
): ReturnType<typeof circuitRelayServer> {
  const make = circuitRelayServer(init)
  return (components) => {
    const server = make(components)
    const store = (server as unknown as { reservationStore?: ReservationStoreLike }).reservationStore
    if (store === undefined || typeof store.reserve !== 'function' || typeof store.get !== 'function') {
      throw new Error(
        '@libp2p/circuit-relay-v2 changed: its server has no reservationStore.reserve to count reservations',
      )
    }
    const reserve = store.reserve.bind(store)
    store.reserve = (peer, ...rest) => {
      const held = store.get(peer) !== undefined
      const result = reserve(peer, ...rest)
      // protons enums are strings: 'OK', else 'RESERVATION_REFUSED' (the store is full).
      if (result.status === 'OK') metrics.reservationsGranted.inc({ kind: held ? 'renewal' : 'new' })
      else metrics.reservationsRefused.inc({ reason: 'limit' })
      return result
    }
    return server
  }
}

interface ReservationStoreLike {
  reserve(peer: PeerId, ...rest: unknown[]): { status: string }
  get(peer: PeerId): unknown
}

export async function createRelay(options: RelayOptions = {}): Promise<Relay> {
  const opts = { ...RELAY_DEFAULTS, ...options }
  const metrics =
    options.metrics ??
    new RelayMetrics({
      dataDir: opts.dataDir,
      limits: { maxReservations: opts.maxReservations, maxConnections: opts.maxConnections },
    })
  const privateKey = await loadOrCreateKey(opts.dataDir)
  const allowPrivate = opts.allowPrivateAddresses !== false

  const listen = [`/ip4/${opts.host}/tcp/${opts.port}/ws`]
  const tlsCertificate = opts.tls === undefined ? undefined : loadCertificate(opts.tls)
  if (opts.tls !== undefined) listen.push(`/ip4/${opts.host}/tcp/${opts.tls.port ?? opts.tlsPort}/tls/ws`)
  const webrtcCertificate =
    opts.webrtcDirectPort === undefined ? undefined : await loadOrCreateWebRTCDirectCertificate(opts.dataDir)
  if (opts.webrtcDirectPort !== undefined)
    listen.push(`/ip4/${opts.host}/udp/${opts.webrtcDirectPort}/webrtc-direct`)
  if (tlsCertificate !== undefined) metrics.tlsExpiry.set(tlsCertificate.notAfter.getTime() / 1000)

  let draining = false
  const lifecycle: RelayLifecycle = {
    get draining() {
      return draining
    },
    startDraining() {
      draining = true
    },
  }

  const perIp = new ConnectionsPerIp(opts.maxConnectionsPerIp, metrics)
  const muxer = yamux({
    maxInboundStreams: opts.maxStreams,
    // Streams a client opens right after connecting can arrive in the same chunk as the end of the
    // handshake, before libp2p listens for streams on the new connection; more than yamux's default of
    // 10 of those closed the whole connection (MaxEarlyStreamsError). They are inbound streams like any
    // other, bounded by --max-streams and the stream rate.
    maxEarlyStreams: opts.maxStreams,
    // One timer per connection; the relay's KeepAlive pings them all from one.
    enableKeepAlive: false,
  })
  const keepAlive = new KeepAlive({ intervalMs: opts.keepAliveIntervalMs })
  const node = await createLibp2p({
    start: false,
    privateKey,
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    metrics: metrics.libp2pMetrics(),
    addresses: { listen, announce: opts.announce ?? [] },
    transports: [
      webSockets(
        tlsCertificate === undefined ? {} : { https: { cert: tlsCertificate.cert, key: tlsCertificate.key } },
      ),
      ...(webrtcCertificate === undefined
        ? []
        : [
            webRTCDirect({
              certificate: {
                privateKey: webrtcCertificate.privateKey,
                pem: webrtcCertificate.pem,
                certhash: webrtcCertificate.certhash,
              },
            }),
          ]),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [
      () => limitedMuxer(muxer(), opts.streamRate, metrics, { onMuxer: (m) => keepAlive.track(m) }),
    ],
    // libp2p's monitor opens a ping stream to every connection every 10 s, all in one timer tick; the
    // relay's KeepAlive pings with Yamux frames instead, spread over its interval.
    connectionMonitor: { enabled: false },
    connectionManager: {
      maxConnections: opts.maxConnections,
      maxIncomingPendingConnections: opts.maxPendingConnections,
      inboundConnectionThreshold: opts.connectionRate,
    },
    connectionGater: {
      denyDialMultiaddr: (ma) => !allowPrivate && isPrivate(ma),
      denyInboundConnection: (maConn) => {
        if (draining) {
          metrics.connectionsRefused.inc({ reason: 'draining' })
          return true
        }
        return perIp.deny(maConn.remoteAddr)
      },
      denyInboundRelayReservation: () => draining,
    },
    services: {
      identify: identify(),
      ping: withPingHandler(ping()),
      lifecycle: () => lifecycle,
      relay: countedRelayServer(
        {
          reservations: {
            maxReservations: opts.maxReservations,
            defaultDurationLimit: opts.relayedConnectionSeconds * 1000,
            defaultDataLimit: BigInt(opts.relayedConnectionBytes),
          },
        },
        metrics,
      ),
      mailbox: mailbox({
        ...opts.mailbox,
        minFreeBytes: opts.minFreeDiskBytes,
        path: join(opts.dataDir, 'mailbox.sqlite'),
        maxInboundStreams: opts.maxServiceStreams,
        idleTimeoutMs: opts.streamIdleTimeoutMs,
      }),
      prekeys: prekeyService({
        ...opts.prekeys,
        path: join(opts.dataDir, 'prekeys.sqlite'),
        maxInboundStreams: opts.maxServiceStreams,
        idleTimeoutMs: opts.streamIdleTimeoutMs,
      }),
      dht: (components: Parameters<ReturnType<typeof kadDHT>>[0]) => {
        const dht = kadDHT({
          protocol: DHT_PROTOCOL,
          validators: countingValidators(metrics),
          selectors: dhtSelectors,
          clientMode: false,
          peerInfoMapper: allowPrivate ? passthroughMapper : removePrivateAddressesMapper,
        })(components)
        limitDhtWrites(dht, opts.dhtPutRate, metrics)
        return dht
      },
      ...(opts.tls === undefined || tlsCertificate === undefined
        ? {}
        : {
            tls: tlsReloader({
              files: opts.tls,
              initial: tlsCertificate,
              onReload: (r) => {
                metrics.tlsReloads.inc({ result: r.ok ? 'ok' : 'error' })
                if (r.ok) metrics.tlsExpiry.set(r.certificate.notAfter.getTime() / 1000)
              },
            }),
          }),
    },
  })
  countConnectionRefusals(
    (node as unknown as { components: { connectionManager: unknown } }).components.connectionManager,
    metrics,
  )
  node.addEventListener('connection:open', (evt) => perIp.opened(evt.detail))
  // A browser back from a network change: its old connections are silent, and circuits to it would
  // take the oldest; they are asked for a ping at once instead of at the next keep-alive.
  closeSilentOnReconnect(node)
  node.addEventListener('connection:close', (evt) => perIp.closed(evt.detail))
  await node.start()
  keepAlive.start()
  node.addEventListener('stop', () => keepAlive.stop(), { once: true })
  if ((opts.peers ?? []).length > 0) {
    const keeper = new PeerKeeper(node, (opts.peers ?? []).map(relayTarget))
    keeper.start()
    node.addEventListener('stop', () => keeper.stop(), { once: true })
  }
  return Object.assign(node as unknown as Libp2p<RelayServices>, { relayMetrics: metrics })
}

/**
 * Stops the relay gracefully: refuses new connections and reservations, lets the mailbox and prekey
 * services answer what they are committing (new frames are refused `INTERNAL` "shutting down", which
 * clients retry), tells mailbox subscribers to move on, then stops the node (closing connections and the
 * databases). Resolves when stopped; `timeoutMs` bounds the draining, not the stop.
 */
export async function gracefulStop(relay: Relay, timeoutMs = 5000): Promise<void> {
  relay.services.lifecycle.startDraining()
  await Promise.all([relay.services.mailbox.drain(timeoutMs), relay.services.prekeys.drain(timeoutMs)])
  await relay.stop()
}
