/**
 * The flood generator of the relay flood tests, in a process of its own (so its CPU is not the honest
 * client's event loop). Floods come from loopback addresses other than 127.0.0.1 (Linux routes all of
 * 127.0.0.0/8 to loopback; outgoing WebSockets are bound to them), so the relay's per-IP limits meet the
 * flood and not the honest client on 127.0.0.1.
 *
 * IPC: the parent sends `{ kind, relay, seconds, ip }` and gets back `{ done: kind, ...counts }`:
 *
 * - `connections`: raw WebSocket connections opened as fast as 20 addresses allow, each sending a little
 *   garbage and holding on (a handshake never completed), closed after 2 s;
 * - `streams`: one libp2p connection opening ping streams as fast as it can (200 at a time);
 * - `oversized`: mailbox streams announcing a 16 MiB frame, and `put`s of envelopes above the relay's limit;
 * - `dht`: a DHT client putting its (valid, signed) profile record to the relay as fast as it can;
 * - `mailbox-spam`: ten PeerIds on one address, each depositing just under the per-sender rate.
 */
import { WebSocket as WS } from 'ws'
import { createLibp2p, type Libp2p } from 'libp2p'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { DHT_PROTOCOL } from '@paloma/net/protocols.ts'
import { dhtSelectors, dhtValidators } from '@paloma/net/dht-records.ts'
import { deposit } from '@paloma/net/mailbox-client.ts'
import { encodeFrame, MAILBOX_PROTOCOL } from '@paloma/core/protocol/mailbox.ts'
import { profileKey, signProfileRecord } from '@paloma/core/protocol/directory.ts'
import { setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'

setCryptoProvider(nodeCryptoProvider)

/** The source address of the WebSockets libp2p dials from now on. */
let sourceIp = '127.0.0.2'
// @libp2p/websockets dials with the global WebSocket; this one binds the socket to `sourceIp`.
;(globalThis as { WebSocket: unknown }).WebSocket = class extends WS {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { localAddress: sourceIp })
  }
}

export interface FloodOrder {
  kind: 'connections' | 'streams' | 'oversized' | 'dht' | 'mailbox-spam'
  relay: string
  seconds: number
  /** First source address; a flood over several uses the following ones too. */
  ip: string
  /** Recipient of the mailbox spam. */
  to?: string
}

const nextIp = (ip: string, k: number): string => {
  const parts = ip.split('.').map(Number)
  parts[3] = (parts[3] ?? 0) + k
  return parts.join('.')
}

async function node(ip: string): Promise<Libp2p> {
  sourceIp = ip
  return createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionMonitor: { enabled: false },
    services: { identify: identify() },
  })
}

const until = (end: number): boolean => Date.now() < end

async function connections(order: FloodOrder): Promise<Record<string, number>> {
  const [, , host, , port] = order.relay.split('/')
  const end = Date.now() + order.seconds * 1000
  let opened = 0
  let failed = 0
  const sockets = new Set<WS>()
  let k = 0
  while (until(end)) {
    for (let i = 0; i < 10; i++) {
      const ws = new WS(`ws://${host}:${port}/`, { localAddress: nextIp(order.ip, k++ % 20) })
      ws.on('open', () => {
        opened++
        ws.send(new Uint8Array(64).fill(0x13))
      })
      ws.on('error', () => failed++)
      ws.on('close', () => sockets.delete(ws))
      sockets.add(ws)
      setTimeout(() => ws.terminate(), 2000)
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  for (const ws of sockets) ws.terminate()
  return { opened, failed }
}

async function streams(order: FloodOrder): Promise<Record<string, number>> {
  const n = await node(order.ip)
  try {
    const relay = multiaddr(order.relay)
    await n.dial(relay)
    const end = Date.now() + order.seconds * 1000
    let opened = 0
    let refused = 0
    const worker = async (): Promise<void> => {
      while (until(end)) {
        try {
          const s = await n.dialProtocol(relay, '/ipfs/ping/1.0.0', { signal: AbortSignal.timeout(5000) })
          opened++
          s.abort(new Error('flood'))
        } catch {
          refused++
          await new Promise((r) => setTimeout(r, 1))
        }
        if (n.getConnections().length === 0) await n.dial(relay).catch(() => {})
      }
    }
    await Promise.all(Array.from({ length: 200 }, worker))
    return { opened, refused }
  } finally {
    await n.stop()
  }
}

async function oversized(order: FloodOrder): Promise<Record<string, number>> {
  const n = await node(order.ip)
  try {
    const relay = multiaddr(order.relay)
    const end = Date.now() + order.seconds * 1000
    let sent = 0
    let answered = 0
    // A length prefix of 16 MiB (far above the mailbox's frame cap) with no body; and a put of a 200 KiB
    // envelope (within the protocol's 256 KiB, above the relay's default 64 KiB limit).
    const huge = Uint8Array.of(0x80, 0x80, 0x80, 0x08)
    const big = new Uint8Array(200 * 1024)
    const worker = async (i: number): Promise<void> => {
      while (until(end)) {
        try {
          const s = await n.dialProtocol(relay, MAILBOX_PROTOCOL, { signal: AbortSignal.timeout(5000) })
          sent++
          if (i % 2 === 0) s.send(huge)
          else s.send(encodeFrame({ t: 'put', to: n.peerId.toString(), id: `big-${sent}`, env: big }))
          for await (const chunk of s) {
            if (chunk.byteLength > 0) answered++
            break
          }
          s.abort(new Error('flood'))
        } catch {
          await new Promise((r) => setTimeout(r, 5))
        }
      }
    }
    await Promise.all(Array.from({ length: 16 }, (_, i) => worker(i)))
    return { sent, answered }
  } finally {
    await n.stop()
  }
}

async function dhtPuts(order: FloodOrder): Promise<Record<string, number>> {
  const privateKey = await generateKeyPair('Ed25519')
  sourceIp = order.ip
  const n = await createLibp2p({
    privateKey,
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: true,
        validators: dhtValidators,
        selectors: dhtSelectors,
        peerInfoMapper: passthroughMapper,
      }),
    },
  })
  try {
    await n.dial(multiaddr(order.relay))
    const table = (n.services.dht as unknown as { routingTable: { size: number } }).routingTable
    for (const stop = Date.now() + 10_000; table.size < 1 && Date.now() < stop;)
      await new Promise((r) => setTimeout(r, 20))
    const end = Date.now() + order.seconds * 1000
    let puts = 0
    let seq = 1
    const key = profileKey(n.peerId.toString())
    const worker = async (): Promise<void> => {
      while (until(end)) {
        const record = await signProfileRecord(
          privateKey.publicKey.raw,
          { seq: seq++, issued: Date.now(), relays: [], bundle: Uint8Array.of(1) },
          (data) => privateKey.sign(data),
        )
        try {
          for await (const event of n.services.dht.put(key, record.bytes, {
            signal: AbortSignal.timeout(5000),
          })) {
            void event
          }
        } catch {
          // refused or timed out
        }
        puts++
      }
    }
    await Promise.all(Array.from({ length: 20 }, worker))
    return { puts }
  } finally {
    await n.stop()
  }
}

async function mailboxSpam(order: FloodOrder): Promise<Record<string, number>> {
  const relay = multiaddr(order.relay)
  const nodes: Libp2p[] = []
  const end = Date.now() + order.seconds * 1000
  let ok = 0
  const refused: Record<string, number> = {}
  const envelope = new Uint8Array(512)
  const loop = async (x: Libp2p, i: number): Promise<void> => {
    let k = 0
    while (until(end)) {
      const t = Date.now()
      try {
        await deposit(x, relay, { to: order.to!, id: `spam-${i}-${k++}`, envelope }, { timeoutMs: 5000 })
        ok++
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'error'
        refused[code] = (refused[code] ?? 0) + 1
      }
      // 15 deposits per second per PeerId: under the per-sender rate; ten of them, 150/s from the address.
      await new Promise((r) => setTimeout(r, Math.max(0, 66 - (Date.now() - t))))
    }
  }
  try {
    // Ten PeerIds, connected at 4 a second (under the per-IP connection rate), each depositing once connected.
    const loops: Array<Promise<void>> = []
    for (let i = 0; i < 10 && until(end); i++) {
      const x = await node(order.ip)
      nodes.push(x)
      await x.dial(relay).catch(() => {})
      loops.push(loop(x, i))
      await new Promise((r) => setTimeout(r, 250))
    }
    await Promise.all(loops)
    return { ok, ...Object.fromEntries(Object.entries(refused).map(([k, v]) => [`refused_${k}`, v])) }
  } finally {
    await Promise.all(nodes.map((x) => x.stop()))
  }
}

const FLOODS = { connections, streams, oversized, dht: dhtPuts, 'mailbox-spam': mailboxSpam }

process.on('message', (order: FloodOrder) => {
  FLOODS[order.kind](order).then(
    (counts) => process.send?.({ done: order.kind, ...counts }),
    (err: unknown) => process.send?.({ done: order.kind, error: String((err as Error).stack ?? err) }),
  )
})
process.send?.({ ready: true })
