/**
 * Every multiaddr Paloma handles, parsed and built in one place.
 *
 * Three shapes matter:
 * - a relay: `/ip4/…/tcp/…/ws/p2p/<relay>` (config.json, learned from contacts);
 * - a circuit address: `<relay>/p2p-circuit/p2p/<peer>`, where `<peer>` is reached through `<relay>` and
 *   where its mailbox lives (published in profiles and invites);
 * - a WebRTC address: `<relay>/p2p-circuit/webrtc/p2p/<peer>`: dialing it signals a direct WebRTC
 *   connection through the relay.
 *
 * Everything here parses with `@multiformats/multiaddr`, so a malformed string is refused the same way
 * wherever it came from. Knows nothing about what the peers are for.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, PeerId } from '@libp2p/interface'

/** Parses `addr`, or undefined when it is not a multiaddr. */
export function parseAddress(addr: string): Multiaddr | undefined {
  try {
    return multiaddr(addr)
  } catch {
    return undefined
  }
}

/** The last `/p2p/<id>` of `addr`: the peer the address leads to. Undefined when there is none. */
export function peerOf(addr: string | Multiaddr): string | undefined {
  const ma = typeof addr === 'string' ? parseAddress(addr) : addr
  return ma?.getComponents().findLast((c) => c.name === 'p2p')?.value
}

/** Whether `addr` parses and ends in `/p2p/<a valid PeerId>`: what a relay address in config.json must be. */
export function isRelayAddress(addr: string): boolean {
  const ma = parseAddress(addr)
  if (ma === undefined) return false
  const parts = ma.getComponents()
  if (parts.some((c) => c.name === 'p2p-circuit') || parts.at(-1)?.name !== 'p2p') return false
  try {
    peerIdFromString(parts.at(-1)!.value!)
    return true
  } catch {
    return false
  }
}

/** Whether `addr` goes through a relay (`/p2p-circuit`). */
export function isCircuit(addr: string | Multiaddr): boolean {
  const ma = typeof addr === 'string' ? parseAddress(addr) : addr
  return ma?.getComponents().some((c) => c.name === 'p2p-circuit') === true
}

/** `<relay>/p2p-circuit/…` → `<relay>`, the relay itself; an address with no circuit is returned as is. */
export function relayOf(circuit: string): string {
  const ma = parseAddress(circuit)
  if (ma === undefined) return circuit
  const parts = ma.getComponents()
  const at = parts.findIndex((c) => c.name === 'p2p-circuit')
  if (at < 0) return ma.toString()
  return multiaddr(parts.slice(0, at)).toString()
}

/** The distinct relays behind `circuits`, in order, skipping anything that does not parse. */
export function relaysOf(circuits: readonly string[]): string[] {
  const out = new Set<string>()
  for (const c of circuits) if (parseAddress(c) !== undefined) out.add(relayOf(c))
  return [...out]
}

/** `<relay>/p2p-circuit/p2p/<peer>`: where `peer` is reached through `relay` (and its mailbox lives). */
export function circuitAddress(relay: string, peer: string): string {
  return multiaddr(relayOf(relay)).encapsulate(`/p2p-circuit/p2p/${peer}`).toString()
}

/** `<relay>/p2p-circuit/webrtc/p2p/<peer>` for each relay behind `circuits`: dial one to go direct. */
export function webrtcAddresses(peer: string, circuits: readonly string[]): Multiaddr[] {
  return relaysOf(circuits).map((r) => multiaddr(r).encapsulate(`/p2p-circuit/webrtc/p2p/${peer}`))
}

/**
 * The circuit addresses among `addrs` that lead to `peer`, each ending in `/p2p/<peer>` (an address
 * without the final `/p2p/` gets it). Anything unparseable, not a circuit, or leading elsewhere is skipped.
 */
export function circuitsTo(peer: string, addrs: readonly string[]): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const a of addrs) {
    let ma = parseAddress(a)
    if (ma === undefined || !isCircuit(ma)) continue
    const last = ma.getComponents().at(-1)
    if (last?.name !== 'p2p') ma = ma.encapsulate(`/p2p/${peer}`)
    else if (last.value !== peer) continue
    out.push(ma)
  }
  return out
}

/** Parses a relay's (or any peer's) multiaddr to dial it. @throws on a string that is not a multiaddr. */
export function relayAddress(addr: string): Multiaddr {
  return multiaddr(addr)
}

/** A relay address as a dial target: the multiaddr, and the relay's PeerId. @throws on a bad address. */
export function relayTarget(addr: string): { addr: Multiaddr; peer: PeerId } {
  const ma = multiaddr(addr)
  const id = peerOf(ma)
  if (id === undefined) throw new Error(`Relay address ${addr} must end in /p2p/<peer id>`)
  return { addr: ma, peer: peerIdFromString(id) }
}

/** True when a connection runs over WebRTC directly between the two peers (the relay only signalled it). */
export function isDirectWebRTC(connection: Connection): boolean {
  return connection.limits == null && connection.remoteAddr.getComponents().some((c) => c.name === 'webrtc')
}
