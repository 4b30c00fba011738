/**
 * Graceful shutdown of a real relay process with deposits in flight: SIGTERM while Alice deposits (four
 * single-deposit workers and a pipelined worker) and Bob is subscribed. Every deposit answered `ok` must
 * be delivered to Bob (before the stop or after the restart on the same data directory); every deposit
 * not answered `ok` must have failed with a retryable error, and succeeds when retried after the restart.
 * Bob's subscription must end with the relay's "shutting down" error (retryable), the process must exit
 * 0, and everything it wrote to stderr must be JSON lines.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Libp2p } from 'libp2p'
import {
  deposit,
  depositAll,
  MailboxError,
  openMailbox,
  type DepositRequest,
} from '@paloma/net/mailbox-client.ts'
import { encodeFrame, MAILBOX_PROTOCOL } from '@paloma/core/protocol/mailbox.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { keyFromSeed, startClient, waitFor } from './fixtures/nodes.ts'
import { startRelay, untilMetric, type RelayProcess } from '../support/relays.ts'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {})
})

const LIMITS = [
  '--mailbox-rate-burst',
  '1000000000',
  '--mailbox-rate',
  '1000000000',
  '--mailbox-sender-count',
  '1000000000',
  '--mailbox-recipient-count',
  '1000000000',
]

async function client(seed: number): Promise<Libp2p> {
  const node = await startClient(await keyFromSeed(seed))
  cleanups.push(() => node.stop())
  return node
}

/** Deposits until stopped; records what was acknowledged and what failed (with the error). */
function depositLoop(alice: Libp2p, to: string, addr: () => string) {
  const ok = new Set<string>()
  const failed = new Map<string, MailboxError>()
  let next = 0
  let stopped = false
  const envelope = (id: string) => new TextEncoder().encode(id)
  const single = async () => {
    while (!stopped) {
      const id = `s-${next++}`
      try {
        await deposit(alice, addr(), { to, id, envelope: envelope(id) }, { timeoutMs: 5000 })
        ok.add(id)
      } catch (err) {
        failed.set(id, err as MailboxError)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
  }
  const batched = async () => {
    while (!stopped) {
      const ids = Array.from({ length: 20 }, () => `b-${next++}`)
      const results = await depositAll(
        alice,
        addr(),
        ids.map((id) => ({ to, id, envelope: envelope(id) })),
        { timeoutMs: 5000 },
      ).catch((err: MailboxError) => ids.map((id) => ({ id, error: err })))
      for (const r of results) {
        if (r.error === undefined) ok.add(r.id)
        else failed.set(r.id, r.error)
      }
      if (results.some((r) => r.error !== undefined)) await new Promise((r) => setTimeout(r, 20))
    }
  }
  const done = Promise.all([single(), single(), single(), single(), batched()])
  return {
    ok,
    failed,
    envelope,
    stop: async () => {
      stopped = true
      await done
    },
  }
}

describe('relay graceful shutdown', () => {
  it('loses no acknowledged envelope when stopped with deposits in flight, and tells subscribers to move on', async () => {
    let relay: RelayProcess = await startRelay({ args: LIMITS })
    cleanups.push(() => relay.stop('SIGKILL'))
    const [alice, bob] = await Promise.all([client(41), client(42)])
    const to = bob.peerId.toString()

    const seen = new Set<string>()
    const sub = await openMailbox(bob, relay.multiaddr, (e) => void seen.add(e.id))
    await sub.synced
    const loop = depositLoop(alice, to, () => relay.multiaddr)
    await waitFor(() => loop.ok.size >= 300, '300 acknowledged deposits', 30_000)

    const ackedBeforeStop = loop.ok.size
    const t0 = Date.now()
    relay.process.kill('SIGTERM')
    const code = await relay.exited
    const stopMs = Date.now() - t0
    await loop.stop()
    expect(code).toBe(0)

    // Bob was told to move on, with a retryable error, not just cut off.
    const ended = await sub.closed
    expect(ended).toBeInstanceOf(MailboxError)
    expect(ended as MailboxError).toMatchObject({ code: 'INTERNAL', retryable: true })
    expect((ended as MailboxError).message).toMatch(/shutting down/)

    // The refused or unanswered deposits are all retryable.
    for (const [id, err] of loop.failed)
      expect({ id, retryable: err.retryable }).toEqual({ id, retryable: true })

    // Nothing but JSON lines on stderr, the last ones saying it stopped.
    const lines = relay.stderr().trim().split('\n')
    const events = lines.map((l) => JSON.parse(l) as { event?: string; durationMs?: number })
    expect(events.map((e) => e.event).filter(Boolean)).toEqual(['listening', 'stopping', 'stopped'])

    // Restart on the same data directory: everything acknowledged is there (or was delivered before).
    relay = await startRelay({ port: relay.port, dataDir: relay.dataDir, args: LIMITS })
    const retried = await depositAll(
      alice,
      relay.multiaddr,
      [...loop.failed.keys()].map((id): DepositRequest => ({ to, id, envelope: loop.envelope(id) })),
    )
    expect(retried.filter((r) => r.error !== undefined)).toEqual([])
    const after = await openMailbox(bob, relay.multiaddr, (e) => void seen.add(e.id))
    await after.synced
    await after.close()
    const lost = [...loop.ok, ...loop.failed.keys()].filter((id) => !seen.has(id))
    expect(lost).toEqual([])
    console.log(
      `graceful shutdown with up to 24 deposits in flight (4 single, a batch of 20): ${loop.ok.size} acknowledged ` +
        `(${loop.ok.size - ackedBeforeStop} of them after SIGTERM), ` +
        `${loop.failed.size} refused or unanswered and retried, exit 0 after ${stopMs} ms ` +
        `(relay's own drain+stop: ${events.at(-1)?.durationMs} ms), none lost`,
    )
  })

  it('waits for subscribers to read the notice, and no longer than its budget for one that never does', async () => {
    const relay = await startRelay({ args: ['--shutdown-timeout', '4s', '--metrics-port', '0'] })
    cleanups.push(() => relay.stop('SIGKILL'))
    const [mute, bob] = await Promise.all([client(43), client(44)])
    const sub = await openMailbox(bob, relay.multiaddr, () => {})
    await sub.synced
    // A subscriber that never reads and never ends its stream.
    const stream = await mute.dialProtocol(multiaddr(relay.multiaddr), MAILBOX_PROTOCOL)
    stream.send(encodeFrame({ t: 'sub' }))
    await untilMetric(relay.metricsUrl as string, 'paloma_relay_mailbox_subscriptions', (n) => n === 2)

    const t0 = Date.now()
    const told = sub.closed.then((err) => ({ err, ms: Date.now() - t0 }))
    relay.process.kill('SIGTERM')
    expect(await relay.exited).toBe(0)
    const stopMs = Date.now() - t0
    // Bob read the notice long before the end; the mute subscriber held the drain to its end (80% of
    // 4 s), and the relay still stopped in time (exit 0, not the timeout's 1).
    const notice = await told
    expect(notice.err).toMatchObject({ code: 'INTERNAL', retryable: true })
    expect(notice.ms).toBeLessThan(1500)
    expect(stopMs).toBeGreaterThanOrEqual(3200)
    console.log(
      JSON.stringify({
        suite: 'relay-shutdown',
        subscriber_told_ms: notice.ms,
        mute_subscriber_stop_ms: stopMs,
      }),
    )
  })
})
