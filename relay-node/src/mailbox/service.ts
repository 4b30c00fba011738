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
  MAX_ENVELOPE_BYTES,
  MailboxFrameError,
  encodeFrame,
  type ErrFrame,
  type MailboxFrame,
  type OkFrame,
  type PutFrame,
} from '../../../src/core/protocol/mailbox.ts'
import { TokenBuckets, type RateLimit } from './rate-limit.ts'
import { MailboxStore, type PutRequest, type PutResult, type Quota } from './store.ts'
import type { MailboxComponents, MailboxInit, MailboxService, MailboxStats } from './index.ts'
import type { Connection, Logger, Stream } from '@libp2p/interface'

const DAY_MS = 24 * 60 * 60 * 1000
/** Rows read from the store per query while pushing to a subscriber. */
const PUSH_BATCH = 64
/** Concurrent subscriptions of one peer; a new one beyond this closes the oldest. */
const MAX_SUBSCRIPTIONS_PER_PEER = 4

function normalizeEnvelopeLimit(value: number | undefined): number {
  const limit = value ?? 64 * 1024
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_ENVELOPE_BYTES) {
    throw new RangeError(`maxEnvelopeBytes: expected 1 to ${MAX_ENVELOPE_BYTES}, got ${limit}`)
  }
  return limit
}

async function sendFrame(stream: Stream, frame: MailboxFrame): Promise<void> {
  if (!stream.send(encodeFrame(frame))) await stream.onDrain()
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
          await sendFrame(this.stream, {
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
            await sendFrame(this.stream, { t: 'synced' })
          }
          break
        }
      }
    } while (this.#again)
  }
}

export class MailboxServiceImpl implements MailboxService {
  readonly protocol = MAILBOX_PROTOCOL
  readonly log: Logger
  readonly now: () => number
  readonly maxUnacked: number
  readonly #components: MailboxComponents
  readonly #path: string
  readonly #maxEnvelopeBytes: number
  readonly #ttlMs: number
  readonly #recipientQuota: Quota
  readonly #senderQuota: Quota
  readonly #rateLimit: RateLimit
  readonly #sweepIntervalMs: number
  readonly #maxInboundStreams: number
  readonly #idleTimeoutMs: number
  readonly #subscriptions = new Map<string, Set<Subscription>>()
  #buckets: TokenBuckets
  #store: MailboxStore | undefined
  #sweepTimer: ReturnType<typeof setInterval> | undefined
  #started = false

  constructor(components: MailboxComponents, init: MailboxInit = {}) {
    this.#components = components
    this.log = components.logger.forComponent('paloma:mailbox')
    this.#path = init.path ?? ':memory:'
    this.#maxEnvelopeBytes = normalizeEnvelopeLimit(init.maxEnvelopeBytes)
    this.#ttlMs = init.ttlMs ?? 30 * DAY_MS
    this.#recipientQuota = { count: 1000, bytes: 32 * 1024 * 1024, ...init.perRecipientQuota }
    this.#senderQuota = { count: 2000, bytes: 64 * 1024 * 1024, ...init.perSenderQuota }
    this.#rateLimit = { burst: 100, perSecond: 20, ...init.rateLimit }
    this.#sweepIntervalMs = init.sweepIntervalMs ?? 60_000
    this.maxUnacked = init.maxUnacked ?? 256
    this.#maxInboundStreams = init.maxInboundStreams ?? 32
    this.#idleTimeoutMs = init.idleTimeoutMs ?? 30_000
    this.now = init.now ?? Date.now
    this.#buckets = new TokenBuckets(this.#rateLimit)
    this.handle = this.handle.bind(this)
  }

  readonly [Symbol.toStringTag] = '@paloma/mailbox'

  get store(): MailboxStore {
    if (this.#store === undefined) throw new Error('mailbox service is not started')
    return this.#store
  }

  isStarted(): boolean {
    return this.#started
  }

  async start(): Promise<void> {
    if (this.#started) return
    if (this.#path === ':memory:')
      this.log('mailbox uses an in-memory database: envelopes will not survive a restart')
    this.#store = new MailboxStore(this.#path)
    this.sweep()
    this.#sweepTimer = setInterval(() => {
      try {
        this.sweep()
      } catch (err) {
        this.log.error('expiry sweep failed - %e', err)
      }
    }, this.#sweepIntervalMs)
    this.#sweepTimer.unref?.()
    await this.#components.registrar.handle(this.protocol, this.handle, {
      runOnLimitedConnection: true,
      maxInboundStreams: this.#maxInboundStreams,
    })
    this.#started = true
    this.log('mailbox started on %s', this.#path)
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    await this.#components.registrar.unhandle(this.protocol)
    clearInterval(this.#sweepTimer)
    for (const subs of this.#subscriptions.values()) {
      for (const sub of subs) {
        sub.closed = true
        sub.stream.abort(new Error('mailbox service stopping'))
      }
    }
    this.#subscriptions.clear()
    this.#store?.close()
    this.#store = undefined
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
    if (dropped > 0) this.log('expiry sweep dropped %d envelopes', dropped)
    return dropped
  }

  /** The stream handler registered for `/paloma/mailbox/1.0.0`. */
  async handle(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const reader = new FrameReader()
    let sub: Subscription | undefined
    let idleTimer: ReturnType<typeof setTimeout> | undefined
    const armIdle = (): void => {
      clearTimeout(idleTimer)
      if (sub !== undefined) return
      idleTimer = setTimeout(() => stream.abort(new Error('mailbox stream idle')), this.#idleTimeoutMs)
    }
    armIdle()
    try {
      read: for await (const chunk of stream) {
        let frames: MailboxFrame[]
        try {
          frames = reader.push(chunk.subarray())
        } catch (err) {
          await this.#refuse(stream, err)
          break
        }
        if (frames.length > 0) armIdle()
        for (let i = 0; i < frames.length; i++) {
          const frame = frames[i] as MailboxFrame
          if (!this.#started) {
            await sendFrame(stream, {
              t: 'err',
              code: 'INTERNAL',
              msg: 'relay is shutting down; retry later',
            })
            break read
          }
          switch (frame.t) {
            case 'put': {
              // Consecutive puts read together are committed together (one fsync).
              const puts: PutFrame[] = [frame]
              while (frames[i + 1]?.t === 'put') puts.push(frames[++i] as PutFrame)
              for (const answer of this.#putBatch(peer, puts)) await sendFrame(stream, answer)
              break
            }
            case 'sub':
              if (sub !== undefined) {
                await sendFrame(stream, { t: 'err', code: 'UNEXPECTED_FRAME', msg: 'already subscribed' })
                break read
              }
              sub = this.#subscribe(peer, stream)
              clearTimeout(idleTimer)
              break
            case 'ack':
              this.#ack(peer, frame.seqs)
              break
            case 'nack':
              this.#release(peer, frame.seqs)
              break
            default:
              await sendFrame(stream, {
                t: 'err',
                code: 'UNEXPECTED_FRAME',
                msg: `a client may send put, sub, ack or nack, not ${frame.t}`,
              })
              break read
          }
        }
      }
      if (sub !== undefined) this.#unsubscribe(sub)
      await stream.close()
    } catch (err) {
      this.log('mailbox stream from %s ended with an error - %e', peer, err)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      clearTimeout(idleTimer)
      if (sub !== undefined) this.#unsubscribe(sub)
    }
  }

  async #refuse(stream: Stream, err: unknown): Promise<void> {
    if (!(err instanceof MailboxFrameError)) throw err
    const code =
      err.reason === 'FRAME_TOO_LARGE'
        ? 'TOO_LARGE'
        : err.reason === 'UNSUPPORTED_VERSION'
          ? 'UNSUPPORTED_VERSION'
          : 'BAD_FRAME'
    await sendFrame(stream, { t: 'err', code, msg: err.message.slice(0, 500) })
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
      if (refusal !== undefined) return
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
    accepted.forEach(({ index, req }, k) => {
      const result = results[k] as PutResult
      if (result.status === 'refused') {
        answers[index] = { t: 'err', id: req.id, code: result.code, msg: result.msg }
        return
      }
      if (result.status === 'stored') notify.add(req.recipient)
      answers[index] = { t: 'ok', id: req.id }
    })
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
    this.store.ack(peer, seqs)
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
