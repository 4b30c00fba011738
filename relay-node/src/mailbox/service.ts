/**
 * The mailbox protocol handler: turns frames from authenticated peers into store operations and
 * pushes stored envelopes to subscribed recipients.
 *
 * Identity comes only from `connection.remotePeer` (Noise-authenticated): the sender of a deposit
 * and the owner of a subscription or an acknowledgement are never read from a frame.
 */
import { dirname } from 'node:path'
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
import { GroupCommit, inlineExecutor, threadExecutor } from './writer.ts'
import { StorageGuard, storageFailure, type StorageRefusal } from '../storage-guard.ts'
import { ipOf } from '../limits.ts'
import type { MailboxComponents, MailboxInit, MailboxService, MailboxStats } from './index.ts'
import type { Counter, CounterGroup, Stream } from '@libp2p/interface'
import { refusalCounter } from '../refusals.ts'

const DAY_MS = 24 * 60 * 60 * 1000
/** Rows read from the store per query while pushing to a subscriber. */
const PUSH_BATCH = 64
/** Concurrent subscriptions of one peer; a new one beyond this closes the oldest. */
const MAX_SUBSCRIPTIONS_PER_PEER = 4

/** What a sender is told when the relay cannot store: `INTERNAL` on the wire (retryable), this text. */
const STORAGE_MESSAGES: Record<StorageRefusal, string> = {
  STORAGE_FULL: "the relay's disk is full: deposit on another relay, or retry later",
  STORAGE_READ_ONLY: 'the relay cannot write to its storage: deposit on another relay, or retry later',
}

/** Every `reason` of `paloma_relay_mailbox_refused_total`: the wire codes, and finer reasons sent as one. */
export const MAILBOX_REFUSAL_REASONS = [
  'TOO_LARGE',
  'RECIPIENT_QUOTA',
  'SENDER_QUOTA',
  'RATE_LIMITED',
  /** Sent as RATE_LIMITED: the sender's IP address, over all its PeerIds. */
  'RATE_LIMITED_IP',
  'BAD_FRAME',
  'BAD_RECIPIENT',
  'UNSUPPORTED_VERSION',
  'UNEXPECTED_FRAME',
  'INTERNAL',
  /** Sent as INTERNAL: stopping. */
  'SHUTTING_DOWN',
  /** Sent as INTERNAL: no room on the data directory's file system (or below --min-free-disk). */
  'STORAGE_FULL',
  /** Sent as INTERNAL: the data directory or the database cannot be written. */
  'STORAGE_READ_ONLY',
] as const

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
  readonly #ipRateLimit: RateLimit
  readonly #minFreeBytes: number
  readonly #subscriptions = new Map<string, Set<Subscription>>()
  #buckets: TokenBuckets
  #ipBuckets: TokenBuckets
  #writer: GroupCommit | undefined
  #path = ':memory:'
  #guard: StorageGuard | undefined
  readonly #commit: 'group' | 'each'
  readonly #writerThread: boolean
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
    this.#ipRateLimit = { burst: 1000, perSecond: 200, ...init.ipRateLimit }
    this.#minFreeBytes = init.minFreeBytes ?? 0
    this.#commit = init.commit ?? 'group'
    this.#writerThread = init.writerThread ?? true
    this.maxUnacked = init.maxUnacked ?? 256
    this.#buckets = new TokenBuckets(this.#rateLimit)
    this.#ipBuckets = new TokenBuckets(this.#ipRateLimit)
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
      refused: refusalCounter(
        metrics,
        'paloma_relay_mailbox_refused_total',
        'Mailbox requests refused, by error code (SHUTTING_DOWN is sent as INTERNAL).',
        MAILBOX_REFUSAL_REASONS,
      ),
    }
  }

  protected override countRefused(reason: string): void {
    this.#counters.refused?.increment({ [reason]: 1 })
  }

  readonly [Symbol.toStringTag] = '@paloma/mailbox'

  protected openStore(path: string): MailboxStore {
    const store = new MailboxStore(path)
    this.#path = path
    // A database file gets a writer thread of its own; an in-memory one cannot be shared across connections.
    const thread = path !== ':memory:' && this.#commit === 'group' && this.#writerThread
    this.#writer = new GroupCommit(
      thread ? threadExecutor(path) : inlineExecutor(store),
      this.#commit === 'each' ? 1 : 1024,
      this.#commit === 'each' || thread ? 'now' : 'turn',
    )
    return store
  }

  protected override async onStart(): Promise<void> {
    if (this.#path === ':memory:') return
    this.#guard = new StorageGuard({
      dir: dirname(this.#path),
      minFreeBytes: this.#minFreeBytes,
      onChange: (state) => {
        if (state.ok) this.log('storage writable again: accepting deposits (%s)', state.detail)
        else this.log.error('refusing deposits: %s (%s)', state.reason, state.detail)
      },
    })
    await this.#guard.start()
  }

  get writer(): GroupCommit {
    if (this.#writer === undefined) throw new Error('mailbox service is not started')
    return this.#writer
  }

  /**
   * Tells every subscriber to move on (an `INTERNAL` "shutting down" error, retryable), closes, and waits
   * until each subscriber has ended the stream in answer or `signal` fires (then aborts what is left).
   */
  protected override async onDrain(signal: AbortSignal): Promise<void> {
    const subs = [...this.#subscriptions.values()].flatMap((set) => [...set])
    this.#subscriptions.clear()
    await Promise.all(
      subs.map(async (sub) => {
        sub.closed = true
        try {
          // Queued behind whatever the subscriber has not read yet, without waiting for the buffer to
          // drain (a slow reader would hold the frame back until the stop aborts the stream); the
          // close then flushes it.
          sub.stream.send(
            encodeFrame({
              t: 'err',
              code: 'INTERNAL',
              msg: 'relay is shutting down; subscribe again later or on another relay',
            }),
          )
          await sub.stream.close({ signal })
          // The close only hands the frame to the muxer: behind a slow reader it can still sit in the
          // socket's buffers, which the stop then destroys (the subscriber would see the relay go
          // without a word). The subscriber ends the stream once it has read the error.
          await ended(sub.stream, signal)
        } catch (err) {
          sub.stream.abort(err instanceof Error ? err : new Error(String(err)))
        }
      }),
    )
  }

  protected override async onStop(): Promise<void> {
    for (const subs of this.#subscriptions.values()) {
      for (const sub of subs) {
        sub.closed = true
        sub.stream.abort(new Error('mailbox service stopping'))
      }
    }
    this.#subscriptions.clear()
    this.#guard?.stop()
    this.#guard = undefined
    await this.#writer?.close()
    this.#writer = undefined
  }

  stats(): MailboxStats {
    let subscriptions = 0
    for (const subs of this.#subscriptions.values()) subscriptions += subs.size
    const storage = this.#guard?.state
    return {
      ...this.store.stats(),
      subscriptions,
      accepting: storage?.ok ?? true,
      ...(storage?.reason !== undefined ? { refusing: storage.reason } : {}),
    }
  }

  async sweep(): Promise<number> {
    const now = this.now()
    const result = await this.writer.submit({ t: 'sweep', now })
    const dropped = result.t === 'sweep' ? result.dropped : 0
    this.#buckets.prune(now)
    this.#ipBuckets.prune(now)
    if (dropped > 0) this.#counters.expired?.increment(dropped)
    if (dropped > 0) this.log('expiry sweep dropped %d envelopes', dropped)
    return dropped
  }

  /** A deposit stream (`put`s answered in order) that may turn into a subscription (`sub`, `ack`, `nack`). */
  protected openStream({
    stream,
    connection,
    peer: remote,
    keepAlive,
  }: StreamContext): StreamSession<MailboxFrame> {
    const peer = remote.toString()
    const ip = ipOf(connection.remoteAddr)
    let sub: Subscription | undefined
    return {
      onFrame: async (frame, next) => {
        switch (frame.t) {
          case 'put': {
            // Consecutive puts read together are committed together (one fsync).
            const puts: PutFrame[] = [frame]
            while (next[0]?.t === 'put') puts.push(next.shift() as PutFrame)
            for (const answer of await this.#putBatch(peer, ip, puts)) await this.sendFrame(stream, answer)
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
            // Awaited, so that once a subscriber has closed its stream its acknowledgements are applied.
            await this.#ack(peer, frame.seqs)
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
   * Answers a run of `put` frames read together: checks each, then stores the accepted ones in the next
   * group commit (one transaction with whatever other streams deposited or acknowledged meanwhile), so the
   * `ok`s follow its fsync. Answers are in frame order.
   */
  async #putBatch(
    sender: string,
    ip: string | undefined,
    frames: PutFrame[],
  ): Promise<Array<OkFrame | ErrFrame>> {
    const now = this.now()
    const answers: Array<OkFrame | ErrFrame | undefined> = []
    const accepted: Array<{ index: number; req: PutRequest }> = []
    frames.forEach((frame, index) => {
      const refusal = this.#check(sender, ip, frame, now)
      answers.push(refusal?.frame)
      if (refusal !== undefined) {
        this.#counters.refused?.increment({ [refusal.reason]: 1 })
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
    if (accepted.length === 0) return answers as Array<OkFrame | ErrFrame>
    let results: PutResult[]
    try {
      const result = await this.writer.submit({ t: 'put', reqs: accepted.map((a) => a.req) })
      if (result.t !== 'put') throw new Error(`the writer answered a put with ${result.t}`)
      results = result.results
    } catch (err) {
      this.log.error('storing %d envelopes from %s failed - %e', accepted.length, sender, err)
      this.#guard?.failed(err)
      const storage = storageFailure(err)
      this.#counters.refused?.increment({ [storage ?? 'INTERNAL']: accepted.length })
      for (const { index, req } of accepted) {
        answers[index] = {
          t: 'err',
          id: req.id,
          code: 'INTERNAL',
          msg:
            storage !== undefined
              ? STORAGE_MESSAGES[storage]
              : 'the relay could not store the envelope; retry later',
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

  /**
   * The checks that need no database: storage, rate (the sender's, then its IP address's), size, recipient.
   * Returns the refusal, if any, with the reason it is counted under.
   */
  #check(
    sender: string,
    ip: string | undefined,
    frame: PutFrame,
    now: number,
  ): { frame: ErrFrame; reason: (typeof MAILBOX_REFUSAL_REASONS)[number] } | undefined {
    const id = frame.id
    const storage = this.#guard?.state
    if (storage !== undefined && !storage.ok && storage.reason !== undefined) {
      return {
        reason: storage.reason,
        frame: { t: 'err', id, code: 'INTERNAL', msg: STORAGE_MESSAGES[storage.reason] },
      }
    }
    if (!this.#buckets.take(sender, now)) {
      return {
        reason: 'RATE_LIMITED',
        frame: {
          t: 'err',
          id,
          code: 'RATE_LIMITED',
          msg: `more than ${this.#rateLimit.burst} deposits in a burst or ${this.#rateLimit.perSecond}/s; retry shortly`,
        },
      }
    }
    if (ip !== undefined && !this.#ipBuckets.take(ip, now)) {
      return {
        reason: 'RATE_LIMITED_IP',
        frame: {
          t: 'err',
          id,
          code: 'RATE_LIMITED',
          msg: `more than ${this.#ipRateLimit.burst} deposits in a burst or ${this.#ipRateLimit.perSecond}/s from this address; retry shortly`,
        },
      }
    }
    if (frame.env.byteLength > this.#maxEnvelopeBytes) {
      return {
        reason: 'TOO_LARGE',
        frame: {
          t: 'err',
          id,
          code: 'TOO_LARGE',
          msg: `envelope of ${frame.env.byteLength} bytes exceeds this relay's limit of ${this.#maxEnvelopeBytes}`,
        },
      }
    }
    try {
      peerIdFromString(frame.to)
    } catch {
      return {
        reason: 'BAD_RECIPIENT',
        frame: { t: 'err', id, code: 'BAD_RECIPIENT', msg: 'to: not a valid PeerId' },
      }
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

  async #ack(peer: string, seqs: number[]): Promise<void> {
    // Only rows whose recipient is the authenticated peer match: acking someone else's seq is a no-op.
    try {
      const result = await this.writer.submit({ t: 'ack', recipient: peer, seqs })
      const deleted = result.t === 'ack' ? result.deleted : 0
      if (deleted > 0) this.#counters.delivered?.increment(deleted)
    } catch (err) {
      // The envelopes stay stored and come again on the next subscription (the recipient deduplicates);
      // this one goes on delivering the rest.
      this.log.error('acknowledging %d envelopes of %s failed - %e', seqs.length, peer, err)
      this.#guard?.failed(err)
    }
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

/** Resolves when `stream` has ended both ways (closed, reset or aborted); rejects when `signal` fires. */
function ended(stream: Stream, signal: AbortSignal): Promise<void> {
  if (stream.status !== 'open' && stream.status !== 'closing') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      stream.removeEventListener('close', onClose)
      reject(signal.reason as Error)
    }
    const onClose = (): void => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }
    stream.addEventListener('close', onClose, { once: true })
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
