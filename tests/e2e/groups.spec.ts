/**
 * Group conversations in three browsers (three contexts are three people, one relay): Alice creates a
 * group with Bob and Carol; messages from all three are seen by all, each sender's in order; Carol closes
 * her tab and, back, catches up on what she missed exactly once; Alice removes Carol, who sees none of the
 * later messages while Alice and Bob keep chatting.
 */
import type { Page } from '@playwright/test'
import {
  chats,
  expect,
  log,
  openChat,
  send,
  test,
  unlock,
  type Person,
  inviteLinkOf,
  addContact,
} from './fixtures.ts'

const GROUP = 'Climbers'

/** `a` adds `b` by invite link and writes first, so each has the other as a contact. */
async function meet(a: Person, b: Person): Promise<void> {
  await addContact(a.page, await inviteLinkOf(b.page))
  await expect(chats(a.page).getByRole('listitem', { name: b.name })).toBeVisible()
  await send(a.page, `hi ${b.name}`)
  await expect(chats(b.page).getByRole('listitem', { name: a.name })).toBeVisible()
}

/** The texts of the open group's messages from `sender` ('me' for one's own), in the order shown. */
async function textsFrom(page: Page, sender: string): Promise<string[]> {
  const selector = sender === 'me' ? 'li[data-direction="out"]' : `li[data-sender="${sender}"]`
  return log(page).locator(`${selector} .text`).allTextContents()
}

async function openGroup(page: Page): Promise<void> {
  await openChat(page, GROUP)
  await expect(page.getByRole('region', { name: GROUP })).toBeVisible()
}

test('three people chat in a group; a closed tab catches up once; a removed member sees nothing later', async ({
  paloma,
}) => {
  test.setTimeout(300_000)
  const alice = await paloma.person('alice')
  const bob = await paloma.person('bob')
  const carol = await paloma.person('carol')
  await meet(alice, bob)
  await meet(alice, carol)

  // Alice makes the group from her contacts.
  await alice.page.getByRole('button', { name: 'New group' }).click()
  const dialog = alice.page.getByRole('dialog', { name: 'New group' })
  await dialog.getByRole('textbox', { name: 'Group name' }).fill(GROUP)
  await dialog.getByRole('checkbox', { name: 'bob' }).check()
  await dialog.getByRole('checkbox', { name: 'carol' }).check()
  await dialog.getByRole('button', { name: 'Create group' }).click()
  for (const p of [alice, bob, carol])
    await expect(chats(p.page).getByRole('listitem', { name: GROUP })).toBeVisible()
  for (const p of [bob, carol]) await openGroup(p.page)

  // Everyone writes twice; everyone sees everything, each sender in order.
  for (const round of [1, 2]) for (const p of [alice, bob, carol]) await send(p.page, `${p.name} ${round}`)
  for (const p of [alice, bob, carol]) {
    await expect(log(p.page).locator('li .text')).toHaveCount(6)
    for (const q of [alice, bob, carol]) {
      const who = q === p ? 'me' : q.name
      expect(await textsFrom(p.page, who)).toEqual([`${q.name} 1`, `${q.name} 2`])
    }
  }
  // Receipts in a group: Alice's messages were read by both.
  const mine = log(alice.page).locator('li[data-direction="out"]')
  await expect(mine.first().locator('.tick')).toHaveText('Read by 2 of 2')

  // Members: fingerprints and roles; only Alice may remove.
  await alice.page.getByRole('button', { name: 'Members', exact: true }).click()
  const members = alice.page.getByRole('list', { name: 'Members' })
  await expect(members.getByRole('listitem')).toHaveCount(3)
  await expect(members.getByRole('listitem', { name: 'bob' })).toContainText(/[0-9a-f]{4}-[0-9a-f]{4}/)
  await bob.page.getByRole('button', { name: 'Members', exact: true }).click()
  await expect(bob.page.getByRole('list', { name: 'Members' }).getByRole('listitem')).toHaveCount(3)
  await expect(bob.page.getByRole('button', { name: /^Remove / })).toHaveCount(0)
  await expect(bob.page.getByRole('button', { name: 'Leave group' })).toBeVisible()

  // Carol closes her tab; Alice and Bob go on.
  await carol.page.close()
  const away = ['alice', 'bob', 'alice', 'bob'].map((who, i) => `${who} while carol is away ${i + 1}`)
  for (const text of away) await send((text.startsWith('alice') ? alice : bob).page, text)
  await expect(log(bob.page).locator('li .text')).toHaveCount(10)
  const page = await carol.context.newPage()
  await page.goto(paloma.web.url)
  await unlock(page)
  await openGroup(page)
  carol.page = page
  await expect(log(page).locator('li .text')).toHaveCount(10)
  expect(await textsFrom(page, 'alice')).toEqual(['alice 1', 'alice 2', away[0], away[2]])
  expect(await textsFrom(page, 'bob')).toEqual(['bob 1', 'bob 2', away[1], away[3]])
  // Exactly once: everything Alice sent is acknowledged by Carol too (stored), and still shown once.
  await expect(mine.last()).toHaveAttribute('data-delivered', '2')
  await expect(log(page).locator('li .text')).toHaveCount(10)

  // Alice removes Carol.
  await members.getByRole('button', { name: 'Remove carol' }).click()
  await expect(members.getByRole('listitem')).toHaveCount(2)
  await expect(bob.page.getByRole('list', { name: 'Members' }).getByRole('listitem')).toHaveCount(2)
  await expect(page.getByText('You were removed from this group.')).toBeVisible()
  await expect(page.getByRole('textbox', { name: 'Message' })).toHaveCount(0)

  // Alice and Bob keep chatting.
  await send(alice.page, 'after carol left 1')
  await send(bob.page, 'after carol left 2')
  await expect(log(bob.page).locator('li[data-sender="alice"] .text').last()).toHaveText('after carol left 1')
  await expect(log(alice.page).locator('li[data-sender="bob"] .text').last()).toHaveText('after carol left 2')

  // A barrier, not a sleep: Alice's next 1:1 message reaches Carol after anything Alice sent her before.
  await openChat(alice.page, 'carol')
  await send(alice.page, 'are you there?')
  await openChat(page, 'alice')
  await expect(log(page).locator('li[data-direction="in"]').last()).toHaveText('are you there?')
  await openGroup(page)
  await expect(log(page).locator('li .text')).toHaveCount(10)
  await expect(log(page)).not.toContainText('after carol left')
})
