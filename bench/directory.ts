/**
 * Directory benchmark: real relay processes joined into one DHT and two Node client peers.
 * For 1 and for 5 relays, prints one JSON line:
 *   publish_ms_p50      sign + put a 1 KiB prekey bundle profile (no username), median of ROUNDS
 *   publish_name_ms_p50 the same plus providing a username CID, median of ROUNDS
 *   resolve_ms_p50      resolve another peer's profile (every copy fetched and validated), median of ROUNDS
 *   lookup_ms_p50       find every claimant of a username (providers + their profiles), median of ROUNDS
 * Run: node_modules/.bin/node bench/directory.ts
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { startRelayMesh } from '../tests/support/relays.ts'
import { createPalomaNode } from '@paloma/net/node.ts'
import { Directory } from '@paloma/net/directory.ts'

const ROUNDS = Number(process.env.ROUNDS ?? 50)

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(((s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2) * 10) / 10
}

async function peer(relays: string[]) {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createPalomaNode({ privateKey, relays, allowPrivateAddresses: true })
  await node.libp2p.start()
  const table = (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable
  const deadline = Date.now() + 30_000
  while (node.relays.connectedCount() < relays.length || table.size < relays.length) {
    if (Date.now() > deadline) throw new Error('relays not all reachable')
    await new Promise((r) => setTimeout(r, 50))
  }
  return { node, directory: new Directory(node.libp2p, privateKey) }
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

for (const count of [1, 5]) {
  const relays = await startRelayMesh(count)
  const addrs = relays.map((r) => r.multiaddr)
  const alice = await peer(addrs)
  const bob = await peer(addrs)
  try {
    const bundle = new Uint8Array(1024).fill(1)
    const alicePeerId = alice.node.libp2p.peerId
    await alice.directory.publish({ name: 'bench-alice', bundle }) // warm-up
    await bob.directory.resolvePeer(alicePeerId)
    const publish: number[] = []
    const publishName: number[] = []
    const resolve: number[] = []
    const lookup: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      publish.push(await time(() => alice.directory.publish({ bundle })))
      publishName.push(await time(() => alice.directory.publish({ name: 'bench-alice', bundle })))
      resolve.push(await time(() => bob.directory.resolvePeer(alicePeerId)))
      lookup.push(
        await time(async () => {
          if ((await bob.directory.lookupName('bench-alice')).length !== 1) throw new Error('lookup missed')
        }),
      )
    }
    process.stdout.write(
      JSON.stringify({
        bench: 'directory',
        relays: count,
        rounds: ROUNDS,
        publish_ms_p50: median(publish),
        publish_name_ms_p50: median(publishName),
        resolve_ms_p50: median(resolve),
        lookup_ms_p50: median(lookup),
      }) + '\n',
    )
  } finally {
    await Promise.all([alice.node.libp2p.stop(), bob.node.libp2p.stop()])
    await Promise.all(relays.map((r) => r.stop()))
  }
}
// libp2p leaves a few handles open after stop; the measurements are done
process.exit(0)
