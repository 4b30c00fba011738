/**
 * Conversation history. IndexedDB in the browser, memory in Node; both keep messages by id so that a
 * message delivered twice is stored once.
 */
import type { ChatMessage } from '../core/messages.ts'
import type { PalomaDB } from './db.ts'

export interface MessageStore {
  get(id: string): Promise<ChatMessage | undefined>
  put(message: ChatMessage): Promise<void>
  /** Stores `message` unless one with its id exists; true when it was new. One transaction. */
  add(message: ChatMessage): Promise<boolean>
  /** Messages exchanged with `peer`, oldest first. */
  list(peer: string): Promise<ChatMessage[]>
}

export class MemoryMessageStore implements MessageStore {
  readonly #messages = new Map<string, ChatMessage>()
  async get(id: string): Promise<ChatMessage | undefined> {
    const m = this.#messages.get(id)
    return m == null ? undefined : { ...m }
  }
  async put(message: ChatMessage): Promise<void> {
    this.#messages.set(message.id, { ...message })
  }
  async add(message: ChatMessage): Promise<boolean> {
    if (this.#messages.has(message.id)) return false
    this.#messages.set(message.id, { ...message })
    return true
  }
  async list(peer: string): Promise<ChatMessage[]> {
    return [...this.#messages.values()].filter((m) => m.peer === peer).sort((a, b) => a.ts - b.ts)
  }
}

export class IdbMessageStore implements MessageStore {
  readonly #db: PalomaDB
  constructor(db: PalomaDB) {
    this.#db = db
  }
  get(id: string): Promise<ChatMessage | undefined> {
    return this.#db.get('messages', id)
  }
  async put(message: ChatMessage): Promise<void> {
    await this.#db.put('messages', message)
  }
  async add(message: ChatMessage): Promise<boolean> {
    const tx = this.#db.transaction('messages', 'readwrite')
    const isNew = (await tx.store.getKey(message.id)) == null
    if (isNew) await tx.store.add(message)
    await tx.done
    return isNew
  }
  list(peer: string): Promise<ChatMessage[]> {
    return this.#db.getAllFromIndex(
      'messages',
      'by-peer',
      IDBKeyRange.bound([peer, -Infinity], [peer, Infinity]),
    )
  }
}
