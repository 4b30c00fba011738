import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { conversations, type Conversations } from '../../../src/app/conversations.ts'
import type { Delivery, SendOutcome } from '../../../src/app/delivery.ts'
import { outbox, type Outbox } from '../../../src/app/outbox.ts'
import { AppRecords, type OutboxEntry, type RecordEntry } from '../../../src/app/records.ts'
import { createScheduler, type Scheduler } from '../../../src/app/scheduler.ts'
import type { Sessions } from '../../../src/app/sessions.ts'
import type { Changes } from '../../../src/app/view.ts'
import { MemoryVaultBackend, Vault } from '../../../src/storage/vault.ts'
import { seededRng } from '../../support/rng.ts'
import { TEST_KDF } from '../../support/people.ts'

const ALICE = 'alice'
const BOB = 'bob'
const quiet: Changes = { contact() {}, conversation() {}, state() {} }

/** Sessions that "encrypt" by tagging the payload with a counter, and write what they are given. */
function twinSessions(records: AppRecords, opts: { ready?: Set<string> } = {}) {
  let steps = 0
  const ready = opts.ready ?? new Set([ALICE, BOB])
  const s: Sessions & { steps(): number } = {
    steps: () => steps,
    has: async (peer) => ready.has(peer),
    ensure: async (peer) => ready.has(peer),
    async encrypt(peer, payload, extra: (e: Uint8Array) => RecordEntry[] = () => []) {
      const env = new Uint8Array([++steps, ...payload])
      await records.write(extra(env))
      return env
    },
    decrypt: async () => {
      throw new Error('not used')
    },
    adoptTheirs: async () => {},
    exclusive: (_peer, fn) => fn(),
  }
  return s
}

/** A route that answers from a script: per contact, the outcomes of successive envelopes (default: a relay took it). */
function scriptedDelivery(script: Record<string, SendOutcome[]>) {
  const sends: Array<{ peer: string; envId: string; env: Uint8Array }> = []
  const batches: number[] = []
  const d: Pick<Delivery, 'send'> & { sends: typeof sends; batches: typeof batches } = {
    sends,
    batches,
    async send(peer, batch) {
      batches.push(batch.length)
      return batch.map(({ envId, envelope }) => {
        sends.push({ peer, envId, env: envelope })
        return script[peer]?.shift() ?? MAILBOX
      })
    },
  }
  return d
}

const text = (s: string) => new TextEncoder().encode(s)
/** Two relays took it: the custody asked for. */
const MAILBOX: SendOutcome = { route: 'mailbox', held: ['r1', 'r2'], complete: true }

/** `n` messages to Bob, a millisecond apart (so their order is their creation time). */
async function write(box: Outbox, convs: Conversations, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await box.enqueue(BOB, text(`m${i}`), { shown: convs.compose(BOB, `m${i}`) })
    vi.advanceTimersByTime(1)
  }
}

describe('outbox', () => {
  let scheduler: Scheduler
  let vault: Vault
  let records: AppRecords

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    scheduler = createScheduler()
    vault = await Vault.create(new MemoryVaultBackend(), 'correct horse battery', TEST_KDF)
    records = new AppRecords(vault)
  })
  afterEach(() => {
    scheduler.stop()
    vi.useRealTimers()
  })

  function make(
    delivery: Pick<Delivery, 'send'>,
    sessions = twinSessions(records),
    entries: OutboxEntry[] = [],
  ) {
    const convs = conversations()({ records, changes: quiet, now: Date.now, rng: seededRng(1), messages: [] })
    const box: Outbox = outbox({ retryMinMs: 1000, retryMaxMs: 8000, window: 64 })({
      records,
      sessions,
      delivery,
      conversations: convs,
      scheduler,
      now: Date.now,
      rng: seededRng(2),
      entries,
    })
    return { box, convs, sessions }
  }

  it('is durable before any network step, and marks the message sent once a route acknowledged it', async () => {
    const delivery = scriptedDelivery({})
    const { box, convs } = make(delivery)
    const m = convs.compose(BOB, 'hola')
    await box.enqueue(BOB, text('hola'), { shown: m })
    expect(delivery.sends).toHaveLength(0)
    expect((await records.load()).outbox.map((e) => e.id)).toEqual([m.id])
    expect((await records.load()).messages.map((x) => x.status)).toEqual(['pending'])

    await box.flush()
    expect(delivery.sends.map((s) => s.peer)).toEqual([BOB])
    expect(convs.history(BOB).map((x) => x.status)).toEqual(['sent'])
    const stored = await records.load()
    expect(stored.outbox).toEqual([])
    expect(stored.messages.map((x) => x.status)).toEqual(['sent'])
  })

  it('retries with exponential backoff, capped, sending the same envelope every time', async () => {
    const fail: SendOutcome = { route: undefined }
    const delivery = scriptedDelivery({ [BOB]: [fail, fail, fail, fail, fail] })
    const { box, convs, sessions } = make(delivery)
    await box.enqueue(BOB, text('wait for me'), { shown: convs.compose(BOB, 'wait for me') })
    await box.flush()
    const at = [Date.now()]
    for (const gap of [1000, 2000, 4000, 8000, 8000]) {
      const before = delivery.sends.length
      await vi.advanceTimersByTimeAsync(gap - 1)
      await box.settled()
      expect(delivery.sends.length).toBe(before)
      await vi.advanceTimersByTimeAsync(1)
      await box.settled()
      expect(delivery.sends.length).toBe(before + 1)
      at.push(Date.now())
    }
    expect(box.stats().nextRetry).toBeUndefined()
    // One ratchet step in all: every retry carried the same envelope under the same wire id.
    expect(sessions.steps()).toBe(1)
    expect(new Set(delivery.sends.map((s) => s.envId)).size).toBe(1)
    expect(convs.history(BOB)[0]!.status).toBe('sent')
    expect(at.slice(1).map((t, i) => t - at[i]!)).toEqual([1000, 2000, 4000, 8000, 8000])
  })

  it('sends what waits for a contact in one batch, retries only what failed, and lets other contacts go on', async () => {
    const delivery = scriptedDelivery({ [BOB]: [{ route: undefined }] })
    const { box, convs } = make(delivery)
    for (const [peer, t] of [
      [BOB, 'b1'],
      [ALICE, 'a1'],
      [BOB, 'b2'],
    ] as const) {
      await box.enqueue(peer, text(t), { shown: convs.compose(peer, t) })
      vi.advanceTimersByTime(1)
    }
    await box.flush()
    expect(delivery.batches.sort()).toEqual([1, 2])
    expect(convs.history(ALICE).map((m) => m.status)).toEqual(['sent'])
    expect(convs.history(BOB).map((m) => [m.text, m.status])).toEqual([
      ['b1', 'pending'],
      ['b2', 'sent'],
    ])
    expect(box.stats().pending).toEqual(new Map([[BOB, 1]]))
    await vi.advanceTimersByTimeAsync(1000)
    await box.settled()
    expect(convs.history(BOB).map((m) => m.status)).toEqual(['sent', 'sent'])
    const toBob = delivery.sends.filter((s) => s.peer === BOB).map((s) => String.fromCharCode(s.env.at(-1)!))
    expect(toBob).toEqual(['1', '2', '1'])
  })

  it('marks delivered what the contact acknowledged itself, sent what a relay took', async () => {
    const delivery = scriptedDelivery({ [BOB]: [{ route: 'direct' }, MAILBOX] })
    const { box, convs } = make(delivery)
    await box.enqueue(BOB, text('one'), { shown: convs.compose(BOB, 'one') })
    vi.advanceTimersByTime(1)
    await box.enqueue(BOB, text('two'), { shown: convs.compose(BOB, 'two') })
    await box.flush()
    expect(convs.history(BOB).map((m) => m.status)).toEqual(['delivered', 'sent'])
  })

  it('keeps an envelope held by fewer relays than asked, shown sent, and tries the missing copies again', async () => {
    const delivery = scriptedDelivery({ [BOB]: [{ route: 'mailbox', held: ['r1'], complete: false }] })
    const { box, convs } = make(delivery)
    await box.enqueue(BOB, text('keep me twice'), { shown: convs.compose(BOB, 'keep me twice') })
    await box.flush()
    expect(convs.history(BOB)[0]).toMatchObject({ status: 'sent', custody: ['r1'] })
    expect((await records.load()).outbox[0]?.held).toEqual(['r1'])
    await vi.advanceTimersByTimeAsync(1000)
    await box.settled()
    expect(delivery.sends).toHaveLength(2)
    expect(convs.history(BOB)[0]!.custody).toEqual(['r1', 'r2'])
    expect((await records.load()).outbox).toEqual([])
    expect((await records.load()).messages[0]!.custody).toEqual(['r1', 'r2'])
  })

  it('goes on with newer envelopes while older ones wait for their missing copies', async () => {
    // Two of three relays down (or full for this sender): each envelope gets one copy, none the two asked.
    const SHORT: SendOutcome = { route: 'mailbox', held: ['r1'], complete: false }
    const delivery = scriptedDelivery({ [BOB]: Array.from({ length: 70 }, () => SHORT) })
    const { box, convs } = make(delivery)
    await write(box, convs, 70)
    await box.flush()
    // Every one left on the relay that answered, in one pass: the first 64 did not hold back the rest.
    expect(delivery.batches).toEqual([64, 6])
    expect(convs.history(BOB).every((m) => m.status === 'sent')).toBe(true)
    expect(box.stats().pending.get(BOB)).toBe(70)
    // The retry asks for the missing copies of all of them (the script answers: now complete).
    await vi.advanceTimersByTimeAsync(1000)
    await box.settled()
    expect(delivery.batches).toEqual([64, 6, 64, 6])
    expect(box.stats().pending.get(BOB) ?? 0).toBe(0)
  })

  it('batches at most `window` envelopes, and sends what came meanwhile in the next batch', async () => {
    const delivery = scriptedDelivery({})
    const { box, convs } = make(delivery)
    await write(box, convs, 70)
    await box.flush()
    expect(delivery.batches).toEqual([64, 6])
  })

  it('shows why relays refused while it retries, and clears it once delivered', async () => {
    const delivery = scriptedDelivery({ [BOB]: [{ route: undefined, refusal: 'RECIPIENT_QUOTA' }] })
    const { box, convs } = make(delivery)
    await box.enqueue(BOB, text('big'), { shown: convs.compose(BOB, 'big') })
    await box.flush()
    expect(convs.history(BOB)[0]!.problem).toBe('RECIPIENT_QUOTA')
    await vi.advanceTimersByTimeAsync(1000)
    await box.settled()
    expect(convs.history(BOB)[0]!.problem).toBeUndefined()
    expect(convs.history(BOB)[0]!.status).toBe('sent')
  })

  it('waits without a session, then makes the envelope once one can be made', async () => {
    const ready = new Set<string>()
    const delivery = scriptedDelivery({})
    const { box, convs, sessions } = make(delivery, twinSessions(records, { ready }))
    await box.enqueue(BOB, text('first'), { shown: convs.compose(BOB, 'first') })
    await box.flush()
    expect(delivery.sends).toHaveLength(0)
    expect(sessions.steps()).toBe(0)
    ready.add(BOB)
    await vi.advanceTimersByTimeAsync(1000)
    await box.settled()
    expect(delivery.sends).toHaveLength(1)
    expect(convs.history(BOB)[0]!.status).toBe('sent')
  })

  it('after a reset, encrypts again under a new wire id', async () => {
    const delivery = scriptedDelivery({ [BOB]: [{ route: undefined }] })
    const { box, convs, sessions } = make(delivery)
    await box.enqueue(BOB, text('again'), { shown: convs.compose(BOB, 'again') })
    await box.flush()
    box.reencrypt(BOB)
    await vi.advanceTimersByTimeAsync(1000)
    await box.settled()
    expect(sessions.steps()).toBe(2)
    expect(delivery.sends.map((s) => s.env[0])).toEqual([1, 2])
    expect(new Set(delivery.sends.map((s) => s.envId)).size).toBe(2)
  })

  it('picks up what a previous tab left in the vault', async () => {
    const first = make(scriptedDelivery({ [BOB]: [{ route: undefined }] }))
    await first.box.enqueue(BOB, text('left behind'), { shown: first.convs.compose(BOB, 'left behind') })
    await first.box.flush()
    scheduler.stop()

    scheduler = createScheduler()
    const delivery = scriptedDelivery({})
    const { entries } = { entries: (await records.load()).outbox }
    const again = make(delivery, twinSessions(records), entries)
    await again.box.flush()
    expect(delivery.sends).toHaveLength(1)
    // The envelope made by the first tab is the one sent: no second ratchet step for it.
    expect(delivery.sends[0]!.env[0]).toBe(1)
    expect((await records.load()).outbox).toEqual([])
  })
})
