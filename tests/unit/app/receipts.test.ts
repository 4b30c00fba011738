import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { decodePayload, MAX_RECEIPT_IDS } from '@paloma/core/protocol/payload.ts'
import { receipts } from '../../../src/app/receipts.ts'
import { createScheduler, type Scheduler } from '../../../src/app/scheduler.ts'
import type { MessageStatus } from '@paloma/core/messages.ts'

function make(readReceipts = true) {
  const enqueued: Array<{ peer: string; payload: ReturnType<typeof decodePayload> }> = []
  const statuses: Array<[string, string, MessageStatus]> = []
  let flushes = 0
  const r = receipts({ batchMs: 30 })({
    outbox: {
      enqueue: async (peer, payload) => void enqueued.push({ peer, payload: decodePayload(payload) }),
      flush: async () => void flushes++,
    },
    conversations: { setStatus: async (peer, id, s) => void statuses.push([peer, id, s]) },
    settings: { current: { readReceipts, presence: true } },
    scheduler,
  })
  return { r, enqueued, statuses, flushes: () => flushes }
}

let scheduler: Scheduler
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  scheduler = createScheduler()
})
afterEach(() => {
  scheduler.stop()
  vi.useRealTimers()
})

describe('receipts', () => {
  it('gathers the receipts for one contact for the batch time and sends them together', async () => {
    const { r, enqueued, flushes } = make()
    r.queue('bob', 'delivered', ['a'])
    r.queue('bob', 'delivered', ['b', 'a'])
    r.queue('bob', 'read', ['a'])
    r.queue('carol', 'delivered', ['c'])
    await vi.advanceTimersByTimeAsync(29)
    expect(enqueued).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(enqueued).toEqual([
      { peer: 'bob', payload: { k: 'receipt', status: 'delivered', ids: ['a', 'b'] } },
      { peer: 'bob', payload: { k: 'receipt', status: 'read', ids: ['a'] } },
      { peer: 'carol', payload: { k: 'receipt', status: 'delivered', ids: ['c'] } },
    ])
    expect(flushes()).toBe(2)
  })

  it(`splits more than ${MAX_RECEIPT_IDS} ids into several payloads`, async () => {
    const { r, enqueued } = make()
    r.queue(
      'bob',
      'read',
      Array.from({ length: MAX_RECEIPT_IDS * 2 + 1 }, (_, i) => `m${i}`),
    )
    await vi.advanceTimersByTimeAsync(30)
    expect(enqueued.map((e) => (e.payload as { ids: string[] }).ids.length)).toEqual([256, 256, 1])
  })

  it('sends no read receipt when the person does not share them, even after the batch time', async () => {
    const { r, enqueued } = make(false)
    r.queue('bob', 'read', ['a'])
    r.queue('bob', 'delivered', ['b'])
    await vi.advanceTimersByTimeAsync(1000)
    expect(enqueued.map((e) => (e.payload as { status: string }).status)).toEqual(['delivered'])
  })

  it('flush() queues what waits for a contact at once, and the timer then sends nothing twice', async () => {
    const { r, enqueued, flushes } = make()
    r.queue('bob', 'read', ['a'])
    await r.flush('bob')
    expect(enqueued).toHaveLength(1)
    expect(flushes()).toBe(0) // the message that follows flushes the outbox
    await vi.advanceTimersByTimeAsync(100)
    expect(enqueued).toHaveLength(1)
  })

  it('applies a receipt to each of this person’s messages it names', async () => {
    const { r, statuses } = make()
    await r.apply('bob', { k: 'receipt', status: 'read', ids: ['x', 'y'] })
    expect(statuses).toEqual([
      ['bob', 'x', 'read'],
      ['bob', 'y', 'read'],
    ])
  })
})
