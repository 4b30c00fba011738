import { acceptRequest, addContact, chats, expect, log, openChat, send, test } from './fixtures.ts'

test('find someone by username: every claimant is listed with a fingerprint, and the one chosen is pinned', async ({
  paloma,
}) => {
  const bob = await paloma.person('bob')
  const impostor = await paloma.person('bob')
  const alice = await paloma.person('alice')
  const bobPrint = (await bob.page.locator('nav code').textContent())!.trim()
  const impostorPrint = (await impostor.page.locator('nav code').textContent())!.trim()
  expect(bobPrint).not.toBe(impostorPrint)

  await addContact(alice.page, 'Bob')
  const dialog = alice.page.getByRole('dialog', { name: 'Add contact' })
  await expect(dialog.getByText('Several people use this name')).toBeVisible()
  const claimants = dialog.getByRole('listitem')
  await expect(claimants).toHaveCount(2)
  await expect(claimants.filter({ hasText: bobPrint })).toHaveCount(1)
  await expect(claimants.filter({ hasText: impostorPrint })).toHaveCount(1)

  await claimants.filter({ hasText: bobPrint }).getByRole('button', { name: 'Choose' }).click()
  await expect(chats(alice.page).getByRole('listitem', { name: 'bob' })).toBeVisible()
  await send(alice.page, 'is it really you?')
  // Alice found Bob by name, not through his invite link: her message waits in his Requests.
  await acceptRequest(bob.page, 'alice')
  await openChat(bob.page, 'alice')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText(['is it really you?'])
  await expect(chats(impostor.page).getByRole('listitem')).toHaveText([/No chats yet/])

  // The impostor writes too: same name, another key: Alice sees a loud warning on that contact.
  await addContact(impostor.page, 'alice')
  await impostor.page
    .getByRole('dialog', { name: 'Add contact' })
    .getByRole('button', { name: 'Choose' })
    .click()
  await send(impostor.page, 'it is me, bob')
  await acceptRequest(alice.page, 'bob')
  const second = chats(alice.page).getByRole('listitem', { name: 'bob' })
  await expect(second).toHaveCount(2)
  // Chats are ordered by latest activity: the impostor's message is the newest.
  await second.nth(0).getByRole('button').click()
  const warned = alice.page.getByRole('alert').filter({ hasText: 'safety number with this contact changed' })
  await expect(warned).toBeVisible()
  await expect(log(alice.page).locator('li[data-direction="in"]')).toHaveText(['it is me, bob'])
  await warned.getByRole('button', { name: 'I verified it' }).click()
  await expect(warned).toBeHidden()
})

test('an invite link that is not valid gets a clear error', async ({ paloma }) => {
  const alice = await paloma.person('alice')
  await addContact(alice.page, 'https://paloma.example/#invite=not-a-real-invite-link-at-all-123456')
  await expect(alice.page.getByRole('dialog', { name: 'Add contact' }).getByRole('alert')).toContainText(
    'not a valid Paloma invite',
  )
})
