/**
 * Messaging benchmark (issue 5), two Chromium contexts and a relay process. One JSON line:
 *   delivery_ms_p50/p99   Alice's send() -> the message stored and shown in Bob's open chat, over the
 *                         direct WebRTC connection, 200 messages one after another (clock: both pages
 *                         share the machine's clock, performance.timeOrigin + now())
 *   mailbox_reconnect_ms_p50  Bob reopens his closed tab and unlocks -> a message left in his mailbox is
 *                         shown (20 rounds); unlock includes the Argon2id passphrase check
 *   mailbox_fetch_ms_p50  the same, measured from the end of unlock (node started) to the message shown
 */
import type { Page } from 'playwright-core'
import type { Paloma } from '../src/app/paloma.ts'
import { lab, newPerson, PASSPHRASE, percentile, round } from './browser.ts'

type Win = { paloma: Paloma }
const MESSAGES = Number(process.env.PALOMA_BENCH_MESSAGES ?? 200)
const ROUNDS = Number(process.env.PALOMA_BENCH_ROUNDS ?? 20)

/** Resolves in the page with the wall-clock time at which a message with `text` from `peer` is shown. */
function arrivalOf(page: Page, peer: string, text: string): Promise<number> {
  return page.evaluate(
    ({ peer, text }) =>
      new Promise<number>((resolve) => {
        const app = (globalThis as unknown as Win).paloma
        const off = app.subscribe((s) => {
          if (s.active === peer && s.messages.some((m) => m.direction === 'in' && m.text === text)) {
            queueMicrotask(() => off())
            resolve(performance.timeOrigin + performance.now())
          }
        })
      }),
    { peer, text },
  )
}

const l = await lab()
try {
  const alice = await newPerson(l, 'alice')
  const bob = await newPerson(l, 'bob')
  const bobInvite = await bob.page.evaluate(() => (globalThis as unknown as Win).paloma.inviteLink()!)
  const bobId = await bob.page.evaluate(() => (globalThis as unknown as Win).paloma.peerId!)
  const aliceId = await alice.page.evaluate(() => (globalThis as unknown as Win).paloma.peerId!)
  await alice.page.evaluate((link) => (globalThis as unknown as Win).paloma.addContact(link), bobInvite)
  const warm = arrivalOf(bob.page, aliceId, 'warm-up')
  await alice.page.evaluate(() => (globalThis as unknown as Win).paloma.send('warm-up'))
  await bob.page.waitForFunction(
    (peer) => (globalThis as unknown as Win).paloma.snapshot().contacts.some((c) => c.peerId === peer),
    aliceId,
  )
  await bob.page.evaluate((peer) => (globalThis as unknown as Win).paloma.openChat(peer), aliceId)
  await warm
  await alice.page.waitForFunction(
    (peer) =>
      (globalThis as unknown as Win).paloma.snapshot().contacts.find((c) => c.peerId === peer)?.direct,
    bobId,
    { timeout: 60_000 },
  )

  const delivery: number[] = []
  for (let i = 0; i < MESSAGES; i++) {
    const text = `m${i} ${'x'.repeat(96)}`
    const arrived = arrivalOf(bob.page, aliceId, text)
    const sentAt = await alice.page.evaluate(async (t) => {
      const at = performance.timeOrigin + performance.now()
      await (globalThis as unknown as Win).paloma.send(t)
      return at
    }, text)
    delivery.push((await arrived) - sentAt)
  }

  // Bob closes his tab; Alice writes; Bob comes back.
  const reconnect: number[] = []
  const fetch: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    await bob.page.close()
    const text = `while away ${i}`
    await alice.page.evaluate((t) => (globalThis as unknown as Win).paloma.send(t), text)
    await alice.page.waitForFunction(
      (t) =>
        (globalThis as unknown as Win).paloma
          .snapshot()
          .messages.some((m) => m.text === t && m.status === 'sent'),
      text,
    )
    bob.page = await bob.context.newPage()
    await bob.page.goto(l.web.url)
    await bob.page.getByRole('button', { name: 'Unlock' }).waitFor()
    const t0 = await bob.page.evaluate(() => performance.timeOrigin + performance.now())
    const unlocked = await bob.page.evaluate(async (pass) => {
      const app = (globalThis as unknown as Win).paloma
      await app.unlock(pass)
      return performance.timeOrigin + performance.now()
    }, PASSPHRASE)
    await bob.page.evaluate((peer) => (globalThis as unknown as Win).paloma.openChat(peer), aliceId)
    const arrived = await arrivalOf(bob.page, aliceId, text)
    reconnect.push(arrived - t0)
    fetch.push(arrived - unlocked)
  }

  console.log(
    JSON.stringify({
      bench: 'messaging',
      messages: MESSAGES,
      delivery_ms_p50: round(percentile(delivery, 50), 2),
      delivery_ms_p99: round(percentile(delivery, 99), 2),
      rounds: ROUNDS,
      mailbox_reconnect_ms_p50: Math.round(percentile(reconnect, 50)),
      mailbox_fetch_ms_p50: Math.round(percentile(fetch, 50)),
    }),
  )
} finally {
  await l.close()
}
