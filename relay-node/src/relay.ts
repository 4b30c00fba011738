/**
 * The Paloma relay: a Node libp2p node that browsers reach over WebSockets.
 *
 * It owns: the circuit relay v2 server (NAT traversal and WebRTC signalling), the kad-dht in server mode
 * under Paloma's protocol prefix, identify and ping, and its own persistent peer key (so its address is
 * stable across restarts). It knows nothing about message contents: everything it carries is opaque.
 */
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { createLibp2p, type Libp2p } from 'libp2p'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { DHT_PROTOCOL } from '../../src/net/protocols.ts'
import { dhtSelectors, dhtValidators } from '../../src/net/dht-records.ts'
import { PeerKeeper } from '../../src/net/peer-keeper.ts'
import { relayTarget } from '../../src/net/addresses.ts'
import { mailbox } from './mailbox/index.ts'
import { prekeyService } from './prekeys/index.ts'

export interface RelayOptions {
  /** Where the relay keeps its key, its mailbox and its one-time prekeys. @default '.data/relay' */
  dataDir?: string
  /** Interface to listen on. @default '0.0.0.0' */
  host?: string
  /** WebSocket port; 0 picks a free one. @default 9090 */
  port?: number
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
  /** Keep private/loopback addresses in DHT peer records (local networks and tests). @default true */
  allowPrivateAddresses?: boolean
}

export type Relay = Libp2p

export const RELAY_DEFAULTS = {
  dataDir: '.data/relay',
  host: '0.0.0.0',
  port: 9090,
  maxReservations: 1024,
  relayedConnectionSeconds: 600,
  relayedConnectionBytes: 16 * 1024 * 1024,
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

export async function createRelay(options: RelayOptions = {}): Promise<Relay> {
  const opts = { ...RELAY_DEFAULTS, ...options }
  const privateKey = await loadOrCreateKey(opts.dataDir)
  const node = await createLibp2p({
    privateKey,
    addresses: {
      listen: [`/ip4/${opts.host}/tcp/${opts.port}/ws`],
      announce: opts.announce ?? [],
    },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: Math.max(opts.maxReservations * 2, 300) },
    connectionGater: opts.allowPrivateAddresses === false ? {} : { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      ping: ping(),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: opts.maxReservations,
          defaultDurationLimit: opts.relayedConnectionSeconds * 1000,
          defaultDataLimit: BigInt(opts.relayedConnectionBytes),
        },
      }),
      mailbox: mailbox({ path: join(opts.dataDir, 'mailbox.sqlite') }),
      prekeys: prekeyService({ path: join(opts.dataDir, 'prekeys.sqlite') }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        validators: dhtValidators,
        selectors: dhtSelectors,
        clientMode: false,
        peerInfoMapper:
          opts.allowPrivateAddresses === false ? removePrivateAddressesMapper : passthroughMapper,
      }),
    },
  })
  if ((opts.peers ?? []).length > 0) {
    const keeper = new PeerKeeper(node, (opts.peers ?? []).map(relayTarget))
    keeper.start()
    node.addEventListener('stop', () => keeper.stop(), { once: true })
  }
  return node
}
