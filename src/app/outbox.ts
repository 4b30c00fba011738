/**
 * The outbox: every envelope that must reach a contact (messages, receipts, session resets) is written
 * here before any network step, and stays until a route acknowledged it.
 *
 * An entry is encrypted once (the ratchet step and the entry in one transaction) and its envelope sent
 * again unchanged on every retry, so a contact never sees two envelopes for one message unless a session
 * reset made a new one. Entries to one contact go in order (a failed one holds back the later ones, so a
 * conversation keeps the sender's order); contacts proceed in parallel. A pass that leaves anything
 * undelivered schedules the next with exponential backoff.
 */
import { NoSessionError } from '@paloma/core/crypto/index.ts'
import { newMessageId, type ChatMessage } from '@paloma/core/messages.ts'
import type { Conversations } from './conversations.ts'
import type { Delivery } from './delivery.ts'
import { entry, type AppRecords, type OutboxEntry, type RecordEntry } from './records.ts'
import type { Scheduler } from './scheduler.ts'
import type { Sessions } from './sessions.ts'

export interface OutboxStats {
  /** Entries waiting, per contact. */
  pending: Map<string, number>
  /** When the next retry pass runs (ms since the epoch), if one is scheduled. */
  nextRetry?: number
}

export interface Outbox {
  /**
   * Queues `payload` for `peer` durably, with `shown` (a new message, whose id the entry takes) in the
   * same write. With a session, the envelope is made now, in the same transaction as its ratchet step.
   * `id`: the entry's id when it is not a new message (a message sent again after a reset).
   */
  enqueue(peer: string, payload: Uint8Array, options?: { shown?: ChatMessage; id?: string }): Promise<void>
  /** Works through the outbox now (a pass already running takes new entries in another round). */
  flush(): Promise<void>
  /** Forgets the envelopes made for `peer` (their session was reset): they are encrypted again. */
  reencrypt(peer: string): void
  has(id: string): boolean
  /** Resolves once no pass is running (the next retry may still be scheduled). */
  settled(): Promise<void>
  /** Retries soon again, as after a first failure (the network came back). */
  resetBackoff(): void
  stats(): OutboxStats
}

export interface OutboxInit {
  /** First retry delay, doubled after every failed pass. @default 1000 */
  retryMinMs?: number
  /** Longest retry delay. @default 60000 */
  retryMaxMs?: number
  /** Contacts whose entries are worked on at once (each may open streams to relays). @default 4 */
  concurrency?: number
}

export interface OutboxComponents {
  records: AppRecords
  sessions: Sessions
  delivery: Delivery
  conversations: Pick<Conversations, 'setStatus' | 'setProblem' | 'shown'>
  scheduler: Scheduler
  now(): number
  rng(n: number): Uint8Array
  entries: readonly OutboxEntry[]
}

export function outbox(init: OutboxInit = {}) {
  return (components: OutboxComponents): Outbox => new OutboxQueue(components, init)
}

class OutboxQueue implements Outbox {
  readonly #c: OutboxComponents
  readonly #minMs: number
  readonly #maxMs: number
  readonly #concurrency: number
  readonly #entries = new Map<string, OutboxEntry>()
  #delay: number
  #flushing: Promise<void> | undefined
  #again = false
  #cancelRetry: (() => void) | undefined
  #nextRetry: number | undefined

  constructor(components: OutboxComponents, init: OutboxInit) {
    this.#c = components
    this.#minMs = init.retryMinMs ?? 1000
    this.#maxMs = init.retryMaxMs ?? 60_000
    this.#concurrency = init.concurrency ?? 4
    this.#delay = this.#minMs
    for (const e of components.entries) this.#entries.set(e.id, e)
  }

  has(id: string): boolean {
    return this.#entries.has(id)
  }

  async settled(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing
  }

  stats(): OutboxStats {
    const pending = new Map<string, number>()
    for (const e of this.#entries.values()) pending.set(e.to, (pending.get(e.to) ?? 0) + 1)
    return this.#nextRetry === undefined ? { pending } : { pending, nextRetry: this.#nextRetry }
  }

  resetBackoff(): void {
    this.#delay = this.#minMs
  }

  async enqueue(
    peer: string,
    payload: Uint8Array,
    { shown, id }: { shown?: ChatMessage; id?: string } = {},
  ): Promise<void> {
    const e: OutboxEntry = {
      id: shown?.id ?? id ?? newMessageId(this.#c.rng),
      to: peer,
      payload,
      created: this.#c.now(),
    }
    const shownEntries = shown ? [entry.message(shown)] : []
    if (await this.#c.sessions.has(peer)) {
      await this.#seal(e, shownEntries)
    } else {
      // No session yet: the payload waits (encrypted at rest in the vault) until one can be made.
      await this.#c.records.write([...shownEntries, entry.outbox(e)])
    }
    this.#entries.set(e.id, e)
    if (shown) this.#c.conversations.shown(shown)
  }

  reencrypt(peer: string): void {
    for (const e of this.#entries.values()) {
      if (e.to !== peer) continue
      delete e.env
      delete e.envId
    }
  }

  /**
   * Gives `e` a freshly made envelope with a wire id of its own, stored with its ratchet step (and
   * `others`). `e` changes only once that write succeeded: an envelope whose step was not stored must
   * never leave, or a later one would reuse its message key.
   */
  async #seal(e: OutboxEntry, others: RecordEntry[] = []): Promise<void> {
    let sealed: OutboxEntry | undefined
    await this.#c.sessions.encrypt(e.to, e.payload, (env) => {
      sealed = { ...e, env, envId: newMessageId(this.#c.rng) }
      return [...others, entry.outbox(sealed)]
    })
    e.env = sealed!.env
    e.envId = sealed!.envId
  }

  flush(): Promise<void> {
    if (this.#flushing !== undefined) {
      this.#again = true
      return this.#flushing
    }
    this.#flushing = this.#run().finally(() => (this.#flushing = undefined))
    return this.#flushing
  }

  async #run(): Promise<void> {
    let failed: boolean
    do {
      this.#again = false
      failed = false
      const queues = [
        ...Map.groupBy(
          [...this.#entries.values()].sort((a, b) => a.created - b.created),
          (e) => e.to,
        ).values(),
      ]
      const worker = async () => {
        for (let list = queues.shift(); list !== undefined; list = queues.shift()) {
          for (const e of list) {
            if (!this.#c.scheduler.running || !(await this.#deliver(e).catch(() => false))) {
              failed = true
              break
            }
          }
        }
      }
      await Promise.all(Array.from({ length: this.#concurrency }, worker))
    } while (this.#again && this.#c.scheduler.running)
    this.#cancelRetry?.()
    this.#cancelRetry = this.#nextRetry = undefined
    if (failed && this.#c.scheduler.running) {
      this.#nextRetry = this.#c.now() + this.#delay
      this.#cancelRetry = this.#c.scheduler.after(this.#delay, () => void this.flush())
      this.#delay = Math.min(this.#maxMs, this.#delay * 2)
    } else {
      this.#delay = this.#minMs
    }
  }

  /** Encrypts (once) and sends one entry; true when a route acknowledged it. */
  async #deliver(e: OutboxEntry): Promise<boolean> {
    if (!this.#entries.has(e.id)) return true // delivered by an overlapping pass
    if (e.env === undefined && !(await this.#encrypt(e))) return false
    const outcome = await this.#c.delivery.send(e.to, e.envId ?? e.id, e.env!)
    if (outcome.route === undefined) {
      if (outcome.refusal !== undefined) this.#c.conversations.setProblem(e.to, e.id, outcome.refusal)
      return false
    }
    this.#entries.delete(e.id)
    this.#c.conversations.setProblem(e.to, e.id, undefined)
    await Promise.all([
      this.#c.conversations.setStatus(e.to, e.id, 'sent'),
      this.#c.records.deleteOutbox(e.id),
    ])
    return true
  }

  /** Makes a session if needed and the entry's envelope, stored with the ratchet step. */
  async #encrypt(e: OutboxEntry): Promise<boolean> {
    if (!(await this.#c.sessions.ensure(e.to))) return false
    try {
      await this.#seal(e)
      return true
    } catch (err) {
      if (err instanceof NoSessionError) return false
      throw err
    }
  }
}
