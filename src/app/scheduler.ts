/**
 * Timers owned by one unlocked session: every delay, repeat and sleep the app's components use goes
 * through a {@link Scheduler}, so that locking stops them all at once and no loop of an ended session
 * survives into the next. Built on the global timers, which tests replace with fake timers.
 */

export interface Scheduler {
  /** Runs `fn` once after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void
  /** Runs `fn` every `ms` (first after `ms`) until cancelled or stopped. */
  every(ms: number, fn: () => void): () => void
  /** Resolves after `ms` with true, or early with false when the scheduler stops. */
  sleep(ms: number): Promise<boolean>
  /** False once stopped: loops check it between steps. */
  readonly running: boolean
  /** Cancels every timer and wakes every sleeper. */
  stop(): void
}

export function createScheduler(): Scheduler {
  const timers = new Set<ReturnType<typeof setTimeout>>()
  const sleepers = new Set<() => void>()
  let running = true
  const after = (ms: number, fn: () => void): (() => void) => {
    if (!running) return () => {}
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
    return () => {
      clearTimeout(t)
      timers.delete(t)
    }
  }
  return {
    after,
    every(ms, fn) {
      let cancel = () => {}
      const tick = () => {
        cancel = after(ms, tick)
        fn()
      }
      cancel = after(ms, tick)
      return () => cancel()
    },
    sleep(ms) {
      if (!running) return Promise.resolve(false)
      return new Promise((resolve) => {
        const wake = (ok: boolean) => {
          cancel()
          sleepers.delete(early)
          resolve(ok)
        }
        const early = () => wake(false)
        const cancel = after(ms, () => wake(true))
        sleepers.add(early)
      })
    },
    get running() {
      return running
    },
    stop() {
      running = false
      for (const t of timers) clearTimeout(t)
      timers.clear()
      for (const wake of [...sleepers]) wake()
    },
  }
}
