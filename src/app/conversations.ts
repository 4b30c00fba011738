/**
 * Conversations: each contact's history (ordered by the sender's clock), unread counts, the conversation
 * open on screen, delivery statuses and the delivery problems shown on messages.
 *
 * Messages are immutable values: a status change replaces the message, so a snapshot that holds the old
 * array never changes under the UI. Owns the history records; knows nothing about the network.
 */
import { advanceStatus, newMessageId, type ChatMessage, type MessageStatus } from '@paloma/core/messages.ts'
import { entry, type AppRecords, type RecordEntry } from './records.ts'
import type { Changes } from './view.ts'

export interface Conversations {
  /** The messages with `peer`, oldest first. The array is replaced, never changed, when history changes. */
  history(peer: string): readonly ChatMessage[]
  unread(peer: string): number
  /** Time of the last message with `peer`, or undefined when there is none. */
  lastActivity(peer: string): number | undefined
  /** The conversation on screen. */
  readonly active: string | undefined
  open(peer: string | undefined): void
  /** A new outgoing message to `peer` (not stored: it is written with its outbox entry). */
  compose(peer: string, text: string, id?: string): ChatMessage
  /** Deletes the conversation with `peer` (a deleted or blocked message request). */
  forget(peer: string): Promise<void>
  /** Shows a message once it is durable (its record written by the caller). */
  shown(message: ChatMessage): void
  /** Whether `peer`'s message `id` was already received (dedupe). */
  hasIncoming(peer: string, id: string): boolean
  /** An incoming message was stored: counts it unread, or marks it read when its chat is on screen. */
  received(message: ChatMessage, senderName: string): Promise<void>
  /** Moves a message's status forward; `custody`: the relays that hold it, when it went to a mailbox. */
  setStatus(peer: string, id: string, status: MessageStatus, custody?: readonly string[]): Promise<void>
  setProblem(peer: string, id: string, problem: string | undefined): void
  /** Marks the open conversation read, when the person can see it. */
  markRead(): Promise<void>
  /** Outgoing messages to `peer` that were sent but not confirmed delivered. */
  unconfirmed(peer: string): ChatMessage[]
  /** Told of messages marked read (to send read receipts). */
  onRead(listener: (peer: string, ids: string[]) => void): void
  /** The record entry of a message, for an atomic write. */
  entry(message: ChatMessage): RecordEntry
}

export interface ConversationsComponents {
  records: AppRecords
  changes: Changes
  now(): number
  rng(n: number): Uint8Array
  /** Whether the person is looking at the app. @default always */
  isVisible?(): boolean
  /** Raises a system notification for a message that arrived while its chat was not on screen. */
  notify?(sender: string, text: string): void
  /** Whether `peer`'s messages may be marked read (not while their chat is held). @default always */
  readable?(peer: string): boolean
  messages: readonly ChatMessage[]
}

export function conversations() {
  return (components: ConversationsComponents): Conversations => new ConversationList(components)
}

function byTime(a: ChatMessage, b: ChatMessage): number {
  return a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

class ConversationList implements Conversations {
  readonly #c: ConversationsComponents
  readonly #history = new Map<string, readonly ChatMessage[]>()
  readonly #unread = new Map<string, number>()
  readonly #readListeners = new Set<(peer: string, ids: string[]) => void>()
  #active: string | undefined

  constructor(components: ConversationsComponents) {
    this.#c = components
    const byPeer = Map.groupBy(components.messages, (m) => m.peer)
    for (const [peer, list] of byPeer) {
      this.#history.set(peer, [...list].sort(byTime))
      this.#unread.set(peer, list.filter((m) => m.direction === 'in' && m.status !== 'read').length)
    }
  }

  history(peer: string): readonly ChatMessage[] {
    return this.#history.get(peer) ?? []
  }

  unread(peer: string): number {
    return this.#unread.get(peer) ?? 0
  }

  lastActivity(peer: string): number | undefined {
    return this.#history.get(peer)?.at(-1)?.ts
  }

  get active(): string | undefined {
    return this.#active
  }

  open(peer: string | undefined): void {
    const before = this.#active
    this.#active = peer
    if (before !== undefined) this.#c.changes.conversation(before)
    this.#c.changes.state()
  }

  onRead(listener: (peer: string, ids: string[]) => void): void {
    this.#readListeners.add(listener)
  }

  entry(message: ChatMessage): RecordEntry {
    return entry.message(message)
  }

  compose(peer: string, text: string, id?: string): ChatMessage {
    const last = this.history(peer).findLast((m) => m.direction === 'out')
    return {
      id: id ?? newMessageId(this.#c.rng),
      peer,
      direction: 'out',
      text,
      // Monotonic per conversation, so ordering by (ts, id) is the sender's order.
      ts: Math.max(this.#c.now(), (last?.ts ?? 0) + 1),
      status: 'pending',
    }
  }

  async forget(peer: string): Promise<void> {
    const list = this.history(peer)
    this.#history.delete(peer)
    this.#unread.delete(peer)
    this.#c.changes.conversation(peer)
    await this.#c.records.deleteNames(list.map((m) => entry.message(m)[0]))
  }

  shown(message: ChatMessage): void {
    const list = this.history(message.peer)
    let i = list.length
    while (i > 0 && byTime(list[i - 1]!, message) > 0) i--
    this.#history.set(message.peer, [...list.slice(0, i), message, ...list.slice(i)])
    this.#c.changes.conversation(message.peer)
  }

  hasIncoming(peer: string, id: string): boolean {
    return this.history(peer).some((m) => m.id === id && m.direction === 'in')
  }

  async received(message: ChatMessage, senderName: string): Promise<void> {
    this.#unread.set(message.peer, this.unread(message.peer) + 1)
    this.#c.changes.contact(message.peer)
    if (this.#active === message.peer && this.#visible()) await this.markRead()
    else this.#c.notify?.(senderName, message.text)
  }

  #replace(
    peer: string,
    id: string,
    change: (m: ChatMessage) => ChatMessage | undefined,
  ): ChatMessage | undefined {
    const list = this.#history.get(peer)
    const at = list?.findIndex((m) => m.id === id && m.direction === 'out') ?? -1
    if (list === undefined || at < 0) return undefined
    const next = change(list[at]!)
    if (next === undefined) return undefined
    this.#history.set(peer, list.with(at, next))
    this.#c.changes.conversation(peer)
    return next
  }

  async setStatus(
    peer: string,
    id: string,
    status: MessageStatus,
    custody?: readonly string[],
  ): Promise<void> {
    const changed = this.#replace(peer, id, (m) => {
      const next = advanceStatus(m.status, status)
      const held = custody !== undefined && custody.join() !== (m.custody ?? []).join()
      if (next === m.status && !held) return undefined
      return { ...m, status: next, ...(held ? { custody } : {}) }
    })
    if (changed !== undefined) await this.#c.records.write([entry.message(changed)])
  }

  setProblem(peer: string, id: string, problem: string | undefined): void {
    this.#replace(peer, id, (m) => {
      if (m.problem === problem) return undefined
      const { problem: _old, ...rest } = m
      return problem === undefined ? rest : { ...rest, problem }
    })
  }

  async markRead(): Promise<void> {
    const peer = this.#active
    if (peer === undefined || !this.#visible() || this.#c.readable?.(peer) === false) return
    const list = this.history(peer)
    const unread = list.filter((m) => m.direction === 'in' && m.status !== 'read')
    if (unread.length === 0) return
    const read = unread.map((m) => ({ ...m, status: 'read' as const }))
    await this.#c.records.write(read.map(entry.message))
    const byId = new Map(read.map((m) => [m.id, m]))
    this.#history.set(
      peer,
      this.history(peer).map((m) => (m.direction === 'in' ? (byId.get(m.id) ?? m) : m)),
    )
    this.#unread.set(peer, 0)
    this.#c.changes.conversation(peer)
    this.#c.changes.contact(peer)
    for (const l of this.#readListeners) l(peer, [...byId.keys()])
  }

  unconfirmed(peer: string): ChatMessage[] {
    return this.history(peer).filter((m) => m.direction === 'out' && m.status === 'sent')
  }

  #visible(): boolean {
    return this.#c.isVisible?.() !== false
  }
}
