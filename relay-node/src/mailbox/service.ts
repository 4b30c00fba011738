/**
 * The mailbox protocol handler: turns frames from authenticated peers into store operations and
 * pushes stored envelopes to subscribed recipients.
 *
 * Identity comes only from `connection.remotePeer` (Noise-authenticated): the sender of a deposit
 * and the owner of a subscription or an acknowledgement are never read from a frame.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import {
  FrameReader,
  MAILBOX_PROTOCOL,
  MAILBOX_MAX_ENVELOPE_BYTES,
  encodeFrame,
  type ErrFrame,
  type MailboxFrame,
  type OkFrame,
  type PutFrame,
} from '@paloma/core/protocol/mailbox.ts'
import { TokenBuckets, type RateLimit } from '../rate-limit.ts'
import { FrameStreamService, type StreamContext, type StreamSession } from '../stream-service.ts'
import { MailboxStore, type PutRequest, type PutResult, type Quota } from './store.ts'
import type { MailboxComponents, MailboxInit, MailboxService, MailboxStats } from './index.ts'
import type { Counter, CounterGroup, Stream } from '@libp2p/interface'

const DAY_MS = 24 * 60 * 60 * 1000
/** Rows read from the store per query while pushing to a subscriber. */
const PUSH_BATCH = 64
/** Concurrent subscriptions of one peer; a new one beyond this closes the oldest. */
const MAX_SUBSCRIPTIONS_PER_PEER = 4

function normalizeEnvelopeLimit(value: number | undefined): number {
  const limit = value ?? 64 * 1024
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAILBOX_MAX_ENVELOPE_BYTES) {
    throw new RangeError(`maxEnvelopeBytes: expected 1 to ${MAILBOX_MAX_ENVELOPE_BYTES}, got ${limit}`)
  }
  return limit
}

class Subscription {
  readonly peer: string
  readonly stream: Stream
  readonly inflight = new Set<number>()
  #service: MailboxServiceImpl
  #lastSentSeq = 0
  #pumping = false
  #again = false
  #synced = false
  closed = false

  constructor(service: MailboxServiceImpl, peer: string, stream: Stream) {
    this.#service = service
    this.peer = peer
    this.stream = stream
  }

  /** Sends whatever is stored and not yet sent, in seq order; safe to call at any time. */
  pump(): void {
    if (this.closed) return
    if (this.#pumping) {
      this.#again = true
      return
    }
    this.#pumping = true
    this.#run()
      .catch((err: unknown) => {
        this.#service.log.error('push to %s failed - %e', this.peer, err)
        this.closed = true
        this.stream.abort(err instanceof Error ? err : new Error(String(err)))
      })
      .finally(() => {
        this.#pumping = false
        if (this.#again) this.pump()
      })
  }

  async #run(): Promise<void> {
    do {
      this.#again = false
      for (;;) {
        if (this.closed) return
        const room = this.#service.maxUnacked - this.inflight.size
        if (room <= 0) break
        const limit = Math.min(room, PUSH_BATCH)
        const rows = this.#service.store.list(this.peer, this.#lastSentSeq, this.#service.now(), limit)
        for (const row of rows) {
          if (this.closed) return
          this.#lastSentSeq = row.seq
          this.inflight.add(row.seq)
          await this.#service.sendFrame(this.stream, {
            t: 'env',
            seq: row.seq,
            from: row.sender,
            id: row.id,
            env: row.envelope,
            ts: row.storedAt,
          })
        }
        if (rows.length < limit) {
          if (!this.#synced) {
            this.#synced = true
            await this.#service.sendFrame(this.stream, { t: 'synced' })
          }
          break
        }
      }
    } while (this.#again)
  }
}

export class MailboxServiceImpl
  extends FrameStreamService<MailboxFrame, MailboxStore>
  implements MailboxService
{
  readonly maxUnacked: number
  readonly #maxEnvelopeBytes: number
  readonly #ttlMs: number
  readonly #recipientQuota: Quota
  readonly #senderQuota: Quota
  readonly #rateLimit: RateLimit
  readonly #subscriptions = new Map<string, Set<Subscription>>()
  #buckets: TokenBuckets
  readonly #counters: {
    stored?: Counter
    duplicates?: Counter
    delivered?: Counter
    expired?: Counter
    refused?: CounterGroup
  }

  constructor(components: MailboxComponents, init: MailboxInit = {}) {
    super(components, init, {
      protocol: MAILBOX_PROTOCOL,
      component: 'paloma:mailbox',
      sweepIntervalMs: 60_000,
      encodeFrame,
      newReader: () => new FrameReader(),
      text: {
        notStarted: 'mailbox service is not started',
        inMemory: 'mailbox uses an in-memory database: envelopes will not survive a restart',
        started: 'mailbox started on %s',
        sweepFailed: 'expiry sweep failed - %e',
        stream: 'mailbox stream',
      },
    })
    this.#maxEnvelopeBytes = normalizeEnvelopeLimit(init.maxEnvelopeBytes)
    this.#ttlMs = init.ttlMs ?? 30 * DAY_MS
    this.#recipientQuota = { count: 1000, bytes: 32 * 1024 * 1024, ...init.perRecipientQuota }
    this.#senderQuota = { count: 2000, bytes: 64 * 1024 * 1024, ...init.perSenderQuota }
    this.#rateLimit = { burst: 100, perSecond: 20, ...init.rateLimit }
    this.maxUnacked = init.maxUnacked ?? 256
    this.#buckets = new TokenBuckets(this.#rateLimit)
    const metrics = components.metrics
    this.#counters = {
      stored: metrics?.registerCounter('paloma_relay_mailbox_stored_total', {
        help: 'Envelopes durably stored (answered ok, duplicates not counted).',
      }),
      duplicates: metrics?.registerCounter('paloma_relay_mailbox_duplicates_total', {
        help: 'Deposits answered ok without storing: the envelope was already stored or delivered.',
      }),
      delivered: metrics?.registerCounter('paloma_relay_mailbox_delivered_total', {
        help: 'Envelopes acknowledged by their recipient and deleted.',
      }),
      expired: metrics?.registerCounter('paloma_relay_mailbox_expired_total', {
        help: 'Envelopes deleted undelivered because their time to live ran out.',
      }),
      refused: metrics?.registerCounterGroup('paloma_relay_mailbox_refused_total', {
        label: 'reason',
        help: 'Mailbox requests refused, by error code (SHUTTING_DOWN is sent as INTERNAL).',
      }),
    }
    // Every reason is exported from the start (at 0), so rate() and alerts see the series.
    this.#counters.refused?.increment(
      Object.fromEntries(
        [
          'TOO_LARGE',
          'RECIPIENT_QUOTA',
          'SENDER_QUOTA',
          'RATE_LIMITED',
          'BAD_FRAME',
          'BAD_RECIPIENT',
          'UNSUPPORTED_VERSION',
          'UNEXPECTED_FRAME',
          'INTERNAL',
          'SHUTTING_DOWN',
        ].map((reason) => [reason, 0]),
      ),
    )
  }

  protected override countRefused(reason: string): void {
    this.#counters.refused?.increment({ [reason]: 1 })
  }

  readonly [Symbol.toStringTag] = '@paloma/mailbox'

  protected openStore(path: string): MailboxStore {
    return new MailboxStore(path)
  }

  /** Tells every subscriber to move on (an `INTERNAL` "shutting down" error, retryable), then closes. */
  protected override async onDrain(): Promise<void> {
    const subs = [...this.#subscriptions.values()].flatMap((set) => [...set])
    this.#subscriptions.clear()
    await Promise.all(
      subs.map(async (sub) => {
        sub.closed = true
        try {
          await this.sendFrame(sub.stream, {
            t: 'err',
            code: 'INTERNAL',
            msg: 'relay is shutting down; subscribe again later or on another relay',
          })
          await sub.stream.close({ signal: AbortSignal.timeout(2000) })
        } catch (err) {
          sub.stream.abort(err instanceof Error ? err : new Error(String(err)))
        }
      }),
    )
  }

  protected override onStop(): void {
    for (const subs of this.#subscriptions.values()) {
      for (const sub of subs) {
        sub.closed = true
        sub.stream.abort(new Error('mailbox service stopping'))
      }
    }
    this.#subscriptions.clear()
  }

  stats(): MailboxStats {
    let subscriptions = 0
    for (const subs of this.#subscriptions.values()) subscriptions += subs.size
    return { ...this.store.stats(), subscriptions }
  }

  sweep(): number {
    const now = this.now()
    const dropped = this.store.sweep(now)
    this.#buckets.prune(now)
    if (dropped > 0) this.#counters.expired?.increment(dropped)
    if (dropped > 0) this.log('expiry sweep dropped %d envelopes', dropped)
    return dropped
  }

  /** A deposit stream (`put`s answered in order) that may turn into a subscription (`sub`, `ack`, `nack`). */
  protected openStream({ stream, peer: remote, keepAlive }: StreamContext): StreamSession<MailboxFrame> {
    const peer = remote.toString()
    let sub: Subscription | undefined
    return {
      onFrame: async (frame, next) => {
        switch (frame.t) {
          case 'put': {
            // Consecutive puts read together are committed together (one fsync).
            const puts: PutFrame[] = [frame]
            while (next[0]?.t === 'put') puts.push(next.shift() as PutFrame)
            for (const answer of this.#putBatch(peer, puts)) await this.sendFrame(stream, answer)
            return true
          }
          case 'sub':
            if (sub !== undefined) {
              this.countRefused('UNEXPECTED_FRAME')
              await this.sendFrame(stream, { t: 'err', code: 'UNEXPECTED_FRAME', msg: 'already subscribed' })
              return false
            }
            sub = this.#subscribe(peer, stream)
            keepAlive()
            return true
          case 'ack':
            this.#ack(peer, frame.seqs)
            return true
          case 'nack':
            this.#release(peer, frame.seqs)
            return true
          default:
            this.countRefused('UNEXPECTED_FRAME')
            await this.sendFrame(stream, {
              t: 'err',
              code: 'UNEXPECTED_FRAME',
              msg: `a client may send put, sub, ack or nack, not ${frame.t}`,
            })
            return false
        }
      },
      onEnd: () => {
        if (sub !== undefined) this.#unsubscribe(sub)
      },
    }
  }

  /**
   * Answers a run of `put` frames read together: checks each, then stores the accepted ones in one
   * transaction (group commit), so the `ok`s follow a single fsync. Answers are in frame order.
   */
  #putBatch(sender: string, frames: PutFrame[]): Array<OkFrame | ErrFrame> {
    const now = this.now()
    const answers: Array<OkFrame | ErrFrame | undefined> = []
    const accepted: Array<{ index: number; req: PutRequest }> = []
    frames.forEach((frame, index) => {
      const refusal = this.#check(sender, frame, now)
      answers.push(refusal)
      if (refusal !== undefined) {
        this.#counters.refused?.increment({ [refusal.code]: 1 })
        return
      }
      accepted.push({
        index,
        req: {
          recipient: frame.to,
          sender,
          id: frame.id,
          envelope: frame.env,
          now,
          expiresAt: now + this.#ttlMs,
          recipientQuota: this.#recipientQuota,
          senderQuota: this.#senderQuota,
        },
      })
    })
    let results: PutResult[]
    try {
      results = this.store.putMany(accepted.map((a) => a.req))
    } catch (err) {
      this.log.error('storing %d envelopes from %s failed - %e', accepted.length, sender, err)
      if (accepted.length > 0) this.#counters.refused?.increment({ INTERNAL: accepted.length })
      for (const { index, req } of accepted) {
        answers[index] = {
          t: 'err',
          id: req.id,
          code: 'INTERNAL',
          msg: 'the relay could not store the envelope; retry later',
        }
      }
      return answers as Array<OkFrame | ErrFrame>
    }
    const notify = new Set<string>()
    let stored = 0
    let duplicates = 0
    accepted.forEach(({ index, req }, k) => {
      const result = results[k] as PutResult
      if (result.status === 'refused') {
        this.#counters.refused?.increment({ [result.code]: 1 })
        answers[index] = { t: 'err', id: req.id, code: result.code, msg: result.msg }
        return
      }
      if (result.status === 'stored') {
        stored++
        notify.add(req.recipient)
      } else duplicates++
      answers[index] = { t: 'ok', id: req.id }
    })
    if (stored > 0) this.#counters.stored?.increment(stored)
    if (duplicates > 0) this.#counters.duplicates?.increment(duplicates)
    for (const recipient of notify) {
      for (const sub of this.#subscriptions.get(recipient) ?? []) sub.pump()
    }
    return answers as Array<OkFrame | ErrFrame>
  }

  /** The checks that need no database: rate, size, recipient. Returns the refusal, if any. */
  #check(sender: string, frame: PutFrame, now: number): ErrFrame | undefined {
    const id = frame.id
    if (!this.#buckets.take(sender, now)) {
      return {
        t: 'err',
        id,
        code: 'RATE_LIMITED',
        msg: `more than ${this.#rateLimit.burst} deposits in a burst or ${this.#rateLimit.perSecond}/s; retry shortly`,
      }
    }
    if (frame.env.byteLength > this.#maxEnvelopeBytes) {
      return {
        t: 'err',
        id,
        code: 'TOO_LARGE',
        msg: `envelope of ${frame.env.byteLength} bytes exceeds this relay's limit of ${this.#maxEnvelopeBytes}`,
      }
    }
    try {
      peerIdFromString(frame.to)
    } catch {
      return { t: 'err', id, code: 'BAD_RECIPIENT', msg: 'to: not a valid PeerId' }
    }
    return undefined
  }

  #subscribe(peer: string, stream: Stream): Subscription {
    const sub = new Subscription(this, peer, stream)
    let subs = this.#subscriptions.get(peer)
    if (subs === undefined) {
      subs = new Set()
      this.#subscriptions.set(peer, subs)
    }
    // A peer that reconnects (new network, reloaded tab) may leave a subscription on a dead
    // connection behind: the newest ones win, the oldest beyond the cap are closed.
    for (const old of subs) {
      if (subs.size < MAX_SUBSCRIPTIONS_PER_PEER) break
      this.#unsubscribe(old)
      old.stream.abort(new Error('superseded by a newer subscription of the same peer'))
    }
    this.#subscriptions.set(peer, subs)
    subs.add(sub)
    sub.pump()
    return sub
  }

  #unsubscribe(sub: Subscription): void {
    sub.closed = true
    const subs = this.#subscriptions.get(sub.peer)
    if (subs === undefined) return
    subs.delete(sub)
    if (subs.size === 0) this.#subscriptions.delete(sub.peer)
  }

  #ack(peer: string, seqs: number[]): void {
    // Only rows whose recipient is the authenticated peer match: acking someone else's seq is a no-op.
    const deleted = this.store.ack(peer, seqs)
    if (deleted > 0) this.#counters.delivered?.increment(deleted)
    this.#release(peer, seqs)
  }

  /** Frees the unacked-window slots of these seqs on the peer's subscriptions and resumes pushing. */
  #release(peer: string, seqs: number[]): void {
    for (const sub of this.#subscriptions.get(peer) ?? []) {
      for (const seq of seqs) sub.inflight.delete(seq)
      sub.pump()
    }
  }
}
