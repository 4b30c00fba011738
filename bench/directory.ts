/**
 * Directory benchmark: the kad-dht of 5, 20 and 50 relays on loopback and two Paloma peers (`createPalomaNode`,
 * what the app runs) that each know 3 of the relays, as a browser's config.json lists a few. Per network size,
 * medians and p99 of:
 *
 *   publish_ms      sign + put a 1 KiB prekey bundle profile (no username) to the closest relays
 *   publish_name_ms the same plus providing a username CID
 *   resolve_ms      resolve the other peer's profile (every copy fetched and validated)
 *   lookup_ms       find every claimant of a username (providers, then their profiles)
 *
 * and `growth`: each median and p99 divided by the same figure with 5 relays (the baseline, measured in the
 * same run), with `log2(relays / 5)` for reading it against Kademlia's logarithmic hop count.
 *
 * Relays are the relay's own `createRelay` in `bench/relay-process.ts` child processes, up to 10 per process
 * (50 relay processes would not fit in 2 cores; relays in one process share its event loop, which flatters
 * nothing: every DHT message still crosses loopback WebSockets with Noise and Yamux). Every relay is told of
 * every other one (`peers`), as `startRelayMesh` does. The relays' per-peer DHT write limit is raised (the
 * bench publishes one profile many times a second; the default allows 1 a second).
 *
 * Run: `node bench/directory.ts [--quick]` (quick: 5 and 10 relays, 5 rounds, to check it runs; starting 50
 * relays that all dial each other takes minutes on this machine).
 */
import { loadavg } from 'node:os'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createPalomaNode } from '@paloma/net/node.ts'
import { Directory } from '@paloma/net/directory.ts'
import { setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'
import { spawnRelays, type RelayProcessHandle } from './relay-process.ts'

setCryptoProvider(nodeCryptoProvider)

const quick = process.argv.includes('--quick')
const ROUNDS = Number(process.env.ROUNDS ?? (quick ? 5 : 50))
const SIZES = (process.env.PALOMA_BENCH_RELAYS ?? (quick ? '5,10' : '5,20,50')).split(',').map(Number)
const PER_PROCESS = 10
const KNOWN_RELAYS = 3

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return (
    Math.round((s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN) * 10) / 10
  )
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(((s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2) * 10) / 10
}

/** `count` relays in processes of up to PER_PROCESS, every relay told of every other one. */
async function mesh(count: number): Promise<{ addrs: string[]; processes: RelayProcessHandle[] }> {
  // Each process starts its relays knowing each other and the relays of the processes started before it
  // (`peers`, kept connected by their PeerKeeper); the earlier relays learn the newcomers from the
  // connections they receive.
  const processes: RelayProcessHandle[] = []
  const addrs: string[] = []
  for (let started = 0; started < count; started += PER_PROCESS) {
    const n = Math.min(PER_PROCESS, count - started)
    const handle = await spawnRelays({
      count: n,
      mesh: true,
      options: {
        peers: [...addrs],
        connectionRate: 10_000,
        maxConnectionsPerIp: 10_000,
        dhtPutRate: { burst: 1e6, perSecond: 1e6 },
        streamRate: { burst: 1e6, perSecond: 1e6 },
        mailbox: { writerThread: false },
      },
    })
    processes.push(handle)
    addrs.push(...handle.relays.map((r) => r.multiaddr))
  }
  return { addrs, processes }
}

async function peer(relays: string[], all: number) {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createPalomaNode({ privateKey, relays, allowPrivateAddresses: true })
  await node.libp2p.start()
  const table = (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable
  const deadline = Date.now() + 180_000
  // Connected to its relays, and its routing table partly filled from them (the relays know each other; the
  // warm-up publish fills the rest).
  while (node.relays.connectedCount() < relays.length || table.size < Math.min(all, 10)) {
    if (Date.now() > deadline) throw new Error(`routing table ${table.size} of ${all} relays after 180 s`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return { node, directory: new Directory(node.libp2p, privateKey) }
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

interface SizeResult {
  relays: number
  relay_processes: number
  start_s: number
  publish_ms: { p50: number; p99: number }
  publish_name_ms: { p50: number; p99: number }
  resolve_ms: { p50: number; p99: number }
  lookup_ms: { p50: number; p99: number }
  publish_replicas_p50: number
}

async function measure(count: number): Promise<SizeResult> {
  const t0 = performance.now()
  const { addrs, processes } = await mesh(count)
  // Two peers knowing different relays: their lookups must cross the network.
  const alice = await peer(addrs.slice(0, KNOWN_RELAYS), count)
  const bob = await peer(addrs.slice(-KNOWN_RELAYS), count)
  const startS = Math.round((performance.now() - t0) / 100) / 10
  try {
    const bundle = new Uint8Array(1024).fill(1)
    const alicePeerId = alice.node.libp2p.peerId
    const name = `bench-alice-${count}`
    await alice.directory.publish({ name, bundle }) // warm-up
    await bob.directory.resolvePeer(alicePeerId)
    const publish: number[] = []
    const publishName: number[] = []
    const resolve: number[] = []
    const lookup: number[] = []
    const replicas: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      publish.push(
        await time(async () => {
          replicas.push((await alice.directory.publish({ bundle })).replicas)
        }),
      )
      publishName.push(await time(() => alice.directory.publish({ name, bundle })))
      resolve.push(await time(() => bob.directory.resolvePeer(alicePeerId)))
      lookup.push(
        await time(async () => {
          if ((await bob.directory.lookupName(name)).length !== 1) throw new Error('lookup missed')
        }),
      )
    }
    const both = (xs: number[]) => ({ p50: median(xs), p99: pct(xs, 99) })
    return {
      relays: count,
      relay_processes: processes.length,
      start_s: startS,
      publish_ms: both(publish),
      publish_name_ms: both(publishName),
      resolve_ms: both(resolve),
      lookup_ms: both(lookup),
      publish_replicas_p50: median(replicas),
    }
  } finally {
    await Promise.all([alice.node.libp2p.stop(), bob.node.libp2p.stop()])
    await Promise.all(processes.map((p) => p.stop()))
  }
}

const results: SizeResult[] = []
for (const count of SIZES) results.push(await measure(count))
const base = results[0]!
const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100
const growth = results.slice(1).map((r) => ({
  relays: r.relays,
  log2_relays_over_base: Math.round(Math.log2(r.relays / base.relays) * 100) / 100,
  ...Object.fromEntries(
    (['publish_ms', 'publish_name_ms', 'resolve_ms', 'lookup_ms'] as const).map((k) => [
      k,
      { p50: ratio(r[k].p50, base[k].p50), p99: ratio(r[k].p99, base[k].p99) },
    ]),
  ),
}))
process.stdout.write(
  JSON.stringify({
    bench: 'directory',
    quick,
    rounds: ROUNDS,
    known_relays_per_peer: KNOWN_RELAYS,
    baseline_relays: base.relays,
    sizes: results,
    growth,
    load_avg: loadavg().map((x) => Math.round(x * 100) / 100),
  }) + '\n',
)
// libp2p leaves a few handles open after stop; the measurements are done
process.exit(0)
