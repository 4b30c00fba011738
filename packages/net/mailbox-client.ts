/**
 * Client side of the relay mailbox (`/paloma/mailbox/1.0.0`), for browsers and Node peers.
 *
 * `deposit` hands one encrypted envelope to a relay and resolves only once the relay has committed
 * it to disk; `openMailbox` drains this peer's mailbox on a relay and keeps receiving new envelopes
 * while the stream is open, acknowledging each one after the application has processed it.
 * Delivery is at least once: the application deduplicates by message id.
 *
 * Knows the wire codec and libp2p streams; knows nothing about encryption, storage or the UI.
 */
import {
  FrameReader,
  MAILBOX_ERROR_CODES,
  MAILBOX_PROTOCOL,
  MAX_ACK_SEQS,
  encodeFrame,
  type MailboxErrorCode,
  type MailboxFrame,
} from '@paloma/core/protocol/mailbox.ts'
import {
  FRAME_CLIENT_ERROR_CODES,
  FrameClient,
  FrameClientError,
  send,
  signalFor,
  type FrameCallOptions,
  type FrameNode,
  type FrameRelay,
} from './frame-client.ts'

export { MAILBOX_PROTOCOL } from '@paloma/core/protocol/mailbox.ts'

/**
 * Every code of a {@link MailboxError}: the relay's (as they travel in `err` frames, see
 * MAILBOX_ERROR_CODES) plus the client's own: the relay could not be reached, went silent, or misbehaved.
 */
export const MAILBOX_CLIENT_ERROR_CODES = [...MAILBOX_ERROR_CODES, ...FRAME_CLIENT_ERROR_CODES] as const
export type MailboxClientErrorCode = (typeof MAILBOX_CLIENT_ERROR_CODES)[number]

/**
 * The relay refusals a sender should see on the message while the outbox keeps retrying
 * (docs/mailbox.md): too large for the relay, the recipient's mailbox full, too many of the sender's
 * envelopes stored, sending too fast.
 */
export const RELAY_REFUSAL_CODES = [
  'TOO_LARGE',
  'RECIPIENT_QUOTA',
  'SENDER_QUOTA',
  'RATE_LIMITED',
] as const satisfies readonly MailboxErrorCode[]
export type RelayRefusalCode = (typeof RELAY_REFUSAL_CODES)[number]

/**
 * The refusal a failed deposit carries, when it is one the sender should see.
 * @returns the code when `err` is a {@link MailboxError} with one of {@link RELAY_REFUSAL_CODES}, else
 *   `undefined` (the relay was unreachable, the frame was bad, or `err` is not a mailbox error).
 * @example
 * const results = await Promise.allSettled(relays.map((r) => deposit(node, r, request)))
 * const refusal = results.map((r) => (r.status === 'rejected' ? relayRefusal(r.reason) : undefined)).find(Boolean)
 */
export function relayRefusal(err: unknown): RelayRefusalCode | undefined {
  if (!(err instanceof MailboxError)) return undefined
  return (RELAY_REFUSAL_CODES as readonly string[]).includes(err.code)
    ? (err.code as RelayRefusalCode)
    : undefined
}

/** The relay codes after which trying again later (or on another relay) can succeed. */
const RETRYABLE: ReadonlySet<string> = new Set<MailboxErrorCode>([
  'RECIPIENT_QUOTA',
  'SENDER_QUOTA',
  'RATE_LIMITED',
  'INTERNAL',
])

/**
 * A mailbox operation that failed; `code` is the relay's error code or one of the client's. `retryable`:
 * whether trying again later (or on another relay) can succeed; false for TOO_LARGE, BAD_FRAME...
 */
export class MailboxError extends FrameClientError<MailboxClientErrorCode> {
  override name = 'MailboxError'
  protected override readonly retryableCodes = RETRYABLE
}

/** The part of a libp2p node the client uses. */
export type MailboxNode = FrameNode

/** A relay: its PeerId or multiaddr, as objects or strings (a string starting with '/' is a multiaddr). */
export type MailboxRelay = FrameRelay

export interface DepositRequest {
  /** Recipient PeerId, as a string. */
  to: string
  /** Message id (1 to 64 printable ASCII characters); a deposit with the same id is stored once. */
  id: string
  /** The end-to-end encrypted envelope. */
  envelope: Uint8Array
}

/** `timeoutMs` (default 15000) gives up after this many milliseconds (dial included) with `TIMEOUT`. */
export type MailboxCallOptions = FrameCallOptions

export interface MailboxEnvelope {
  /** The relay's handle for this envelope (acknowledged automatically). */
  seq: number
  /** Sender PeerId, as authenticated by the relay. */
  from: string
  id: string
  envelope: Uint8Array
  /** When the relay stored it, in milliseconds since the epoch (relay clock). */
  storedAt: number
}

export interface OpenMailboxOptions extends MailboxCallOptions {
  /** Told about envelopes whose handler threw (they stay on the relay and come back next time). */
  onError?(err: unknown, envelope: MailboxEnvelope): void
}

export interface MailboxSubscription {
  /** Resolves once every envelope stored when the subscription began has been handled. */
  readonly synced: Promise<void>
  /** Resolves when the subscription ends: `undefined` after `close()`, or the error that ended it. */
  readonly closed: Promise<Error | undefined>
  /** Ends the subscription; envelopes not yet acknowledged stay on the relay. */
  close(): Promise<void>
}

/** How long acknowledgements are held to be sent together, in milliseconds. */
const ACK_DELAY_MS = 5

const client = new FrameClient<MailboxFrame, MailboxClientErrorCode, MailboxError>({
  protocol: MAILBOX_PROTOCOL,
  name: 'mailbox',
  encodeFrame,
  newReader: () => new FrameReader(),
  error: MailboxError,
})

function* coalesce(chunks: readonly Uint8Array[], target: number): Generator<Uint8Array> {
  let group: Uint8Array[] = []
  let size = 0
  const flush = (): Uint8Array => {
    const out = new Uint8Array(size)
    let offset = 0
    for (const c of group) {
      out.set(c, offset)
      offset += c.byteLength
    }
    group = []
    size = 0
    return out
  }
  for (const chunk of chunks) {
    if (size > 0 && size + chunk.byteLength > target) yield flush()
    group.push(chunk)
    size += chunk.byteLength
  }
  if (size > 0) yield flush()
}

/**
 * Deposits an envelope in `to`'s mailbox on `relay`.
 *
 * @returns once the relay has durably stored the envelope (or already had it).
 * @throws MailboxError with the relay's code (`TOO_LARGE`, `RECIPIENT_QUOTA`, `SENDER_QUOTA`,
 *   `RATE_LIMITED`, `BAD_RECIPIENT`, ...) or `UNREACHABLE` / `NO_RESPONSE` / `TIMEOUT` / `PROTOCOL`.
 *   Until it resolves, the envelope must be treated as not stored.
 * @example
 * ```ts
 * await deposit(node, relayAddr, { to: bob, id: msg.id, envelope })
 * ```
 */
export async function deposit(
  libp2p: MailboxNode,
  relay: MailboxRelay,
  request: DepositRequest,
  options: MailboxCallOptions = {},
): Promise<void> {
  const bytes = client.encode({ t: 'put', to: request.to, id: request.id, env: request.envelope })
  const signal = signalFor(options)
  const stream = await client.dial(libp2p, relay, signal)
  await client.guard(stream, signal, async () => {
    await send(stream, bytes, { signal })
    for await (const frames of client.readFrames(stream)) {
      for (const frame of frames) {
        if (frame.t === 'ok' && frame.id === request.id) return
        if (frame.t === 'err') throw client.relayError(frame)
        throw new MailboxError('PROTOCOL', `unexpected ${frame.t} frame in answer to a deposit`)
      }
    }
    throw new MailboxError('NO_RESPONSE', 'the relay closed the stream without acknowledging the deposit')
  })
}

export interface DepositResult {
  id: string
  /** Absent when the relay durably stored the envelope (or already had it). */
  error?: MailboxError
}

/**
 * Deposits several envelopes over one stream, pipelined: much faster than one `deposit` per
 * envelope when flushing an outbox. Each result says whether that envelope was durably stored.
 *
 * @returns one result per request, in request order; never throws for a refused envelope.
 * @throws MailboxError `UNREACHABLE` / `TIMEOUT` only when the stream cannot be opened.
 */
export async function depositAll(
  libp2p: MailboxNode,
  relay: MailboxRelay,
  requests: readonly DepositRequest[],
  options: MailboxCallOptions = {},
): Promise<DepositResult[]> {
  const results: Array<DepositResult | undefined> = requests.map(() => undefined)
  const waiting = new Map<string, number[]>()
  const encoded: Uint8Array[] = []
  requests.forEach((r, i) => {
    try {
      encoded.push(client.encode({ t: 'put', to: r.to, id: r.id, env: r.envelope }))
      waiting.set(r.id, [...(waiting.get(r.id) ?? []), i])
    } catch (err) {
      results[i] = { id: r.id, error: err as MailboxError }
    }
  })
  const settle = (id: string, error?: MailboxError): void => {
    const queue = waiting.get(id)
    const index = queue?.shift()
    if (index === undefined) return
    if (queue?.length === 0) waiting.delete(id)
    results[index] = error === undefined ? { id } : { id, error }
  }
  const finish = (): DepositResult[] =>
    results.map(
      (r, i) => r ?? { id: requests[i]?.id ?? '', error: new MailboxError('NO_RESPONSE', 'no answer') },
    )
  if (encoded.length === 0) return finish()

  const signal = signalFor(options)
  const stream = await client.dial(libp2p, relay, signal)
  let failure: MailboxError | undefined
  try {
    await client.guard(stream, signal, async () => {
      const writing = (async () => {
        // Coalesced into large writes so the relay reads many puts at once and commits them together.
        for (const bytes of coalesce(encoded, 64 * 1024)) await send(stream, bytes, { signal })
      })()
      writing.catch(() => {})
      for await (const frames of client.readFrames(stream)) {
        for (const frame of frames) {
          if (frame.t === 'ok') settle(frame.id)
          else if (frame.t === 'err' && frame.id !== undefined) settle(frame.id, client.relayError(frame))
          else if (frame.t === 'err') throw client.relayError(frame)
          else throw new MailboxError('PROTOCOL', `unexpected ${frame.t} frame in answer to a deposit`)
          if (waiting.size === 0) return
        }
      }
      throw new MailboxError('NO_RESPONSE', 'the relay closed the stream before answering every deposit')
    })
  } catch (err) {
    failure = err as MailboxError
  }
  for (const id of [...waiting.keys()]) while (waiting.has(id)) settle(id, failure)
  return finish()
}

/**
 * Subscribes to this peer's mailbox on `relay`: every stored envelope is passed to `onEnvelope`
 * oldest first, then new ones as they arrive; the envelopes that arrive together are passed without
 * waiting for each other (in order: a handler that keeps order, as Paloma's inbox does, can batch them).
 * An envelope is acknowledged (and
 * deleted by the relay) only after `onEnvelope` resolves; if it throws, the envelope stays and is
 * delivered again on the next subscription.
 *
 * @param options.timeoutMs bounds opening the stream only.
 * @returns once the subscription request is sent.
 * @throws MailboxError `UNREACHABLE` or `TIMEOUT` when the stream cannot be opened.
 */
export async function openMailbox(
  libp2p: MailboxNode,
  relay: MailboxRelay,
  onEnvelope: (envelope: MailboxEnvelope) => void | Promise<void>,
  options: OpenMailboxOptions = {},
): Promise<MailboxSubscription> {
  const stream = await client.dial(libp2p, relay, signalFor(options))
  let resolveSynced = (): void => {}
  let rejectSynced = (_err: Error): void => {}
  const syncedPromise = new Promise<void>((resolve, reject) => {
    resolveSynced = resolve
    rejectSynced = reject
  })
  syncedPromise.catch(() => {})
  let closing = false
  const userAbort = (): void => stream.abort(new MailboxError('TIMEOUT', 'subscription aborted'))
  options.signal?.addEventListener('abort', userAbort, { once: true })

  // Acks are coalesced for a few milliseconds: the relay commits each ack frame with an fsync.
  // Failed envelopes are nacked so that they stop occupying the relay's unacked window.
  let pendingAcks: number[] = []
  let pendingNacks: number[] = []
  let ackTimer: ReturnType<typeof setTimeout> | undefined
  const flushAcks = (): void => {
    clearTimeout(ackTimer)
    ackTimer = undefined
    if (stream.writeStatus !== 'writable') return
    const acks = pendingAcks
    const nacks = pendingNacks
    pendingAcks = []
    pendingNacks = []
    try {
      for (let i = 0; i < acks.length; i += MAX_ACK_SEQS) {
        stream.send(encodeFrame({ t: 'ack', seqs: acks.slice(i, i + MAX_ACK_SEQS) }))
      }
      for (let i = 0; i < nacks.length; i += MAX_ACK_SEQS) {
        stream.send(encodeFrame({ t: 'nack', seqs: nacks.slice(i, i + MAX_ACK_SEQS) }))
      }
    } catch {
      // The stream is gone: these envelopes stay on the relay and come back next time.
    }
  }

  const run = async (): Promise<Error | undefined> => {
    await send(stream, encodeFrame({ t: 'sub' }))
    for await (const frames of client.readFrames(stream)) {
      const acks: number[] = []
      const nacks: number[] = []
      // The envelopes of one chunk are handed over in order without waiting for each other, so a
      // handler may take them together (Paloma's inbox commits a burst in one transaction).
      const handling: Array<Promise<void>> = []
      for (const frame of frames) {
        if (frame.t === 'env') {
          const envelope: MailboxEnvelope = {
            seq: frame.seq,
            from: frame.from,
            id: frame.id,
            envelope: frame.env,
            storedAt: frame.ts,
          }
          handling.push(
            Promise.resolve()
              .then(() => onEnvelope(envelope))
              .then(
                () => void acks.push(frame.seq),
                (err: unknown) => {
                  nacks.push(frame.seq)
                  options.onError?.(err, envelope)
                },
              ),
          )
        } else if (frame.t === 'synced') {
          await Promise.all(handling) // synced: everything stored before it was handled
          resolveSynced()
        } else if (frame.t === 'err') {
          throw client.relayError(frame)
        } else {
          throw new MailboxError('PROTOCOL', `unexpected ${frame.t} frame on a subscription`)
        }
      }
      await Promise.all(handling)
      pendingAcks.push(...acks)
      pendingNacks.push(...nacks)
      const pending = pendingAcks.length + pendingNacks.length
      if (pending >= MAX_ACK_SEQS) flushAcks()
      else if (pending > 0 && ackTimer === undefined) ackTimer = setTimeout(flushAcks, ACK_DELAY_MS)
    }
    return closing ? undefined : new MailboxError('NO_RESPONSE', 'the relay ended the subscription')
  }

  const closed = run()
    .catch((err: unknown) => {
      if (closing) return undefined
      const error = err instanceof Error ? err : new Error(String(err))
      stream.abort(error)
      return error
    })
    .then((result) => {
      clearTimeout(ackTimer)
      options.signal?.removeEventListener('abort', userAbort)
      rejectSynced(
        result ?? new MailboxError('NO_RESPONSE', 'subscription closed before the mailbox was synced'),
      )
      return result
    })

  return {
    synced: syncedPromise,
    closed,
    async close(): Promise<void> {
      if (closing) {
        await closed
        return
      }
      closing = true
      flushAcks()
      try {
        // Half-close: the relay sees the end of our writes, stops pushing and closes its side.
        await stream.close({ signal: AbortSignal.timeout(5_000) })
      } catch {
        stream.abort(new Error('mailbox subscription closed'))
      }
      const timer = setTimeout(() => stream.abort(new Error('mailbox subscription closed')), 5_000)
      await closed
      clearTimeout(timer)
    },
  }
}
