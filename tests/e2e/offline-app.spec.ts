import { expect, introduce, log, send, test, unlock } from './fixtures.ts'

test('the installed app opens, unlocks and shows history without a network; it queues until back', async ({
  paloma,
}) => {
  const alice = await paloma.person('alice')
  const bob = await paloma.person('bob')
  await introduce(alice, bob)
  await send(alice.page, 'said while online')
  await expect(log(alice.page).locator('li[data-direction="out"]')).toHaveAttribute(
    'data-status',
    /sent|delivered|read/,
  )
  // The manifest makes it installable; the service worker holds the shell.
  await expect(alice.page.locator('link[rel="manifest"]')).toHaveAttribute('href', './manifest.webmanifest')
  await alice.page.evaluate(() => navigator.serviceWorker.ready)

  await alice.context.setOffline(true)
  await alice.page.reload()
  await unlock(alice.page)
  await expect(alice.page.getByRole('status', { name: 'Connection' })).toHaveText('Offline')
  await alice.page
    .getByRole('list', { name: 'Chats' })
    .getByRole('listitem', { name: 'bob' })
    .getByRole('button')
    .click()
  await expect(log(alice.page).locator('li[data-direction="out"]')).toHaveText([/said while online/])

  await send(alice.page, 'queued offline')
  const queued = log(alice.page).locator('li[data-direction="out"]').last()
  await expect(queued).toHaveAttribute('data-status', 'pending')
  await alice.context.setOffline(false)
  await expect(queued).toHaveAttribute('data-status', /sent|delivered|read/)
})
