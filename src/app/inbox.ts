/**
 * The receive pipeline: every envelope from a contact, whatever path it took (the direct chat stream or a
 * relay mailbox), is decrypted, deduplicated and stored with its ratchet step in one transaction, and
 * only then acknowledged; what it carries is applied afterwards, in arrival order per sender.
 *
 * Envelopes that cannot be decrypted are acknowledged too (dropped, not retried forever); when the
 * reason is a lost session, the sender is asked to start over. Also keeps this person's mailbox
 * subscription open on each of their relays, reopening it with backoff whenever it ends.
 */
import {
  DecryptionFailedError,
  DuplicateMessageError,
  NoSessionError,
  TooManySkippedMessagesError,
  UnknownPreKeyError,
} from '@paloma/core/crypto/index.ts'
import type { ChatMessage } from '@paloma/core/messages.ts'
import type { Payload } from '@paloma/core/protocol/payload.ts'
import type { MailboxSubscription, PeerNetwork } from '@paloma/net/network.ts'
import type { Conversations } from './conversations.ts'
import { KeyedLock } from './keyed-lock.ts'
import type { RecordEntry } from './records.ts'
import type { Scheduler } from './scheduler.ts'
import type { SessionReset } from './session-reset.ts'
import type { Sessions } from './sessions.ts'

/** The path an envelope took: from the sender over a direct stream, or from a relay mailbox. */
export type Arrival = 'direct' | 'mailbox'

/** What a decrypted payload does, applied after the envelope was acknowledged. */
export type ApplyPayload = (
  from: string,
  payload: Payload,
  shown: ChatMessage | undefined,
  via: Arrival,
) => Promise<void>

export interface Inbox {
  /**
   * Takes one envelope from `from`; resolves once the outcome is durable, so the path may acknowledge it.
   * A direct sender's acknowledgement means "stored" (its message shows delivered): an envelope that
   * cannot be stored is refused (throws), and the sender leaves it in the mailbox instead; from a
   * mailbox, it is dropped (resolves) rather than retried forever, except one further ahead of its
   * chain than the ratchet skips: it throws {@link AheadOfChain}, stays on the relay, and comes again.
   */
  receive(from: string, id: string, envelope: Uint8Array, via: Arrival): Promise<void>
  /** Relays whose mailbox subscription is open now. */
  openMailboxes(): string[]
  start(): void
  stop(): Promise<void>
}

export interface InboxInit {
  /** First delay before reopening a mailbox subscription that ended, doubled up to `retryMaxMs`. @default 1000 */
  retryMinMs?: number
  /** @default 60000 */
  retryMaxMs?: number
  /**
   * How long after an envelope came too far ahead of its chain the subscription to that relay is opened
   * again (the relay delivers the kept ones anew), doubled while a pass takes none of them, up to
   * `retryMaxMs`. Meanwhile the messages before them arrive from the other relays. @default 2000
   */
  aheadRetryMs?: number
}

/**
 * An envelope from a mailbox further ahead of its sender's chain than the ratchet skips (MAX_SKIP): a
 * person away for long reading several relays at different speeds gets message 5,000 from one before
 * message 900 from another. It is left on the relay (nacked) and read again once the ones before it came.
 */
export class AheadOfChain extends Error {
  override name = 'AheadOfChain'
  constructor(peer: string, options?: ErrorOptions) {
    super(`an envelope from ${peer} came before the ones ahead of it`, options)
  }
}

/**
 * Stored, but not acknowledged on the direct path (the sender is not someone to tell "delivered"): the
 * sender leaves the envelope in the mailbox, whose copy is then a duplicate, dropped.
 */
export class NotAcknowledged extends Error {
  override name = 'NotAcknowledged'
  constructor(peer: string) {
    super(`stored, not acknowledged directly to ${peer}`)
  }
}

export interface InboxComponents {
  network: Pick<PeerNetwork, 'relays' | 'openMailbox'>
  sessions: Pick<Sessions, 'decrypt'>
  conversations: Pick<Conversations, 'hasIncoming' | 'shown' | 'entry'>
  resets: Pick<SessionReset, 'request'>
  apply: ApplyPayload
  /** Whether a direct acknowledgement ("stored": delivered) may go to `peer`. @default always */
  acknowledges?(peer: string): boolean
  /**
   * Records to commit with the ratchet step of a payload other than a text (the groups keep theirs, so
   * a group payload is durable once acknowledged). @default none
   */
  keep?(from: string, payload: Payload, via: Arrival): RecordEntry[]
  scheduler: Scheduler
  /** Told of envelopes dropped for a reason other than a duplicate. @default console.warn */
  log?(message: string, err: unknown): void
}

export function inbox(init: InboxInit = {}) {
  return (components: InboxComponents): Inbox => new Receiver(components, init)
}

class Receiver implements Inbox {
  readonly #c: InboxComponents
  readonly #minMs: number
  readonly #maxMs: number
  readonly #aheadMs: number
  readonly #applying = new KeyedLock()
  readonly #mailboxes = new Map<string, MailboxSubscription>()
  /** `<sender>/<message id>` of texts being stored, not shown yet (a burst is committed together). */
  readonly #storing = new Set<string>()

  constructor(components: InboxComponents, init: InboxInit) {
    this.#c = components
    this.#minMs = init.retryMinMs ?? 1000
    this.#maxMs = init.retryMaxMs ?? 60_000
    this.#aheadMs = init.aheadRetryMs ?? 2000
  }

  async receive(from: string, _id: string, envelope: Uint8Array, via: Arrival): Promise<void> {
    let shown: ChatMessage | undefined
    let claimed: string | undefined
    let payload: Payload
    try {
      payload = await this.#c.sessions.decrypt(from, envelope, (p) => {
        // Dedupe by (sender, message id): a message sent again after a reset is shown once.
        // (Also against messages decrypted in the same commit, not shown yet.)
        if (p.k !== 'text') return this.#c.keep?.(from, p, via) ?? []
        const key = `${from}/${p.id}`
        if (this.#c.conversations.hasIncoming(from, p.id) || this.#storing.has(key)) return []
        this.#storing.add((claimed = key))
        shown = { id: p.id, peer: from, direction: 'in', text: p.text, ts: p.ts, status: 'delivered' }
        return [this.#c.conversations.entry(shown)]
      })
    } catch (err) {
      if (claimed !== undefined) this.#storing.delete(claimed)
      if (err instanceof DuplicateMessageError) return // stored the first time
      // Too early (a direct sender resends what relays hold only in part): not stored, kept for later.
      if (err instanceof TooManySkippedMessagesError)
        throw via === 'mailbox' ? new AheadOfChain(from, { cause: err }) : err
      // Nothing to decrypt it with (restored from a backup, or a one-time prekey made after the backup):
      // ask the sender to start over and send again what we have not confirmed.
      if (
        err instanceof NoSessionError ||
        err instanceof DecryptionFailedError ||
        err instanceof UnknownPreKeyError
      )
        void this.#c.resets.request(from).catch(() => {})
      else (this.#c.log ?? console.warn)(`Dropped an envelope from ${from}`, err)
      if (via === 'direct') throw err // not stored: no acknowledgement, the sender uses the mailbox
      return
    }
    if (shown !== undefined) this.#c.conversations.shown(shown) // on screen as soon as it is durable
    if (claimed !== undefined) this.#storing.delete(claimed)
    // A direct acknowledgement tells the sender "delivered": only to those who may know it.
    const told = via === 'direct' && (this.#c.acknowledges?.(from) ?? true)
    const applied = payload
    void this.#applying
      .run(from, () => this.#c.apply(from, applied, shown, told ? 'direct' : 'mailbox'))
      .catch((err) => (this.#c.log ?? console.warn)('Could not apply a message', err))
    if (via === 'direct' && !told) throw new NotAcknowledged(from)
  }

  openMailboxes(): string[] {
    return [...this.#mailboxes.keys()]
  }

  start(): void {
    for (const relay of this.#c.network.relays) void this.#keepMailbox(relay)
  }

  /** Closes the subscriptions (call after the scheduler stopped, so none reopens). */
  async stop(): Promise<void> {
    await Promise.all([...this.#mailboxes.values()].map((m) => m.close().catch(() => {})))
  }

  /** Holds a subscription to this person's mailbox on `relay`, reopening it whenever it ends. */
  async #keepMailbox(relay: string): Promise<void> {
    let delay = this.#minMs
    let ahead = this.#aheadMs
    while (this.#c.scheduler.running) {
      try {
        let early = false
        let took = false
        let reopen = () => {}
        const sub = await this.#c.network.openMailbox(relay, async (e) => {
          try {
            await this.receive(e.from, e.id, e.envelope, 'mailbox')
            took = true
          } catch (err) {
            // Kept on the relay (nacked): read again, once, a moment later.
            if (err instanceof AheadOfChain && !early) {
              early = true
              this.#c.scheduler.after(ahead, () => reopen())
            }
            throw err
          }
        })
        reopen = () => void sub.close().catch(() => {})
        if (!this.#c.scheduler.running) return void (await sub.close())
        this.#mailboxes.set(relay, sub)
        delay = this.#minMs
        await sub.closed
        // Backs off only while nothing moves: catching up, each pass takes some and comes back soon.
        ahead = early && !took ? Math.min(this.#maxMs, ahead * 2) : this.#aheadMs
      } catch {
        // relay unreachable: retry below
      }
      this.#mailboxes.delete(relay)
      if (!(await this.#c.scheduler.sleep(delay))) return
      delay = Math.min(this.#maxMs, delay * 2)
    }
  }
}
