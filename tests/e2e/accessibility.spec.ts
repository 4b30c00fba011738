/**
 * Accessibility: an axe-core scan of every screen and dialog, in the light and the dark theme, finds no
 * serious or critical violation; dialogs take focus, give it back and close on Escape; a 360 px phone
 * shows one pane at a time with a way back, and nothing wider than the screen.
 */
import AxeBuilder from '@axe-core/playwright'
import type { Page } from '@playwright/test'
import { chatting, expect, inviteLinkOf, test } from './fixtures.ts'

async function scan(page: Page, what: string): Promise<void> {
  const { violations } = await new AxeBuilder({ page }).analyze()
  const bad = violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${what}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)
  expect(bad).toEqual([])
}

for (const theme of ['light', 'dark'] as const) {
  test(`every screen and dialog passes axe in the ${theme} theme`, async ({ paloma, browser }) => {
    await test.step('create screen', async () => {
      const context = await browser.newContext({ colorScheme: theme })
      const page = await context.newPage()
      await page.goto(paloma.web.url)
      await expect(page.getByRole('button', { name: 'Create account' })).toBeVisible()
      await scan(page, 'create')
      await context.close()
    })
    const { alice, bob } = await chatting(paloma, 'hello https://example.org')
    for (const p of [alice.page, bob.page]) await p.emulateMedia({ colorScheme: theme })
    await scan(bob.page, 'chat')
    for (const [button, dialog] of [
      ['Share invite', 'Share invite'],
      ['Add contact', 'Add contact'],
      ['Settings', 'Settings'],
      ['Connection details', 'Connection details'],
      ['Safety number', 'Safety number'],
    ] as const) {
      const opener = bob.page.getByRole('button', { name: button, exact: true })
      await opener.click()
      const d = bob.page.getByRole('dialog', { name: dialog })
      await expect(d).toBeVisible()
      await expect(d).toHaveAttribute('aria-modal', 'true')
      // Focus moved into the dialog…
      expect(await d.evaluate((el) => el.contains(document.activeElement))).toBe(true)
      await scan(bob.page, dialog)
      // …Escape closes it, and focus is back on the button that opened it.
      await bob.page.keyboard.press('Escape')
      await expect(d).toBeHidden()
      await expect(opener).toBeFocused()
    }
    // A message request (someone who wrote without the invite link).
    const carol = await paloma.person('carol')
    await carol.page.getByRole('button', { name: 'Add contact' }).click()
    await carol.page.getByRole('textbox', { name: 'Invite link or username' }).fill('bob')
    await carol.page.getByRole('button', { name: 'Add', exact: true }).click()
    await carol.page.getByRole('button', { name: 'Choose' }).click()
    await carol.page.getByRole('textbox', { name: 'Message' }).fill('hi')
    await carol.page.getByRole('button', { name: 'Send' }).click()
    await expect(bob.page.getByRole('list', { name: 'Requests' })).toBeVisible()
    await scan(bob.page, 'requests')
    // The unlock screen, and a pending invite on it.
    const link = await inviteLinkOf(alice.page)
    await bob.page.goto(link)
    await bob.page.reload()
    await expect(bob.page.getByRole('button', { name: 'Unlock' })).toBeVisible()
    await scan(bob.page, 'unlock')
  })
}

test('everything works from the keyboard, and a 360 px phone shows one pane at a time', async ({
  paloma,
}) => {
  const { alice, bob } = await chatting(paloma, 'from alice')
  await bob.page.setViewportSize({ width: 360, height: 720 })
  const wide = () => bob.page.evaluate(() => document.documentElement.scrollWidth)
  // The chat is open: only the conversation shows, with a way back.
  await expect(bob.page.getByRole('list', { name: 'Chats' })).toBeHidden()
  expect(await wide()).toBeLessThanOrEqual(360)
  await bob.page.getByRole('button', { name: 'Back to chats' }).click()
  await expect(bob.page.getByRole('list', { name: 'Chats' })).toBeVisible()
  await expect(bob.page.getByRole('log', { name: 'Messages' })).toBeHidden()
  expect(await wide()).toBeLessThanOrEqual(360)

  // Keyboard only: reach the chat, open it, write two lines (Shift+Enter) and send (Enter).
  const chat = bob.page
    .getByRole('list', { name: 'Chats' })
    .getByRole('listitem', { name: 'alice' })
    .getByRole('button')
  await chat.focus()
  await bob.page.keyboard.press('Enter')
  const composer = bob.page.getByRole('textbox', { name: 'Message' })
  await composer.focus()
  await bob.page.keyboard.type('first line')
  await bob.page.keyboard.press('Shift+Enter')
  await bob.page.keyboard.type('second line')
  await bob.page.keyboard.press('Enter')
  const got = alice.page.getByRole('log', { name: 'Messages' }).locator('li[data-direction="in"] .text')
  await expect(got).toHaveText(['first line\nsecond line'])
  await expect(composer).toHaveValue('')
  // Each message shows its time, with the full date on focus.
  const li = bob.page.getByRole('log', { name: 'Messages' }).locator('li').last()
  const iso = await li.getAttribute('data-time')
  expect(new Date(iso!).toISOString()).toBe(iso)
  await li.locator('time').focus()
  await expect(li.locator('time')).toHaveAttribute('aria-label', /\d{4}/)
})
