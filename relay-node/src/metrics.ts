/**
 * Relay monitoring: `GET /metrics` (Prometheus text format) and `GET /health` (JSON) on a separate
 * HTTP port, so operators can scrape and alert without touching the libp2p listener.
 */
import { createServer, type Server } from 'node:http'
import type { Relay } from './relay.ts'

export interface RelayStats {
  peer_id: string
  uptime_seconds: number
  connections: number
  relay_reservations: number
  dht_routing_table_size: number
  mailbox_envelopes: number
  mailbox_bytes: number
  mailbox_subscriptions: number
  memory_rss_bytes: number
}

export function relayStats(relay: Relay, startedAt: number): RelayStats {
  const services = relay.services as Record<string, unknown>
  const reservations =
    (services.relay as { reservations?: { size: number } } | undefined)?.reservations?.size ?? 0
  const routing = (services.dht as { routingTable?: { size: number } } | undefined)?.routingTable?.size ?? 0
  const mailbox = (
    services.mailbox as { stats?: () => { envelopes: number; bytes: number; subscriptions: number } }
  )?.stats?.()
  return {
    peer_id: relay.peerId.toString(),
    uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
    connections: relay.getConnections().length,
    relay_reservations: reservations,
    dht_routing_table_size: routing,
    mailbox_envelopes: mailbox?.envelopes ?? 0,
    mailbox_bytes: mailbox?.bytes ?? 0,
    mailbox_subscriptions: mailbox?.subscriptions ?? 0,
    memory_rss_bytes: process.memoryUsage().rss,
  }
}

const HELP: Record<Exclude<keyof RelayStats, 'peer_id'>, string> = {
  uptime_seconds: 'Seconds since the relay started.',
  connections: 'Open libp2p connections.',
  relay_reservations: 'Circuit relay v2 reservations held.',
  dht_routing_table_size: 'Peers in the kad-dht routing table.',
  mailbox_envelopes: 'Envelopes waiting in the mailbox.',
  mailbox_bytes: 'Bytes waiting in the mailbox.',
  mailbox_subscriptions: 'Open mailbox subscriptions (recipients online).',
  memory_rss_bytes: 'Resident memory of the relay process.',
}

export function prometheusText(stats: RelayStats): string {
  let out = ''
  for (const [name, help] of Object.entries(HELP)) {
    const metric = `paloma_relay_${name}`
    out += `# HELP ${metric} ${help}\n# TYPE ${metric} gauge\n${metric} ${stats[name as keyof typeof HELP]}\n`
  }
  return out
}

export async function serveMetrics(relay: Relay, port: number, host = '127.0.0.1'): Promise<Server> {
  const startedAt = Date.now()
  const server = createServer((req, res) => {
    const stats = relayStats(relay, startedAt)
    if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(prometheusText(stats))
    } else if (req.url === '/health') {
      const ok = relay.status === 'started'
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ok, ...stats }))
    } else {
      res.writeHead(404).end('Try /metrics or /health\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  return server
}
