/**
 * The session-reset protocol: recovery when one side lost the session the other still uses (a restore
 * from a backup, a one-time prekey made after the backup).
 *
 * The side that cannot decrypt makes a new session from the other's profile and sends a `reset` payload
 * on it (at most once per `minIntervalMs` per contact). The other side adopts that session for sending,
 * encrypts again what waits in its outbox for them, and sends again the messages they never confirmed.
 * See docs/protocol.md ("Session reset").
 */
import { encodePayload } from '@paloma/core/protocol/payload.ts'
import type { Contacts } from './contacts.ts'
import type { Conversations } from './conversations.ts'
import type { Outbox } from './outbox.ts'
import type { Sessions } from './sessions.ts'

export interface SessionReset {
  /** Nothing from `peer` can be decrypted: ask them to start over. */
  request(peer: string): Promise<void>
  /** `peer` started over: send on their new session, and again what they have not confirmed. */
  accept(peer: string): Promise<void>
}

export interface SessionResetInit {
  /** Least time between two resets asked of the same contact. @default 60000 */
  minIntervalMs?: number
}

export interface SessionResetComponents {
  sessions: Pick<Sessions, 'ensure' | 'adoptTheirs'>
  outbox: Pick<Outbox, 'enqueue' | 'flush' | 'reencrypt' | 'has'>
  conversations: Pick<Conversations, 'unconfirmed'>
  contacts: Pick<Contacts, 'ensure'>
  now(): number
}

export function sessionReset(init: SessionResetInit = {}) {
  return (components: SessionResetComponents): SessionReset => new Resetter(components, init)
}

class Resetter implements SessionReset {
  readonly #c: SessionResetComponents
  readonly #minIntervalMs: number
  readonly #last = new Map<string, number>()

  constructor(components: SessionResetComponents, init: SessionResetInit) {
    this.#c = components
    this.#minIntervalMs = init.minIntervalMs ?? 60_000
  }

  async request(peer: string): Promise<void> {
    const now = this.#c.now()
    if (now - (this.#last.get(peer) ?? -Infinity) < this.#minIntervalMs) return
    this.#last.set(peer, now)
    await this.#c.contacts.ensure(peer)
    if (!(await this.#c.sessions.ensure(peer, { force: true }))) return
    await this.#c.outbox.enqueue(peer, encodePayload({ k: 'reset' }))
    void this.#c.outbox.flush()
  }

  async accept(peer: string): Promise<void> {
    await this.#c.sessions.adoptTheirs(peer)
    this.#c.outbox.reencrypt(peer)
    for (const m of this.#c.conversations.unconfirmed(peer)) {
      if (this.#c.outbox.has(m.id)) continue
      const payload = encodePayload({ k: 'text', id: m.id, ts: m.ts, text: m.text })
      await this.#c.outbox.enqueue(peer, payload, { id: m.id })
    }
    void this.#c.outbox.flush()
  }
}
