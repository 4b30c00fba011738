import { addContact, chats, expect, log, requests, send, test } from './fixtures.ts'
import type { Person } from './fixtures.ts'

/** `from` finds `to` by username (not through an invite link) and writes. */
async function writeByName(from: Person, to: Person, text: string): Promise<void> {
  await addContact(from.page, to.name)
  await from.page.getByRole('dialog', { name: 'Add contact' }).getByRole('button', { name: 'Choose' }).click()
  await send(from.page, text)
}

test('a stranger’s message waits in Requests with nothing sent back; one is accepted, another blocked', async ({
  paloma,
}) => {
  const alice = await paloma.person('alice')
  const bob = await paloma.person('bob')
  const carol = await paloma.person('carol')

  await writeByName(bob, alice, 'hi alice, bob from the meetup')
  const request = requests(alice.page).getByRole('listitem', { name: 'bob' })
  await expect(request).toContainText('hi alice, bob from the meetup')
  await expect(chats(alice.page).getByRole('listitem', { name: 'bob' })).toHaveCount(0)
  // Nothing went back: Bob's message is stored on Alice's side ("sent"), never "delivered" or "read".
  const bobsMessage = log(bob.page).locator('li[data-direction="out"]')
  await expect(bobsMessage).toHaveAttribute('data-status', 'sent')
  await expect(bob.page.getByText('Direct connection')).toHaveCount(0)

  await request.getByRole('button', { name: 'Accept' }).click()
  await expect(chats(alice.page).getByRole('listitem', { name: 'bob' })).toBeVisible()
  await expect(log(alice.page).locator('li[data-direction="in"]')).toHaveText([
    'hi alice, bob from the meetup',
  ])
  await expect(bobsMessage).toHaveAttribute('data-status', 'read')

  await writeByName(carol, alice, 'buy cheap watches')
  await requests(alice.page)
    .getByRole('listitem', { name: 'carol' })
    .getByRole('button', { name: 'Block' })
    .click()
  await expect(requests(alice.page)).toHaveCount(0)
  await send(carol.page, 'hello??')
  // Carol's second message was taken (acknowledged) by Alice's app, and dropped unread.
  await expect(log(carol.page).locator('li[data-direction="out"]').last()).toHaveAttribute(
    'data-status',
    'sent',
  )
  await expect(requests(alice.page)).toHaveCount(0)
  await expect(chats(alice.page).getByRole('listitem', { name: 'carol' })).toHaveCount(0)
  await expect(alice.page.getByText('hello??')).toHaveCount(0)

  // Deleted requests leave no trace either; the blocked list is in Settings.
  await alice.page.getByRole('button', { name: 'Settings' }).click()
  const settings = alice.page.getByRole('dialog', { name: 'Settings' })
  await expect(settings.getByRole('button', { name: 'Unblock' })).toHaveCount(1)
})
