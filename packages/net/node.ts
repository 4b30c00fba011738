/**
 * Builds a Paloma peer: the same libp2p node in the browser and in Node (tests, load tools).
 *
 * Transports: WebSockets (`/ws`, `/tls/ws`) and WebRTC-Direct (`/webrtc-direct`, no domain certificate
 * needed) to reach relays, circuit relay v2 for reservations and signalling, WebRTC for the direct
 * browser-to-browser connection that carries conversations. kad-dht runs in client mode under
 * Paloma's protocol prefix; gossipsub carries group messages between members' nodes ({@link pubsubService}).
 * The caller passes the persistent private key, so the PeerId is stable.
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { webSockets } from '@libp2p/websockets'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import type { Identify } from '@libp2p/identify'
import { gossipsub, StrictSign, type GossipSub } from '@libp2p/gossipsub'
import { sha256 } from '@noble/hashes/sha2.js'
import { toString as bytesToString } from 'uint8arrays/to-string'
import type { PrivateKey } from '@libp2p/interface'
import { relayTarget } from './addresses.ts'
import { DHT_PROTOCOL } from './protocols.ts'
import { dhtSelectors, dhtValidators } from './dht-records.ts'
import { closeSilentOnReconnect } from './liveness.ts'
import { PeerKeeper } from './peer-keeper.ts'
import { resetEndsWebSockets } from './websocket-reset.ts'

export interface PalomaNodeInit {
  privateKey: PrivateKey
  /** Relay multiaddrs (each ending in /p2p/<relay peer id>). */
  relays: string[]
  /** How many relays to hold a reservation on at once. @default min(2, relays.length) */
  reservations?: number
  /** ICE servers for WebRTC (STUN/TURN). @default [] */
  iceServers?: RTCIceServer[]
  /** Allow dialing loopback/private addresses (local development and tests). @default false */
  allowPrivateAddresses?: boolean
}

export type PalomaServices = { identify: Identify; ping: Ping; dht: KadDHT; pubsub: GossipSub }

/** Largest data field of a pubsub message accepted (a group message is at most 64 KiB). */
export const MAX_PUBSUB_DATA_BYTES = 64 * 1024 + 256

/**
 * Gossipsub for group messages: messages signed by the publishing node (`StrictSign`), their id the
 * SHA-256 of their data (every group message's bytes are unique: a sender key never reuses an
 * iteration), the same hash as the fast id, so the copies the mesh forwards are dropped as duplicates
 * before their signature is checked again; run on relayed (limited) connections too, since two browsers may have only a circuit
 * between them. Publishing with no subscribed peer throws (`allowPublishToZeroTopicPeers` off): the
 * network layer turns that into "sent to nobody". Relays do not run it: members' nodes form the mesh
 * over their own connections, and delivery never depends on it (docs/protocol.md, "Groups in the app").
 */
export function pubsubService() {
  return gossipsub({
    globalSignaturePolicy: StrictSign,
    runOnLimitedConnection: true,
    allowPublishToZeroTopicPeers: false,
    emitSelf: false,
    fallbackToFloodsub: false,
    doPX: false,
    msgIdFn: (msg) => sha256(msg.data),
    fastMsgIdFn: (msg) => bytesToString(sha256(msg.data ?? new Uint8Array()), 'base64'),
    maxInboundDataLength: MAX_PUBSUB_DATA_BYTES,
  })
}
export type PalomaLibp2p = Libp2p<PalomaServices>

export interface PalomaNode {
  libp2p: PalomaLibp2p
  relays: PeerKeeper
}

export async function createPalomaNode(init: PalomaNodeInit): Promise<PalomaNode> {
  if (init.relays.length === 0)
    throw new Error('No relay configured: add at least one relay multiaddr to config.json')
  const relays = init.relays.map(relayTarget)
  const reservations = Math.max(1, Math.min(init.reservations ?? 2, relays.length))
  // Relay connections are WebSockets: without this, aborting one (checkConnections, a silent one replaced)
  // left its socket open.
  resetEndsWebSockets(globalThis.WebSocket?.prototype)
  const libp2p = await createLibp2p({
    privateKey: init.privateKey,
    start: false,
    addresses: { listen: [...Array.from({ length: reservations }, () => '/p2p-circuit'), '/webrtc'] },
    transports: [
      webSockets(),
      webRTC({ rtcConfiguration: { iceServers: init.iceServers ?? [] } }),
      webRTCDirect(),
      circuitRelayTransport(),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: init.allowPrivateAddresses === true ? { denyDialMultiaddr: () => false } : {},
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        validators: dhtValidators,
        selectors: dhtSelectors,
        clientMode: true,
        peerInfoMapper:
          init.allowPrivateAddresses === true ? passthroughMapper : removePrivateAddressesMapper,
      }),
      pubsub: pubsubService(),
    },
  })
  const keeper = new PeerKeeper(libp2p, relays)
  closeSilentOnReconnect(libp2p)
  libp2p.addEventListener('start', () => keeper.start())
  libp2p.addEventListener('stop', () => keeper.stop())
  return { libp2p, relays: keeper }
}
