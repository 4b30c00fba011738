/**
 * A long history: 10,000 messages (restored from a backup made here, as a person moving to a new
 * browser would) open in a chat that renders a page of the newest, and scrolling up brings earlier pages
 * in place, down to the first message. Timings are printed, not asserted (they live in benchmarks).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { account } from '../../src/app/account.ts'
import { entry } from '../../src/app/records.ts'
import { MemoryVaultBackend } from '../../src/storage/vault.ts'
import { PASSPHRASE, chats, expect, log, test } from './fixtures.ts'

const COUNT = 10_000
const BACKUP_PASSPHRASE = 'backup passphrase 123'
const DAY = 86_400_000

// Days are cut in the browser's time zone; the messages' times are chosen in UTC.
test.use({ timezoneId: 'UTC' })

async function backupWithHistory(): Promise<Buffer> {
  const device = account()({ backend: new MemoryVaultBackend(), now: Date.now })
  const me = await device.create('alice', PASSPHRASE)
  const bob = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  // 40 days ago at 07:12 UTC: message 6,251 is then the first of its day, and the 25th page up ends on that
  // day's boundary (the view jumped there once, when the days' groups were drawn in the frame after).
  const start = Math.floor(Date.now() / DAY - 40) * DAY + (7 * 60 + 12) * 60_000
  await me.records.write([
    entry.contact({ peer: bob, name: 'bob', relays: [], added: start, keyChanged: false }),
  ])
  const messages = Array.from({ length: COUNT }, (_, i) => ({
    id: `m${String(i + 1).padStart(5, '0')}`,
    peer: bob,
    direction: i % 3 === 0 ? ('out' as const) : ('in' as const),
    text: `message ${i + 1}`,
    ts: start + i * 5 * 60_000, // every five minutes: about 35 days of day separators
    status: 'read' as const,
  }))
  for (let i = 0; i < COUNT; i += 1000) await me.records.write(messages.slice(i, i + 1000).map(entry.message))
  return Buffer.from(await device.exportBackup(me, BACKUP_PASSPHRASE, true))
}

test('10,000 messages: the chat opens on the newest page and scrolls up, page by page, to the first', async ({
  paloma,
}) => {
  test.setTimeout(300_000)
  const file = await backupWithHistory()
  const fresh = await paloma.blank()
  const page = fresh.page
  await page.getByText('Restore from a backup').click()
  await page
    .getByLabel('Backup file')
    .setInputFiles({ name: 'alice.paloma', mimeType: 'application/octet-stream', buffer: file })
  await page.getByLabel('Backup passphrase').fill(BACKUP_PASSPHRASE)
  await page.getByLabel('New passphrase').fill(PASSPHRASE)
  await page.getByRole('button', { name: 'Restore' }).click()
  const bob = chats(page).getByRole('listitem', { name: 'bob' })
  await expect(bob).toContainText(`message ${COUNT}`, { timeout: 120_000 })

  const opened = Date.now()
  await bob.getByRole('button').click()
  const items = log(page).locator('li')
  const texts = log(page).locator('li .text')
  await expect(texts.last()).toHaveText(`message ${COUNT}`)
  const openMs = Date.now() - opened
  const first = await items.count()
  expect(first).toBeLessThanOrEqual(200) // a page, not the whole history
  expect(await items.first().getAttribute('data-time')).toMatch(/^\d{4}-\d\d-\d\dT/)

  // Scroll to the top again and again: each time a page of earlier messages comes in above, and what
  // was at the top stays where it was (the view does not jump).
  const scrolled = Date.now()
  let pages = 0
  let slowest = 0
  for (;;) {
    const top = await texts.first().elementHandle()
    const topText = await top!.textContent()
    if (topText === 'message 1') break
    const ms = await log(page).evaluate(
      (el) =>
        new Promise<number>((resolve) => {
          const t0 = performance.now()
          const seen = new MutationObserver(() => {
            seen.disconnect()
            requestAnimationFrame(() => resolve(performance.now() - t0))
          })
          seen.observe(el, { childList: true, subtree: true })
          el.scrollTo({ top: 0 })
        }),
    )
    slowest = Math.max(slowest, ms)
    await expect(texts.first()).not.toHaveText(topText!)
    // The message that was at the top is still on screen: the view did not jump. What is read says why
    // when it did: the element gone (the chat redrawn), or where it went.
    const place = await top!.evaluate((text) => {
      const log = document.querySelector('[role="log"]')!
      const box = text.getBoundingClientRect()
      const view = log.getBoundingClientRect()
      return {
        connected: text.isConnected,
        visible: text.isConnected && box.bottom > view.top && box.top < view.bottom,
        y: Math.round(box.top - view.top),
        scrollTop: Math.round(log.scrollTop),
        scrollHeight: log.scrollHeight,
        first: log.querySelector('li .text')?.textContent,
      }
    })
    expect(place.visible, `page ${pages + 1}, ${topText} was at the top: ${JSON.stringify(place)}`).toBe(true)
    pages++
  }
  const scrollMs = Date.now() - scrolled
  // The DOM held a window, never the whole history.
  expect(await items.count()).toBeLessThanOrEqual(600)
  await expect(texts.first()).toHaveText('message 1')
  await expect(log(page).getByRole('heading')).not.toHaveCount(0) // day separators
  // And back down to the newest.
  await log(page).getByRole('button', { name: 'Newest messages' }).click()
  await expect(texts.last()).toHaveText(`message ${COUNT}`)
  console.log(
    JSON.stringify({
      history: COUNT,
      openMs,
      firstPage: first,
      pages,
      scrollToFirstMs: scrollMs,
      slowestPageMs: Math.round(slowest),
    }),
  )
})
