import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  DecryptionFailedError,
  DuplicateMessageError,
  NoSessionError,
  TooManySkippedMessagesError,
} from '@paloma/core/crypto/index.ts'
import type { ChatMessage } from '@paloma/core/messages.ts'
import type { Payload } from '@paloma/core/protocol/payload.ts'
import { AheadOfChain, inbox } from '../../../src/app/inbox.ts'
import { entry, type RecordEntry } from '../../../src/app/records.ts'
import { createScheduler, type Scheduler } from '../../../src/app/scheduler.ts'
import type { MailboxEnvelope, MailboxSubscription } from '@paloma/net/network.ts'

/** Envelopes here are the payload itself (or an error the twin session throws for it). */
type Script = Payload | Error
const scheduler = createScheduler()
afterEach(() => vi.useRealTimers())

const RELAY = '/dns4/r.test/tcp/443/wss/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'

function make(
  opts: {
    relays?: string[]
    scheduler?: Scheduler
    openMailbox?: (relay: string, h: (e: MailboxEnvelope) => Promise<void>) => Promise<MailboxSubscription>
  } = {},
) {
  const scripts = new Map<number, Script>()
  const written: RecordEntry[][] = []
  const shown: ChatMessage[] = []
  const applied: Array<[string, string, boolean]> = []
  const paths: string[] = []
  const resets: string[] = []
  const logged: unknown[] = []
  const box = inbox({ retryMinMs: 1000, retryMaxMs: 4000 })({
    network: {
      relays: opts.relays ?? [],
      openMailbox: opts.openMailbox ?? (async () => Promise.reject(new Error('not used'))),
    },
    sessions: {
      async decrypt(_from, env, records = () => []) {
        const s = scripts.get(env[0]!)
        if (s instanceof Error) throw s
        written.push(records(s!))
        return s!
      },
    },
    conversations: {
      hasIncoming: (peer, id) => shown.some((m) => m.peer === peer && m.id === id),
      shown: (m) => void shown.push(m),
      entry: entry.message,
    },
    resets: { request: async (peer) => void resets.push(peer) },
    scheduler: opts.scheduler ?? scheduler,
    apply: async (from, p, m, via) => {
      await new Promise((r) => setTimeout(r, p.k === 'text' && p.text === 'slow' ? 20 : 0))
      applied.push([from, p.k === 'text' ? p.text : p.k, m !== undefined])
      paths.push(via)
    },
    log: (_m, err) => void logged.push(err),
  })
  const env = (n: number, s: Script) => (scripts.set(n, s), new Uint8Array([n]))
  return { box, env, scripts, written, shown, applied, paths, resets, logged }
}

const text = (id: string, t = id): Payload => ({ k: 'text', id, ts: 1, text: t })

describe('inbox', () => {
  it('stores a message with its ratchet step, shows it, and applies it after', async () => {
    const { box, env, written, shown, applied } = make()
    await box.receive('bob', 'e1', env(1, text('m1', 'hola')), 'mailbox')
    expect(written[0]!.map(([name]) => name)).toEqual(['history/msg/bob/in/m1'])
    expect(shown.map((m) => [m.text, m.status])).toEqual([['hola', 'delivered']])
    await vi.waitFor(() => expect(applied).toEqual([['bob', 'hola', true]]))
  })

  it('shows a message sent again (re-encrypted after a reset) once', async () => {
    const { box, env, shown, applied } = make()
    await box.receive('bob', 'e1', env(1, text('m1')), 'mailbox')
    await box.receive('bob', 'e2', env(2, text('m1')), 'mailbox')
    expect(shown).toHaveLength(1)
    // Still applied (its receipt goes out again), but as already shown.
    await vi.waitFor(() =>
      expect(applied).toEqual([
        ['bob', 'm1', true],
        ['bob', 'm1', false],
      ]),
    )
  })

  it('takes (acknowledges) a replayed envelope without showing or logging it', async () => {
    const { box, env, shown, logged, resets } = make()
    await expect(
      box.receive('bob', 'e1', env(1, new DuplicateMessageError()), 'mailbox'),
    ).resolves.toBeUndefined()
    expect([shown, logged, resets]).toEqual([[], [], []])
  })

  it('asks the sender to start over when it has no session or cannot decrypt', async () => {
    const { box, env, resets } = make()
    await box.receive('bob', 'e1', env(1, new NoSessionError('bob')), 'mailbox')
    await box.receive('carol', 'e2', env(2, new DecryptionFailedError()), 'mailbox')
    expect(resets).toEqual(['bob', 'carol'])
  })

  it('refuses (leaves unacknowledged) a direct envelope it cannot store, so the sender uses the mailbox', async () => {
    const { box, env, resets } = make()
    await expect(box.receive('bob', 'e1', env(1, new NoSessionError('bob')), 'direct')).rejects.toThrow(
      NoSessionError,
    )
    expect(resets).toEqual(['bob'])
    // A replay over the direct stream is stored already: acknowledged.
    await expect(
      box.receive('bob', 'e2', env(2, new DuplicateMessageError()), 'direct'),
    ).resolves.toBeUndefined()
  })

  it('tells the payload’s handler which path it came by', async () => {
    const { box, env, paths } = make()
    await box.receive('bob', 'e1', env(1, text('m1')), 'direct')
    await box.receive('bob', 'e2', env(2, text('m2')), 'mailbox')
    await vi.waitFor(() => expect(paths).toEqual(['direct', 'mailbox']))
  })

  it('drops (and logs) an envelope that is malformed, without asking for a reset', async () => {
    const { box, env, resets, logged } = make()
    await box.receive('bob', 'e1', env(1, new TypeError('bad')), 'mailbox')
    expect(resets).toEqual([])
    expect(logged).toHaveLength(1)
  })

  it('applies each sender’s payloads in arrival order', async () => {
    const { box, env, applied } = make()
    await box.receive('bob', 'e1', env(1, text('a', 'slow')), 'mailbox')
    await box.receive('bob', 'e2', env(2, text('b', 'fast')), 'mailbox')
    await vi.waitFor(() => expect(applied.map((a) => a[1])).toEqual(['slow', 'fast']))
  })

  it('leaves an envelope too far ahead of its chain on the relay, and reads that mailbox again later', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const own = createScheduler()
    // A relay's mailbox: what the handler takes is acknowledged (removed), what it throws for is kept.
    const kept: MailboxEnvelope[] = []
    let opened = 0
    const made = make({
      scheduler: own,
      relays: [RELAY],
      openMailbox: async (_relay, h) => {
        opened++
        let end: (e?: Error) => void = () => {}
        const closed = new Promise<Error | undefined>((r) => (end = r))
        for (const e of kept.splice(0)) await h(e).catch(() => kept.push(e))
        return { synced: Promise.resolve(), closed, close: async () => end() }
      },
    })
    const far = new TooManySkippedMessagesError(4000)
    kept.push({ seq: 1, from: 'bob', id: 'e9', envelope: made.env(9, far), storedAt: 0 })
    made.box.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(kept).toHaveLength(1) // nacked: still on the relay
    expect(made.logged).toEqual([]) // not dropped
    // The messages before it came from another relay meanwhile: now it decrypts.
    made.scripts.set(9, text('m4000'))
    await vi.advanceTimersByTimeAsync(2000 + 1000)
    expect(opened).toBe(2)
    expect(kept).toEqual([])
    expect(made.shown.map((m) => m.text)).toEqual(['m4000'])
    own.stop()
    await made.box.stop()
  })

  it('throws AheadOfChain only for a mailbox envelope: a direct sender falls back to the mailbox', async () => {
    const { box, env } = make()
    const far = () => new TooManySkippedMessagesError(4000)
    await expect(box.receive('bob', 'e1', env(1, far()), 'mailbox')).rejects.toBeInstanceOf(AheadOfChain)
    await expect(box.receive('bob', 'e2', env(2, far()), 'direct')).rejects.toBeInstanceOf(
      TooManySkippedMessagesError,
    )
  })

  it('reopens a mailbox subscription that ended, with backoff, and stops when the scheduler stops', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const own = createScheduler()
    const opened: number[] = []
    let end: (e?: Error) => void = () => {}
    const { box } = make({
      scheduler: own,
      relays: [RELAY],
      openMailbox: async () => {
        opened.push(Date.now())
        if (opened.length <= 2) throw new Error('unreachable')
        const closed = new Promise<Error | undefined>((r) => (end = r))
        return { synced: Promise.resolve(), closed, close: async () => end() }
      },
    })
    const t0 = Date.now()
    box.start()
    await vi.advanceTimersByTimeAsync(0)
    await vi.advanceTimersByTimeAsync(1000)
    await vi.advanceTimersByTimeAsync(2000)
    expect(opened.map((t) => t - t0)).toEqual([0, 1000, 3000])
    expect(box.openMailboxes()).toEqual([RELAY])
    end(new Error('relay restarted')) // the subscription ends: reopened after the first delay again
    await vi.advanceTimersByTimeAsync(1000)
    expect(opened).toHaveLength(4)
    own.stop()
    await box.stop()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(opened).toHaveLength(4)
  })
})
