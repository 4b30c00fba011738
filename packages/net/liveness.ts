/**
 * Whether one connection still carries traffic, asked over that connection itself (the ping service
 * picks any connection to the peer, which is not the question after a network change).
 *
 * When a device's IP address changes, its TCP and WebRTC connections from the old address neither fail
 * nor close: packets to the old address are dropped, so they go silent. libp2p's connection monitor
 * notices after a missed heartbeat (10 s and more); the browser's `online` event after a change lets the
 * app ask at once instead.
 */
import type { Connection } from '@libp2p/interface'
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
