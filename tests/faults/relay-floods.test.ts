/**
 * Floods against one relay process with its default limits (issue 13): connection storms, stream storms,
 * oversized frames, DHT PUT storms, mailbox spam from many PeerIds. A generator process (`flood-child.ts`)
 * floods from loopback addresses other than 127.0.0.1 while an honest client on 127.0.0.1, already
 * connected, deposits envelopes for a subscribed recipient and measures each acknowledgement.
 *
 * For each flood: the limit that should answer did (its refusal counter in `/metrics` moved, by reason), the
 * honest client's p99 stayed within 3x of its quiet p99 (measured first, in the same run; with a floor of
 * FLOOR_MS, this shared machine's scheduling noise, below which a ratio means nothing), none of its deposits
 * failed, and the relay's resident memory grew by less than MEMORY_BOUND_MB.
 *
 * `npm test` runs each flood for 4 s; `npm run soak:relay` for 60 s (PALOMA_FLOOD_SECONDS).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { loadavg, setPriority } from 'node:os'
import type { Libp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
import { deposit, openMailbox, type MailboxSubscription } from '@paloma/net/mailbox-client.ts'
import { keyFromSeed, startClient } from '../integration/fixtures/nodes.ts'
import {
  sample,
  scrape,
  startRelay,
  untilMetric,
  type RelayProcess,
  type Samples,
} from '../support/relays.ts'
import type { FloodOrder } from './flood-child.ts'

const SECONDS = Number(process.env.PALOMA_FLOOD_SECONDS ?? 4)
/**
 * On two shared cores the generator, the relay and the honest client take turns: refusing ~4,000 streams
 * a second costs the relay most of a core, and the honest p99 (the second slowest of ~160) measured 60 and
 * 93 ms in two full runs with a quiet p99 of 15-27 ms. Below 50 ms a ratio says nothing about the limits.
 */
const FLOOR_MS = 50
/** Connections the relay closed for opening streams past the rate after as many refusals again. */
const STREAM_FLOOD = 'paloma_relay_connections_refused_total{reason="stream-flood"}'
const MEMORY_BOUND_MB = 200

let relay: RelayProcess & { metricsUrl: string }
let flooder: ChildProcess
let senders: Libp2p[]
let bob: Libp2p
let carol: Libp2p
let bobSub: MailboxSubscription
let quiet: { p99: number; n: number }

const cpuSeconds = (): number => {
  const stat = readFileSync(`/proc/${relay.process.pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

const rss = (): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${relay.process.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024

const p99 = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] ?? NaN
}

let nextId = 0
/**
 * The honest clients: four senders depositing 10 envelopes a second each (half the per-sender rate) for
 * `seconds`; every acknowledgement timed.
 */
async function honest(seconds: number): Promise<{ p99: number; n: number; errors: string[] }> {
  const end = Date.now() + seconds * 1000
  const times: number[] = []
  const errors: string[] = []
  const to = bob.peerId.toString()
  await Promise.all(
    senders.map(async (sender) => {
      while (Date.now() < end) {
        const t0 = performance.now()
        try {
          await deposit(sender, multiaddr(relay.multiaddr), {
            to,
            id: `h${nextId++}`,
            envelope: new Uint8Array(1024),
          })
          times.push(performance.now() - t0)
        } catch (err) {
          errors.push(String((err as Error).message))
        }
        await new Promise((r) => setTimeout(r, Math.max(0, 100 - (performance.now() - t0))))
      }
    }),
  )
  return { p99: Math.round(p99(times) * 10) / 10, n: times.length, errors }
}

function flood(order: Omit<FloodOrder, 'relay' | 'seconds'>): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const onMessage = (m: Record<string, unknown>): void => {
      if (m.done !== order.kind) return
      flooder.off('message', onMessage)
      resolve(m)
    }
    flooder.on('message', onMessage)
    flooder.send({ ...order, relay: relay.multiaddr, seconds: SECONDS } satisfies FloodOrder)
  })
}

/** Runs a flood with the honest client measuring meanwhile; returns both and the relay's peak RSS growth. */
async function underFlood(order: Omit<FloodOrder, 'relay' | 'seconds'>) {
  const before = await scrape(relay.metricsUrl)
  const rss0 = rss()
  const cpu0 = cpuSeconds()
  const t0 = performance.now()
  let peak = rss0
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 200)
  const [floodResult, measured] = await Promise.all([flood(order), honest(SECONDS)])
  clearInterval(sampler)
  const relayCores = Math.round(((cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000)) * 100) / 100
  return { before, floodResult, measured, relayCores, growthMb: Math.round((peak - rss0) / 2 ** 20) }
}

function report(
  name: string,
  r: Awaited<ReturnType<typeof underFlood>>,
  after: Samples,
  series: string,
): void {
  console.log(
    JSON.stringify({
      suite: 'relay-flood',
      flood: name,
      honest_p99_ms: r.measured.p99,
      honest_requests: r.measured.n,
      quiet_p99_ms: quiet.p99,
      quiet_requests: quiet.n,
      refused: { series, count: sample(after, series) - sample(r.before, series) },
      connections_closed_for_stream_flood: sample(after, STREAM_FLOOD) - sample(r.before, STREAM_FLOOD),
      relay_rss_growth_mb: r.growthMb,
      relay_cpu_cores: r.relayCores,
      event_loop_lag_p99_ms: Math.round(sample(after, 'nodejs_eventloop_lag_p99_seconds') * 1000),
      generator: r.floodResult,
      load: loadavg()[0],
    }),
  )
}

function expectHonestUnharmed(r: Awaited<ReturnType<typeof underFlood>>): void {
  expect(r.measured.errors.slice(0, 3)).toEqual([])
  expect(r.measured.p99).toBeLessThanOrEqual(3 * Math.max(quiet.p99, FLOOR_MS))
  expect(r.growthMb).toBeLessThan(MEMORY_BOUND_MB)
}

/** Waits until `series` moved past its value in `before`. */
const moved = (before: Samples, series: string) =>
  untilMetric(relay.metricsUrl, series, (v) => v > sample(before, series), 20_000)

beforeAll(async () => {
  // Default limits, except the per-IP deposit rate: 50/s instead of 200/s, so that the spam of ten PeerIds
  // (all the per-IP connection rate lets in within the flood) exceeds it.
  relay = (await startRelay({
    args: ['--metrics-port', '0', '--mailbox-ip-rate', '50', '--mailbox-ip-burst', '100'],
  })) as RelayProcess & { metricsUrl: string }
  senders = await Promise.all([61, 62, 63, 64].map(async (seed) => startClient(await keyFromSeed(seed))))
  ;[bob, carol] = await Promise.all([startClient(await keyFromSeed(65)), startClient(await keyFromSeed(66))])
  for (const sender of senders) await sender.dial(multiaddr(relay.multiaddr))
  bobSub = await openMailbox(bob, multiaddr(relay.multiaddr), () => {})
  await bobSub.synced
  flooder = fork(new URL('./flood-child.ts', import.meta.url).pathname, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  // The generator shares this 2-core machine with the relay and the honest client; at the lowest priority its
  // own CPU is not what slows them (a remote attacker's would not be), the relay's work for the flood is.
  setPriority(flooder.pid!, 19)
  await new Promise<void>((resolve) => flooder.once('message', () => resolve()))
  await honest(1) // warm-up
  quiet = await honest(SECONDS)
  console.log(`quiet: honest p99 ${quiet.p99} ms over ${quiet.n} deposits, load ${loadavg()[0]?.toFixed(1)}`)
})

afterAll(async () => {
  flooder?.kill('SIGKILL')
  await bobSub?.close().catch(() => {})
  await Promise.all([...(senders ?? []), bob, carol].map((n) => n?.stop()))
  await relay?.stop()
})

describe('relay under floods', () => {
  it('connection storm: per-IP connection rate refusals, honest client unharmed', async () => {
    const r = await underFlood({ kind: 'connections', ip: '127.0.0.10' })
    const series = 'paloma_relay_connections_refused_total{reason="rate"}'
    const after = await moved(r.before, series)
    report('connections', r, after, series)
    expectHonestUnharmed(r)
  })

  it('stream storm: per-connection stream rate refusals, honest client unharmed', async () => {
    const r = await underFlood({ kind: 'streams', ip: '127.0.0.40' })
    const series = 'paloma_relay_streams_refused_total{reason="rate"}'
    await moved(r.before, series)
    // The flooding connection is closed; the generator's new ones meet the per-IP connection rate.
    const after = await moved(r.before, STREAM_FLOOD)
    report('streams', r, after, series)
    expectHonestUnharmed(r)
  })

  it('oversized frames: refused as TOO_LARGE before they are buffered, honest client unharmed', async () => {
    const r = await underFlood({ kind: 'oversized', ip: '127.0.0.41' })
    const series = 'paloma_relay_mailbox_refused_total{reason="TOO_LARGE"}'
    const after = await moved(r.before, series)
    report('oversized', r, after, series)
    expectHonestUnharmed(r)
  })

  it('DHT PUT storm: per-peer DHT write rate refusals, honest client unharmed', async () => {
    const r = await underFlood({ kind: 'dht', ip: '127.0.0.42' })
    const series = 'paloma_relay_dht_puts_refused_total{reason="RATE_LIMITED"}'
    const after = await moved(r.before, series)
    report('dht', r, after, series)
    expectHonestUnharmed(r)
  })

  it('mailbox spam from many PeerIds on one address: per-IP deposit rate refusals, honest client unharmed', async () => {
    const r = await underFlood({ kind: 'mailbox-spam', ip: '127.0.0.43', to: carol.peerId.toString() })
    const series = 'paloma_relay_mailbox_refused_total{reason="RATE_LIMITED_IP"}'
    const after = await moved(r.before, series)
    report('mailbox-spam', r, after, series)
    expectHonestUnharmed(r)
  })
})
