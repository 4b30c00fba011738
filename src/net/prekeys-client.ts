/**
 * Client side of the relay one-time prekey service (`/paloma/prekeys/1.0.0`), for browsers and Node
 * peers.
 *
 * The owner uploads signed one-time prekeys to each of its home relays and tops them up when `count`
 * falls low; an initiator takes one of the recipient's keys from any of the recipient's home relays and,
 * when none is left (or the relay misbehaves), falls back to the signed prekey of the DHT bundle. Every
 * record taken is verified against the owner's PeerId key here too: the relay is not trusted with keys.
 *
 * Knows the wire codec and libp2p streams; knows nothing about sessions, storage or the UI.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  FrameReader,
  MAX_UPLOAD_RECORDS,
  OneTimePreKeyRecordError,
  PREKEYS_PROTOCOL,
  PreKeysFrameError,
  encodeFrame,
  verifyOneTimePreKey,
  type OneTimePreKeyPublic,
  type PreKeysErrorCode,
  type PreKeysFrame,
} from '../core/protocol/prekeys.ts'
import type { AbortOptions, DialProtocolOptions, DialTarget, PeerId, Stream } from '@libp2p/interface'

export { PREKEYS_PROTOCOL } from '../core/protocol/prekeys.ts'
export type { OneTimePreKeyPublic } from '../core/protocol/prekeys.ts'

/**
 * Relay error codes plus the client's own: the relay could not be reached, went silent or misbehaved
 * (`PROTOCOL`), or served a record the owner did not sign (`BAD_RECORD`: treat as "none").
 */
export type PreKeysClientErrorCode = PreKeysErrorCode | 'UNREACHABLE' | 'NO_RESPONSE' | 'TIMEOUT' | 'PROTOCOL'

const RETRYABLE = new Set<PreKeysClientErrorCode>([
  'RATE_LIMITED',
  'INTERNAL',
  'UNREACHABLE',
  'NO_RESPONSE',
  'TIMEOUT',
])

/** A prekey operation that failed; `code` is the relay's error code or one of the client's. */
export class PreKeysError extends Error {
  override name = 'PreKeysError'
  readonly code: PreKeysClientErrorCode
  constructor(code: PreKeysClientErrorCode, message: string, options?: ErrorOptions) {
    super(`${code}: ${message}`, options)
    this.code = code
  }

  /** Whether trying again later (or on another relay) can succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code)
  }
}

/** The part of a libp2p node the client uses. */
export interface PreKeysNode {
  dialProtocol(peer: DialTarget, protocols: string | string[], options?: DialProtocolOptions): Promise<Stream>
}

/** A relay: its PeerId or multiaddr, as objects or strings (a string starting with '/' is a multiaddr). */
export type PreKeysRelay = DialTarget | string

export interface PreKeysCallOptions extends AbortOptions {
  /**
   * Gives up after this many milliseconds (dial included) with a `TIMEOUT` error.
   *
   * @default 15000
   */
  timeoutMs?: number
}

export interface UploadOptions extends PreKeysCallOptions {
  /**
   * Drop every key (and served id) this peer has on the relay before storing these: after restoring a
   * backup, when the private keys of the old uploads are gone.
   *
   * @default false
   */
  replace?: boolean
}

export interface UploadResult {
  /** Records newly stored (ids already stored or already served are skipped). */
  stored: number
  /** Keys this peer now has on the relay. */
  total: number
}

function toTarget(relay: PreKeysRelay): DialTarget {
  if (typeof relay !== 'string') return relay
  return relay.startsWith('/') ? multiaddr(relay) : peerIdFromString(relay)
}

function signalFor(options: PreKeysCallOptions): AbortSignal {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 15_000)
  return options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
}

function encodeOrThrow(frame: PreKeysFrame): Uint8Array {
  try {
    return encodeFrame(frame)
  } catch (err) {
    if (err instanceof PreKeysFrameError) {
      throw new PreKeysError(err.reason === 'FRAME_TOO_LARGE' ? 'TOO_LARGE' : 'BAD_FRAME', err.message, {
        cause: err,
      })
    }
    throw err
  }
}

/** Raw Ed25519 key of `owner`'s PeerId. @throws PreKeysError `BAD_OWNER` */
function ownerKey(owner: PeerId | string): { id: string; key: Uint8Array } {
  let peer: PeerId
  try {
    peer = typeof owner === 'string' ? peerIdFromString(owner) : owner
  } catch (err) {
    throw new PreKeysError('BAD_OWNER', 'not a valid PeerId', { cause: err })
  }
  if (peer.type !== 'Ed25519') throw new PreKeysError('BAD_OWNER', 'only Ed25519 PeerIds own prekeys')
  return { id: peer.toString(), key: peer.publicKey.raw }
}

/**
 * Opens a stream to `relay`, sends `frames` and returns one answer per frame, in order.
 * @throws PreKeysError on a relay `err` frame (its code) or UNREACHABLE / TIMEOUT / NO_RESPONSE / PROTOCOL.
 */
async function exchange(
  libp2p: PreKeysNode,
  relay: PreKeysRelay,
  frames: readonly Uint8Array[],
  options: PreKeysCallOptions,
): Promise<PreKeysFrame[]> {
  const signal = signalFor(options)
  let stream: Stream
  try {
    stream = await libp2p.dialProtocol(toTarget(relay), PREKEYS_PROTOCOL, {
      signal,
      runOnLimitedConnection: true,
    })
  } catch (err) {
    if (signal.aborted)
      throw new PreKeysError('TIMEOUT', 'no connection to the relay in time', { cause: err })
    throw new PreKeysError('UNREACHABLE', `cannot open a prekey stream: ${(err as Error).message}`, {
      cause: err,
    })
  }
  const onAbort = (): void => stream.abort(new PreKeysError('TIMEOUT', 'the relay did not answer in time'))
  signal.addEventListener('abort', onAbort, { once: true })
  const answers: PreKeysFrame[] = []
  try {
    // One frame at a time: an upload refused halfway leaves the rest unsent.
    const reader = new FrameReader()
    const chunks = stream[Symbol.asyncIterator]()
    for (const bytes of frames) {
      if (!stream.send(bytes)) await stream.onDrain({ signal })
      let answer: PreKeysFrame | undefined
      while (answer === undefined) {
        const next = await chunks.next()
        if (next.done === true) {
          throw new PreKeysError('NO_RESPONSE', 'the relay closed the stream without answering')
        }
        let got: PreKeysFrame[]
        try {
          got = reader.push(next.value.subarray())
        } catch (err) {
          throw new PreKeysError('PROTOCOL', `relay sent an invalid frame: ${(err as Error).message}`, {
            cause: err,
          })
        }
        if (got.length > 1) throw new PreKeysError('PROTOCOL', 'relay sent more answers than requests')
        answer = got[0]
      }
      if (answer.t === 'err') throw new PreKeysError(answer.code, answer.msg)
      answers.push(answer)
    }
    stream.close({ signal }).catch(() => stream.abort(new Error('close failed')))
    return answers
  } catch (err) {
    const error =
      err instanceof PreKeysError
        ? err
        : signal.aborted
          ? new PreKeysError('TIMEOUT', 'the relay did not answer in time', { cause: err })
          : new PreKeysError('NO_RESPONSE', `the prekey stream failed: ${(err as Error).message}`, {
              cause: err,
            })
    stream.abort(error)
    throw error
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/**
 * Uploads signed one-time prekey records (from `signOneTimePreKey`) to `relay`, `MAX_UPLOAD_RECORDS` per
 * frame on one stream. Each frame is stored all or nothing, after the relay checked every signature
 * against this peer's PeerId key.
 * @returns how many records were new and how many this peer now has on the relay.
 * @throws PreKeysError `OWNER_QUOTA` (the relay's per-owner cap; `msg` says how many fit), `BAD_SIGNATURE`,
 *   `BAD_RECORD`, `RATE_LIMITED`, or UNREACHABLE / TIMEOUT / NO_RESPONSE / PROTOCOL. Frames answered
 *   before the failing one are stored.
 * @example
 * await uploadOneTimePreKeys(node, relayAddr, records)
 */
export async function uploadOneTimePreKeys(
  libp2p: PreKeysNode,
  relay: PreKeysRelay,
  records: readonly Uint8Array[],
  options: UploadOptions = {},
): Promise<UploadResult> {
  if (records.length === 0) return { stored: 0, total: await countOneTimePreKeys(libp2p, relay, options) }
  const frames: Uint8Array[] = []
  for (let i = 0; i < records.length; i += MAX_UPLOAD_RECORDS) {
    const replace = i === 0 && options.replace === true
    frames.push(
      encodeOrThrow({
        t: 'upload',
        opks: records.slice(i, i + MAX_UPLOAD_RECORDS),
        ...(replace ? { replace: true } : {}),
      }),
    )
  }
  const answers = await exchange(libp2p, relay, frames, options)
  let stored = 0
  let total = 0
  for (const a of answers) {
    if (a.t !== 'ok') throw new PreKeysError('PROTOCOL', `unexpected ${a.t} frame in answer to an upload`)
    stored += a.stored
    total = a.total
  }
  return { stored, total }
}

/**
 * How many one-time prekeys this peer has left on `relay` (upload more below a threshold).
 * @throws PreKeysError `RATE_LIMITED`, or UNREACHABLE / TIMEOUT / NO_RESPONSE / PROTOCOL.
 */
export async function countOneTimePreKeys(
  libp2p: PreKeysNode,
  relay: PreKeysRelay,
  options: PreKeysCallOptions = {},
): Promise<number> {
  const [answer] = await exchange(libp2p, relay, [encodeOrThrow({ t: 'count' })], options)
  if (answer?.t !== 'count' || answer.n === undefined) {
    throw new PreKeysError('PROTOCOL', `unexpected ${answer?.t} frame in answer to a count`)
  }
  return answer.n
}

/**
 * Takes one of `owner`'s one-time prekeys from `relay`; the relay never hands that key to anyone else.
 * @returns the verified key, ready for a `PreKeyBundle`'s `oneTimePreKeys`, or `undefined` when the
 *   owner has none left there (use the signed prekey: X3DH without DH4).
 * @throws PreKeysError `BAD_RECORD` when the relay served a record not signed by `owner` (treat as none,
 *   and prefer another relay), `BAD_OWNER`, `RATE_LIMITED`, or UNREACHABLE / TIMEOUT / NO_RESPONSE /
 *   PROTOCOL.
 * @example
 * const opk = await takeOneTimePreKey(node, relay, bob).catch(() => undefined)
 * const bundle = { ...verifiedDhtBundle, oneTimePreKeys: opk === undefined ? [] : [opk] }
 */
export async function takeOneTimePreKey(
  libp2p: PreKeysNode,
  relay: PreKeysRelay,
  owner: PeerId | string,
  options: PreKeysCallOptions = {},
): Promise<OneTimePreKeyPublic | undefined> {
  const { id, key } = ownerKey(owner)
  const [answer] = await exchange(libp2p, relay, [encodeOrThrow({ t: 'take', owner: id })], options)
  if (answer?.t === 'none') return undefined
  if (answer?.t !== 'opk')
    throw new PreKeysError('PROTOCOL', `unexpected ${answer?.t} frame in answer to a take`)
  try {
    return await verifyOneTimePreKey(answer.rec, key)
  } catch (err) {
    if (err instanceof OneTimePreKeyRecordError) {
      throw new PreKeysError(
        'BAD_RECORD',
        `the relay served a record ${owner.toString()} did not sign: ${err.message}`,
        {
          cause: err,
        },
      )
    }
    throw err
  }
}
