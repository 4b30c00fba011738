/**
 * Direct-connection speed (issue 12, targets 1 and 2): the app's round trip and one-way throughput over
 * the direct WebRTC connection between two Chromium contexts, against a bare RTCDataChannel between two
 * peer connections measured in the same run. One JSON line:
 *   bare_rtt_ms_p50/p99          a 100-byte message there and back on a bare data channel
 *   bare_msgs_per_s              100-byte messages one way on the bare channel, sender to receiver
 *   rtt_ms_p50/p99/max           Alice's send() -> Bob decrypted, stored and showed it -> his acknowledgement ->
 *                                the message no longer "pending" on Alice's side, ROUNDS messages of 100 bytes
 *   rtt_ratio_p50                rtt_ms_p50 / bare_rtt_ms_p50
 *   msgs_per_s                   N one-way 100-byte messages sent at once -> all stored and shown on Bob's side
 *   throughput_ratio             msgs_per_s / bare_msgs_per_s
 * Needs the test build (`npm run build:test`; npm run bench does it). PALOMA_BENCH_QUICK=1: fewer rounds.
 * PALOMA_BENCH_PROFILE=<dir>: CPU-profiles both pages during the round trips, writes <dir>/{alice,bob}.cpuprofile
 * and prints each page's heaviest functions (self time) to stderr.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CDPSession, Page } from 'playwright-core'
import type { Paloma } from '../src/app/paloma.ts'
import { lab, newPerson, percentile, round } from './browser.ts'

const PROFILE = process.env.PALOMA_BENCH_PROFILE

async function startProfile(page: Page): Promise<CDPSession> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 })
  await cdp.send('Profiler.start')
  return cdp
}

type ProfileNode = {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

async function stopProfile(cdp: CDPSession, name: string): Promise<void> {
  const { profile } = (await cdp.send('Profiler.stop')) as {
    profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
  }
  await mkdir(PROFILE!, { recursive: true })
  await writeFile(join(PROFILE!, `${name}.cpuprofile`), JSON.stringify(profile))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const byFn = new Map<string, number>()
  let total = 0
  for (const n of profile.nodes) {
    const t = self.get(n.id) ?? 0
    total += t
    const f = n.callFrame
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber}`
    byFn.set(key, (byFn.get(key) ?? 0) + t)
  }
  const top = [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 25)
  process.stderr.write(`\n${name}: ${Math.round(total / 1000)} ms sampled\n`)
  for (const [k, t] of top) process.stderr.write(`  ${(t / 1000).toFixed(1).padStart(8)} ms  ${k}\n`)
}

const QUICK = process.env.PALOMA_BENCH_QUICK === '1'
const ROUNDS = Number(process.env.PALOMA_BENCH_ROUNDS ?? (QUICK ? 100 : 500))
const BURST = Number(process.env.PALOMA_BENCH_BURST ?? (QUICK ? 200 : 1000))
type Win = { paloma: Paloma }

const l = await lab()
try {
  const alice = await newPerson(l, 'alice')
  const bob = await newPerson(l, 'bob')

  // The baseline: two peer connections in one page, one data channel, the same message sizes.
  const bare = await alice.page.evaluate(
    async ({ rounds, burst }) => {
      const a = new RTCPeerConnection()
      const b = new RTCPeerConnection()
      a.onicecandidate = (e) => e.candidate && void b.addIceCandidate(e.candidate)
      b.onicecandidate = (e) => e.candidate && void a.addIceCandidate(e.candidate)
      const ch = a.createDataChannel('bench')
      const remote = new Promise<RTCDataChannel>((res) => (b.ondatachannel = (e) => res(e.channel)))
      await a.setLocalDescription(await a.createOffer())
      await b.setRemoteDescription(a.localDescription!)
      await b.setLocalDescription(await b.createAnswer())
      await a.setRemoteDescription(b.localDescription!)
      const other = await remote
      if (ch.readyState !== 'open') await new Promise((r) => (ch.onopen = r))
      const msg = new Uint8Array(100)
      other.onmessage = (e) => other.send(e.data)
      const rtts: number[] = []
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now()
        const back = new Promise((r) => (ch.onmessage = r))
        ch.send(msg)
        await back
        rtts.push(performance.now() - t0)
      }
      let got = 0
      const all = new Promise<void>((r) => {
        other.onmessage = () => {
          if (++got === burst) r()
        }
      })
      const t0 = performance.now()
      for (let i = 0; i < burst; i++) ch.send(msg)
      await all
      const perS = burst / ((performance.now() - t0) / 1000)
      a.close()
      b.close()
      return { rtts, perS }
    },
    { rounds: ROUNDS, burst: BURST },
  )

  const bobInvite = await bob.page.evaluate(() => (globalThis as unknown as Win).paloma.inviteLink()!)
  const bobId = await bob.page.evaluate(() => (globalThis as unknown as Win).paloma.peerId!)
  const aliceId = await alice.page.evaluate(() => (globalThis as unknown as Win).paloma.peerId!)
  await alice.page.evaluate((link) => (globalThis as unknown as Win).paloma.addContact(link), bobInvite)
  await alice.page.evaluate(() => (globalThis as unknown as Win).paloma.send('warm-up'))
  await bob.page.waitForFunction(
    (peer) => (globalThis as unknown as Win).paloma.snapshot().contacts.some((c) => c.peerId === peer),
    aliceId,
  )
  await bob.page.evaluate((peer) => (globalThis as unknown as Win).paloma.openChat(peer), aliceId)
  await alice.page.waitForFunction(
    (peer) =>
      (globalThis as unknown as Win).paloma.snapshot().contacts.find((c) => c.peerId === peer)?.direct,
    bobId,
    { timeout: 60_000 },
  )

  const profiles = PROFILE === undefined ? [] : await Promise.all([alice.page, bob.page].map(startProfile))
  const rtts = await alice.page.evaluate(async (rounds) => {
    const app = (globalThis as unknown as Win).paloma
    const text = 'x'.repeat(100)
    const out: number[] = []
    for (let i = 0; i < rounds; i++) {
      const start = performance.now()
      await app.send(text)
      const id = app.snapshot().messages.at(-1)!.id
      await new Promise<void>((res) => {
        const off = app.subscribe((s) => {
          if (s.messages.some((m) => m.id === id && m.status !== 'pending')) {
            queueMicrotask(() => off())
            res()
          }
        })
      })
      out.push(performance.now() - start)
    }
    return out
  }, ROUNDS)
  if (PROFILE !== undefined) {
    await stopProfile(profiles[0]!, 'alice')
    await stopProfile(profiles[1]!, 'bob')
  }

  // Throughput: Bob counts what arrives (stored and shown) from the first to the last of the burst.
  const before = await bob.page.evaluate(
    () =>
      (globalThis as unknown as Win).paloma.snapshot().messages.filter((m) => m.direction === 'in').length,
  )
  const arrived = bob.page.evaluate(
    ({ want }) =>
      new Promise<number>((res) => {
        const app = (globalThis as unknown as Win).paloma
        const off = app.subscribe((s) => {
          if (s.messages.filter((m) => m.direction === 'in').length >= want) {
            queueMicrotask(() => off())
            res(performance.timeOrigin + performance.now())
          }
        })
      }),
    { want: before + BURST },
  )
  const sentAt = await alice.page.evaluate(async (burst) => {
    const app = (globalThis as unknown as Win).paloma
    const t0 = performance.timeOrigin + performance.now()
    await Promise.all(Array.from({ length: burst }, (_, i) => app.send(`burst ${i} ${'y'.repeat(90)}`)))
    return t0
  }, BURST)
  const msgsPerS = BURST / (((await arrived) - sentAt) / 1000)

  const bareP50 = percentile(bare.rtts, 50)
  const p50 = percentile(rtts, 50)
  console.log(
    JSON.stringify({
      bench: 'roundtrip',
      rounds: ROUNDS,
      burst: BURST,
      bare_rtt_ms_p50: round(bareP50, 3),
      bare_rtt_ms_p99: round(percentile(bare.rtts, 99), 3),
      bare_msgs_per_s: Math.round(bare.perS),
      rtt_ms_p50: round(p50, 2),
      rtt_ms_p99: round(percentile(rtts, 99), 2),
      rtt_ms_max: round(Math.max(...rtts), 2),
      rtt_ratio_p50: round(p50 / bareP50, 1),
      msgs_per_s: Math.round(msgsPerS),
      throughput_ratio: round(msgsPerS / bare.perS, 3),
    }),
  )
} finally {
  await l.close()
}
