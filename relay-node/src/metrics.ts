/**
 * Relay monitoring: one prom-client registry holding libp2p's own metrics (`@libp2p/prometheus-metrics`
 * is the node's `metrics` component), Node's process metrics (CPU, memory, event-loop lag, file system),
 * Paloma's counters (the mailbox and prekey services register theirs through the `metrics` component;
 * the DHT, reservation and TLS counters live here) and Paloma's gauges; and the HTTP server that serves
 * `GET /metrics` (Prometheus text, optionally behind a bearer token), `GET /healthz` (alive; `/health` is
 * an alias) and `GET /readyz` (ready for traffic, 503 with the failing checks otherwise).
 *
 * Knows the relay's services only through their `stats()`; knows nothing about the wire protocols.
 */
import { createServer, type Server, type ServerResponse } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { Counter, Gauge, Registry } from 'prom-client'
import type { Metrics } from '@libp2p/interface'
import type { Readiness, ReadinessReport } from './readiness.ts'
import { CONNECTION_REFUSAL_REASONS, STREAM_REFUSAL_REASONS } from './limits.ts'

/** What the gauges read from the running relay. */
export interface RelayStats {
  peer_id: string
  uptime_seconds: number
  connections: number
  relay_reservations: number
  dht_routing_table_size: number
  mailbox_envelopes: number
  mailbox_bytes: number
  mailbox_subscriptions: number
  mailbox_accepting: number
  prekeys_stored: number
  memory_rss_bytes: number
}

/** The running relay as the gauges see it: anything with these shapes (a libp2p node with Paloma's services). */
export interface MonitoredRelay {
  peerId: { toString(): string }
  status: string
  getConnections(): unknown[]
  services: object
}

export function relayStats(relay: MonitoredRelay, startedAt: number): RelayStats {
  const services = relay.services as Record<string, unknown>
  const reservations =
    (services.relay as { reservations?: { size: number } } | undefined)?.reservations?.size ?? 0
  const routing = (services.dht as { routingTable?: { size: number } } | undefined)?.routingTable?.size ?? 0
  const read = <T>(name: string): T | undefined => {
    const service = services[name] as { stats?: () => T; isStarted?: () => boolean } | undefined
    if (service?.stats === undefined || service.isStarted?.() === false) return undefined
    try {
      return service.stats()
    } catch {
      return undefined
    }
  }
  const mailbox = read<{ envelopes: number; bytes: number; subscriptions: number; accepting?: boolean }>(
    'mailbox',
  )
  const prekeys = read<{ keys: number }>('prekeys')
  return {
    peer_id: relay.peerId.toString(),
    uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
    connections: relay.getConnections().length,
    relay_reservations: reservations,
    dht_routing_table_size: routing,
    mailbox_envelopes: mailbox?.envelopes ?? 0,
    mailbox_bytes: mailbox?.bytes ?? 0,
    mailbox_subscriptions: mailbox?.subscriptions ?? 0,
    mailbox_accepting: mailbox === undefined ? 0 : mailbox.accepting === false ? 0 : 1,
    prekeys_stored: prekeys?.keys ?? 0,
    memory_rss_bytes: process.memoryUsage().rss,
  }
}

const GAUGES: Record<Exclude<keyof RelayStats, 'peer_id'>, string> = {
  uptime_seconds: 'Seconds since the relay started.',
  connections: 'Open libp2p connections.',
  relay_reservations: 'Circuit relay v2 reservations held.',
  dht_routing_table_size: 'Peers in the kad-dht routing table.',
  mailbox_envelopes: 'Envelopes waiting in the mailbox.',
  mailbox_bytes: 'Bytes waiting in the mailbox.',
  mailbox_subscriptions: 'Open mailbox subscriptions (recipients online).',
  mailbox_accepting:
    '1 while the mailbox accepts deposits; 0 while it refuses them because its storage is full or read-only (or it is stopped).',
  prekeys_stored: 'One-time prekeys stored, over all owners.',
  memory_rss_bytes: 'Resident memory of the relay process.',
}

export interface RelayMetricsInit {
  /** Where `nodejs_fs_usage_bytes` looks (the data directory). */
  dataDir: string
  /** Exported as gauges, so alerts can compare usage with the limits. */
  limits: { maxReservations: number; maxConnections: number }
}

/**
 * The registry and Paloma's relay-level counters. Create it before the node, pass {@link libp2pMetrics} as
 * the node's `metrics`, then {@link attach} the running node so the gauges can read it.
 */
export class RelayMetrics {
  readonly registry = new Registry()
  readonly startedAt = Date.now()
  readonly dhtStored: Counter<'namespace'>
  readonly dhtRefused: Counter<'reason'>
  readonly reservationsGranted: Counter<'kind'>
  readonly reservationsRefused: Counter<'reason'>
  readonly connectionsRefused: Counter<'reason'>
  readonly streamsRefused: Counter<'reason'>
  readonly tlsReloads: Counter<'result'>
  readonly tlsExpiry: Gauge
  readonly #init: RelayMetricsInit
  #relay: MonitoredRelay | undefined
  #readiness: Readiness | undefined

  constructor(init: RelayMetricsInit) {
    this.#init = init
    const registers = [this.registry]
    this.dhtStored = new Counter({
      name: 'paloma_relay_dht_records_stored_total',
      help: 'DHT records accepted from PUTs and stored, by namespace.',
      labelNames: ['namespace'],
      registers,
    })
    this.dhtRefused = new Counter({
      name: 'paloma_relay_dht_puts_refused_total',
      help: "DHT PUTs refused by Paloma's record validators, by reason (the validator's error).",
      labelNames: ['reason'],
      registers,
    })
    this.reservationsGranted = new Counter({
      name: 'paloma_relay_reservations_granted_total',
      help: 'Circuit relay reservations granted: new ones and renewals of a held one.',
      labelNames: ['kind'],
      registers,
    })
    this.reservationsRefused = new Counter({
      name: 'paloma_relay_reservations_refused_total',
      help: 'Circuit relay reservations refused, by reason (limit: --max-reservations reached).',
      labelNames: ['reason'],
      registers,
    })
    this.connectionsRefused = new Counter({
      name: 'paloma_relay_connections_refused_total',
      help: 'Inbound connections refused, by reason: rate (--connection-rate per IP), pending (--max-pending-connections), limit (--max-connections), per-ip (--max-connections-per-ip), draining, stream-flood (an open connection closed for opening streams past the stream rate).',
      labelNames: ['reason'],
      registers,
    })
    this.streamsRefused = new Counter({
      name: 'paloma_relay_streams_refused_total',
      help: "Inbound streams reset, by reason: rate (--stream-rate per connection), limit (--max-streams open), protocol-limit (a protocol's streams per connection).",
      labelNames: ['reason'],
      registers,
    })
    this.tlsReloads = new Counter({
      name: 'paloma_relay_tls_reloads_total',
      help: 'Reloads of the secure WebSocket certificate after its files changed, by result.',
      labelNames: ['result'],
      registers,
    })
    this.tlsExpiry = new Gauge({
      name: 'paloma_relay_tls_certificate_expiry_seconds',
      help: 'Expiry of the secure WebSocket certificate being served, in seconds since the epoch.',
      registers,
    })
    for (const kind of ['new', 'renewal']) this.reservationsGranted.inc({ kind }, 0)
    this.reservationsRefused.inc({ reason: 'limit' }, 0)
    for (const reason of CONNECTION_REFUSAL_REASONS) this.connectionsRefused.inc({ reason }, 0)
    for (const reason of STREAM_REFUSAL_REASONS) this.streamsRefused.inc({ reason }, 0)
    this.dhtRefused.inc({ reason: 'RATE_LIMITED' }, 0)
    for (const result of ['ok', 'error']) this.tlsReloads.inc({ result }, 0)

    const stats = (): RelayStats | undefined =>
      this.#relay === undefined ? undefined : relayStats(this.#relay, this.startedAt)
    for (const [name, help] of Object.entries(GAUGES)) {
      new Gauge({
        name: `paloma_relay_${name}`,
        help,
        registers,
        collect() {
          const s = stats()
          if (s !== undefined) this.set(s[name as keyof typeof GAUGES])
        },
      })
    }
    new Gauge({
      name: 'paloma_relay_max_reservations',
      help: 'The configured --max-reservations.',
      registers,
    }).set(init.limits.maxReservations)
    new Gauge({
      name: 'paloma_relay_max_connections',
      help: 'The configured --max-connections.',
      registers,
    }).set(init.limits.maxConnections)
    const readinessOf = (): Readiness | undefined => this.#readiness
    new Gauge({
      name: 'paloma_relay_ready',
      help: '1 while /readyz answers 200 (listening, storage writable, DHT joined), else 0.',
      registers,
      async collect() {
        const r = readinessOf()
        this.set(r === undefined ? 0 : (await r.check()).ready ? 1 : 0)
      },
    })
  }

  /** The node's `metrics` component: libp2p's own metrics, on this registry. */
  libp2pMetrics(): (components: Parameters<ReturnType<typeof prometheusMetrics>>[0]) => Metrics {
    return prometheusMetrics({
      registry: this.registry,
      statfsLocation: this.#init.dataDir,
      collectDefaultMetrics: true,
    })
  }

  attach(relay: MonitoredRelay, readiness: Readiness): void {
    this.#relay = relay
    this.#readiness = readiness
  }

  stats(): RelayStats | undefined {
    return this.#relay === undefined ? undefined : relayStats(this.#relay, this.startedAt)
  }

  /** The node's status (`started`, `stopping`...), `undefined` before {@link attach}. */
  status(): string | undefined {
    return this.#relay?.status
  }

  readiness(): Readiness | undefined {
    return this.#readiness
  }
}

export interface MonitoringServerInit {
  port: number
  host: string
  /** Required as `Authorization: Bearer <token>` on /metrics when set. */
  token?: string
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  if (m === null) return false
  const given = Buffer.from(m[1] as string)
  const wanted = Buffer.from(token)
  return given.length === wanted.length && timingSafeEqual(given, wanted)
}

/** Serves `/metrics`, `/healthz` (and `/health`), `/readyz`. */
export async function serveMonitoring(metrics: RelayMetrics, init: MonitoringServerInit): Promise<Server> {
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify(body))
  }
  const server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end()
        return
      }
      if (path === '/metrics') {
        if (init.token !== undefined && !tokenMatches(req.headers.authorization, init.token)) {
          res.writeHead(401, { 'www-authenticate': 'Bearer realm="paloma-relay"' }).end('unauthorized\n')
          return
        }
        const text = await metrics.registry.metrics()
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text)
      } else if (path === '/healthz' || path === '/health') {
        // Alive: the process runs a node that is started or still draining (not a reason to restart it).
        const stats = metrics.stats()
        const status = metrics.status()
        const ok = stats !== undefined && (status === 'started' || status === 'stopping')
        json(res, ok ? 200 : 503, { ok, status, ...stats })
      } else if (path === '/readyz') {
        const readiness = metrics.readiness()
        const report: ReadinessReport =
          readiness === undefined
            ? { ready: false, checks: { started: { ok: false, detail: 'the relay is starting' } } }
            : await readiness.check()
        json(res, report.ready ? 200 : 503, report)
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Try /metrics, /healthz or /readyz\n')
      }
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`${(err as Error).message}\n`)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port, init.host, () => resolve())
  })
  return server
}
