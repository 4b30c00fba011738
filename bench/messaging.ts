/**
 * Delivery benchmark (issue 12, targets 3 and 4): two Chromium contexts per pair and a relay process.
 * One JSON line:
 *   first_message_ms_p50/p99   a person adds a contact who is online but not connected yet (invite link) and
 *                              sends at once -> the message stored and shown on the other side: prekey
 *                              fetch, X3DH, the relayed path, over PAIRS fresh pairs
 *   catchup_ms                 CATCHUP messages waiting in a closed tab's mailbox: from the end of unlock
 *                              (node started) to the last of them stored and counted unread
 *   catchup_unlock_ms          the unlock itself (Argon2id passphrase check, vault open), reported apart
 *   baseline_fetch_ms          a bare libp2p client fetching the same number of envelopes of the same size
 *                              from the same relay (no decryption, no storage)
 *   catchup_ratio              catchup_ms / baseline_fetch_ms
 * Needs the test build (`npm run build:test`; npm run bench does it). PALOMA_BENCH_QUICK=1: fewer pairs.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { depositAll, openMailbox } from '@paloma/net/mailbox-client.ts'
import type { Paloma } from '../src/app/paloma.ts'
import { startClient } from '../tests/integration/fixtures/nodes.ts'
import { lab, newPerson, PASSPHRASE, percentile, round } from './browser.ts'

const QUICK = process.env.PALOMA_BENCH_QUICK === '1'
const PAIRS = Number(process.env.PALOMA_BENCH_PAIRS ?? (QUICK ? 4 : 20))
const CATCHUP = Number(process.env.PALOMA_BENCH_CATCHUP ?? (QUICK ? 200 : 1000))
type Win = { paloma: Paloma }

const l = await lab()
try {
  // First message to an online contact not yet connected, over fresh pairs.
  const first: number[] = []
  for (let i = 0; i < PAIRS; i++) {
    const [a, b] = await Promise.all([newPerson(l, `ann${i}`), newPerson(l, `ben${i}`)])
    const invite = await b.page.evaluate(() => (globalThis as unknown as Win).paloma.inviteLink()!)
    const aId = await a.page.evaluate(() => (globalThis as unknown as Win).paloma.peerId!)
    const shown = b.page.evaluate(
      (peer) =>
        new Promise<number>((resolve) => {
          const app = (globalThis as unknown as Win).paloma
          const off = app.subscribe((s) => {
            if (s.contacts.some((c) => c.peerId === peer && c.unread > 0)) {
              queueMicrotask(() => off())
              resolve(performance.timeOrigin + performance.now())
            }
          })
        }),
      aId,
    )
    const sentAt = await a.page.evaluate(async (link) => {
      const app = (globalThis as unknown as Win).paloma
      const t0 = performance.timeOrigin + performance.now()
      await app.addContact(link)
      await app.send('hello, first message')
      return t0
    }, invite)
    first.push((await shown) - sentAt)
    await Promise.all([a.context.close(), b.context.close()])
  }

  // Catch-up: a closed tab, CATCHUP messages waiting on the relay, the tab back.
  const alice = await newPerson(l, 'alice')
  const bob = await newPerson(l, 'bob')
  const bobInvite = await bob.page.evaluate(() => (globalThis as unknown as Win).paloma.inviteLink()!)
  const aliceId = await alice.page.evaluate(() => (globalThis as unknown as Win).paloma.peerId!)
  await alice.page.evaluate((link) => (globalThis as unknown as Win).paloma.addContact(link), bobInvite)
  await alice.page.evaluate(() => (globalThis as unknown as Win).paloma.send('warm-up'))
  await bob.page.waitForFunction(
    (peer) => (globalThis as unknown as Win).paloma.snapshot().contacts.some((c) => c.peerId === peer),
    aliceId,
  )
  await bob.page.close()
  await alice.page.evaluate(async (n) => {
    const app = (globalThis as unknown as Win).paloma
    await Promise.all(Array.from({ length: n }, (_, i) => app.send(`catch-up ${i} ${'z'.repeat(86)}`)))
    await new Promise<void>((resolve) => {
      const off = app.subscribe((s) => {
        if (s.messages.every((m) => m.status !== 'pending')) {
          queueMicrotask(() => off())
          resolve()
        }
      })
    })
  }, CATCHUP)
  // The size of what waits, as the relay counts it: the baseline fetches as many bytes.
  const gauges = await (await fetch(l.relay.metricsUrl!)).text()
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(gauges)?.[1] ?? NaN)
  const envelopeBytes = Math.round(
    gauge('paloma_relay_mailbox_bytes') / gauge('paloma_relay_mailbox_envelopes'),
  )
  if (!Number.isFinite(envelopeBytes)) throw new Error('the relay did not report its mailbox size')
  bob.page = await bob.context.newPage()
  await bob.page.goto(l.web.url)
  await bob.page.getByRole('button', { name: 'Unlock' }).waitFor()
  // The unlock screen comes before the app service's chunk: wait for the service itself.
  await bob.page.waitForFunction(() => (globalThis as unknown as Partial<Win>).paloma !== undefined)
  const times = await bob.page.evaluate(
    async ({ pass, peer, n }) => {
      const app = (globalThis as unknown as Win).paloma
      const t0 = performance.now()
      await app.unlock(pass)
      const unlocked = performance.now()
      await new Promise<void>((resolve) => {
        const off = app.subscribe((s) => {
          if ((s.contacts.find((c) => c.peerId === peer)?.unread ?? 0) >= n) {
            queueMicrotask(() => off())
            resolve()
          }
        })
      })
      return { unlock: unlocked - t0, catchup: performance.now() - unlocked }
    },
    { pass: PASSPHRASE, peer: aliceId, n: CATCHUP },
  )

  // The baseline: the same number of envelopes of the same size, fetched by a bare client.
  const owner = await generateKeyPair('Ed25519')
  const [depositor, reader] = await Promise.all([startClient(), startClient(owner)])
  const to = peerIdFromPrivateKey(owner).toString()
  for (let i = 0; i < CATCHUP; i += 100) {
    const batch = Array.from({ length: Math.min(100, CATCHUP - i) }, (_, k) => ({
      to,
      id: `b${i + k}`,
      envelope: crypto.getRandomValues(new Uint8Array(envelopeBytes)),
    }))
    await depositAll(depositor, l.relay.multiaddr, batch)
  }
  const t0 = performance.now()
  let got = 0
  const sub = await openMailbox(reader, l.relay.multiaddr, async () => void got++)
  await sub.synced
  const baseline = performance.now() - t0
  await sub.close()
  await Promise.all([depositor.stop(), reader.stop()])
  if (got !== CATCHUP) throw new Error(`baseline fetched ${got} of ${CATCHUP}`)

  console.log(
    JSON.stringify({
      bench: 'messaging',
      pairs: PAIRS,
      first_message_ms_p50: Math.round(percentile(first, 50)),
      first_message_ms_p99: Math.round(percentile(first, 99)),
      catchup_messages: CATCHUP,
      catchup_ms: Math.round(times.catchup),
      catchup_unlock_ms: Math.round(times.unlock),
      envelope_bytes: envelopeBytes,
      baseline_fetch_ms: Math.round(baseline),
      catchup_ratio: round(times.catchup / baseline, 1),
    }),
  )
} finally {
  await l.close()
}
