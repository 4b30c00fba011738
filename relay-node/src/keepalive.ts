/**
 * Liveness of the relay's connections at a cost that does not grow in bursts with the number of browsers.
 *
 * libp2p's defaults cost a relay with thousands of idle browsers more than everything else it does:
 *
 * - its connection monitor opens a ping stream to every connection every 10 s, all in the same timer tick
 *   (5,000 streams at once with 5,000 browsers, every 10 s);
 * - Yamux's keep-alive runs one timer per connection;
 * - `@libp2p/ping`'s responder arms an `AbortSignal.timeout` per ping stream and never removes its
 *   listener, so Node keeps every answered ping stream (with its buffers and listeners) alive until the
 *   timeout fires 10 s later: with browsers pinging every 10 s, one dead stream per browser at all times.
 *
 * The relay turns the first two off and runs {@link KeepAlive}: one timer for all connections, pinging each
 * muxer with a Yamux ping frame (no stream, no protocol negotiation) once per `intervalMs`, spread evenly
 * over the interval, and aborting a connection whose ping goes unanswered for `timeoutMs` (a browser that
 * vanished without closing). {@link pingHandler} answers `/ipfs/ping/1.0.0` (what browsers' own
 * connection monitors and `ping()` use) with a timer it clears when the stream ends.
 */
import type { Stream, Connection } from '@libp2p/interface'

interface PingableMuxer {
  status: string
  ping(options?: { signal?: AbortSignal }): Promise<number>
  abort(err: Error): void
}

export interface KeepAliveInit {
  /** Each connection is pinged once per this many milliseconds. @default 60000 */
  intervalMs?: number
  /** A ping unanswered this long aborts the connection. @default 20000 */
  timeoutMs?: number
  /** Told of each connection aborted for silence. */
  onDead?(): void
}

/** One timer pinging every tracked muxer once per interval, a slice each second. */
export class KeepAlive {
  readonly #intervalMs: number
  readonly #timeoutMs: number
  readonly #onDead: (() => void) | undefined
  readonly #muxers = new Set<PingableMuxer>()
  #cursor: Iterator<PingableMuxer> | undefined
  #timer: ReturnType<typeof setInterval> | undefined
  static readonly TICK_MS = 1000

  constructor(init: KeepAliveInit = {}) {
    this.#intervalMs = init.intervalMs ?? 60_000
    this.#timeoutMs = init.timeoutMs ?? 20_000
    this.#onDead = init.onDead
  }

  /** Tracks a connection's muxer (from `createStreamMuxer`); it is dropped once closed. */
  track(muxer: unknown): void {
    const m = muxer as Partial<PingableMuxer>
    if (typeof m.ping !== 'function' || typeof m.abort !== 'function') {
      throw new Error('@libp2p/yamux changed: its muxer has no ping() for keep-alives')
    }
    this.#muxers.add(muxer as PingableMuxer)
  }

  get size(): number {
    return this.#muxers.size
  }

  start(): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => this.tick(), KeepAlive.TICK_MS)
    this.#timer.unref?.()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#muxers.clear()
    this.#cursor = undefined
  }

  /** Pings the next slice of connections (run every second by {@link start}). */
  tick(): void {
    const slice = Math.ceil((this.#muxers.size * KeepAlive.TICK_MS) / this.#intervalMs)
    for (let i = 0; i < slice; i++) {
      let next = this.#cursor?.next()
      if (next === undefined || next.done === true) {
        this.#cursor = this.#muxers.values()
        next = this.#cursor.next()
        if (next.done === true) return
      }
      const muxer = next.value
      if (muxer.status !== 'open') {
        this.#muxers.delete(muxer)
        continue
      }
      muxer.ping({ signal: AbortSignal.timeout(this.#timeoutMs) }).catch((err: unknown) => {
        if (muxer.status !== 'open') return
        this.#onDead?.()
        muxer.abort(new Error(`no answer to a keep-alive ping in ${this.#timeoutMs} ms`, { cause: err }))
      })
    }
  }
}

/** Most bytes echoed on one ping stream (a ping is 32 bytes; the connection monitor sends one per stream). */
const MAX_PING_BYTES = 32 * 64

/**
 * The answering half of `/ipfs/ping/1.0.0`: echoes what it reads (at most 2 KiB per stream), gives up after
 * `timeoutMs`, and keeps nothing of a stream once it has ended.
 */
export function pingHandler(timeoutMs = 10_000): (stream: Stream, connection: Connection) => Promise<void> {
  return async (stream) => {
    const timer = setTimeout(() => stream.abort(new Error('ping timed out')), timeoutMs)
    let echoed = 0
    try {
      for await (const chunk of stream) {
        echoed += chunk.byteLength
        if (echoed > MAX_PING_BYTES) throw new Error(`more than ${MAX_PING_BYTES} bytes on a ping stream`)
        if (!stream.send(chunk)) await stream.onDrain()
      }
      await stream.close()
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      clearTimeout(timer)
    }
  }
}

/**
 * `@libp2p/ping`'s service (kad-dht pings routing-table peers with it) with {@link pingHandler} answering
 * inbound pings in place of its own.
 */
export function withPingHandler<F extends (components: never) => object>(factory: F, timeoutMs = 10_000): F {
  return ((components: Parameters<F>[0]) => {
    const service = factory(components) as { handlePing?: unknown }
    if (typeof service.handlePing !== 'function') {
      throw new Error('@libp2p/ping changed: its service has no handlePing to replace')
    }
    service.handlePing = pingHandler(timeoutMs)
    return service
  }) as F
}
