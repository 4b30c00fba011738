import { readFile } from 'node:fs/promises'
import {
  PASSPHRASE,
  chats,
  expect,
  expectOnline,
  introduce,
  inviteLinkOf,
  log,
  openChat,
  send,
  test,
  unlock,
} from './fixtures.ts'

test('create an account, reload, refuse a wrong passphrase without harm, unlock, lock', async ({
  paloma,
}) => {
  const alice = await paloma.person('alice')
  const bob = await paloma.person('bob')
  await introduce(alice, bob)
  await send(alice.page, 'kept across reloads')
  await expect(log(alice.page).locator('li')).toHaveAttribute('data-status', /sent|delivered|read/)

  await alice.page.reload()
  await expect(alice.page.getByRole('button', { name: 'Unlock' })).toBeVisible()
  await unlock(alice.page, 'not my passphrase')
  await expect(alice.page.getByRole('alert')).toContainText(/passphrase/i)
  await expect(alice.page.getByRole('button', { name: 'Lock', exact: true })).toBeHidden()

  await unlock(alice.page)
  await expectOnline(alice.page)
  await openChat(alice.page, 'bob')
  await expect(log(alice.page).locator('li[data-direction="out"]')).toHaveText([/kept across reloads/])

  await alice.page.getByRole('button', { name: 'Lock', exact: true }).click()
  await expect(alice.page.getByRole('button', { name: 'Unlock' })).toBeVisible()
  await expect(alice.page.getByText('kept across reloads')).toBeHidden()
})

test('export a backup, import it in a fresh browser and receive a message as the same person', async ({
  paloma,
}) => {
  const alice = await paloma.person('alice')
  const before = new URL(await inviteLinkOf(alice.page)).hash

  await alice.page.getByRole('button', { name: 'Settings' }).click()
  const settings = alice.page.getByRole('dialog', { name: 'Settings' })
  await settings.getByLabel('Backup passphrase').fill('backup passphrase 123')
  const downloading = alice.page.waitForEvent('download')
  await settings.getByRole('button', { name: 'Export backup' }).click()
  const file = await readFile(await (await downloading).path())
  await alice.context.close()

  const fresh = await paloma.blank()
  await fresh.page.getByText('Restore from a backup').click()
  await fresh.page
    .getByLabel('Backup file')
    .setInputFiles({ name: 'alice.paloma', mimeType: 'application/octet-stream', buffer: file })
  await fresh.page.getByLabel('Backup passphrase').fill('backup passphrase 123')
  await fresh.page.getByLabel('New passphrase').fill(PASSPHRASE)
  await fresh.page.getByRole('button', { name: 'Restore' }).click()
  await expectOnline(fresh.page)
  const restored = { page: fresh.page, context: fresh.context, name: 'alice' }
  expect(new URL(await inviteLinkOf(fresh.page)).hash).toBe(before)

  const carol = await paloma.person('carol')
  await introduce(carol, restored)
  await send(carol.page, 'Are you the same alice?')
  await openChat(fresh.page, 'carol')
  await expect(log(fresh.page).locator('li[data-direction="in"]')).toHaveText(['Are you the same alice?'])
  await expect(chats(fresh.page).getByRole('listitem', { name: 'carol' })).toBeVisible()
})

test('only one tab runs Paloma; a second tab says so', async ({ paloma }) => {
  const alice = await paloma.person('alice')
  const second = await alice.context.newPage()
  await second.goto(paloma.web.url)
  await expect(second.getByRole('alert')).toContainText('open in another tab')
  await expect(second.getByRole('button', { name: 'Unlock' })).toBeHidden()
  // The first tab is unaffected.
  await expect(alice.page.getByRole('status', { name: 'Connection' })).toHaveText('Online')
})
