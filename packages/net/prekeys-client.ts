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
import {
  FrameReader,
  MAX_UPLOAD_RECORDS,
  OneTimePreKeyRecordError,
  PREKEYS_ERROR_CODES,
  PREKEYS_PROTOCOL,
  encodeFrame,
  verifyOneTimePreKey,
  type OneTimePreKeyPublic,
  type PreKeysErrorCode,
  type PreKeysFrame,
} from '@paloma/core/protocol/prekeys.ts'
import {
  FRAME_CLIENT_ERROR_CODES,
  FrameClient,
  FrameClientError,
  type FrameCallOptions,
  type FrameNode,
  type FrameRelay,
} from './frame-client.ts'
import type { PeerId } from '@libp2p/interface'

export { PREKEYS_PROTOCOL } from '@paloma/core/protocol/prekeys.ts'
export type { OneTimePreKeyPublic } from '@paloma/core/protocol/prekeys.ts'

/**
 * Every code of a {@link PreKeysError}: the relay's (PREKEYS_ERROR_CODES, as they travel in `err` frames)
 * plus the client's own: the relay could not be reached, went silent or misbehaved (`PROTOCOL`). The
 * client also uses `BAD_RECORD` for a record the owner did not sign (treat as "none").
 */
export const PREKEYS_CLIENT_ERROR_CODES = [...PREKEYS_ERROR_CODES, ...FRAME_CLIENT_ERROR_CODES] as const
export type PreKeysClientErrorCode = (typeof PREKEYS_CLIENT_ERROR_CODES)[number]

/** The relay codes after which trying again later (or on another relay) can succeed. */
const RETRYABLE: ReadonlySet<string> = new Set<PreKeysErrorCode>(['RATE_LIMITED', 'INTERNAL'])

/**
 * A prekey operation that failed; `code` is the relay's error code or one of the client's. `retryable`:
 * whether trying again later (or on another relay) can succeed.
 */
export class PreKeysError extends FrameClientError<PreKeysClientErrorCode> {
  override name = 'PreKeysError'
  protected override readonly retryableCodes = RETRYABLE
}

/** The part of a libp2p node the client uses. */
export type PreKeysNode = FrameNode

/** A relay: its PeerId or multiaddr, as objects or strings (a string starting with '/' is a multiaddr). */
export type PreKeysRelay = FrameRelay

/** `timeoutMs` (default 15000) gives up after this many milliseconds (dial included) with `TIMEOUT`. */
export type PreKeysCallOptions = FrameCallOptions

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

const client = new FrameClient<PreKeysFrame, PreKeysClientErrorCode, PreKeysError>({
  protocol: PREKEYS_PROTOCOL,
  name: 'prekey',
  encodeFrame,
  newReader: () => new FrameReader(),
  error: PreKeysError,
})

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
      client.encode({
        t: 'upload',
        opks: records.slice(i, i + MAX_UPLOAD_RECORDS),
        ...(replace ? { replace: true } : {}),
      }),
    )
  }
  const answers = await client.exchange(libp2p, relay, frames, options)
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
  const [answer] = await client.exchange(libp2p, relay, [client.encode({ t: 'count' })], options)
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
  const [answer] = await client.exchange(libp2p, relay, [client.encode({ t: 'take', owner: id })], options)
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
