/**
 * @packageDocumentation
 *
 * The relay mailbox: a libp2p service that stores end-to-end encrypted envelopes for peers that are
 * offline and hands them over when they connect (protocol `/paloma/mailbox/1.0.0`, see
 * docs/mailbox.md).
 *
 * - A deposit is acknowledged (`ok`) only after the envelope is committed to SQLite in WAL mode with
 *   `synchronous=FULL`, so an `ok` survives `kill -9` and power loss.
 * - Only the recipient (the Noise-authenticated PeerId of the connection) can fetch or acknowledge
 *   its envelopes; an envelope is deleted only after it is acknowledged or expires.
 * - Size, expiry, per-recipient and per-sender quotas and a per-sender rate limit answer with error
 *   codes; a sender learns nothing about the recipient beyond accepted or refused.
 *
 * @example
 *
 * ```ts
 * import { createLibp2p } from 'libp2p'
 * import { mailbox } from './mailbox/index.ts'
 *
 * const node = await createLibp2p({
 *   // transports, encrypters, muxers...
 *   services: { mailbox: mailbox({ path: join(dataDir, 'mailbox.sqlite') }) },
 * })
 * ```
 */
import { MailboxServiceImpl } from './service.ts'
import type { Quota } from './store.ts'
import type { RateLimit } from '../rate-limit.ts'
import type { StreamServiceComponents, StreamServiceInit } from '../stream-service.ts'
import type { Startable } from '@libp2p/interface'

export { MAILBOX_PROTOCOL } from '@paloma/core/protocol/mailbox.ts'
export type { Quota } from './store.ts'
export type { RateLimit } from '../rate-limit.ts'

/** Options of the mailbox; `path`, `maxInboundStreams` and `now` as for every relay stream service. */
export interface MailboxInit extends StreamServiceInit {
  /**
   * Largest envelope accepted, in bytes; larger deposits are refused with `TOO_LARGE`. Capped by the
   * protocol limit `MAILBOX_MAX_ENVELOPE_BYTES` (256 KiB).
   *
   * @default 65536
   */
  maxEnvelopeBytes?: number
  /**
   * How long an undelivered envelope is kept, in milliseconds. Expired envelopes are never delivered
   * and are deleted by the sweep.
   *
   * @default 2592000000 (30 days)
   */
  ttlMs?: number
  /**
   * Most envelopes / bytes waiting for one recipient; beyond it deposits answer `RECIPIENT_QUOTA`.
   *
   * @default { count: 1000, bytes: 33554432 }
   */
  perRecipientQuota?: Partial<Quota>
  /**
   * Most envelopes / bytes one sender may have waiting on this relay, over all recipients; beyond it
   * deposits answer `SENDER_QUOTA`.
   *
   * @default { count: 2000, bytes: 67108864 }
   */
  perSenderQuota?: Partial<Quota>
  /**
   * Token bucket per sender PeerId; a deposit without a token answers `RATE_LIMITED`.
   *
   * @default { burst: 100, perSecond: 20 }
   */
  rateLimit?: Partial<RateLimit>
  /**
   * Token bucket per IP address of the sender's connection, over every PeerId deposited from it (many
   * PeerIds are free to make); a deposit without a token answers `RATE_LIMITED` (counted as
   * `RATE_LIMITED_IP`). Relayed connections have no IP address of their own and are not counted.
   *
   * @default { burst: 1000, perSecond: 200 }
   */
  ipRateLimit?: Partial<RateLimit>
  /**
   * Below this many free bytes on the database's file system, deposits are refused (`INTERNAL`, counted as
   * `STORAGE_FULL`). Deposits are refused too while the directory cannot be written (`STORAGE_READ_ONLY`)
   * or after a commit failed for lack of space or permission; delivery goes on meanwhile. Not checked for
   * an in-memory database.
   *
   * @default 0
   */
  minFreeBytes?: number
  /**
   * How writes reach the database. `group` (the default): every write queued meanwhile, from any stream,
   * goes in one transaction, in a writer thread of its own for a database file. `each`: one transaction per
   * request (a stream's run of deposits, an acknowledgement frame) on the event loop, as before group commit
   * (kept for benchmarks to measure against).
   *
   * @default 'group'
   */
  commit?: 'group' | 'each'
  /**
   * With `commit: 'group'` and a database file, run the commits in a worker thread (true) or on the event
   * loop (false).
   *
   * @default true
   */
  writerThread?: boolean
  /**
   * How often expired envelopes are deleted, in milliseconds (also done once on start).
   *
   * @default 60000
   */
  sweepIntervalMs?: number
  /**
   * Most envelopes sent on one subscription and not yet acknowledged; the relay pauses pushing until
   * acknowledgements arrive.
   *
   * @default 256
   */
  maxUnacked?: number
  /**
   * How long a deposit stream may stay open without completing a frame, in milliseconds (a
   * subscription stream is exempt once subscribed).
   *
   * @default 30000
   */
  idleTimeoutMs?: number
}

/** What the service needs from the libp2p node: a registrar for the protocol handler and a logger. */
export type MailboxComponents = StreamServiceComponents

export interface MailboxStats {
  /** Envelopes stored and not yet acknowledged or expired. */
  envelopes: number
  /** Their total size in bytes. */
  bytes: number
  /** Acknowledged envelopes remembered for deduplication of late retries. */
  tombstones: number
  /** Open subscription streams. */
  subscriptions: number
  /** False while deposits are refused because the storage is full or read-only. */
  accepting: boolean
  /** Why deposits are refused, while they are. */
  refusing?: 'STORAGE_FULL' | 'STORAGE_READ_ONLY'
}

export interface MailboxService extends Startable {
  readonly protocol: string
  /** Counts from the database and the live subscriptions. @throws when the service is stopped. */
  stats(): MailboxStats
  /** Deletes expired envelopes now (in the next group commit); resolves with how many were dropped. */
  sweep(): Promise<number>
  /**
   * Graceful stop, first half: refuses new frames (`INTERNAL`, "shutting down"), tells subscribers to move
   * on, and resolves once the deposits being committed have been answered (or after `timeoutMs`).
   */
  drain(timeoutMs?: number): Promise<void>
  /** True from `drain` until stopped. */
  readonly draining: boolean
}

/**
 * Creates the mailbox service factory for `createLibp2p({ services: { mailbox: mailbox(...) } })`.
 */
export function mailbox(init: MailboxInit = {}): (components: MailboxComponents) => MailboxService {
  return (components) => new MailboxServiceImpl(components, init)
}
