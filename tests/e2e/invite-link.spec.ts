import {
  chats,
  createAccount,
  expect,
  expectOnline,
  inviteLinkOf,
  log,
  send,
  test,
  unlock,
} from './fixtures.ts'

test('an invite link opened in a browser with no account: create the account, one click adds the inviter, who gets the message in Chats', async ({
  paloma,
}) => {
  const alice = await paloma.person('alice')
  const link = await inviteLinkOf(alice.page)
  // The link points at this app (its own address), so opening it is opening Paloma.
  expect(new URL(link).origin).toBe(new URL(paloma.web.url).origin)

  const fresh = await paloma.blank()
  await fresh.page.goto(link)
  await expect(fresh.page.getByText('alice invited you')).toBeVisible()
  await createAccount(fresh.page, 'bob')
  const dialog = fresh.page.getByRole('dialog', { name: 'Add contact' })
  await expect(dialog).toContainText('alice')
  // The invite left the address bar: a reload does not ask again.
  expect(new URL(fresh.page.url()).hash).toBe('')
  await dialog.getByRole('button', { name: 'Add', exact: true }).click()
  await expect(dialog).toBeHidden()
  await expectOnline(fresh.page)
  await expect(chats(fresh.page).getByRole('listitem', { name: 'alice' })).toBeVisible()
  await send(fresh.page, 'scanned your code')

  // Bob came through Alice's link: no request, straight into her chats, with receipts both ways.
  await expect(chats(alice.page).getByRole('listitem', { name: 'bob' })).toContainText('scanned your code')
  await expect(alice.page.getByRole('list', { name: 'Requests' })).toHaveCount(0)
  await chats(alice.page).getByRole('listitem', { name: 'bob' }).getByRole('button').click()
  await expect(log(alice.page).locator('li[data-direction="in"]')).toHaveText(['scanned your code'])
  await expect(log(fresh.page).locator('li[data-direction="out"]')).toHaveAttribute('data-status', 'read')
})

test('an invite link opened in a browser with a locked account is shown after unlock', async ({ paloma }) => {
  const alice = await paloma.person('alice')
  const bob = await paloma.person('bob')
  const link = await inviteLinkOf(alice.page)
  // Bob closed Paloma; later he opens Alice's link (a new tab on the app): the unlock screen shows it.
  await bob.page.close()
  const page = await bob.context.newPage()
  await page.goto(link)
  await expect(page.getByText('alice invited you to chat')).toBeVisible()
  await unlock(page)
  const dialog = page.getByRole('dialog', { name: 'Add contact' })
  await expect(dialog).toContainText('alice')
  await dialog.getByRole('button', { name: 'Add', exact: true }).click()
  await expect(chats(page).getByRole('listitem', { name: 'alice' })).toBeVisible()
})
