/**
 * The outbox: every envelope that must reach a contact (messages, receipts, session resets) is written
 * here before any network step, and stays until a route acknowledged it.
 *
 * An entry is encrypted once (the ratchet step and the entry in one transaction) and its envelope sent
 * again unchanged on every retry, so a contact never sees two envelopes for one message unless a session
 * reset made a new one. Each contact has a lane: it sends what waits for that contact, oldest first, in
 * batches of up to `window` envelopes written at once (pipelined: the next batch leaves as soon as the
 * previous one is acknowledged), and takes whatever was queued meanwhile in the next batch. A lane that
 * could not deliver everything retries with its own exponential backoff, so an unreachable contact
 * delays nobody else. An entry some relay holds but fewer than the custody asked for (relays down, or
 * full for this sender) is sent: the lane goes on with newer ones and asks for the missing copies on its
 * retries. The receiver orders a conversation by the sender's clock, not by arrival.
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
  /** Envelopes of one contact sent in one batch (written at once, then acknowledged). @default 64 */
  window?: number
}

export interface OutboxComponents {
  records: AppRecords
  sessions: Sessions
  delivery: Pick<Delivery, 'send'>
  conversations: Pick<Conversations, 'setStatus' | 'setProblem' | 'shown'>
  scheduler: Scheduler
  now(): number
  rng(n: number): Uint8Array
  entries: readonly OutboxEntry[]
}

/** One contact's queue: at most one drain runs at a time; failures back off per contact. */
interface Lane {
  peer: string
  delay: number
  running?: Promise<void>
  /** New entries came while a drain ran. */
  again: boolean
  cancelRetry?: () => void
  nextRetry?: number
}

export function outbox(init: OutboxInit = {}) {
  return (components: OutboxComponents): Outbox => new OutboxQueue(components, init)
}

class OutboxQueue implements Outbox {
  readonly #c: OutboxComponents
  readonly #minMs: number
  readonly #maxMs: number
  readonly #window: number
  readonly #entries = new Map<string, OutboxEntry>()
  readonly #lanes = new Map<string, Lane>()

  constructor(components: OutboxComponents, init: OutboxInit) {
    this.#c = components
    this.#minMs = init.retryMinMs ?? 1000
    this.#maxMs = init.retryMaxMs ?? 60_000
    this.#window = init.window ?? 64
    for (const e of components.entries) this.#entries.set(e.id, e)
  }

  has(id: string): boolean {
    return this.#entries.has(id)
  }

  async settled(): Promise<void> {
    for (;;) {
      const running = [...this.#lanes.values()].flatMap((l) => (l.running === undefined ? [] : [l.running]))
      if (running.length === 0) return
      await Promise.all(running)
    }
  }

  stats(): OutboxStats {
    const pending = new Map<string, number>()
    for (const e of this.#entries.values()) pending.set(e.to, (pending.get(e.to) ?? 0) + 1)
    const retries = [...this.#lanes.values()].flatMap((l) => (l.nextRetry === undefined ? [] : [l.nextRetry]))
    return retries.length === 0 ? { pending } : { pending, nextRetry: Math.min(...retries) }
  }

  resetBackoff(): void {
    for (const lane of this.#lanes.values()) lane.delay = this.#minMs
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
    const peers = new Set([...this.#entries.values()].map((e) => e.to))
    return Promise.all([...peers].map((peer) => this.#run(this.#lane(peer)))).then(() => {})
  }

  #lane(peer: string): Lane {
    let lane = this.#lanes.get(peer)
    if (lane === undefined) this.#lanes.set(peer, (lane = { peer, delay: this.#minMs, again: false }))
    return lane
  }

  /** Runs `lane` now (a lane already running takes what was queued meanwhile in its next batch). */
  #run(lane: Lane): Promise<void> {
    if (lane.running !== undefined) {
      lane.again = true
      return lane.running
    }
    lane.cancelRetry?.()
    lane.cancelRetry = lane.nextRetry = undefined
    lane.running = this.#drain(lane).finally(() => (lane.running = undefined))
    return lane.running
  }

  async #drain(lane: Lane): Promise<void> {
    let failed = false
    // Held by fewer relays than asked, in this pass: their missing copies wait for the retry.
    const short = new Set<string>()
    do {
      lane.again = false
      for (;;) {
        const batch = [...this.#entries.values()]
          .filter((e) => e.to === lane.peer && !short.has(e.id))
          .sort((a, b) => a.created - b.created)
          .slice(0, this.#window)
        if (batch.length === 0 || !this.#c.scheduler.running) break
        const sent = await this.#deliver(lane.peer, batch).catch(() => undefined)
        if (sent === undefined) {
          failed = true
          break
        }
        for (const id of sent.short) short.add(id)
      }
    } while (lane.again && !failed && this.#c.scheduler.running)
    if ((failed || short.size > 0) && this.#c.scheduler.running) {
      lane.nextRetry = this.#c.now() + lane.delay
      lane.cancelRetry = this.#c.scheduler.after(lane.delay, () => void this.#run(lane))
      lane.delay = Math.min(this.#maxMs, lane.delay * 2)
    } else {
      lane.delay = this.#minMs
    }
  }

  /**
   * Encrypts what still needs it and sends one batch. Undefined when some entry is not sent (no session,
   * no route took it); else the ids of those held by fewer relays than asked.
   */
  async #deliver(peer: string, batch: OutboxEntry[]): Promise<{ short: string[] } | undefined> {
    const ready: OutboxEntry[] = []
    for (const e of batch) {
      if (e.env === undefined && !(await this.#encrypt(e))) break // no session yet: send what has one
      ready.push(e)
    }
    if (ready.length === 0) return undefined
    const outcomes = await this.#c.delivery.send(
      peer,
      ready.map((e) => ({ envId: e.envId ?? e.id, envelope: e.env!, ...(e.held ? { held: e.held } : {}) })),
    )
    const done: OutboxEntry[] = []
    const partial: OutboxEntry[] = []
    const writes: Array<Promise<void>> = []
    outcomes.forEach((outcome, i) => {
      const e = ready[i]!
      if (outcome.route === undefined) {
        if (outcome.refusal !== undefined) this.#c.conversations.setProblem(peer, e.id, outcome.refusal)
        return
      }
      this.#c.conversations.setProblem(peer, e.id, undefined)
      // The contact's own acknowledgement means it stored it: delivered. A relay's: sent, held there.
      if (outcome.route === 'direct') {
        writes.push(this.#c.conversations.setStatus(peer, e.id, 'delivered'))
        done.push(e)
        return
      }
      writes.push(this.#c.conversations.setStatus(peer, e.id, 'sent', outcome.held))
      if (outcome.complete) done.push(e)
      else partial.push(e)
      e.held = outcome.held
    })
    for (const e of done) {
      this.#entries.delete(e.id)
      writes.push(this.#c.records.deleteOutbox(e.id))
    }
    // Held by fewer relays than asked: kept, and tried again for the missing copies.
    if (partial.length > 0) writes.push(this.#c.records.write(partial.map((e) => entry.outbox(e))))
    await Promise.all(writes)
    return done.length + partial.length === batch.length ? { short: partial.map((e) => e.id) } : undefined
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
