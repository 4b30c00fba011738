/**
 * Whether one connection still carries traffic, asked over that connection itself (the ping service
 * picks any connection to the peer, which is not the question after a network change).
 *
 * When a device's IP address changes, its TCP and WebRTC connections from the old address neither fail
 * nor close: packets to the old address are dropped, so they go silent. libp2p's connection monitor
 * notices after a missed heartbeat (10 s and more); the browser's `online` event after a change lets the
 * app ask at once instead.
 */
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { PING_PROTOCOL } from '@libp2p/ping'
import { Uint8ArrayList } from 'uint8arraylist'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'

const PING_LENGTH = 32
/** How soon to ask again when another ping is using the connection's one ping stream. */
const BUSY_RETRY_MS = 20

/** Resolves true when `connection` echoes a ping within `timeoutMs`, false otherwise; never throws. */
export async function answers(connection: Connection, timeoutMs: number): Promise<boolean> {
  const signal = AbortSignal.timeout(timeoutMs)
  const data = crypto.getRandomValues(new Uint8Array(PING_LENGTH))
  let stream: Stream | undefined
  let ok = false
  try {
    const s = (stream = await pingStream(connection, signal))
    ok = await new Promise<boolean>((resolve) => {
      const received = new Uint8ArrayList()
      signal.addEventListener('abort', () => resolve(false), { once: true })
      s.addEventListener('close', () => resolve(false), { once: true })
      s.addEventListener('message', (evt) => {
        received.append(evt.data)
        if (received.byteLength >= PING_LENGTH) resolve(uint8ArrayEquals(received.subarray(), data))
      })
      s.send(data)
    })
    return ok
  } catch {
    return false
  } finally {
    if (ok) void stream?.close().catch(() => undefined)
    else stream?.abort(new Error('no ping answer'))
  }
}

/**
 * A ping stream on `connection`. The ping protocol allows one outbound stream per connection, and libp2p's
 * connection monitor pings every connection now and then: when it is pinging this one, wait for it to
 * finish instead of taking the refusal for silence (that closed live connections).
 */
async function pingStream(connection: Connection, signal: AbortSignal): Promise<Stream> {
  for (;;) {
    try {
      return await connection.newStream(PING_PROTOCOL, { signal })
    } catch (err) {
      if ((err as Error).name !== 'TooManyOutboundProtocolStreamsError') throw err
      await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS))
      signal.throwIfAborted()
    }
  }
}

/** Pings each of `connections` over itself and closes those that do not answer within `timeoutMs`. */
export async function closeSilent(
  connections: readonly Connection[],
  timeoutMs: number,
  why: string,
): Promise<void> {
  await Promise.all(
    connections.map(async (c) => {
      if (!(await answers(c, timeoutMs))) c.abort(new Error(why))
    }),
  )
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
    void closeSilent(older, timeoutMs, 'silent since the peer connected again').finally(() =>
      probing.delete(peer),
    )
  }
  node.addEventListener('connection:open', onOpen)
  return () => node.removeEventListener('connection:open', onOpen)
}
