/**
 * A connection that goes on opening streams past the relay's stream rate is closed, and its socket really
 * ends: the client sees its connection close at once. (Before, @libp2p/websockets reset the socket with a
 * close code ws refuses to send, so the relay's side was aborted and the socket stayed open, unannounced.)
 * A client that keeps within the rate keeps its connection.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p } from 'libp2p'
import { startClient } from './fixtures/nodes.ts'
import { scrape, sample, startRelay, type RelayProcess } from '../support/relays.ts'

const PING = '/ipfs/ping/1.0.0'
const BURST = 8
const CLOSED = 'paloma_relay_connections_refused_total{reason="stream-flood"}'
const RESET = 'paloma_relay_streams_refused_total{reason="rate"}'

let relay: RelayProcess & { metricsUrl: string }
let nodes: Libp2p[] = []

beforeAll(async () => {
  relay = (await startRelay({
    args: ['--metrics-port', '0', '--stream-burst', String(BURST), '--stream-rate', '1'],
  })) as RelayProcess & { metricsUrl: string }
})

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
  await relay?.stop()
})

/** Opens `n` streams to the relay at once; how many it let through. */
async function open(node: Libp2p, n: number): Promise<number> {
  const results = await Promise.allSettled(
    Array.from({ length: n }, async () => {
      const s = await node.dialProtocol(multiaddr(relay.multiaddr), PING, {
        signal: AbortSignal.timeout(5000),
      })
      await s.close()
    }),
  )
  return results.filter((r) => r.status === 'fulfilled').length
}

it('a stream flood closes the connection, and the client sees it close at once', async () => {
  const [flooder, honest] = await Promise.all([startClient(), startClient()])
  nodes = [flooder, honest]
  await Promise.all([flooder.dial(multiaddr(relay.multiaddr)), honest.dial(multiaddr(relay.multiaddr))])
  const before = await scrape(relay.metricsUrl)

  // Within the burst: all through; the connection stays.
  expect(await open(honest, BURST / 2)).toBe(BURST / 2)

  const closed = new Promise<number>((resolve) => {
    const t0 = Date.now()
    flooder.addEventListener('connection:close', () => resolve(Date.now() - t0), { once: true })
  })
  // The burst, as many refused again, and one more: a flood.
  const through = await open(flooder, 3 * BURST + 1)
  expect(through).toBeLessThanOrEqual(BURST + 1)
  const closedMs = await closed
  expect(closedMs).toBeLessThan(2000)

  const after = await scrape(relay.metricsUrl)
  expect(sample(after, CLOSED) - sample(before, CLOSED)).toBe(1)
  expect(sample(after, RESET) - sample(before, RESET)).toBeGreaterThan(BURST)
  // The honest client was not touched, and goes on.
  expect(honest.getConnections(peerIdFromString(relay.peerId))).toHaveLength(1)
  expect(await open(honest, 1)).toBe(1)
  console.log(JSON.stringify({ suite: 'relay-stream-flood', through, closed_ms: closedMs }))
})
