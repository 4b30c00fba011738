/**
 * The directory on the DHT: publishing one's signed profile (prekey bundle, relay addresses, username
 * claim), resolving another user's profile, finding every claimant of a username, and peer routing.
 *
 * Owns the kad-dht calls (put/get/provide/findProviders, all async generators drained here), the
 * sequence numbers of this identity's records and the wait for DHT peers. Every operation is one-shot:
 * when to publish (at start, on a new signed prekey, every 12 h, after a relay came back) is the app's
 * decision, made in one place (src/app/prekey-upkeep.ts). The
 * record format, validation and name rules live in packages/core/protocol/directory.ts; every node (relays
 * included) validates with the same rules through packages/net/dht-records.ts. It knows nothing about
 * sessions, the vault or the UI: the prekey bundle is opaque bytes.
 *
 * See docs/directory.md for the threat model.
 */
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { circuitsTo, isCircuit } from './addresses.ts'
import {
  DirectoryError,
  MAX_RELAYS,
  compareProfileRecords,
  fingerprint,
  isTombstone,
  nameCid,
  normalizeName,
  profileKey,
  signProfileRecord,
  validateProfileRecord,
  type ProfileRecord,
} from '@paloma/core/protocol/directory.ts'
import { profileHighWater } from './dht-records.ts'
import type { PalomaLibp2p } from './node.ts'

export {
  DIRECTORY_ERROR_CODES,
  DirectoryError,
  type DirectoryErrorCode,
} from '@paloma/core/protocol/directory.ts'

/** No DHT peer answered in time: the relays are unreachable or the node has just started. */
export class DirectoryUnavailableError extends DirectoryError {
  constructor(
    message = 'the directory is unreachable: no relay answered in time. Check the network and retry',
  ) {
    super('DIRECTORY_UNAVAILABLE', message)
    this.name = 'DirectoryUnavailableError'
  }
}
/** No valid profile record exists for this PeerId (never published, expired, or every copy refused). */
export class ProfileNotFoundError extends DirectoryError {
  constructor(peerId: string) {
    super(
      'PROFILE_NOT_FOUND',
      `no valid directory record for ${peerId}: the user may be offline for more than 48 h or unknown`,
    )
    this.name = 'ProfileNotFoundError'
  }
}
/** The owner withdrew the profile (account deleted). */
export class ProfileWithdrawnError extends DirectoryError {
  constructor(peerId: string) {
    super('PROFILE_WITHDRAWN', `${peerId} deleted their account: their directory record is withdrawn`)
    this.name = 'ProfileWithdrawnError'
  }
}

/** A profile whose signature, identity binding and validity were checked. */
export interface VerifiedProfile {
  peerId: string
  fingerprint: string
  name?: string
  relays: string[]
  bundle: Uint8Array
  seq: number
  issued: number
  expires: number
}

/** What {@link Directory.publish} stored: the profile, and on how many relays. */
export interface PublishedProfile extends VerifiedProfile {
  /** Relays that confirmed storing the record (all of the K closest that answered). */
  replicas: number
}

/** One claimant of a username. Lookups return every claimant: the user picks, by fingerprint. */
export interface NameClaimant {
  peerId: string
  name: string
  fingerprint: string
  relays: string[]
  bundle: Uint8Array
}

export interface PublishInput {
  /** Username to claim (normalized before signing); omit to claim none. */
  name?: string
  /** Opaque prekey bundle (at most 4 KiB). */
  bundle: Uint8Array
  /** Relay circuit addresses to be reached at. @default this node's current /p2p-circuit addresses */
  relays?: string[]
}

export interface DirectoryInit {
  /** Current time in ms. @default Date.now */
  now?: () => number
  /** Longest wait for one DHT operation, including waiting for the first DHT peer. @default 30 s */
  timeoutMs?: number
  /** Profiles fetched at once during a username lookup. @default 8 */
  lookupConcurrency?: number
}

export interface OperationOptions {
  signal?: AbortSignal
}

/** Tries of a DHT get that fails before any relay answered. */
const GET_ATTEMPTS = 6

/** Waits `ms`; false when `signal` aborts first. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false)
    const done = (ok: boolean) => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    const onAbort = () => done(false)
    const timer = setTimeout(() => done(true), ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

export class Directory {
  readonly #libp2p: PalomaLibp2p
  readonly #privateKey: PrivateKey
  readonly #now: () => number
  readonly #timeoutMs: number
  readonly #concurrency: number
  #lastSeq = 0
  /** The username last claimed, whose re-providing a withdrawal or a rename cancels. */
  #claimed: string | undefined
  /** Publications run one at a time, so sequence numbers and the stored content stay in order. */
  #queue: Promise<unknown> = Promise.resolve()

  /**
   * @param libp2p the running node (its kad-dht service is used).
   * @param privateKey the node's Ed25519 key, which is also the messaging identity: it signs the records.
   */
  constructor(libp2p: PalomaLibp2p, privateKey: PrivateKey, init: DirectoryInit = {}) {
    if (privateKey.type !== 'Ed25519' || !libp2p.peerId.equals(peerIdFromPrivateKey(privateKey))) {
      throw new DirectoryError('WRONG_KEY', "the directory needs the node's own Ed25519 private key")
    }
    this.#libp2p = libp2p
    this.#privateKey = privateKey
    this.#now = init.now ?? Date.now
    this.#timeoutMs = init.timeoutMs ?? 30_000
    this.#concurrency = init.lookupConcurrency ?? 8
  }

  get #peerId(): string {
    return this.#libp2p.peerId.toString()
  }

  /**
   * Signs and puts this identity's profile, then provides the name's CID so lookups find this claimant.
   * The sequence number is `max(previous + 1, now)`, where `previous` includes the seq found on the DHT at
   * the first publication of the process: it keeps growing across restarts without storage.
   * @throws DirectoryUnavailableError when no relay stored the record in time.
   */
  async publish(input: PublishInput, options: OperationOptions = {}): Promise<PublishedProfile> {
    const run = this.#queue.then(() => this.#publish(input, options))
    this.#queue = run.catch(() => {})
    return run
  }

  async #publish(input: PublishInput, options: OperationOptions): Promise<PublishedProfile> {
    const name = input.name == null ? undefined : normalizeName(input.name)
    const signal = this.#signal(options)
    const relays = input.relays ?? (await this.#ownCircuitAddresses(signal))
    const previousName = this.#claimed
    if (this.#lastSeq === 0) {
      // first publication of this process: learn the seq the relays hold (it feeds the high-water mark),
      // so a clock that went back since the last run cannot make our new record look like a replay
      await this.#get(this.#peerId, signal).catch(() => undefined)
    }
    const profile = await this.#put({ name, bundle: input.bundle, relays }, signal)
    if (name != null) await this.#provide(name, signal)
    if (previousName != null && previousName !== name) {
      await this.#libp2p.services.dht.cancelReprovide(nameCid(previousName)).catch(() => {})
    }
    this.#claimed = name
    return profile
  }

  /**
   * Account deletion: puts a tombstone (higher seq; no name, relays or bundle) and
   * stops re-providing the name. Other nodes' copies of the name's provider record expire within 48 h;
   * meanwhile lookups skip this identity because its newest record no longer claims the name.
   */
  async withdraw(options: OperationOptions = {}): Promise<void> {
    const name = this.#claimed
    this.#claimed = undefined
    const run = this.#queue.then(() =>
      this.#put({ relays: [], bundle: new Uint8Array(0) }, this.#signal(options)),
    )
    this.#queue = run.catch(() => {})
    await run
    if (name != null) await this.#libp2p.services.dht.cancelReprovide(nameCid(name)).catch(() => {})
  }

  /**
   * The newest valid profile of `peerId`, chosen by the selector among every valid copy the DHT returns.
   * @throws ProfileNotFoundError, ProfileWithdrawnError, DirectoryUnavailableError.
   */
  async resolvePeer(peerId: PeerId | string, options: OperationOptions = {}): Promise<VerifiedProfile> {
    const id = peerId.toString()
    const record = await this.#get(id, this.#signal(options))
    if (record == null) throw new ProfileNotFoundError(id)
    if (isTombstone(record)) throw new ProfileWithdrawnError(id)
    return toProfile(id, record)
  }

  /**
   * Every identity whose newest signed profile claims `name`, in a stable order (by PeerId). Names are
   * owned by nobody: collisions are normal and shown, never resolved silently.
   * @throws InvalidNameError for a name that breaks the naming rules.
   */
  async lookupName(name: string, options: OperationOptions = {}): Promise<NameClaimant[]> {
    const normalized = normalizeName(name)
    const signal = this.#signal(options)
    const providers = new Set<string>()
    let answered = 0
    await this.#drain(async () => {
      for await (const event of this.#libp2p.services.dht.findProviders(nameCid(normalized), { signal })) {
        if (event.name === 'PEER_RESPONSE') answered++
        if (event.name === 'PROVIDER') for (const p of event.providers) providers.add(p.id.toString())
      }
    }, signal)
    if (answered === 0 && providers.size === 0) throw new DirectoryUnavailableError()
    const claimants: NameClaimant[] = []
    const queue = [...providers]
    const worker = async () => {
      for (let id = queue.shift(); id != null; id = queue.shift()) {
        let profile: VerifiedProfile
        try {
          profile = await this.resolvePeer(id, { signal })
        } catch {
          continue // gone, withdrawn, or never a valid claimant: not shown
        }
        if (profile.name !== normalized) continue
        claimants.push({
          peerId: profile.peerId,
          name: normalized,
          fingerprint: profile.fingerprint,
          relays: profile.relays,
          bundle: profile.bundle,
        })
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, queue.length) }, worker))
    return claimants.sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
  }

  /**
   * Where `peerId` can be reached now: the relay circuit addresses of its newest profile, else what
   * libp2p peer routing knows. The addresses are also added to the peer store, so `dial(peerId)` works.
   * @throws ProfileNotFoundError when neither source knows an address.
   */
  async findPeer(peerId: PeerId | string, options: OperationOptions = {}): Promise<Multiaddr[]> {
    const id = typeof peerId === 'string' ? peerIdFromString(peerId) : peerId
    const signal = this.#signal(options)
    let addrs: Multiaddr[] = []
    try {
      addrs = circuitsTo(id.toString(), (await this.resolvePeer(id, { signal })).relays)
    } catch (err) {
      if (err instanceof ProfileWithdrawnError) throw err
    }
    if (addrs.length === 0) {
      try {
        addrs = (await this.#libp2p.peerRouting.findPeer(id, { signal })).multiaddrs
      } catch {
        addrs = []
      }
    }
    if (addrs.length === 0) throw new ProfileNotFoundError(id.toString())
    await this.#libp2p.peerStore.merge(id, { multiaddrs: addrs })
    return addrs
  }

  // ------------------------------------------------------------------------------------------ internals

  async #put(
    content: { name?: string; bundle: Uint8Array; relays: string[] },
    signal: AbortSignal,
  ): Promise<PublishedProfile> {
    const now = this.#now()
    const seq = Math.max(this.#lastSeq + 1, (profileHighWater.get(this.#peerId) ?? 0) + 1, now)
    const { record, bytes } = await signProfileRecord(
      this.#privateKey.publicKey.raw,
      { seq, issued: now, ...content, relays: content.relays.slice(0, MAX_RELAYS) },
      (data) => this.#privateKey.sign(data),
    )
    this.#lastSeq = seq
    profileHighWater.check(this.#peerId, seq)
    const key = profileKey(this.#peerId)
    let stored = 0
    await this.#drain(async () => {
      for await (const event of this.#libp2p.services.dht.put(key, bytes, { signal })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE') stored++
      }
    }, signal)
    if (stored === 0) throw new DirectoryUnavailableError('no relay stored the directory record: retry later')
    return { ...toProfile(this.#peerId, record), replicas: stored }
  }

  async #provide(name: string, signal: AbortSignal): Promise<void> {
    let sent = 0
    await this.#drain(async () => {
      for await (const event of this.#libp2p.services.dht.provide(nameCid(name), { signal })) {
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') sent++
      }
    }, signal)
    if (sent === 0) throw new DirectoryUnavailableError('no relay accepted the username claim: retry later')
  }

  async #get(peerId: string, signal: AbortSignal): Promise<ProfileRecord | undefined> {
    const key = profileKey(peerId)
    let best: ProfileRecord | undefined
    const consider = (value: Uint8Array) => {
      try {
        const { record } = validateProfileRecord(key, value, this.#now())
        profileHighWater.check(peerId, record.seq)
        if (best == null || compareProfileRecords(record, best) > 0) best = record
      } catch {
        // refused: forged, stale, expired or malformed copies never win
      }
    }
    let answered = 0
    for (let attempt = 0; attempt < GET_ATTEMPTS; attempt++) {
      try {
        await this.#drain(async () => {
          for await (const event of this.#libp2p.services.dht.get(key, { signal })) {
            if (event.name === 'PEER_RESPONSE') answered++
            if (event.name === 'VALUE') consider(event.value)
          }
        }, signal)
        break
      } catch (err) {
        // kad-dht throws after the query when a peer refuses a correction, or when the first peers it
        // tries are gone (a relay just stopped): the values seen still count; otherwise try again, with
        // backoff (0.2 s doubling to 2 s: ~7 s in all, a busy relay may need a few tries) within the deadline.
        if (err instanceof DirectoryUnavailableError || signal.aborted) throw err
        if (best != null || (attempt >= 2 && answered > 0)) break
        const retried = await pause(Math.min(200 * 2 ** attempt, 2000), signal)
        if (!retried) break
      }
    }
    if (best == null && answered === 0) throw new DirectoryUnavailableError()
    return best
  }

  /** Runs a DHT operation, turning an abort or timeout into a DirectoryUnavailableError. */
  async #drain(run: () => Promise<void>, signal: AbortSignal): Promise<void> {
    try {
      await run()
    } catch (err) {
      if (signal.aborted || (err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') {
        throw new DirectoryUnavailableError(
          `the directory did not answer within ${this.#timeoutMs} ms: no relay reachable? Retry later`,
        )
      }
      throw err
    }
  }

  #signal(options: OperationOptions): AbortSignal {
    const timeout = AbortSignal.timeout(this.#timeoutMs)
    return options.signal == null ? timeout : AbortSignal.any([options.signal, timeout])
  }

  /** This node's relay circuit addresses; waits (until `signal`) for the first reservation. */
  async #ownCircuitAddresses(signal: AbortSignal): Promise<string[]> {
    for (;;) {
      const addrs = this.#currentCircuitAddresses()
      if (addrs.length > 0) return addrs
      if (signal.aborted)
        throw new DirectoryUnavailableError('no relay reservation yet: cannot say where to reach us')
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  #currentCircuitAddresses(): string[] {
    return this.#libp2p
      .getMultiaddrs()
      .filter((ma) => isCircuit(ma))
      .map((ma) => ma.toString())
      .slice(0, MAX_RELAYS)
  }
}

function toProfile(peerId: string, r: ProfileRecord): VerifiedProfile {
  return {
    peerId,
    fingerprint: fingerprint(r.peer),
    ...(r.name == null ? {} : { name: r.name }),
    relays: r.relays,
    bundle: r.bundle,
    seq: r.seq,
    issued: r.issued,
    expires: r.expires,
  }
}
