import { chatting, expect, log, openChat, send, test, unlock } from './fixtures.ts'

test('20 messages to a closed tab arrive once, in order, when it reopens; ticks go pending → sent → delivered → read', async ({
  paloma,
}) => {
  const { alice, bob } = await chatting(paloma, 'before you go')

  // Bob closes his tab; his browser profile (IndexedDB) stays.
  await bob.page.close()
  // Record every status each of Alice's outgoing messages shows, as the DOM changes.
  await alice.page.evaluate(() => {
    const seen: Record<string, string[]> = {}
    ;(globalThis as unknown as { ticks: typeof seen }).ticks = seen
    const note = (li: Element) => {
      const text = li.querySelector('.text')?.textContent ?? ''
      const status = li.getAttribute('data-status') ?? ''
      const list = (seen[text] ??= [])
      if (list.at(-1) !== status) list.push(status)
    }
    const logEl = document.querySelector('[role="log"]')!
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes') note(r.target as Element)
        for (const n of r.addedNodes)
          if (n instanceof Element && n.matches('li[data-direction="out"]')) note(n)
      }
    }).observe(logEl, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] })
  })
  const out = log(alice.page).locator('li[data-direction="out"]')
  for (let i = 1; i <= 20; i++) await send(alice.page, `message ${i}`)
  await expect(out).toHaveCount(21)
  for (let i = 1; i <= 20; i++) await expect(out.nth(i)).toHaveAttribute('data-status', 'sent')

  const page = await bob.context.newPage()
  await page.goto(paloma.web.url)
  await unlock(page)
  // Bob's app takes the mail from the relay: delivered, but not read until he opens the chat.
  for (let i = 1; i <= 20; i++) await expect(out.nth(i)).toHaveAttribute('data-status', 'delivered')
  await openChat(page, 'alice')
  const expected = ['before you go', ...Array.from({ length: 20 }, (_, i) => `message ${i + 1}`)]
  await expect(log(page).locator('li[data-direction="in"]')).toHaveText(expected)
  for (let i = 1; i <= 20; i++) await expect(out.nth(i)).toHaveAttribute('data-status', 'read')
  const ticks = await alice.page.evaluate(
    () => (globalThis as unknown as { ticks: Record<string, string[]> }).ticks,
  )
  for (let i = 1; i <= 20; i++)
    expect(ticks[`message ${i}`]).toEqual(['pending', 'sent', 'delivered', 'read'])
  // Exactly once, even after everything settled (mailbox acks, direct reconnection).
  await page.waitForTimeout(1000)
  await expect(log(page).locator('li[data-direction="in"]')).toHaveCount(21)
})

test('a message written while offline goes out when the network is back', async ({ paloma }) => {
  const { alice, bob } = await chatting(paloma, 'online hello')
  await bob.page.close()

  await alice.context.setOffline(true)
  await expect(alice.page.getByRole('status', { name: 'Connection' })).toHaveText('Offline')
  await send(alice.page, 'written offline')
  const last = log(alice.page).locator('li[data-direction="out"]').last()
  await expect(last).toHaveAttribute('data-status', 'pending')
  await alice.page.waitForTimeout(2000)
  await expect(last).toHaveAttribute('data-status', 'pending')

  await alice.context.setOffline(false)
  await expect(last).toHaveAttribute('data-status', 'sent')
  const page = await bob.context.newPage()
  await page.goto(paloma.web.url)
  await unlock(page)
  await openChat(page, 'alice')
  await expect(log(page).locator('li[data-direction="in"]')).toHaveText(['online hello', 'written offline'])
  await expect(last).toHaveAttribute('data-status', 'read')
})

test('reloading in the middle of a burst loses nothing and the session keeps working', async ({ paloma }) => {
  const { alice, bob } = await chatting(paloma, 'warm-up')

  const burst = Array.from({ length: 15 }, (_, i) => `burst ${i + 1}`)
  // Alice sends the burst from the app service directly, so Bob's reload lands in the middle of it.
  const sending = alice.page.evaluate(async (texts) => {
    const app = (globalThis as unknown as { paloma: { send(t: string): Promise<void> } }).paloma
    for (const t of texts) {
      await app.send(t)
      await new Promise((r) => setTimeout(r, 100))
    }
  }, burst)
  await expect(log(bob.page).locator('li[data-direction="in"]')).not.toHaveCount(1)
  await bob.page.reload()
  await sending
  await unlock(bob.page)
  await openChat(bob.page, 'alice')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText(['warm-up', ...burst])

  await send(bob.page, 'still in sync')
  await expect(log(alice.page).locator('li[data-direction="in"]')).toHaveText(['still in sync'])
  await send(alice.page, 'and back')
  await expect(log(bob.page).locator('li[data-direction="in"]').last()).toHaveText('and back')
})
