/**
 * What the relay's frame-protocol services (mailbox, one-time prekeys) share: the libp2p `Startable`
 * life cycle (open the store, sweep now and on a timer, register the protocol handler; the reverse on
 * stop) and the per-stream loop (read length-prefixed frames, an idle timeout, an `err` frame for a frame
 * that cannot be read or arrives while stopping, close or abort the stream at the end).
 *
 * A graceful stop is {@link FrameStreamService.drain} (refuse new frames, tell long-lived streams to move
 * on, wait for the frames being handled) followed by `stop()`.
 *
 * A service extends {@link FrameStreamService} and supplies its store, its sweep and what one stream does
 * with the frames it reads ({@link FrameStreamService.openStream}). Identity comes only from
 * `connection.remotePeer` (Noise-authenticated), handed to the service with the stream.
 */
import { FrameError } from '@paloma/core/protocol/frames.ts'
import type {
  AbortOptions,
  ComponentLogger,
  Connection,
  Logger,
  Metrics,
  PeerId,
  Startable,
  Stream,
  StreamHandler,
  StreamHandlerOptions,
} from '@libp2p/interface'

/**
 * What a service needs from the libp2p node: a registrar for the protocol handler, a logger and, when the
 * node has one, the metrics component its counters are registered with.
 */
export interface StreamServiceComponents {
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  logger: ComponentLogger
  metrics?: Metrics
}

/** Options every frame-protocol service takes. */
export interface StreamServiceInit {
  /**
   * SQLite database file. `':memory:'` keeps everything in memory (tests only: nothing survives a
   * restart, and the service logs a warning).
   *
   * @default ':memory:'
   */
  path?: string
  /** How often the service sweeps (also done once on start), in milliseconds. */
  sweepIntervalMs?: number
  /**
   * Most concurrent inbound streams of this protocol per connection.
   *
   * @default 32
   */
  maxInboundStreams?: number
  /**
   * How long a stream may stay open without completing a frame, in milliseconds.
   *
   * @default 30000
   */
  idleTimeoutMs?: number
  /**
   * Clock, in milliseconds since the epoch. Injected by tests.
   *
   * @default Date.now
   */
  now?: () => number
}

/** A store the service opens on start and closes on stop. */
export interface ClosableStore {
  close(): void
}

/** The frames every protocol's `err` frame can carry for failures the scaffold answers itself. */
export interface ScaffoldErrFrame {
  t: 'err'
  code: 'BAD_FRAME' | 'TOO_LARGE' | 'UNSUPPORTED_VERSION' | 'INTERNAL'
  msg: string
}

/** What a service tells the scaffold about its protocol; the log lines name the service as here. */
export interface StreamServiceConfig<F extends { t: string }> {
  protocol: string
  /** Logger component, e.g. `paloma:mailbox`. */
  component: string
  /** Default of `sweepIntervalMs`. */
  sweepIntervalMs: number
  /** Frame codec of the protocol. */
  encodeFrame(frame: F | ScaffoldErrFrame): Uint8Array
  newReader(): { push(chunk: Uint8Array): F[] }
  /** Exact texts of the log lines and errors. */
  text: {
    /** `store` used while stopped, e.g. `mailbox service is not started`. */
    notStarted: string
    /** Logged on start with an in-memory database. */
    inMemory: string
    /** Logged on start, `%s` is the path. */
    started: string
    /** Logged when a timed sweep throws, `%e` is the error. */
    sweepFailed: string
    /** Names a stream in the idle abort and the error log line, e.g. `mailbox stream`. */
    stream: string
  }
}

/** One inbound stream, as the service sees it. */
export interface StreamContext {
  stream: Stream
  connection: Connection
  /** The Noise-authenticated remote peer. */
  peer: PeerId
  /** Exempts the stream from the idle timeout from now on (a long-lived subscription). */
  keepAlive(): void
}

/** What a service does with the frames of one stream. */
export interface StreamSession<F> {
  /**
   * Handles one frame. May take the frames read after it in the same chunk from `next` to handle them
   * together. Resolves false to stop reading (the stream is then closed).
   */
  onFrame(frame: F, next: F[]): Promise<boolean>
  /** Called when the stream ends, however it ends (may be called more than once). */
  onEnd?(): void
}

const SHUTTING_DOWN = 'relay is shutting down; retry later or on another relay'

export abstract class FrameStreamService<
  F extends { t: string },
  S extends ClosableStore,
> implements Startable {
  readonly protocol: string
  readonly log: Logger
  readonly now: () => number
  readonly #components: StreamServiceComponents
  readonly #config: StreamServiceConfig<F>
  readonly #path: string
  readonly #sweepIntervalMs: number
  readonly #maxInboundStreams: number
  readonly #idleTimeoutMs: number
  #store: S | undefined
  #sweepTimer: ReturnType<typeof setInterval> | undefined
  #started = false
  #draining = false
  /** Frames being handled right now (a commit and its answer); `drain` waits for them. */
  #active = 0
  #idle: Array<() => void> = []

  constructor(components: StreamServiceComponents, init: StreamServiceInit, config: StreamServiceConfig<F>) {
    this.#components = components
    this.#config = config
    this.protocol = config.protocol
    this.log = components.logger.forComponent(config.component)
    this.#path = init.path ?? ':memory:'
    this.#sweepIntervalMs = init.sweepIntervalMs ?? config.sweepIntervalMs
    this.#maxInboundStreams = init.maxInboundStreams ?? 32
    this.#idleTimeoutMs = init.idleTimeoutMs ?? 30_000
    this.now = init.now ?? Date.now
    this.handle = this.handle.bind(this)
  }

  /** Opens the service's store at `path` (on start). */
  protected abstract openStore(path: string): S
  /** The periodic maintenance (also run once on start); returns what was dropped. */
  abstract sweep(): number | Promise<number>
  /** What the service does with the frames of a new inbound stream. */
  protected abstract openStream(context: StreamContext): StreamSession<F>
  /** Called on start, after the store is open and before the first sweep. */
  protected onStart(): Promise<void> | void {}
  /** Called on stop, after the handler is unregistered and before the store closes. */
  protected onStop(): Promise<void> | void {}
  /**
   * Called when draining starts: tell long-lived streams (subscriptions) to move on, and resolve once
   * they have; `signal` fires when the drain's time is up.
   */
  protected onDrain(_signal: AbortSignal): Promise<void> | void {}
  /**
   * Counts a request refused by the scaffold itself: a frame that does not decode (`BAD_FRAME`,
   * `TOO_LARGE`, `UNSUPPORTED_VERSION`) or one that arrives while stopping (`SHUTTING_DOWN`, sent as
   * `INTERNAL`).
   */
  protected countRefused(_reason: string): void {}

  get store(): S {
    if (this.#store === undefined) throw new Error(this.#config.text.notStarted)
    return this.#store
  }

  isStarted(): boolean {
    return this.#started
  }

  async start(): Promise<void> {
    if (this.#started) return
    if (this.#path === ':memory:') this.log(this.#config.text.inMemory)
    this.#store = this.openStore(this.#path)
    await this.onStart()
    await this.sweep()
    this.#sweepTimer = setInterval(() => {
      Promise.resolve()
        .then(() => this.sweep())
        .catch((err: unknown) => this.log.error(this.#config.text.sweepFailed, err))
    }, this.#sweepIntervalMs)
    this.#sweepTimer.unref?.()
    await this.#components.registrar.handle(this.protocol, this.handle, {
      runOnLimitedConnection: true,
      maxInboundStreams: this.#maxInboundStreams,
    })
    this.#started = true
    this.log(this.#config.text.started, this.#path)
  }

  /** True from {@link drain} until the service stops: new frames are refused. */
  get draining(): boolean {
    return this.#draining
  }

  /**
   * The first half of a graceful stop: from now on every new frame is answered `INTERNAL` ("shutting
   * down", retryable) and the stream closed; long-lived streams are told to move on ({@link onDrain});
   * resolves once the frames being handled (commits and their answers) are done and the long-lived
   * streams have ended, or after `timeoutMs`. The store stays open until {@link stop}.
   */
  async drain(timeoutMs = 5000): Promise<void> {
    if (!this.#started) return
    this.#draining = true
    await Promise.all([this.onDrain(AbortSignal.timeout(timeoutMs)), this.#settled(timeoutMs)])
  }

  /** Resolves once no frame is being handled, or after `timeoutMs` (logged). */
  async #settled(timeoutMs: number): Promise<void> {
    if (this.#active === 0) return
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      new Promise<void>((resolve) => this.#idle.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ])
    clearTimeout(timer)
    if (this.#active > 0)
      this.log.error('%d requests still running after %d ms of draining', this.#active, timeoutMs)
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.#draining = false
    await this.#components.registrar.unhandle(this.protocol)
    clearInterval(this.#sweepTimer)
    await this.onStop()
    this.#store?.close()
    this.#store = undefined
  }

  /** Writes one frame, waiting for the stream to drain when its buffer is full. */
  async sendFrame(stream: Stream, frame: F | ScaffoldErrFrame): Promise<void> {
    if (!stream.send(this.#config.encodeFrame(frame))) await stream.onDrain()
  }

  /** The stream handler registered for the protocol. */
  async handle(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    const reader = this.#config.newReader()
    let idleTimer: ReturnType<typeof setTimeout> | undefined
    let exempt = false
    const armIdle = (): void => {
      clearTimeout(idleTimer)
      if (exempt) return
      idleTimer = setTimeout(
        () => stream.abort(new Error(`${this.#config.text.stream} idle`)),
        this.#idleTimeoutMs,
      )
    }
    const keepAlive = (): void => {
      exempt = true
      clearTimeout(idleTimer)
    }
    const session = this.openStream({ stream, connection, peer, keepAlive })
    armIdle()
    try {
      read: for await (const chunk of stream) {
        let frames: F[]
        try {
          frames = reader.push(chunk.subarray())
        } catch (err) {
          await this.#refuse(stream, err)
          break
        }
        if (frames.length > 0) armIdle()
        for (let frame = frames.shift(); frame !== undefined; frame = frames.shift()) {
          if (!this.#started || this.#draining) {
            this.countRefused('SHUTTING_DOWN')
            await this.sendFrame(stream, { t: 'err', code: 'INTERNAL', msg: SHUTTING_DOWN })
            break read
          }
          this.#active++
          let more: boolean
          try {
            more = await session.onFrame(frame, frames)
          } finally {
            if (--this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve()
          }
          if (!more) break read
        }
      }
      session.onEnd?.()
      await stream.close()
    } catch (err) {
      this.log('%s from %s ended with an error - %e', this.#config.text.stream, peer.toString(), err)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      clearTimeout(idleTimer)
      session.onEnd?.()
    }
  }

  /** Answers a chunk that did not decode with the `err` frame of its reason. */
  async #refuse(stream: Stream, err: unknown): Promise<void> {
    if (!(err instanceof FrameError)) throw err
    const code =
      err.code === 'FRAME_TOO_LARGE'
        ? 'TOO_LARGE'
        : err.code === 'UNSUPPORTED_VERSION'
          ? 'UNSUPPORTED_VERSION'
          : 'BAD_FRAME'
    this.countRefused(code)
    await this.sendFrame(stream, { t: 'err', code, msg: err.message.slice(0, 500) })
  }
}
