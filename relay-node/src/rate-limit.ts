/**
 * Token buckets keyed by PeerId (the mailbox's senders, the prekey service's takers and owners): each
 * request takes one token; tokens refill continuously. Time is passed in, so tests drive it with an
 * injected clock.
 */

export interface RateLimit {
  /** Most requests accepted in a burst (bucket capacity). */
  burst: number
  /** Sustained requests per second (refill rate). */
  perSecond: number
}

interface Bucket {
  tokens: number
  at: number
}

export class TokenBuckets {
  readonly #limit: RateLimit
  readonly #buckets = new Map<string, Bucket>()

  constructor(limit: RateLimit) {
    this.#limit = limit
  }

  #level(bucket: Bucket, now: number): number {
    const elapsed = Math.max(0, now - bucket.at)
    return Math.min(this.#limit.burst, bucket.tokens + (elapsed / 1000) * this.#limit.perSecond)
  }

  /** Takes one token for `key` at time `now`; false when the bucket is empty. */
  take(key: string, now: number): boolean {
    const bucket = this.#buckets.get(key) ?? { tokens: this.#limit.burst, at: now }
    const tokens = this.#level(bucket, now)
    if (tokens < 1) {
      this.#buckets.set(key, { tokens, at: now })
      return false
    }
    this.#buckets.set(key, { tokens: tokens - 1, at: now })
    return true
  }

  /** Forgets buckets that have refilled completely, so idle peers cost no memory. */
  prune(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (this.#level(bucket, now) >= this.#limit.burst) this.#buckets.delete(key)
    }
  }

  get size(): number {
    return this.#buckets.size
  }
}
