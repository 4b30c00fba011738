/**
 * End-to-end encrypted sessions with each contact: made from the contact's directory profile (X3DH, with
 * a one-time prekey taken from one of its relays when any is left), then every envelope through the
 * Double Ratchet. Every ratchet step is committed in one vault transaction with the records that depend
 * on it (the outbox entry an envelope went into, the message an envelope carried), under a per-contact
 * lock, so a crash never leaves one without the other.
 *
 * Group commit: the encryptions and decryptions asked for one contact while a commit is running wait,
 * then run together, in order, and are committed together (one IndexedDB transaction for a burst
 * instead of one per message); each still gets its own outcome.
 *
 * Owns the ratchet sessions (through the vault's protocol stores); knows nothing about routes or the UI.
 */
import {
  decryptMessage,
  encryptMessage,
  hasSession,
  processPreKeyBundle,
  verifyPreKeyBundle,
  SIGNED_PREKEY_ROTATION_MS,
  type PreKeyBundle,
  type ProtocolStores,
} from '@paloma/core/crypto/index.ts'
import { decodeEnvelope, encodeEnvelope } from '@paloma/core/protocol/envelope.ts'
import { decodePayload, type Payload } from '@paloma/core/protocol/payload.ts'
import { publicKeyFromPeerIdString } from '@paloma/core/protocol/directory.ts'
import { relaysOf } from '@paloma/net/addresses.ts'
import type { PeerNetwork } from '@paloma/net/network.ts'
import type { VaultProtocolStores } from '../storage/protocol-stores.ts'
import type { Contacts } from './contacts.ts'
import { KeyedLock } from './keyed-lock.ts'
import type { RecordEntry } from './records.ts'

export interface Sessions {
  has(peer: string): Promise<boolean>
  /**
   * Makes a session with `peer` unless one exists (with `force`, a new one anyway: a session reset).
   * @returns false when `peer`'s profile cannot be had now (try again later).
   */
  ensure(peer: string, options?: { force?: boolean }): Promise<boolean>
  /**
   * Encrypts `payload` for `peer`; the ratchet step and `records(envelope)` are written in one transaction.
   * @throws NoSessionError when there is no session yet (call `ensure` first).
   */
  encrypt(
    peer: string,
    payload: Uint8Array,
    records?: (envelope: Uint8Array) => RecordEntry[],
  ): Promise<Uint8Array>
  /**
   * Decrypts an envelope from `from`; the ratchet step and `records(payload)` are written in one
   * transaction. @throws the crypto core's errors (DuplicateMessageError, NoSessionError, …), EnvelopeError,
   * PayloadError; nothing is written then.
   */
  decrypt(from: string, envelope: Uint8Array, records?: (payload: Payload) => RecordEntry[]): Promise<Payload>
  /** The newest session `peer` started becomes the one used for sending (after they asked for a reset). */
  adoptTheirs(peer: string): Promise<void>
  /** Runs `fn` while no ratchet operation for `peer` runs. */
  exclusive<T>(peer: string, fn: () => Promise<T>): Promise<T>
}

export interface SessionsInit {
  /** How long fetching a profile for X3DH may take. @default 20000 */
  profileTimeoutMs?: number
  /** How long taking a one-time prekey from one relay may take. @default 5000 */
  preKeyTimeoutMs?: number
  /** Relays asked for a one-time prekey, in order, before falling back to the signed prekey. @default 2 */
  preKeyRelays?: number
  /** Encrypt headers in sessions this device starts (relays then see no ratchet keys). @default true */
  headerEncryption?: boolean
}

export interface SessionsComponents {
  stores: VaultProtocolStores
  network: Pick<PeerNetwork, 'directory' | 'takePreKey'>
  contacts: Pick<Contacts, 'get' | 'update'>
  now(): number
  rng(n: number): Uint8Array
}

export function sessions(init: SessionsInit = {}) {
  return (components: SessionsComponents): Sessions => new SessionKeeper(components, init)
}

/** One ratchet operation waiting for the next commit of its contact. */
interface Job {
  run(stores: ProtocolStores): Promise<unknown>
  records(result: unknown): RecordEntry[]
  resolve(result: unknown): void
  reject(err: unknown): void
}

class SessionKeeper implements Sessions {
  readonly #c: SessionsComponents
  readonly #lock = new KeyedLock()
  /** Per contact, the operations asked for since its last batch started. */
  readonly #waiting = new Map<string, Job[]>()
  readonly #profileTimeoutMs: number
  readonly #preKeyTimeoutMs: number
  readonly #preKeyRelays: number
  readonly #headerEncryption: boolean

  constructor(components: SessionsComponents, init: SessionsInit) {
    this.#c = components
    this.#profileTimeoutMs = init.profileTimeoutMs ?? 20_000
    this.#preKeyTimeoutMs = init.preKeyTimeoutMs ?? 5000
    this.#preKeyRelays = init.preKeyRelays ?? 2
    this.#headerEncryption = init.headerEncryption ?? true
  }

  #opts() {
    return { now: this.#c.now(), rng: this.#c.rng, headerEncryption: this.#headerEncryption }
  }

  has(peer: string): Promise<boolean> {
    return hasSession(peer, this.#c.stores.direct)
  }

  exclusive<T>(peer: string, fn: () => Promise<T>): Promise<T> {
    return this.#lock.run(peer, fn)
  }

  async ensure(peer: string, options: { force?: boolean } = {}): Promise<boolean> {
    if (options.force !== true && (await this.has(peer))) return true
    const peerKey = publicKeyFromPeerIdString(peer)
    let bundle = await this.#inviteBundle(peer, peerKey)
    if (bundle === undefined) {
      try {
        const profile = await this.#c.network.directory.resolvePeer(peer, {
          signal: AbortSignal.timeout(this.#profileTimeoutMs),
        })
        bundle = await verifyPreKeyBundle(profile.bundle, peerKey)
        if (this.#c.contacts.get(peer) !== undefined && profile.relays.length > 0)
          await this.#c.contacts.update(peer, { relays: profile.relays })
      } catch {
        return false
      }
    }
    const relays = relaysOf(this.#c.contacts.get(peer)?.relays ?? []).slice(0, this.#preKeyRelays)
    for (const relay of relays) {
      const opk = await this.#c.network
        .takePreKey(relay, peer, { timeoutMs: this.#preKeyTimeoutMs })
        .catch(() => undefined)
      if (opk !== undefined) {
        bundle = { ...bundle, oneTimePreKeys: [opk] }
        break
      }
    }
    const made = bundle
    await this.#lock.run(peer, () =>
      this.#c.stores.transaction((s) => processPreKeyBundle(peer, peerKey, made, s, this.#opts())),
    )
    if (this.#c.contacts.get(peer)?.bundle !== undefined)
      await this.#c.contacts.update(peer, { bundle: undefined })
    return true
  }

  /**
   * The bundle an invite link carried, when its signed prekey is recent enough to still be held (it
   * rotates every SIGNED_PREKEY_ROTATION_MS and stays usable for a grace period after): the first
   * message then needs no directory lookup. Verified against the PeerId like one from the directory.
   */
  async #inviteBundle(peer: string, peerKey: Uint8Array): Promise<PreKeyBundle | undefined> {
    const carried = this.#c.contacts.get(peer)?.bundle
    if (carried === undefined) return undefined
    try {
      const bundle = await verifyPreKeyBundle(carried, peerKey)
      return this.#c.now() - bundle.signedPreKey.createdAt < SIGNED_PREKEY_ROTATION_MS ? bundle : undefined
    } catch {
      return undefined // not theirs, or damaged: ask the directory
    }
  }

  encrypt(
    peer: string,
    payload: Uint8Array,
    records: (envelope: Uint8Array) => RecordEntry[] = () => [],
  ): Promise<Uint8Array> {
    return this.#submit(
      peer,
      async (s) => encodeEnvelope(await encryptMessage(peer, payload, s, this.#opts())),
      records,
    )
  }

  decrypt(
    from: string,
    envelope: Uint8Array,
    records: (payload: Payload) => RecordEntry[] = () => [],
  ): Promise<Payload> {
    const message = decodeEnvelope(envelope)
    const peerKey = publicKeyFromPeerIdString(from)
    return this.#submit(
      from,
      async (s) => {
        // The sender's identity is its PeerId's key: pin it so a prekey message carrying any other
        // identity key is refused (UntrustedIdentityError).
        await s.identity.saveIdentity(from, peerKey)
        return decodePayload(await decryptMessage(from, message, s, this.#opts()))
      },
      records,
    )
  }

  /** Queues a ratchet operation for `peer`'s next batch, starting one if none is waiting. */
  #submit<T>(
    peer: string,
    run: (s: ProtocolStores) => Promise<T>,
    records: (result: T) => RecordEntry[],
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let waiting = this.#waiting.get(peer)
      if (waiting === undefined) {
        this.#waiting.set(peer, (waiting = []))
        void this.#lock.run(peer, () => this.#commit(peer))
      }
      waiting.push({
        run,
        records: records as (result: unknown) => RecordEntry[],
        resolve: resolve as (result: unknown) => void,
        reject,
      })
    })
  }

  async #commit(peer: string): Promise<void> {
    const jobs = this.#waiting.get(peer) ?? []
    this.#waiting.delete(peer)
    try {
      const outcomes = await this.#c.stores.transactionBatch(
        jobs,
        (job) => (s) => job.run(s),
        (result, job) => job.records(result),
      )
      outcomes.forEach((o, i) => (o.ok ? jobs[i]!.resolve(o.value) : jobs[i]!.reject(o.error)))
    } catch (err) {
      for (const job of jobs) job.reject(err) // the write failed: none of them happened
    }
  }

  adoptTheirs(peer: string): Promise<void> {
    // The session the reset came on (the newest one they started) becomes ours too, whatever the
    // simultaneous-initiation tie-break chose: any other one is what they could not decrypt.
    return this.#lock.run(peer, () =>
      this.#c.stores.transaction(async (s) => {
        const record = await s.sessions.loadSession(peer)
        const theirs = record?.states().filter((st) => !st.initiator)
        const newest = theirs?.reduce((a, b) => (b.createdAt > a.createdAt ? b : a), theirs[0]!)
        if (record === undefined || newest === undefined || record.current === newest) return
        record.promote(newest)
        await s.sessions.storeSession(peer, record)
      }),
    )
  }
}
