/**
 * Keeps connections to a fixed set of peers (a browser's relays, a relay's fellow relays) open.
 *
 * libp2p does not redial a peer after the connection drops, and after a relay restart a browser may never
 * reserve again on its own (js-libp2p#3601). The keeper checks every `intervalMs` and redials missing
 * peers with capped exponential backoff (with jitter, so browsers that lost one relay together do not all
 * come back in the same second); the circuit-relay transport's discovery then makes a fresh
 * reservation as soon as identify reports the relay's hop protocol.
 */
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface PeerKeeperInit {
  /** How often to look for dropped connections. @default 2000 */
  intervalMs?: number
  /**
   * Longest wait between two redials of one peer: a relay back from a restart is reached again within
   * about this long. @default 8000
   */
  maxBackoffMs?: number
}

interface Target {
  addr: Multiaddr
  peer: PeerId
  failures: number
  nextAttempt: number
  dialing: boolean
}

export class PeerKeeper {
  readonly #node: Libp2p
  readonly #targets: Target[]
  readonly #intervalMs: number
  readonly #maxBackoffMs: number
  #timer: ReturnType<typeof setInterval> | undefined

  /** @param targets the peers to keep, each with the address to dial (see `relayTarget` in addresses.ts). */
  constructor(
    node: Libp2p,
    targets: ReadonlyArray<{ addr: Multiaddr; peer: PeerId }>,
    init: PeerKeeperInit = {},
  ) {
    this.#node = node
    this.#intervalMs = init.intervalMs ?? 2000
    this.#maxBackoffMs = init.maxBackoffMs ?? 8_000
    this.#targets = targets.map((t) => ({ ...t, failures: 0, nextAttempt: 0, dialing: false }))
  }

  start(): void {
    if (this.#timer != null) return
    this.#timer = setInterval(() => this.check(), this.#intervalMs)
    this.check()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Keeps `target` connected too (a relay learned from a contact); nothing when it is kept already. */
  add(target: { addr: Multiaddr; peer: PeerId }): void {
    if (this.#targets.some((t) => t.peer.equals(target.peer))) return
    this.#targets.push({ ...target, failures: 0, nextAttempt: 0, dialing: false })
    this.check()
  }

  /** Peers currently connected, out of those kept. */
  connectedCount(): number {
    return this.#targets.filter((t) => this.#node.getConnections(t.peer).length > 0).length
  }

  /** Dial every missing peer now, ignoring backoff (e.g. when the browser says it is back online). */
  retryNow(): void {
    for (const t of this.#targets) t.nextAttempt = 0
    this.check()
  }

  check(): void {
    if (this.#node.status !== 'started') return
    const now = Date.now()
    for (const t of this.#targets) {
      if (t.dialing || now < t.nextAttempt) continue
      if (this.#node.getConnections(t.peer).some((c) => c.status === 'open')) {
        t.failures = 0
        continue
      }
      t.dialing = true
      this.#node
        .dial(t.addr, { signal: AbortSignal.timeout(10_000) })
        .then(() => {
          t.failures = 0
        })
        .catch(() => {
          t.failures++
          const backoff = Math.min(this.#maxBackoffMs, 500 * 2 ** t.failures)
          t.nextAttempt = Date.now() + backoff * (0.75 + Math.random() / 2)
        })
        .finally(() => {
          t.dialing = false
        })
    }
  }
}
