/**
 * A relay joining a running network: three relays run, Alice publishes her profile and username on one
 * of them; a fourth relay starts knowing only one of the three (`--peer`). It becomes ready (DHT joined),
 * learns the other relays through the DHT, and Bob, connected to the new relay alone, finds Alice by her
 * username and resolves her profile.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { startRelay, startRelayMesh, untilMetric, type RelayProcess } from '../support/relays.ts'
import { createPalomaNode, type PalomaNode } from '@paloma/net/node.ts'
import { Directory } from '@paloma/net/directory.ts'
import { setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'

setCryptoProvider(nodeCryptoProvider)

const relays: RelayProcess[] = []
const nodes: PalomaNode[] = []
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.libp2p.stop()))
  await Promise.all(relays.map((r) => r.stop()))
})

async function person(relayAddrs: string[], expectDhtPeers: number) {
  const privateKey: PrivateKey = await generateKeyPair('Ed25519')
  const node = await createPalomaNode({ privateKey, relays: relayAddrs, allowPrivateAddresses: true })
  nodes.push(node)
  await node.libp2p.start()
  const table = (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable
  for (
    const end = Date.now() + 20_000;
    table.size < expectDhtPeers;
    await new Promise((r) => setTimeout(r, 50))
  ) {
    if (Date.now() > end) throw new Error(`only ${table.size} relays in the routing table`)
  }
  return { node, directory: new Directory(node.libp2p, privateKey, { timeoutMs: 20_000 }) }
}

describe('a relay joining a running network', () => {
  it('becomes ready, learns the other relays and serves the directory records published before it came', async () => {
    relays.push(...(await startRelayMesh(3, ['--metrics-port', '0'])))
    const [a, b, c] = relays as [RelayProcess, RelayProcess, RelayProcess]
    const alice = await person([a.multiaddr], 1)
    const published = await alice.directory.publish({ name: 'alice', bundle: Uint8Array.of(1, 2, 3) })
    expect(published.replicas).toBeGreaterThanOrEqual(1)

    const d = await startRelay({ args: ['--metrics-port', '0', '--peer', a.multiaddr] })
    relays.push(d)
    // Ready once joined; then it finds b and c through a's DHT, without being told about them.
    await untilMetric(d.metricsUrl!, 'paloma_relay_ready', (v) => v === 1)
    await untilMetric(d.metricsUrl!, 'paloma_relay_dht_routing_table_size', (v) => v >= 3)
    const report = (await (await fetch(d.metricsUrl!.replace('/metrics', '/readyz'))).json()) as {
      checks: { dht: { ok: boolean } }
    }
    expect(report.checks.dht.ok).toBe(true)
    // The old relays learn of the new one too.
    await untilMetric(b.metricsUrl!, 'paloma_relay_dht_routing_table_size', (v) => v >= 3)
    await untilMetric(c.metricsUrl!, 'paloma_relay_dht_routing_table_size', (v) => v >= 3)

    // Bob knows only the new relay; the DHT behind it answers for Alice.
    const bob = await person([d.multiaddr], 1)
    // The DHT behind the new relay converges (routing tables fill in as queries run): ask until it answers.
    await expect
      .poll(async () => (await bob.directory.lookupName('alice')).map((x) => x.peerId), {
        timeout: 30_000,
        interval: 500,
      })
      .toEqual([alice.node.libp2p.peerId.toString()])
    const profile = await bob.directory.resolvePeer(alice.node.libp2p.peerId.toString())
    expect(profile.seq).toBe(published.seq)
  })
})
