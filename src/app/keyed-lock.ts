/**
 * Runs tasks one at a time per key, in call order: the ratchet state of one contact is read and written
 * by one task at a time, while different contacts proceed in parallel. A failed task does not block the
 * ones queued after it.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    const run = previous.then(fn, fn)
    const tail = run.catch(() => undefined)
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return run
  }

  /** Keys with a task running or queued. */
  get size(): number {
    return this.#tails.size
  }
}
