/**
 * After a network change, connections that went silent are found by a ping over each of them and closed,
 * and the relays are dialled again; live ones stay. A relay process stopped with SIGSTOP is a silent
 * connection, as one from an address the device no longer has: nothing fails, nothing closes.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createPalomaNode, type PalomaNode } from '@paloma/net/node.ts'
import { createPeerNetwork, type PeerNetwork } from '@paloma/net/network.ts'
import { startRelay, startRelayMesh, type RelayProcess } from '../support/relays.ts'
import { waitFor } from '../support/wait.ts'

let relays: RelayProcess[] = []
let network: PeerNetwork | undefined
let nodes: PalomaNode[] = []
let proxy: FreezableProxy | undefined

afterEach(async () => {
  for (const r of relays) r.process.kill('SIGCONT')
  await network?.stop()
  for (const n of nodes) await n.libp2p.stop()
  proxy?.close()
  for (const r of relays) await r.stop()
  relays = []
  nodes = []
  network = proxy = undefined
})

/**
 * A TCP proxy to `port` that can stop forwarding without closing anything: what a connection from an
 * address the device no longer has looks like to the relay. Tells when the relay closed its side.
 */
interface FreezableProxy {
  port: number
  freeze(): void
  /** Resolves when the relay closed a connection made through the proxy. */
  upstreamClosed: Promise<number>
  close(): void
}

async function freezableProxy(port: number): Promise<FreezableProxy> {
  const sockets: Socket[] = []
  let frozen = false
  let closed: (at: number) => void = () => {}
  const upstreamClosed = new Promise<number>((r) => (closed = r))
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1')
    sockets.push(client, upstream)
    client.on('data', (d) => frozen || upstream.write(d))
    upstream.on('data', (d) => frozen || client.write(d))
    upstream.on('close', () => closed(Date.now()))
    client.on('error', () => {})
    upstream.on('error', () => {})
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as { port: number }).port,
    freeze: () => void (frozen = true),
    upstreamClosed,
    close() {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}

const connectedTo = (n: PeerNetwork, r: RelayProcess) => n.connections().some((c) => c.peer === r.peerId)

describe('checking connections after a network change', () => {
  it('closes the one that stopped answering within the timeout, keeps the live one, and redials', async () => {
    relays = await startRelayMesh(2)
    const n = await createPeerNetwork({
      privateKey: await generateKeyPair('Ed25519'),
      relays: relays.map((r) => r.multiaddr),
      allowPrivateAddresses: true,
      onEnvelope: async () => {},
    })
    network = n
    await n.start()
    await waitFor(() => relays.every((r) => connectedTo(n, r)), 'both relays connected', 20_000)
    const [silent, live] = relays as [RelayProcess, RelayProcess]
    const liveBefore = n.connections().find((c) => c.peer === live.peerId)!.addr

    silent.process.kill('SIGSTOP')
    const started = Date.now()
    await n.checkConnections(1000)
    const took = Date.now() - started
    expect(took).toBeLessThan(3000)
    expect(connectedTo(n, silent)).toBe(false)
    expect(n.connections().find((c) => c.peer === live.peerId)?.addr).toBe(liveBefore)

    // Answering again: dialled at once (no backoff left from before), no waiting for the keeper's tick.
    silent.process.kill('SIGCONT')
    await n.checkConnections(1000)
    await waitFor(() => connectedTo(n, silent), 'the relay dialled again', 10_000)
    expect(relays.every((r) => connectedTo(n, r))).toBe(true)
  })

  it('the relay drops a browser’s silent old connection as soon as it connects again: circuits reach it', async () => {
    const relay = await startRelay()
    relays = [relay]
    proxy = await freezableProxy(relay.port)
    const viaProxy = relay.multiaddr.replace(`/tcp/${relay.port}/`, `/tcp/${proxy.port}/`)
    const reserved = (n: PalomaNode) =>
      n.libp2p.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit'))
    const moving = await createPalomaNode({
      privateKey: await generateKeyPair('Ed25519'),
      relays: [viaProxy],
      allowPrivateAddresses: true,
    })
    const caller = await createPalomaNode({
      privateKey: await generateKeyPair('Ed25519'),
      relays: [relay.multiaddr],
      allowPrivateAddresses: true,
    })
    nodes = [moving, caller]
    for (const n of nodes) await n.libp2p.start()
    await waitFor(() => nodes.every(reserved), 'both reserved', 20_000)

    // The device's address changed: its connection goes silent, and it connects again from elsewhere.
    proxy.freeze()
    const moved = Date.now()
    await moving.libp2p.dial(multiaddr(relay.multiaddr), { force: true })
    // A circuit to it works once both ends dropped the silent connection (a ping each, 3 s to answer);
    // the relay would otherwise open it on the oldest connection until its keep-alive, 60 s or more.
    const circuit = multiaddr(`${relay.multiaddr}/p2p-circuit/p2p/${moving.libp2p.peerId}`)
    let reached: number | undefined
    while (reached === undefined && Date.now() - moved < 20_000) {
      try {
        await caller.libp2p.dial(circuit, { signal: AbortSignal.timeout(3000) })
        reached = Date.now() - moved
      } catch {
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    expect(reached).toBeDefined()
    expect(reached!).toBeLessThan(10_000)
  })
})
