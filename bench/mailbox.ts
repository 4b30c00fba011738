/**
 * Relay mailbox throughput: real libp2p nodes over loopback WebSockets, a mailbox on a SQLite file in
 * WAL mode with synchronous=FULL (every acknowledged deposit is on disk). One JSON line:
 *   stored_per_s        single deposits, 16 in flight, 1 KiB envelopes
 *   pipelined_per_s     depositAll, 100 envelopes per stream
 *   fetched_per_s       subscription drain until synced
 *   fetched_acked_per_s drain until every envelope is acknowledged and deleted
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deposit, depositAll, openMailbox, type MailboxEnvelope } from '@paloma/net/mailbox-client.ts'
import { relayAddr, startClient, startRelay } from '../tests/integration/fixtures/mailbox-nodes.ts'

const N = Number(process.env.PALOMA_BENCH_ENVELOPES ?? 1000)
const CONCURRENCY = 16
const dir = mkdtempSync(join(tmpdir(), 'paloma-mailbox-bench-'))
const relay = await startRelay({
  path: join(dir, 'mailbox.sqlite'),
  rateLimit: { burst: 1e9, perSecond: 1e9 },
  perRecipientQuota: { count: 1e6, bytes: 1e10 },
  perSenderQuota: { count: 1e6, bytes: 1e10 },
})
const [alice, bob] = await Promise.all([startClient(), startClient()])
try {
  const to = bob.peerId.toString()
  const envelope = new Uint8Array(1024)
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) await deposit(alice, relayAddr(relay), { to, id: `m${next++}`, envelope })
    }),
  )
  const storeMs = performance.now() - t0

  const batch = Array.from({ length: N }, (_, i) => ({ to, id: `b${i}`, envelope }))
  const t1 = performance.now()
  for (let i = 0; i < N; i += 100) {
    const results = await depositAll(alice, relayAddr(relay), batch.slice(i, i + 100))
    if (results.some((r) => r.error !== undefined)) throw new Error('a pipelined deposit was refused')
  }
  const batchMs = performance.now() - t1

  const got: MailboxEnvelope[] = []
  const t2 = performance.now()
  const sub = await openMailbox(bob, relayAddr(relay), (e) => {
    got.push(e)
  })
  await sub.synced
  const fetchMs = performance.now() - t2
  while (relay.services.mailbox.stats().envelopes > 0) await new Promise((r) => setTimeout(r, 5))
  const ackMs = performance.now() - t2
  await sub.close()
  if (new Set(got.map((e) => e.id)).size !== 2 * N) throw new Error(`fetched ${got.length} of ${2 * N}`)

  const rate = (n: number, ms: number) => Math.round((n / ms) * 1000)
  console.log(
    JSON.stringify({
      bench: 'mailbox',
      envelopes: N,
      envelope_bytes: envelope.byteLength,
      stored_per_s: rate(N, storeMs),
      pipelined_per_s: rate(N, batchMs),
      fetched_per_s: rate(2 * N, fetchMs),
      fetched_acked_per_s: rate(2 * N, ackMs),
    }),
  )
} finally {
  await Promise.all([alice.stop(), bob.stop(), relay.stop()])
  rmSync(dir, { recursive: true, force: true })
}
