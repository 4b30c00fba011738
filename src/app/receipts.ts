/**
 * Receipts: "delivered" when this device stored a contact's message, "read" when the person saw it (if
 * they share read receipts). Receipts for one contact are gathered for a few milliseconds and sent
 * together, up to MAX_RECEIPT_IDS ids per payload, through the outbox so they arrive even if the contact
 * is away now; a message written to the contact meanwhile takes them along first, so receipts never
 * arrive after a later reply. Incoming receipts move the ticks of this person's messages forward.
 */
import { encodePayload, MAX_RECEIPT_IDS, type Payload } from '@paloma/core/protocol/payload.ts'
import type { Conversations } from './conversations.ts'
import type { Outbox } from './outbox.ts'
import type { Scheduler } from './scheduler.ts'
import type { Settings } from './types.ts'

type ReceiptStatus = 'delivered' | 'read'

export interface Receipts {
  /** Queues a receipt for `peer`'s messages `ids` (a read receipt only when the person shares them). */
  queue(peer: string, status: ReceiptStatus, ids: readonly string[]): void
  /** Queues the receipts waiting for `peer` in the outbox now (before a message to them). */
  flush(peer: string): Promise<void>
  /** Applies a receipt from `from` to this person's messages. */
  apply(from: string, receipt: Extract<Payload, { k: 'receipt' }>): Promise<void>
}

export interface ReceiptsInit {
  /** How long receipts for one contact are gathered before they are sent. @default 30 */
  batchMs?: number
}

export interface ReceiptsComponents {
  outbox: Pick<Outbox, 'enqueue' | 'flush'>
  conversations: Pick<Conversations, 'setStatus'>
  settings: { readonly current: Readonly<Pick<Settings, 'readReceipts'> & Partial<Settings>> }
  scheduler: Scheduler
}

export function receipts(init: ReceiptsInit = {}) {
  return (components: ReceiptsComponents): Receipts => new ReceiptBatcher(components, init)
}

class ReceiptBatcher implements Receipts {
  readonly #c: ReceiptsComponents
  readonly #batchMs: number
  readonly #pending = new Map<string, { ids: Record<ReceiptStatus, Set<string>>; cancel(): void }>()

  constructor(components: ReceiptsComponents, init: ReceiptsInit) {
    this.#c = components
    this.#batchMs = init.batchMs ?? 30
  }

  queue(peer: string, status: ReceiptStatus, ids: readonly string[]): void {
    if (ids.length === 0 || (status === 'read' && !this.#c.settings.current.readReceipts)) return
    let pending = this.#pending.get(peer)
    if (pending === undefined) {
      const cancel = this.#c.scheduler.after(this.#batchMs, () => void this.#send(peer))
      pending = { ids: { delivered: new Set(), read: new Set() }, cancel }
      this.#pending.set(peer, pending)
    }
    for (const id of ids) pending.ids[status].add(id)
  }

  async flush(peer: string): Promise<void> {
    await this.#send(peer, false)
  }

  async #send(peer: string, flushOutbox = true): Promise<void> {
    const pending = this.#pending.get(peer)
    this.#pending.delete(peer)
    if (pending === undefined) return
    pending.cancel()
    for (const status of ['delivered', 'read'] as const) {
      const ids = [...pending.ids[status]]
      for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
        const payload = encodePayload({ k: 'receipt', status, ids: ids.slice(i, i + MAX_RECEIPT_IDS) })
        await this.#c.outbox.enqueue(peer, payload)
      }
    }
    if (flushOutbox) void this.#c.outbox.flush()
  }

  async apply(from: string, receipt: Extract<Payload, { k: 'receipt' }>): Promise<void> {
    for (const id of receipt.ids) await this.#c.conversations.setStatus(from, id, receipt.status)
  }
}
