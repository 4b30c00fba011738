/**
 * Relay mailbox write path: a relay process (`bench/relay-process.ts`, the relay's own `createRelay`) with its
 * mailbox on a SQLite file (WAL, synchronous=FULL: every acknowledged deposit is on disk), and Node clients
 * in this process over loopback WebSockets. The same measurements run against three commit modes, each on a
 * fresh relay, in one run:
 *
 * - `each` (the baseline: the relay before group commit): one transaction per request, on the event loop;
 * - `group_inline`: group commit across streams, on the event loop;
 * - `group_thread` (the relay's default): group commit across streams, in the mailbox's writer thread.
 *
 * Per mode: `burst_ok` (32 deposits fired at once by a client whose connection is still opening: what
 * crashed this benchmark before, MaxEarlyStreamsError), `stored_per_s` and `ack_ms` (one `deposit()` per
 * envelope, one stream each, as the app does: 64 in flight from 8 clients), `pipelined_per_s`
 * (`depositAll`, 100 per stream, 8 clients at once), `fetched_acked_per_s` (a subscription drains the
 * backlog until the relay has deleted every envelope), `relay_cpu_us_per_envelope`, and the ratios of each
 * figure to the baseline. One JSON line. `--quick`: fewer envelopes.
 *
 * Run: `node bench/mailbox.ts [--quick]` (or `npm run bench -- --quick`).
 */
import { readFileSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
import { deposit, depositAll, openMailbox } from '@paloma/net/mailbox-client.ts'
import { startClient } from '../tests/integration/fixtures/nodes.ts'
import { sample, scrape } from '../tests/support/relays.ts'
import { spawnRelays } from './relay-process.ts'
import type { MailboxInit } from '../relay-node/src/mailbox/index.ts'

const quick = process.argv.includes('--quick')
const N = Number(process.env.PALOMA_BENCH_ENVELOPES ?? (quick ? 400 : 3000))
const CLIENTS = 8
const IN_FLIGHT = 64
const envelope = new Uint8Array(1024)

const MODES: Record<string, Pick<MailboxInit, 'commit' | 'writerThread'>> = {
  each: { commit: 'each' },
  group_inline: { commit: 'group', writerThread: false },
  group_thread: { commit: 'group', writerThread: true },
}

const cpuSeconds = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return Math.round((s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN) * 10) / 10
}
const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000)

async function measure(mode: string) {
  const relayProcess = await spawnRelays({
    metrics: true,
    options: {
      maxConnectionsPerIp: 100_000,
      connectionRate: 10_000,
      streamRate: { burst: 1e9, perSecond: 1e9 },
      mailbox: {
        ...MODES[mode],
        rateLimit: { burst: 1e9, perSecond: 1e9 },
        ipRateLimit: { burst: 1e9, perSecond: 1e9 },
        perRecipientQuota: { count: 1e9, bytes: 1e12 },
        perSenderQuota: { count: 1e9, bytes: 1e12 },
        maxUnacked: 1024,
      },
    },
  })
  const relay = multiaddr(relayProcess.relays[0]!.multiaddr)
  const metricsUrl = relayProcess.metricsUrl!
  const clients: Libp2p[] = await Promise.all(
    Array.from({ length: CLIENTS }, async () => startClient(await generateKeyPair('Ed25519'))),
  )
  const bob = await startClient(await generateKeyPair('Ed25519'))
  const to = bob.peerId.toString()
  try {
    // The first deposits of a client whose connection is still opening, all at once.
    const burst = await Promise.allSettled(
      Array.from({ length: 32 }, (_, i) => deposit(clients[0]!, relay, { to, id: `burst-${i}`, envelope })),
    )
    const burstOk = burst.filter((r) => r.status === 'fulfilled').length
    const burstErrors = burst.flatMap((r) =>
      r.status === 'rejected' ? [String((r.reason as Error).message)] : [],
    )
    await Promise.all(clients.map((c) => c.dial(relay)))

    const cpu0 = cpuSeconds(relayProcess.pid)
    const ack: number[] = []
    let next = 0
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, w) => {
        const client = clients[w % CLIENTS]!
        while (next < N) {
          const id = `m${next++}`
          const t = performance.now()
          await deposit(client, relay, { to, id, envelope })
          ack.push(performance.now() - t)
        }
      }),
    )
    const singleMs = performance.now() - t0
    const cpu1 = cpuSeconds(relayProcess.pid)

    const perClient = Math.ceil(N / CLIENTS)
    const t1 = performance.now()
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < perClient; i += 100) {
          const batch = Array.from({ length: Math.min(100, perClient - i) }, (_, k) => ({
            to,
            id: `b${c}-${i + k}`,
            envelope,
          }))
          const results = await depositAll(client, relay, batch)
          if (results.some((r) => r.error !== undefined)) throw new Error('a pipelined deposit was refused')
        }
      }),
    )
    const pipelinedMs = performance.now() - t1
    const cpu2 = cpuSeconds(relayProcess.pid)
    const stored = burstOk + N + perClient * CLIENTS

    let got = 0
    const t2 = performance.now()
    const sub = await openMailbox(bob, relay, () => {
      got++
    })
    await sub.synced
    for (;;) {
      if (sample(await scrape(metricsUrl), 'paloma_relay_mailbox_envelopes') === 0) break
      await new Promise((r) => setTimeout(r, 20))
    }
    const fetchMs = performance.now() - t2
    const cpu3 = cpuSeconds(relayProcess.pid)
    await sub.close()
    if (got < stored) throw new Error(`fetched ${got} of ${stored}`)
    return {
      burst_ok: burstOk,
      ...(burstErrors.length > 0 ? { burst_errors: [...new Set(burstErrors)].slice(0, 3) } : {}),
      stored_per_s: rate(N, singleMs),
      ack_ms: { p50: pct(ack, 50), p99: pct(ack, 99), max: pct(ack, 100) },
      pipelined_per_s: rate(perClient * CLIENTS, pipelinedMs),
      fetched_acked_per_s: rate(got, fetchMs),
      relay_cpu_us_per_envelope: {
        single: Math.round(((cpu1 - cpu0) / N) * 1e6),
        pipelined: Math.round(((cpu2 - cpu1) / (perClient * CLIENTS)) * 1e6),
        fetch_ack: Math.round(((cpu3 - cpu2) / got) * 1e6),
      },
    }
  } finally {
    await Promise.all([...clients, bob].map((c) => c.stop()))
    await relayProcess.stop()
  }
}

// Modes interleaved, round after round, so that the machine's load (shared) weighs on each alike; the
// figures are medians over the rounds.
type Result = Awaited<ReturnType<typeof measure>>
const ROUNDS = Number(process.env.PALOMA_BENCH_ROUNDS ?? (quick ? 1 : 3))
const runs: Record<string, Result[]> = Object.fromEntries(Object.keys(MODES).map((m) => [m, []]))
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of Object.keys(MODES)) runs[mode]!.push(await measure(mode))
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1
    ? s[s.length >> 1]!
    : Math.round(((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) * 10) / 10
}
const summary = (rs: Result[]) => ({
  burst_ok: Math.min(...rs.map((r) => r.burst_ok)),
  stored_per_s: median(rs.map((r) => r.stored_per_s)),
  ack_ms: {
    p50: median(rs.map((r) => r.ack_ms.p50)),
    p99: median(rs.map((r) => r.ack_ms.p99)),
    max: Math.max(...rs.map((r) => r.ack_ms.max)),
  },
  pipelined_per_s: median(rs.map((r) => r.pipelined_per_s)),
  fetched_acked_per_s: median(rs.map((r) => r.fetched_acked_per_s)),
  relay_cpu_us_per_envelope: {
    single: median(rs.map((r) => r.relay_cpu_us_per_envelope.single)),
    pipelined: median(rs.map((r) => r.relay_cpu_us_per_envelope.pipelined)),
    fetch_ack: median(rs.map((r) => r.relay_cpu_us_per_envelope.fetch_ack)),
  },
  rounds: rs.map((r) => ({
    stored_per_s: r.stored_per_s,
    ack_p99: r.ack_ms.p99,
    pipelined_per_s: r.pipelined_per_s,
    fetched_acked_per_s: r.fetched_acked_per_s,
  })),
  ...(rs.some((r) => r.burst_errors !== undefined)
    ? { burst_errors: rs.flatMap((r) => r.burst_errors ?? []) }
    : {}),
})
const results = Object.fromEntries(Object.entries(runs).map(([mode, rs]) => [mode, summary(rs)]))
const base = results.each!
const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100
const ratios = Object.fromEntries(
  Object.entries(results)
    .filter(([mode]) => mode !== 'each')
    .map(([mode, r]) => [
      mode,
      {
        stored_per_s: ratio(r.stored_per_s, base.stored_per_s),
        ack_p99: ratio(r.ack_ms.p99, base.ack_ms.p99),
        pipelined_per_s: ratio(r.pipelined_per_s, base.pipelined_per_s),
        fetched_acked_per_s: ratio(r.fetched_acked_per_s, base.fetched_acked_per_s),
      },
    ]),
)
console.log(
  JSON.stringify({
    bench: 'mailbox',
    quick,
    envelopes: N,
    envelope_bytes: envelope.byteLength,
    clients: CLIENTS,
    in_flight: IN_FLIGHT,
    rounds: ROUNDS,
    baseline: 'each',
    ...results,
    ratio_to_baseline: ratios,
    load_avg: (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100),
  }),
)
process.exit(0)
