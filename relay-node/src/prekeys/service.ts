/**
 * The one-time prekey protocol handler: turns frames from authenticated peers into store operations.
 *
 * Identity comes only from `connection.remotePeer` (Noise-authenticated): uploads and counts always
 * concern the connection's own keys, and their signatures are checked against the key inside that
 * PeerId. A `take` names the owner whose key is wanted and is rate limited per taker.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import {
  FrameReader,
  OneTimePreKeyRecordError,
  PREKEYS_ERROR_CODES,
  PREKEYS_PROTOCOL,
  decodeOneTimePreKeyUnverified,
  encodeFrame,
  verifyOneTimePreKey,
  type PreKeysFrame,
  type UploadFrame,
} from '@paloma/core/protocol/prekeys.ts'
import { TokenBuckets, type RateLimit } from '../rate-limit.ts'
import { FrameStreamService, type StreamContext, type StreamSession } from '../stream-service.ts'
import { OneTimePreKeyStore, type PreKeyStoreStats } from './store.ts'
import type { PreKeyService, PreKeyServiceComponents, PreKeyServiceInit } from './index.ts'
import type { Counter, CounterGroup, PeerId } from '@libp2p/interface'
import { refusalCounter } from '../refusals.ts'

/** Every `reason` of `paloma_relay_prekeys_refused_total`: the wire codes, and SHUTTING_DOWN (sent as INTERNAL). */
const PREKEY_REFUSAL_REASONS = [...PREKEYS_ERROR_CODES, 'SHUTTING_DOWN'] as const

const DAY_MS = 24 * 60 * 60 * 1000

/** The raw Ed25519 key inside a PeerId, or undefined for other key types. */
function ed25519Key(peer: PeerId): Uint8Array | undefined {
  return peer.type === 'Ed25519' ? peer.publicKey.raw : undefined
}

export class PreKeyServiceImpl
  extends FrameStreamService<PreKeysFrame, OneTimePreKeyStore>
  implements PreKeyService
{
  readonly #cap: number
  readonly #takeLimit: RateLimit
  readonly #ownerLimit: RateLimit
  readonly #servedTtlMs: number
  readonly #takeBuckets: TokenBuckets
  readonly #ownerBuckets: TokenBuckets
  readonly #counters: { served?: Counter; exhausted?: Counter; uploaded?: Counter; refused?: CounterGroup }

  constructor(components: PreKeyServiceComponents, init: PreKeyServiceInit = {}) {
    super(components, init, {
      protocol: PREKEYS_PROTOCOL,
      component: 'paloma:prekeys',
      sweepIntervalMs: 60 * 60 * 1000,
      encodeFrame,
      newReader: () => new FrameReader(),
      text: {
        notStarted: 'prekey service is not started',
        inMemory: 'prekey service uses an in-memory database: keys will not survive a restart',
        started: 'prekey service started on %s',
        sweepFailed: 'served-id sweep failed - %e',
        stream: 'prekey stream',
      },
    })
    this.#cap = init.maxKeysPerOwner ?? 200
    if (!Number.isSafeInteger(this.#cap) || this.#cap < 1) {
      throw new RangeError(`maxKeysPerOwner: expected a positive integer, got ${this.#cap}`)
    }
    this.#takeLimit = { burst: 20, perSecond: 2, ...init.takeRateLimit }
    this.#ownerLimit = { burst: 20, perSecond: 2, ...init.ownerRateLimit }
    this.#servedTtlMs = init.servedTtlMs ?? 30 * DAY_MS
    this.#takeBuckets = new TokenBuckets(this.#takeLimit)
    this.#ownerBuckets = new TokenBuckets(this.#ownerLimit)
    const metrics = components.metrics
    this.#counters = {
      served: metrics?.registerCounter('paloma_relay_prekeys_served_total', {
        help: 'One-time prekeys handed out (each exactly once).',
      }),
      exhausted: metrics?.registerCounter('paloma_relay_prekeys_exhausted_total', {
        help: 'Takes answered "none": the owner had no one-time prekey left here.',
      }),
      uploaded: metrics?.registerCounter('paloma_relay_prekeys_uploaded_total', {
        help: 'One-time prekeys stored by their owners (ids already stored or served not counted).',
      }),
      refused: refusalCounter(
        metrics,
        'paloma_relay_prekeys_refused_total',
        'Prekey requests refused, by error code (SHUTTING_DOWN is sent as INTERNAL).',
        PREKEY_REFUSAL_REASONS,
      ),
    }
  }

  protected override countRefused(reason: string): void {
    this.#counters.refused?.increment({ [reason]: 1 })
  }

  readonly [Symbol.toStringTag] = '@paloma/prekeys'

  protected openStore(path: string): OneTimePreKeyStore {
    return new OneTimePreKeyStore(path)
  }

  stats(): PreKeyStoreStats {
    return this.store.stats()
  }

  count(owner: string): number {
    return this.store.count(owner)
  }

  sweep(): number {
    const now = this.now()
    this.#takeBuckets.prune(now)
    this.#ownerBuckets.prune(now)
    return this.store.sweepServed(now - this.#servedTtlMs)
  }

  /** Requests answered one by one, in order; a refused or unexpected frame ends the stream. */
  protected openStream({ stream, peer }: StreamContext): StreamSession<PreKeysFrame> {
    const peerString = peer.toString()
    return {
      onFrame: async (frame) => {
        let answer: PreKeysFrame
        switch (frame.t) {
          case 'take':
            answer = this.#take(peerString, frame.owner)
            break
          case 'upload':
            answer = await this.#upload(peer, frame)
            break
          case 'count':
            answer =
              frame.n === undefined
                ? this.#count(peerString)
                : { t: 'err', code: 'UNEXPECTED_FRAME', msg: 'a count request carries no n' }
            break
          default:
            answer = {
              t: 'err',
              code: 'UNEXPECTED_FRAME',
              msg: `a client may send upload, take or count, not ${frame.t}`,
            }
        }
        if (answer.t === 'err') this.countRefused(answer.code)
        else if (answer.t === 'opk') this.#counters.served?.increment()
        else if (answer.t === 'none') this.#counters.exhausted?.increment()
        else if (answer.t === 'ok' && answer.stored > 0) this.#counters.uploaded?.increment(answer.stored)
        await this.sendFrame(stream, answer)
        return !(answer.t === 'err' && (answer.code === 'UNEXPECTED_FRAME' || answer.code === 'BAD_FRAME'))
      },
    }
  }

  #take(taker: string, owner: string): PreKeysFrame {
    if (!this.#takeBuckets.take(taker, this.now())) {
      return {
        t: 'err',
        code: 'RATE_LIMITED',
        msg: `more than ${this.#takeLimit.burst} takes in a burst or ${this.#takeLimit.perSecond}/s; retry shortly`,
      }
    }
    let ownerId: PeerId
    try {
      ownerId = peerIdFromString(owner)
    } catch {
      return { t: 'err', code: 'BAD_OWNER', msg: 'take.owner: not a valid PeerId' }
    }
    if (ed25519Key(ownerId) === undefined) {
      return { t: 'err', code: 'BAD_OWNER', msg: 'take.owner: only Ed25519 PeerIds own prekeys' }
    }
    try {
      // Committed (row deleted, id remembered) before the record leaves the relay.
      const row = this.store.take(ownerId.toString(), this.now())
      return row === undefined ? { t: 'none' } : { t: 'opk', rec: row.record }
    } catch (err) {
      this.log.error('take for %s failed - %e', owner, err)
      return { t: 'err', code: 'INTERNAL', msg: 'the relay could not read its prekey store; retry later' }
    }
  }

  async #upload(owner: PeerId, frame: UploadFrame): Promise<PreKeysFrame> {
    if (!this.#ownerBuckets.take(owner.toString(), this.now())) {
      return {
        t: 'err',
        code: 'RATE_LIMITED',
        msg: `more than ${this.#ownerLimit.burst} uploads or counts in a burst or ${this.#ownerLimit.perSecond}/s; retry shortly`,
      }
    }
    const ownerKey = ed25519Key(owner)
    if (ownerKey === undefined) {
      return { t: 'err', code: 'BAD_OWNER', msg: 'only Ed25519 PeerIds can own one-time prekeys' }
    }
    const records: Array<{ id: number; record: Uint8Array }> = []
    for (const [i, rec] of frame.opks.entries()) {
      try {
        records.push({ id: decodeOneTimePreKeyUnverified(rec).id, record: rec })
      } catch (err) {
        return { t: 'err', code: 'BAD_RECORD', msg: `opks[${i}]: ${(err as Error).message}`.slice(0, 500) }
      }
    }
    const checks = await Promise.all(
      frame.opks.map((rec) =>
        verifyOneTimePreKey(rec, ownerKey).then(
          () => undefined,
          (err: unknown) => err,
        ),
      ),
    )
    const bad = checks.findIndex((e) => e !== undefined)
    if (bad >= 0) {
      const err = checks[bad]
      if (!(err instanceof OneTimePreKeyRecordError)) throw err
      return {
        t: 'err',
        code: err.code === 'BAD_SIGNATURE' ? 'BAD_SIGNATURE' : 'BAD_RECORD',
        msg: `opks[${bad}]: not signed by your identity key; nothing of this upload was stored`,
      }
    }
    if (!this.isStarted()) return { t: 'err', code: 'INTERNAL', msg: 'relay is shutting down; retry later' }
    try {
      const result = this.store.upload({
        owner: owner.toString(),
        records,
        now: this.now(),
        cap: this.#cap,
        ...(frame.replace === true ? { replace: true } : {}),
      })
      if (result.status === 'refused') return { t: 'err', code: result.code, msg: result.msg }
      return { t: 'ok', stored: result.stored, total: result.total }
    } catch (err) {
      this.log.error('upload from %s failed - %e', owner, err)
      return { t: 'err', code: 'INTERNAL', msg: 'the relay could not store the keys; retry later' }
    }
  }

  #count(owner: string): PreKeysFrame {
    if (!this.#ownerBuckets.take(owner, this.now())) {
      return {
        t: 'err',
        code: 'RATE_LIMITED',
        msg: `more than ${this.#ownerLimit.burst} uploads or counts in a burst or ${this.#ownerLimit.perSecond}/s; retry shortly`,
      }
    }
    try {
      return { t: 'count', n: this.store.count(owner) }
    } catch (err) {
      this.log.error('count for %s failed - %e', owner, err)
      return { t: 'err', code: 'INTERNAL', msg: 'the relay could not read its prekey store; retry later' }
    }
  }
}
