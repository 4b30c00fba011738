/**
 * Keeping this person reachable for new sessions, and the one owner of their directory profile.
 *
 * - The profile (name, relay circuit addresses, prekey bundle with the current signed prekey) is
 *   published at start, when the signed prekey rotates, when a relay that was lost comes back (its DHT
 *   may have lost the record), and every `republishMs` (kad-dht drops records after 48 h), retrying with
 *   backoff until a relay stored it. Requests during a running publication make it run once more.
 * - The signed prekey is rotated on its own schedule (checked every `rotationCheckMs`; the crypto core
 *   decides when it is due and when old ones are deleted).
 * - Each of this person's relays keeps a stock of signed one-time prekeys: topped up with `batch` new ones
 *   when it holds fewer than `lowWater`; after a restore every relay's stock is replaced, because the
 *   private halves of keys uploaded after the backup are gone.
 */
import {
  createPreKeyBundle,
  generateOneTimePreKeys,
  rotateSignedPreKey,
  type IdentityKeyPair,
} from '@paloma/core/crypto/index.ts'
import { signOneTimePreKey } from '@paloma/core/protocol/prekeys.ts'
import { peerOf } from '@paloma/net/addresses.ts'
import type { PeerNetwork } from '@paloma/net/network.ts'
import type { VaultProtocolStores } from '../storage/protocol-stores.ts'
import type { AppRecords } from './records.ts'
import type { Scheduler } from './scheduler.ts'

export interface PrekeyUpkeep {
  start(): void
  /** Publishes the profile (coalesced with a running publication; retries until it is stored or stopped). */
  publish(): Promise<void>
  /** Tops up (or, after a restore, replaces) the one-time prekeys on every relay. */
  topUp(): Promise<void>
  /** Rotates the signed prekey if due; publishes when it changed. */
  rotate(): Promise<void>
  /** Resolves once no publication, top-up or rotation is running. */
  settled(): Promise<void>
  /** The prekey bundle published last (or being published), for invite links. */
  bundle(): Uint8Array | undefined
}

export interface PrekeyUpkeepInit {
  /** A relay holding fewer one-time prekeys than this gets a new batch. @default 20 */
  lowWater?: number
  /** @default 50 */
  batch?: number
  /** @default 2000 */
  firstTopUpMs?: number
  /** @default 600000 (10 min) */
  topUpCheckMs?: number
  /** @default 3600000 (1 h) */
  rotationCheckMs?: number
  /** @default 43200000 (12 h) */
  republishMs?: number
  /** First delay before retrying a failed publication, doubled up to `publishRetryMaxMs`. @default 2000 */
  publishRetryMinMs?: number
  /** @default 60000 */
  publishRetryMaxMs?: number
  /** @default 10000 */
  countTimeoutMs?: number
  /** @default 15000 */
  uploadTimeoutMs?: number
}

export interface PrekeyUpkeepComponents {
  records: AppRecords
  stores: VaultProtocolStores
  identity: IdentityKeyPair
  network: Pick<
    PeerNetwork,
    'relays' | 'ownCircuits' | 'countPreKeys' | 'uploadPreKeys' | 'directory' | 'on' | 'isConnected'
  >
  scheduler: Scheduler
  /** The username the profile claims. */
  name: string
  /** Told of each new prekey bundle, before it is published. */
  onBundle?(bundle: Uint8Array): void
  now(): number
  rng(n: number): Uint8Array
}

export function prekeyUpkeep(init: PrekeyUpkeepInit = {}) {
  return (components: PrekeyUpkeepComponents): PrekeyUpkeep => new Upkeep(components, init)
}

class Upkeep implements PrekeyUpkeep {
  readonly #c: PrekeyUpkeepComponents
  readonly #i: Required<PrekeyUpkeepInit>
  readonly #relayIds: Set<string>
  readonly #lost = new Set<string>()
  #publishing: Promise<void> | undefined
  #again = false
  #publishedSpk: number | undefined
  #bundle: Uint8Array | undefined
  #publishedRelays: string[] | undefined
  readonly #running = new Set<Promise<unknown>>()

  constructor(components: PrekeyUpkeepComponents, init: PrekeyUpkeepInit) {
    this.#c = components
    this.#i = {
      lowWater: 20,
      batch: 50,
      firstTopUpMs: 2000,
      topUpCheckMs: 10 * 60_000,
      rotationCheckMs: 60 * 60_000,
      republishMs: 12 * 60 * 60_000,
      publishRetryMinMs: 2000,
      publishRetryMaxMs: 60_000,
      countTimeoutMs: 10_000,
      uploadTimeoutMs: 15_000,
      ...init,
    }
    this.#relayIds = new Set(components.network.relays.map((r) => peerOf(r)).filter((p) => p !== undefined))
  }

  start(): void {
    const { scheduler, network } = this.#c
    network.on('connection', ({ peer, open }) => {
      if (!this.#relayIds.has(peer) || !scheduler.running) return
      // A relay came back (restart, network change): its DHT may have lost our record, so publish again.
      if (!open && !network.isConnected(peer)) this.#lost.add(peer)
      else if (open && this.#lost.delete(peer)) this.#track(this.publish())
    })
    // A relay gone for good leaves the profile (and comes back when it does): contacts follow.
    network.on('addresses', () => {
      if (scheduler.running && network.ownCircuits().join() !== this.#publishedRelays?.join())
        this.#track(this.publish())
    })
    this.#track(this.publish())
    scheduler.after(this.#i.firstTopUpMs, () => this.#track(this.topUp()))
    scheduler.every(this.#i.topUpCheckMs, () => this.#track(this.topUp()))
    scheduler.every(this.#i.rotationCheckMs, () => this.#track(this.rotate()))
    scheduler.every(this.#i.republishMs, () => this.#track(this.publish()))
  }

  #track(task: Promise<unknown>): void {
    const t = task.catch(() => {}).finally(() => this.#running.delete(t))
    this.#running.add(t)
  }

  bundle(): Uint8Array | undefined {
    return this.#bundle
  }

  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running])
  }

  publish(): Promise<void> {
    if (this.#publishing !== undefined) {
      this.#again = true
      return this.#publishing
    }
    this.#publishing = this.#publishLoop().finally(() => (this.#publishing = undefined))
    return this.#publishing
  }

  async #publishLoop(): Promise<void> {
    const { scheduler } = this.#c
    do {
      this.#again = false
      let delay = this.#i.publishRetryMinMs
      while (scheduler.running) {
        try {
          await this.#publishOnce()
          break
        } catch {
          // No relay reachable yet: try again later.
          if (!(await scheduler.sleep(delay))) return
          delay = Math.min(this.#i.publishRetryMaxMs, delay * 2)
        }
      }
    } while (this.#again && scheduler.running)
  }

  async #publishOnce(): Promise<void> {
    const spk = await rotateSignedPreKey(this.#c.stores.direct.signedPreKeys, {
      now: this.#c.now(),
      rng: this.#c.rng,
    })
    const bundle = await createPreKeyBundle(this.#c.identity, spk, [])
    if (this.#bundle === undefined || spk.id !== this.#publishedSpk) {
      this.#bundle = bundle
      this.#c.onBundle?.(bundle)
    }
    const relays = this.#c.network.ownCircuits()
    await this.#c.network.directory.publish({ name: this.#c.name, bundle, relays })
    this.#publishedRelays = relays
    this.#publishedSpk = spk.id
  }

  async rotate(): Promise<void> {
    const spk = await rotateSignedPreKey(this.#c.stores.direct.signedPreKeys, {
      now: this.#c.now(),
      rng: this.#c.rng,
    })
    if (this.#publishedSpk !== undefined && spk.id !== this.#publishedSpk) await this.publish()
  }

  async topUp(): Promise<void> {
    const { records, network, identity } = this.#c
    const reset = await records.preKeyResetPending()
    let replaced = 0
    for (const relay of network.relays) {
      if (!this.#c.scheduler.running) return
      try {
        const low =
          reset ||
          (await network.countPreKeys(relay, { timeoutMs: this.#i.countTimeoutMs })) < this.#i.lowWater
        if (!low) continue
        // Ids are never reused, across relays too: the same key served by two relays could be used twice.
        const first = await records.reservePreKeyIds(this.#i.batch)
        const keys = await generateOneTimePreKeys(first, this.#i.batch, this.#c.rng)
        // The private halves are durable before anyone can take the public ones.
        await this.#c.stores.transaction(async (s) => {
          for (const k of keys) await s.preKeys.storePreKey(k)
        })
        const signed = await Promise.all(
          keys.map((k) => signOneTimePreKey(identity.seed, identity.publicKey, k.id, k.keyPair.publicKey)),
        )
        await network.uploadPreKeys(relay, signed, { timeoutMs: this.#i.uploadTimeoutMs, replace: reset })
        replaced++
      } catch {
        // The relay is unreachable or refused: the signed prekey still works; try again later.
      }
    }
    if (reset && replaced === network.relays.length) await records.setPreKeyReset(false)
  }
}
