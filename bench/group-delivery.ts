/**
 * Group delivery benchmark (issue 10): full Paloma apps in Node (libp2p with gossipsub, WebRTC through
 * node-datachannel, the crypto core on OpenSSL, in-memory vaults) on one relay process. Prints one JSON
 * line; for each group size (3, 10 and 30 members):
 *   latency_ms_p50/p99   a member sends, every other member shows it: from `send()` to the snapshot that
 *                        shows it, over MESSAGES messages from the members in turn (n - 1 samples each),
 *                        after a warm-up round (every member wrote once: sessions and keys are in place)
 *                        and once every member has a peer on the topic (or after 60 s of trying)
 *   copies_per_message   1:1 copies the senders queued per message (members not reached live)
 *   receipts_per_message group receipts ("delivered", "read") queued per message, by all members
 *   published_share      messages that gossip reached at least one peer with
 *   live_peers_min       the fewest topic peers any member had when the measurement started
 *   without_gossip       (3 and 10 members; 3 in quick mode) the same with publishing off: every member gets a copy over
 *                        1:1 (direct when connected, else the mailbox), as delivery works with no mesh
 *   removal              the creator removes one member: `pairwise_messages` (1:1 envelopes queued by
 *                        everyone: the change to each of the n - 1 others, every remaining member's new
 *                        sender key to every other: (n - 1) + (n - 1)(n - 2)), `key_distributions` of them,
 *                        and `ms`, from `removeMember()` until every remaining member took every other
 *                        remaining member's new key
 * All members run in this one process on the machine's cores: each message's receipts and copies compete
 * with the other members' decryption, which a group of real devices does not.
 * PALOMA_BENCH_QUICK=1: groups of 3 (also without gossip) and 5, fewer messages, in about 40 s.
 * PALOMA_BENCH_SIZES=3,10: other sizes.
 */
import { availableParallelism, loadavg } from 'node:os'
import type { Paloma } from '../src/app/paloma.ts'
import type { GroupTrafficStats } from '../src/app/group-transport.ts'
import { person, PASSPHRASE, until, type Person } from '../tests/support/people.ts'
import { startRelay } from '../tests/support/relays.ts'
import { percentile, round } from './browser.ts'

const QUICK = process.env.PALOMA_BENCH_QUICK === '1'
const SIZES = (process.env.PALOMA_BENCH_SIZES ?? (QUICK ? '3,5' : '3,10,30')).split(',').map(Number)
const MESSAGES = Number(process.env.PALOMA_BENCH_GROUP_MESSAGES ?? (QUICK ? 6 : 30))
/** Sizes also measured with publishing off (every member a copy over 1:1). */
const COMPARE = Number(process.env.PALOMA_BENCH_COMPARE ?? (QUICK ? 3 : 10))
const TIMEOUT = 180_000

const sum = (people: Person[], f: (s: GroupTrafficStats) => number) =>
  people.reduce((n, p) => n + f(p.app.groupStats()!), 0)

/** Resolves with the time (performance.now) at which `app` first shows `text` in its open group. */
function shown(app: Paloma, text: string): Promise<number> {
  return new Promise((resolve) => {
    let off = () => {}
    off = app.subscribe((s) => {
      if (s.group?.messages.some((m) => m.text === text)) {
        const t = performance.now()
        queueMicrotask(() => off())
        resolve(t)
      }
    })
  })
}

async function measure(size: number, gossip = true) {
  const relay = await startRelay()
  const people: Person[] = []
  const init = { messenger: { groups: { transport: { publish: gossip } } } }
  try {
    for (let i = 0; i < size; i += 5) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(5, size - i) }, async (_, k) => {
          const p = person([relay.multiaddr], undefined, {}, init)
          await p.app.open()
          await p.app.createAccount(`member${i + k}`, PASSPHRASE)
          await until(p.app, (s) => s.state === 'online', TIMEOUT)
          return p
        }),
      )
      people.push(...batch)
    }
    const [creator, ...others] = people as [Person, ...Person[]]
    const creatorInvite = creator.app.snapshot().me!.inviteLink!
    for (const p of others) {
      await creator.app.addContact(p.app.snapshot().me!.inviteLink!)
      await p.app.addContact(creatorInvite) // the creator is their contact: the welcome joins at once
    }
    const id = await creator.app.createGroup(
      'bench',
      others.map((p) => p.app.peerId!),
    )
    await Promise.all(
      others.map(async (p) => {
        await until(p.app, (s) => s.groups?.find((g) => g.id === id && g.members === size), TIMEOUT)
        await p.app.openChat(id)
      }),
    )
    // Warm-up: everyone writes once and everyone shows everything (sessions made, keys taken).
    await Promise.all(people.map((p, i) => p.app.send(`warm ${i}`)))
    await Promise.all(people.map((p) => until(p.app, (s) => s.group?.messages.length === size, TIMEOUT)))
    // Steady state: every member on the topic with at least one peer (the mesh), or 60 s of trying.
    await waitFor(() => people.every((p) => p.app.groupLivePeers(id).length > 0), 60_000).catch(() => {})
    const livePeers = people.map((p) => p.app.groupLivePeers(id).length)

    const before = people.map((p) => p.app.groupStats()!)
    const latencies: number[] = []
    for (let k = 0; k < MESSAGES; k++) {
      const sender = people[k % size]!
      const text = `bench ${k}`
      const arrivals = people.filter((p) => p !== sender).map((p) => shown(p.app, text))
      const t0 = performance.now()
      await sender.app.send(text)
      for (const t of await Promise.all(arrivals)) latencies.push(t - t0)
      await new Promise((r) => setTimeout(r, 220)) // under the group rate limit of 5 per second
    }
    const copies = sum(people, (s) => s.copies) - before.reduce((n, s) => n + s.copies, 0)
    const published = sum(people, (s) => s.published) - before.reduce((n, s) => n + s.published, 0)
    const receipts = sum(people, (s) => s.receipts) - before.reduce((n, s) => n + s.receipts, 0)

    // Removal: the creator removes the last member; everyone remaining rotates and hands out a new key.
    const victim = people[size - 1]!
    const remaining = people.slice(0, -1)
    const start = people.map((p) => p.app.groupStats()!)
    const t0 = performance.now()
    await creator.app.removeMember(id, victim.app.peerId!)
    await Promise.all(
      remaining.map(async (p, i) => {
        await until(p.app, (s) => s.group?.members.length === size - 1, TIMEOUT)
        await waitFor(() => p.app.groupStats()!.keysTaken - start[i]!.keysTaken >= size - 2)
      }),
    )
    const removalMs = performance.now() - t0
    const keys = sum(people, (s) => s.keys) - start.reduce((n, s) => n + s.keys, 0)
    const changes = sum(people, (s) => s.changes) - start.reduce((n, s) => n + s.changes, 0)
    return {
      members: size,
      latency_ms_p50: round(percentile(latencies, 50)),
      latency_ms_p99: round(percentile(latencies, 99)),
      samples: latencies.length,
      copies_per_message: round(copies / MESSAGES, 2),
      receipts_per_message: round(receipts / MESSAGES, 2),
      published_share: round(published / MESSAGES, 2),
      live_peers_min: Math.min(...livePeers),
      removal: { pairwise_messages: keys + changes, key_distributions: keys, ms: round(removalMs) },
    }
  } finally {
    await Promise.all(people.map((p) => p.app.stop().catch(() => {})))
    await relay.stop()
  }
}

/** Polls `ok` every 20 ms (a counter, not a snapshot) until it holds. */
async function waitFor(ok: () => boolean, ms = TIMEOUT): Promise<void> {
  const until = Date.now() + ms
  while (!ok()) {
    if (Date.now() > until) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

const started = Date.now()
const results = []
for (const size of SIZES) {
  const r = await measure(size)
  if (size > COMPARE) results.push(r)
  else {
    const w = await measure(size, false)
    results.push({
      ...r,
      without_gossip: {
        latency_ms_p50: w.latency_ms_p50,
        latency_ms_p99: w.latency_ms_p99,
        copies_per_message: w.copies_per_message,
        receipts_per_message: w.receipts_per_message,
      },
    })
  }
}
console.log(
  JSON.stringify({
    bench: 'group-delivery',
    quick: QUICK,
    cores: availableParallelism(),
    load: round(loadavg()[0]!, 2),
    messages_per_size: MESSAGES,
    groups: results,
    seconds: round((Date.now() - started) / 1000),
  }),
)
process.exit(0)
