/**
 * Whether one connection still carries traffic, asked over that connection itself (the ping service
 * picks any connection to the peer, which is not the question after a network change).
 *
 * When a device's IP address changes, its TCP and WebRTC connections from the old address neither fail
 * nor close: packets to the old address are dropped, so they go silent. libp2p's connection monitor
 * notices after a missed heartbeat (10 s and more); the browser's `online` event after a change lets the
 * app ask at once instead.
 */
import type { Connection, Libp2p } from '@libp2p/interface'
import { PING_PROTOCOL } from '@libp2p/ping'

const PING_LENGTH = 32

/** Resolves true when `connection` echoes a ping within `timeoutMs`, false otherwise; never throws. */
export async function answers(connection: Connection, timeoutMs: number): Promise<boolean> {
  const signal = AbortSignal.timeout(timeoutMs)
  const data = crypto.getRandomValues(new Uint8Array(PING_LENGTH))
  let stream
  try {
    stream = await connection.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true })
    const s = stream
    const echoed = new Promise<boolean>((resolve) => {
      const received: Uint8Array[] = []
      let length = 0
      signal.addEventListener('abort', () => resolve(false), { once: true })
      s.addEventListener('close', () => resolve(false), { once: true })
      s.addEventListener('message', (evt) => {
        const chunk = evt.data.subarray()
        received.push(chunk)
        length += chunk.byteLength
        if (length < PING_LENGTH) return
        const all = new Uint8Array(length)
        let at = 0
        for (const c of received) all.set(c, (at += c.byteLength) - c.byteLength)
        resolve(length === PING_LENGTH && all.every((b, i) => b === data[i]))
      })
    })
    s.send(data)
    return await echoed
  } catch {
    return false
  } finally {
    stream?.abort(new Error('ping done'))
  }
}

/**
 * Whenever a peer opens another connection while older ones to it are open, asks each older one for a
 * ping over itself and closes those that do not answer within `timeoutMs`. After a network change the
 * peer comes back from its new address while its old connections are dead but not closed, and a relay
 * would open the circuits to it on the oldest (js-libp2p uses the first open connection). Relayed
 * (limited) connections are a dial's signalling path and are left alone. Returns the unsubscribe.
 */
export function closeSilentOnReconnect(node: Libp2p, timeoutMs = 3000): () => void {
  // One round of probes per peer at a time: a peer opening connection after connection (a flood) gets
  // no more pings than one that reconnects once.
  const probing = new Set<string>()
  const onOpen = (evt: CustomEvent<Connection>): void => {
    const fresh = evt.detail
    const peer = fresh.remotePeer.toString()
    if (fresh.limits != null || probing.has(peer)) return
    const older = node
      .getConnections(fresh.remotePeer)
      .filter(
        (c) =>
          c !== fresh && c.status === 'open' && c.limits == null && c.timeline.open <= fresh.timeline.open,
      )
    if (older.length === 0) return
    probing.add(peer)
    void Promise.all(
      older.map(async (c) => {
        if (!(await answers(c, timeoutMs))) c.abort(new Error('silent since the peer connected again'))
      }),
    ).finally(() => probing.delete(peer))
  }
  node.addEventListener('connection:open', onOpen)
  return () => node.removeEventListener('connection:open', onOpen)
}
