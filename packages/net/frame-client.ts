/**
 * What the clients of Paloma's relay frame protocols (mailbox, one-time prekeys) share: resolving a relay
 * given as an object or a string, the call timeout, dialing the protocol, reading length-prefixed frames,
 * turning every failure into the protocol's client error (`UNREACHABLE`, `TIMEOUT`, `NO_RESPONSE`,
 * `PROTOCOL`, or the relay's own code), and the one-answer-per-request exchange.
 *
 * Knows libp2p streams and the shared frame codec; knows nothing about what the frames mean.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { relayAddress } from './addresses.ts'
import { PalomaError } from '@paloma/core/errors.ts'
import { FrameError } from '@paloma/core/protocol/frames.ts'
import type { AbortOptions, DialProtocolOptions, DialTarget, Stream } from '@libp2p/interface'

/** The client's own error codes: the relay could not be reached, went silent, or misbehaved. */
export const FRAME_CLIENT_ERROR_CODES = [
  /** No stream to the relay could be opened. Retryable. */
  'UNREACHABLE',
  /** The relay closed the stream, or it failed, before answering. Retryable. */
  'NO_RESPONSE',
  /** No answer in time (or the caller aborted). Retryable. */
  'TIMEOUT',
  /** The relay sent something the protocol does not allow. */
  'PROTOCOL',
] as const
export type FrameClientErrorCode = (typeof FRAME_CLIENT_ERROR_CODES)[number]

/** The client codes after which trying again later (or on another relay) can succeed. */
const RETRYABLE_CLIENT_CODES: ReadonlySet<string> = new Set(['UNREACHABLE', 'NO_RESPONSE', 'TIMEOUT'])

/** An operation that failed; `code` is the relay's error code or one of the client's. */
export class FrameClientError<C extends string> extends PalomaError<C> {
  override name = 'FrameClientError'
  /** The relay codes after which trying again later (or on another relay) can succeed. */
  protected readonly retryableCodes: ReadonlySet<string> = new Set()
  constructor(code: C, message: string, options?: ErrorOptions) {
    super(code, `${code}: ${message}`, options)
  }

  /** Whether trying again later (or on another relay) can succeed. */
  get retryable(): boolean {
    return RETRYABLE_CLIENT_CODES.has(this.code) || this.retryableCodes.has(this.code)
  }
}

/** The part of a libp2p node the clients use. */
export interface FrameNode {
  dialProtocol(peer: DialTarget, protocols: string | string[], options?: DialProtocolOptions): Promise<Stream>
}

/** A relay: its PeerId or multiaddr, as objects or strings (a string starting with '/' is a multiaddr). */
export type FrameRelay = DialTarget | string

export interface FrameCallOptions extends AbortOptions {
  /**
   * Gives up after this many milliseconds (dial included) with a `TIMEOUT` error.
   *
   * @default 15000
   */
  timeoutMs?: number
}

export function toTarget(relay: FrameRelay): DialTarget {
  if (typeof relay !== 'string') return relay
  return relay.startsWith('/') ? relayAddress(relay) : peerIdFromString(relay)
}

/** The caller's signal, if any, bounded by `timeoutMs`. */
export function signalFor(options: FrameCallOptions): AbortSignal {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 15_000)
  return options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
}

/** Writes `bytes`, waiting for the stream to drain when its buffer is full. */
export async function send(stream: Stream, bytes: Uint8Array, options?: AbortOptions): Promise<void> {
  if (!stream.send(bytes)) await stream.onDrain(options)
}

export interface FrameClientInit<F extends { t: string }, C extends string, E extends Error> {
  protocol: string
  /** Names the stream in error messages: `mailbox`, `prekey`. */
  name: string
  encodeFrame(frame: F): Uint8Array
  newReader(): { push(chunk: Uint8Array): F[] }
  /** The protocol's client error class. */
  error: new (
    code: C | FrameClientErrorCode | 'TOO_LARGE' | 'BAD_FRAME',
    message: string,
    options?: ErrorOptions,
  ) => E
}

/** The client side of one frame protocol. */
export class FrameClient<F extends { t: string }, C extends string, E extends Error> {
  readonly #init: FrameClientInit<F, C, E>

  constructor(init: FrameClientInit<F, C, E>) {
    this.#init = init
  }

  #error(
    code: C | FrameClientErrorCode | 'TOO_LARGE' | 'BAD_FRAME',
    message: string,
    options?: ErrorOptions,
  ): E {
    return new this.#init.error(code, message, options)
  }

  /** Encodes a frame. @throws the client error `TOO_LARGE` or `BAD_FRAME` for a frame the codec refuses. */
  encode(frame: F): Uint8Array {
    try {
      return this.#init.encodeFrame(frame)
    } catch (err) {
      if (err instanceof FrameError) {
        throw this.#error(err.code === 'FRAME_TOO_LARGE' ? 'TOO_LARGE' : 'BAD_FRAME', err.message, {
          cause: err,
        })
      }
      throw err
    }
  }

  /** Opens a stream of the protocol to `relay`. @throws `TIMEOUT` once `signal` aborts, else `UNREACHABLE`. */
  async dial(libp2p: FrameNode, relay: FrameRelay, signal: AbortSignal): Promise<Stream> {
    try {
      return await libp2p.dialProtocol(toTarget(relay), this.#init.protocol, {
        signal,
        runOnLimitedConnection: true,
      })
    } catch (err) {
      if (signal.aborted) throw this.#error('TIMEOUT', 'no connection to the relay in time', { cause: err })
      throw this.#error('UNREACHABLE', `cannot open a ${this.#init.name} stream: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }

  /** The frames the relay sends, as each chunk completes some. @throws `PROTOCOL` on an invalid frame. */
  async *readFrames(stream: Stream): AsyncGenerator<F[]> {
    const reader = this.#init.newReader()
    for await (const chunk of stream) {
      let frames: F[]
      try {
        frames = reader.push(chunk.subarray())
      } catch (err) {
        throw this.#error('PROTOCOL', `relay sent an invalid frame: ${(err as Error).message}`, {
          cause: err,
        })
      }
      if (frames.length > 0) yield frames
    }
  }

  /** The client error for an `err` frame of the relay. */
  relayError(frame: { code: C; msg: string }): E {
    return this.#error(frame.code, frame.msg)
  }

  /**
   * Runs `body` on an open stream: aborts the stream with `TIMEOUT` when `signal` fires, closes it when
   * `body` resolves, and aborts it with the client error `body` failed with (`TIMEOUT` once the signal
   * fired, `NO_RESPONSE` for other stream errors), which is rethrown.
   */
  async guard<T>(stream: Stream, signal: AbortSignal, body: () => Promise<T>): Promise<T> {
    const onAbort = (): void => stream.abort(this.#error('TIMEOUT', 'the relay did not answer in time'))
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      const result = await body()
      stream.close({ signal }).catch(() => stream.abort(new Error('close failed')))
      return result
    } catch (err) {
      const error =
        err instanceof this.#init.error
          ? err
          : signal.aborted
            ? this.#error('TIMEOUT', 'the relay did not answer in time', { cause: err })
            : this.#error('NO_RESPONSE', `the ${this.#init.name} stream failed: ${(err as Error).message}`, {
                cause: err,
              })
      stream.abort(error)
      throw error
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  /**
   * Opens a stream to `relay`, sends `frames` one at a time (a request refused halfway leaves the rest
   * unsent) and returns one answer per frame, in order.
   * @throws the client error of a relay `err` frame (its code), or UNREACHABLE / TIMEOUT / NO_RESPONSE /
   *   PROTOCOL.
   */
  async exchange(
    libp2p: FrameNode,
    relay: FrameRelay,
    frames: readonly Uint8Array[],
    options: FrameCallOptions,
  ): Promise<F[]> {
    const signal = signalFor(options)
    const stream = await this.dial(libp2p, relay, signal)
    return this.guard(stream, signal, async () => {
      const answers: F[] = []
      const incoming = this.readFrames(stream)
      for (const bytes of frames) {
        await send(stream, bytes, { signal })
        const next = await incoming.next()
        if (next.done === true)
          throw this.#error('NO_RESPONSE', 'the relay closed the stream without answering')
        if (next.value.length > 1) throw this.#error('PROTOCOL', 'relay sent more answers than requests')
        const answer = next.value[0] as F
        if (answer.t === 'err') throw this.relayError(answer as unknown as { code: C; msg: string })
        answers.push(answer)
      }
      return answers
    })
  }
}
