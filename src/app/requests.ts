/**
 * Message requests and blocking. A first message from someone who is not a contact (and did not prove an
 * invite of this person's, invite-proof.ts) waits in Requests: it is stored and shown as text, and
 * nothing goes back to its sender (no receipts, presence or typing, no session reset) until the person
 * accepts. Block drops the request and makes every later envelope from that peer be acknowledged unread;
 * Delete drops it, and a later message makes a new request.
 *
 * {@link Requests.admits} is the gate the messenger puts in front of the inbox, on both paths (the direct
 * chat stream and the mailboxes): blocked peers, and strangers beyond the limits, are dropped before any
 * decryption. Owns the request records and the blocked list; knows nothing about sessions.
 */
import type { Payload } from '@paloma/core/protocol/payload.ts'
import type { PeerNetwork } from '@paloma/net/network.ts'
import type { Contacts } from './contacts.ts'
import type { Conversations } from './conversations.ts'
import { AppError } from './errors.ts'
import { isInviteProof } from './invite-proof.ts'
import { entry, type AppRecords, type ContactRecord, type RequestRecord } from './records.ts'
import type { Changes } from './view.ts'

export interface Requests {
  /** Whether an envelope from `peer` may be decrypted at all (false: acknowledge it unread). */
  admits(peer: string): boolean
  /**
   * Where a decrypted payload from `from` belongs: a contact's (one who proved this person's invite
   * becomes a contact here), a request's (a stranger's text, stored as a request), or nowhere (anything
   * else a stranger sends: receipts, presence, typing, resets are ignored).
   */
  sort(from: string, payload: Payload): Promise<'contact' | 'request' | 'ignore'>
  get(peer: string): RequestRecord | undefined
  all(): IterableIterator<RequestRecord>
  blocked(): readonly string[]
  /** A stranger's message was stored: makes (or keeps) their request, named by their directory profile. */
  received(peer: string): Promise<void>
  /** Makes the request's sender a contact. @throws AppError `UNKNOWN_CONTACT` when there is no request */
  accept(peer: string): Promise<ContactRecord>
  block(peer: string): Promise<void>
  remove(peer: string): Promise<void>
  unblock(peer: string): Promise<void>
  /**
   * A message from `peer`, not a contact, could not be decrypted (this device was restored from a backup
   * made before they wrote: they may hold this person's invite). Whether a session reset may go to them,
   * which asks them to send again: at most `maxStrangerResets` per hour in all, never to a blocked peer.
   * Makes their (empty) request first, so the reset can find their relays.
   */
  mayReset(peer: string): Promise<boolean>
  /** A request's sender as a contact-shaped record (their relays, for a session reset), not stored. */
  asContact(peer: string): ContactRecord | undefined
}

export interface RequestsInit {
  /** Pending requests kept; a stranger beyond them is dropped unread. @default 100 */
  maxRequests?: number
  /** Messages kept from one request's sender; later ones are dropped unread. @default 50 */
  maxMessages?: number
  /** How long looking up a stranger's profile may take. @default 10000 */
  lookupMs?: number
  /** Session resets sent to strangers whose messages could not be decrypted, per hour. @default 10 */
  maxStrangerResets?: number
  /**
   * How long after a restore such resets may go to strangers at all: only a restored device can have
   * lost keys an invitee used. Otherwise a stranger's undecryptable envelope gets no answer, so it
   * cannot tell whether this device is online. @default 30 days (the signed prekeys' grace period)
   */
  strangerResetWindowMs?: number
}

export interface RequestsComponents {
  records: AppRecords
  network: Pick<PeerNetwork, 'directory'>
  contacts: Pick<Contacts, 'get' | 'addAccepted' | 'addStranger'>
  conversations: Pick<Conversations, 'history' | 'forget'>
  changes: Changes
  now(): number
  requests: readonly RequestRecord[]
  blocked: readonly string[]
  /** The secret of this person's invite link (invite-proof.ts). */
  inviteSecret: string
  /** When this device's vault was restored from a backup (undefined: made here). */
  restoredAt: number | undefined
  /** Told of each new request (its sender's name), once. @default none */
  notify?(name: string): void
}

export function requests(init: RequestsInit = {}) {
  return (components: RequestsComponents): Requests => new RequestList(components, init)
}

class RequestList implements Requests {
  readonly #c: RequestsComponents
  readonly #maxRequests: number
  readonly #maxMessages: number
  readonly #lookupMs: number
  readonly #requests = new Map<string, RequestRecord>()
  readonly #blocked: Set<string>
  readonly #making = new Map<string, Promise<void>>()
  readonly #maxStrangerResets: number
  readonly #resetWindowMs: number
  readonly #resets: number[] = []

  constructor(components: RequestsComponents, init: RequestsInit) {
    this.#c = components
    this.#maxRequests = init.maxRequests ?? 100
    this.#maxMessages = init.maxMessages ?? 50
    this.#lookupMs = init.lookupMs ?? 10_000
    this.#maxStrangerResets = init.maxStrangerResets ?? 10
    this.#resetWindowMs = init.strangerResetWindowMs ?? 30 * 24 * 3600_000
    for (const r of components.requests) this.#requests.set(r.peer, r)
    this.#blocked = new Set(components.blocked)
  }

  admits(peer: string): boolean {
    if (this.#blocked.has(peer)) return false
    if (this.#c.contacts.get(peer) !== undefined) return true
    if (this.#requests.has(peer) || this.#making.has(peer))
      return this.#c.conversations.history(peer).length < this.#maxMessages
    return this.#requests.size + this.#making.size < this.#maxRequests
  }

  async sort(from: string, payload: Payload): Promise<'contact' | 'request' | 'ignore'> {
    if (this.#c.contacts.get(from) !== undefined) return 'contact'
    if (payload.k !== 'text') return 'ignore'
    if (isInviteProof(payload.id, this.#c.inviteSecret, from)) {
      await this.#making.get(from)
      await this.#c.contacts.addStranger(from)
      await this.#drop(from)
      return 'contact'
    }
    await this.received(from)
    return 'request'
  }

  async mayReset(peer: string): Promise<boolean> {
    if (this.#blocked.has(peer) || this.#c.contacts.get(peer) !== undefined) return false
    const now = this.#c.now()
    const restored = this.#c.restoredAt
    if (restored === undefined || now - restored > this.#resetWindowMs) return false
    while (this.#resets.length > 0 && now - this.#resets[0]! > 3600_000) this.#resets.shift()
    if (this.#resets.length >= this.#maxStrangerResets) return false
    if (!this.#requests.has(peer) && !this.admits(peer)) return false
    this.#resets.push(now)
    await this.received(peer)
    return true
  }

  asContact(peer: string): ContactRecord | undefined {
    const r = this.#requests.get(peer)
    return r === undefined
      ? undefined
      : { peer: r.peer, name: r.name, relays: r.relays, added: r.received, keyChanged: false }
  }

  get(peer: string): RequestRecord | undefined {
    return this.#requests.get(peer)
  }

  all(): IterableIterator<RequestRecord> {
    return this.#requests.values()
  }

  blocked(): readonly string[] {
    return [...this.#blocked]
  }

  received(peer: string): Promise<void> {
    if (this.#requests.has(peer)) {
      this.#c.changes.state() // another message in a pending request
      return Promise.resolve()
    }
    let making = this.#making.get(peer)
    if (making === undefined) {
      making = this.#make(peer).finally(() => this.#making.delete(peer))
      this.#making.set(peer, making)
    }
    return making
  }

  async #make(peer: string): Promise<void> {
    let name = peer.slice(-8)
    let relays: string[] = []
    try {
      const profile = await this.#c.network.directory.resolvePeer(peer, {
        signal: AbortSignal.timeout(this.#lookupMs),
      })
      name = profile.name ?? name
      relays = profile.relays
    } catch {
      // Unknown to the directory: keep the short id as the name.
    }
    const request: RequestRecord = { peer, name, relays, received: this.#c.now() }
    await this.#c.records.write([entry.request(request)])
    this.#requests.set(peer, request)
    this.#c.changes.state()
    this.#c.notify?.(name)
  }

  async accept(peer: string): Promise<ContactRecord> {
    await this.#making.get(peer)
    const request = this.#requests.get(peer)
    if (request === undefined) throw new AppError('UNKNOWN_CONTACT', `no request from ${peer}`)
    const contact = await this.#c.contacts.addAccepted(peer, request.name, request.relays)
    await this.#drop(peer)
    return contact
  }

  async block(peer: string): Promise<void> {
    this.#blocked.add(peer)
    await this.#c.records.putBlocked([...this.#blocked])
    await this.remove(peer)
  }

  async remove(peer: string): Promise<void> {
    await this.#making.get(peer)
    await this.#drop(peer)
    await this.#c.conversations.forget(peer)
  }

  async unblock(peer: string): Promise<void> {
    if (!this.#blocked.delete(peer)) return
    await this.#c.records.putBlocked([...this.#blocked])
    this.#c.changes.state()
  }

  async #drop(peer: string): Promise<void> {
    if (!this.#requests.delete(peer)) return
    await this.#c.records.deleteRequest(peer)
    this.#c.changes.state()
  }
}
