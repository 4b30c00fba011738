import { chats, createAccount, expect, introduce, log, send, test } from './fixtures.ts'

test('mark a contact verified; when a new key shows up under that name, the chat is held until verified again', async ({
  paloma,
}) => {
  const alice = await paloma.person('alice')
  const bob = await paloma.person('bob')
  await introduce(alice, bob)

  await alice.page.getByRole('button', { name: 'Safety number' }).click()
  const safety = alice.page.getByRole('dialog', { name: 'Safety number' })
  await expect(safety).toContainText(/(\d{5} ){11}\d{5}/)
  await expect(safety.getByRole('img', { name: 'Safety number QR code' })).toBeVisible()
  await safety.getByRole('button', { name: 'Mark as verified' }).click()
  await expect(safety.getByRole('button', { name: 'Mark as not verified' })).toBeVisible()
  await safety.getByRole('button', { name: 'Close' }).click()
  const header = alice.page.getByRole('region', { name: 'bob' }).locator('.conv-head')
  await expect(header).toContainText('Verified')
  await expect(chats(alice.page).getByRole('listitem', { name: 'bob' })).toContainText('Verified')

  // Bob forgets his passphrase: he deletes the account from the unlock screen and starts again as "bob".
  await bob.page.reload()
  await bob.page.getByText('Forgot your passphrase?').click()
  await bob.page.getByRole('button', { name: 'Delete account' }).click()
  await bob.page
    .getByRole('alertdialog', { name: 'Delete account' })
    .getByRole('button', { name: 'Delete account' })
    .click()
  await createAccount(bob.page, 'bob')
  await introduce({ ...bob, name: 'bob' }, alice)
  await send(bob.page, 'new phone, same bob')

  // Alice: a second "bob", held behind a loud warning; his messages stay hidden, nothing can be sent.
  const held = chats(alice.page).getByRole('listitem', { name: 'bob' })
  await expect(held).toHaveCount(2)
  await held.nth(0).getByRole('button').click()
  const warning = alice.page.getByRole('alert').filter({ hasText: 'safety number changed' })
  await expect(warning).toContainText('You had verified bob')
  await expect(log(alice.page)).toHaveCount(0)
  await expect(alice.page.getByRole('textbox', { name: 'Message' })).toHaveCount(0)
  await expect(alice.page.getByText('new phone, same bob')).toHaveCount(0)

  await warning.getByRole('button', { name: 'Safety number' }).click()
  await alice.page
    .getByRole('dialog', { name: 'Safety number' })
    .getByRole('button', { name: 'Mark as verified' })
    .click()
  await alice.page
    .getByRole('dialog', { name: 'Safety number' })
    .getByRole('button', { name: 'Close' })
    .click()
  await expect(warning).toBeHidden()
  await expect(log(alice.page).locator('li[data-direction="in"]')).toHaveText(['new phone, same bob'])
  await send(alice.page, 'welcome back')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText(['welcome back'])
})
