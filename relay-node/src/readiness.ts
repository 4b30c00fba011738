/**
 * Readiness: whether this relay should get traffic now. Three checks, each run when asked (`/readyz`,
 * the `paloma_relay_ready` gauge):
 *
 * - `listening`: the node is started, has listen addresses, and is not draining for shutdown.
 * - `storage`: a probe file can be created, written, fsynced and removed in the data directory, the file
 *   system has at least `minFreeBytes` available, and the mailbox and prekey databases are open. A data
 *   directory that turned read-only (remounted after a disk error, permissions changed, an immutable
 *   attribute) fails the probe even though SQLite may still write the files it already holds open.
 * - `dht`: with `--peer` relays configured, the DHT routing table holds at least one peer (the relay has
 *   joined the network); a relay configured alone passes.
 *
 * Knows the node only through the small {@link ReadinessTarget} shape.
 */
import { statfs } from 'node:fs/promises'
import { writeProbe } from './storage-guard.ts'

export interface CheckResult {
  ok: boolean
  detail: string
}

export interface ReadinessReport {
  ready: boolean
  checks: Record<string, CheckResult>
}

export interface ReadinessTarget {
  status: string
  getMultiaddrs(): unknown[]
  services: object
}

export interface ReadinessInit {
  dataDir: string
  minFreeBytes: number
  /** Other relays configured: the DHT check wants at least one routing-table peer. */
  expectPeers: boolean
  /** True while the relay drains for shutdown. */
  draining(): boolean
}

export class Readiness {
  readonly #relay: ReadinessTarget
  readonly #init: ReadinessInit

  constructor(relay: ReadinessTarget, init: ReadinessInit) {
    this.#relay = relay
    this.#init = init
  }

  async check(): Promise<ReadinessReport> {
    const checks = {
      listening: this.#listening(),
      storage: await this.#storage(),
      dht: this.#dht(),
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks }
  }

  #listening(): CheckResult {
    if (this.#init.draining()) return { ok: false, detail: 'shutting down: draining connections' }
    if (this.#relay.status !== 'started') return { ok: false, detail: `node is ${this.#relay.status}` }
    const n = this.#relay.getMultiaddrs().length
    return n > 0 ? { ok: true, detail: `${n} listen addresses` } : { ok: false, detail: 'no listen address' }
  }

  async #storage(): Promise<CheckResult> {
    const services = this.#relay.services as Record<string, { isStarted?: () => boolean } | undefined>
    for (const name of ['mailbox', 'prekeys']) {
      if (services[name]?.isStarted?.() === false) return { ok: false, detail: `${name} database is closed` }
    }
    try {
      await writeProbe(this.#init.dataDir, 'ready')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error'
      return { ok: false, detail: `data directory ${this.#init.dataDir} is not writable (${code})` }
    }
    try {
      const fs = await statfs(this.#init.dataDir)
      const available = fs.bavail * fs.bsize
      if (available < this.#init.minFreeBytes) {
        return {
          ok: false,
          detail: `only ${available} bytes free on the data directory's file system (--min-free-disk ${this.#init.minFreeBytes})`,
        }
      }
      return { ok: true, detail: `writable, ${available} bytes free` }
    } catch (err) {
      return { ok: false, detail: `cannot stat the data directory: ${(err as Error).message}` }
    }
  }

  #dht(): CheckResult {
    const table = (this.#relay.services as { dht?: { routingTable?: { size: number } } }).dht?.routingTable
    const size = table?.size ?? 0
    if (!this.#init.expectPeers) return { ok: true, detail: `no --peer configured; ${size} DHT peers` }
    return size > 0
      ? { ok: true, detail: `${size} DHT peers` }
      : { ok: false, detail: 'no DHT peer yet: cannot reach any --peer relay' }
  }
}
