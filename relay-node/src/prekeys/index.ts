/**
 * @packageDocumentation
 *
 * One-time prekeys on the relay: a libp2p service that keeps the signed one-time prekeys (OPKs) its
 * users upload and hands each one out exactly once (protocol `/paloma/prekeys/1.0.0`, see
 * docs/prekeys.md). The DHT bundle carries only the signed prekey, the last-resort path when a relay
 * has no OPK left.
 *
 * - Only the owner (the Noise-authenticated PeerId of the connection) uploads or counts its own keys;
 *   every uploaded record must carry the owner's Ed25519 signature, checked against the key inside the
 *   PeerId, so the relay cannot be made to serve keys the owner never made.
 * - `take` deletes the row it returns in the same durable transaction (WAL, `synchronous=FULL`) before
 *   the record is sent: a key is served at most once, even under concurrent takes and `kill -9`.
 * - A per-owner cap answers `OWNER_QUOTA`; a per-taker token bucket answers `RATE_LIMITED`, so one peer
 *   cannot drain someone's keys quickly.
 *
 * @example
 *
 * ```ts
 * import { createLibp2p } from 'libp2p'
 * import { prekeyService } from './prekeys/index.ts'
 *
 * const node = await createLibp2p({
 *   // transports, encrypters, muxers...
 *   services: { prekeys: prekeyService({ path: join(dataDir, 'prekeys.sqlite') }) },
 * })
 * ```
 */
import { PreKeyServiceImpl } from './service.ts'
import type { RateLimit } from '../rate-limit.ts'
import type { PreKeyStoreStats } from './store.ts'
import type { StreamServiceComponents, StreamServiceInit } from '../stream-service.ts'
import type { Startable } from '@libp2p/interface'

export { PREKEYS_PROTOCOL } from '@paloma/core/protocol/prekeys.ts'
export type { RateLimit } from '../rate-limit.ts'
export type { PreKeyStoreStats } from './store.ts'

/**
 * Options of the prekey service; `path`, `maxInboundStreams`, `idleTimeoutMs` and `now` as for every relay
 * stream service.
 */
export interface PreKeyServiceInit extends StreamServiceInit {
  /**
   * Most one-time prekeys one owner may have stored on this relay; an upload that would exceed it is
   * refused whole with `OWNER_QUOTA`.
   *
   * @default 200
   */
  maxKeysPerOwner?: number
  /**
   * Token bucket per taking PeerId (every `take` costs a token, answered or not); without a token the
   * answer is `RATE_LIMITED`.
   *
   * @default { burst: 20, perSecond: 2 }
   */
  takeRateLimit?: Partial<RateLimit>
  /**
   * Token bucket per owner for `upload` and `count` (each verifies up to 100 signatures or reads the
   * database).
   *
   * @default { burst: 20, perSecond: 2 }
   */
  ownerRateLimit?: Partial<RateLimit>
  /**
   * How long the id of a served key is remembered, in milliseconds, so that a client re-sending an
   * upload whose answer it missed cannot put a served key back.
   *
   * @default 2592000000 (30 days)
   */
  servedTtlMs?: number
  /**
   * How often old served ids and idle rate-limit buckets are dropped, in milliseconds.
   *
   * @default 3600000
   */
  sweepIntervalMs?: number
}

/** What the service needs from the libp2p node: a registrar for the protocol handler and a logger. */
export type PreKeyServiceComponents = StreamServiceComponents

export interface PreKeyService extends Startable {
  readonly protocol: string
  /** Counts from the database. @throws when the service is stopped. */
  stats(): PreKeyStoreStats
  /** Keys `owner` (a PeerId string) has stored here. @throws when the service is stopped. */
  count(owner: string): number
  /** Drops served ids older than `servedTtlMs` and idle rate-limit buckets; returns the ids dropped. */
  sweep(): number
  /** Graceful stop, first half: refuses new frames and resolves once the requests being handled are answered. */
  drain(timeoutMs?: number): Promise<void>
  /** True from `drain` until stopped. */
  readonly draining: boolean
}

/**
 * Creates the one-time prekey service factory for
 * `createLibp2p({ services: { prekeys: prekeyService(...) } })`.
 */
export function prekeyService(
  init: PreKeyServiceInit = {},
): (components: PreKeyServiceComponents) => PreKeyService {
  return (components) => new PreKeyServiceImpl(components, init)
}
