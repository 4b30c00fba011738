/**
 * The mailbox's write path: group commit across streams.
 *
 * Every write (a stream's run of deposits, a subscriber's acknowledgements, the expiry sweep) is queued; the
 * queue goes to the database as one transaction, so one fsync covers every deposit and acknowledgement that
 * arrived meanwhile, from any number of streams. A batch leaves as soon as the previous commit is done; an
 * idle writer starts one at once (writer thread: batches form while a commit is in flight) or at the end of
 * the event loop's I/O phase (commits on the event loop: the frames of every connection read in that turn
 * join it). No fixed delay: a write waits at most for the commit in progress. Each write's promise
 * settles only after its batch has committed (or failed, all or nothing), so a deposit is still answered `ok`
 * only once stored.
 *
 * With a database file the batches run in a worker thread ({@link threadExecutor}, `writer-thread.ts`) with
 * its own connection, so neither the fsync nor SQLite's WAL checkpoints block the relay's event loop; reads
 * (pushing envelopes to subscribers, stats) stay on the main thread's connection, which sees every commit
 * before its promise settles. An in-memory database (tests) cannot be shared between connections: its
 * batches run inline ({@link inlineExecutor}).
 */
import { Worker } from 'node:worker_threads'
import type { MailboxStore, WriteOp, WriteResult } from './store.ts'

/** Runs one batch in one transaction. Rejects (nothing written) when any of it fails. */
export interface BatchExecutor {
  run(ops: WriteOp[]): Promise<WriteResult[]>
  close(): Promise<void>
}

export interface GroupCommitStats {
  /** Transactions committed (or failed). */
  batches: number
  /** Operations they carried. */
  ops: number
  /** Operations waiting for the next batch. */
  queued: number
}

interface Queued {
  op: WriteOp
  resolve(result: WriteResult): void
  reject(err: unknown): void
}

/** Queues writes and commits them in batches, one at a time. */
export class GroupCommit {
  readonly #executor: BatchExecutor
  readonly #maxOps: number
  #queue: Queued[] = []
  #running = false
  #scheduled = false
  #closed = false
  #batches = 0
  #ops = 0
  #idle: Array<() => void> = []

  readonly #when: 'turn' | 'now'

  /**
   * @param maxOps most operations in one transaction (a stream's run of puts counts as one).
   * @param when when an idle writer starts a batch: `turn`, at the end of the event loop's I/O phase
   *   (`setImmediate`: the frames every connection delivered in this turn join it; for commits that run on
   *   the event loop, which cannot overlap the next batch's gathering); `now`, in a microtask (for commits
   *   that run elsewhere: batches form while one is in flight). With `maxOps` 1 and `now`, one transaction
   *   per request: the behaviour before group commit.
   */
  constructor(executor: BatchExecutor, maxOps = 1024, when: 'turn' | 'now' = 'turn') {
    this.#executor = executor
    this.#maxOps = maxOps
    this.#when = when
  }

  /** Resolves with the operation's result once its batch has committed. */
  submit(op: WriteOp): Promise<WriteResult> {
    if (this.#closed) return Promise.reject(new Error('mailbox writer is closed'))
    return new Promise<WriteResult>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject })
      this.#kick()
    })
  }

  stats(): GroupCommitStats {
    return { batches: this.#batches, ops: this.#ops, queued: this.#queue.length }
  }

  /** Commits what is queued, then closes the executor; later submits reject. */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#running || this.#queue.length > 0) {
      await new Promise<void>((resolve) => {
        this.#idle.push(resolve)
        this.#kick()
      })
    }
    await this.#executor.close()
  }

  #kick(): void {
    if (this.#running || this.#scheduled) return
    if (this.#queue.length === 0) {
      for (const resolve of this.#idle.splice(0)) resolve()
      return
    }
    this.#scheduled = true
    const run = (): void => {
      this.#scheduled = false
      void this.#flush()
    }
    if (this.#when === 'now') queueMicrotask(run)
    else setImmediate(run)
  }

  async #flush(): Promise<void> {
    if (this.#running || this.#queue.length === 0) return this.#kick()
    this.#running = true
    const batch = this.#queue.splice(0, this.#maxOps)
    this.#batches++
    this.#ops += batch.length
    try {
      const results = await this.#executor.run(batch.map((q) => q.op))
      batch.forEach((q, i) => q.resolve(results[i] as WriteResult))
    } catch (err) {
      for (const q of batch) q.reject(err)
    } finally {
      this.#running = false
      this.#kick()
    }
  }
}

/** Runs batches on `store` itself, synchronously (an in-memory database). */
export function inlineExecutor(store: MailboxStore): BatchExecutor {
  return {
    run: async (ops) => store.applyBatch(ops),
    close: async () => {},
  }
}

/** An error as it crosses the thread boundary: SQLite's codes (`errcode`, `errstr`) or the system's (`code`). */
export interface ErrorShape {
  name: string
  message: string
  code?: string
  errcode?: number
  errstr?: string
}

export function errorShape(err: unknown): ErrorShape {
  const e = err as Partial<ErrorShape> & Error
  const shape: ErrorShape = { name: e?.name ?? 'Error', message: e?.message ?? String(err) }
  if (typeof e?.code === 'string') shape.code = e.code
  if (typeof e?.errcode === 'number') shape.errcode = e.errcode
  if (typeof e?.errstr === 'string') shape.errstr = e.errstr
  return shape
}

function errorFrom(shape: ErrorShape): Error {
  return Object.assign(new Error(shape.message), shape)
}

/** Messages between the relay and its writer thread. */
export type ToWriter = { id: number; ops: WriteOp[] } | { id: number; close: true }
export type FromWriter =
  | { id: number; results: WriteResult[] }
  | { id: number; error: ErrorShape }
  | { id: 0; ready: true }
  | { id: 0; fatal: ErrorShape }

/**
 * Runs batches in a worker thread on its own connection to `path`. The thread is started now and again after
 * it dies (a batch in flight then fails, and is answered `INTERNAL`).
 */
export function threadExecutor(path: string): BatchExecutor {
  let worker: Worker | undefined
  let nextId = 1
  const pending = new Map<number, { resolve(r: WriteResult[]): void; reject(e: Error): void }>()
  let closing = false
  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }
  const spawn = (): Worker => {
    const w = new Worker(new URL('./writer-thread.ts', import.meta.url), { workerData: { path } })
    w.on('message', (m: FromWriter) => {
      if ('ready' in m) return
      if ('fatal' in m) {
        failAll(errorFrom(m.fatal))
        return
      }
      const p = pending.get(m.id)
      if (p === undefined) return
      pending.delete(m.id)
      if ('error' in m) p.reject(errorFrom(m.error))
      else p.resolve(m.results)
    })
    w.on('error', (err) => failAll(err))
    w.on('exit', () => {
      if (worker === w) worker = undefined
      failAll(new Error('mailbox writer thread exited'))
    })
    return w
  }
  worker = spawn()
  return {
    run(ops) {
      if (closing) return Promise.reject(new Error('mailbox writer is closed'))
      worker ??= spawn()
      const id = nextId++
      return new Promise<WriteResult[]>((resolve, reject) => {
        pending.set(id, { resolve, reject })
        ;(worker as Worker).postMessage({ id, ops } satisfies ToWriter)
      })
    },
    async close() {
      closing = true
      const w = worker
      if (w === undefined) return
      await new Promise<void>((resolve) => {
        w.once('exit', () => resolve())
        w.postMessage({ id: nextId++, close: true } satisfies ToWriter)
        setTimeout(() => void w.terminate(), 5000).unref()
      })
    },
  }
}
