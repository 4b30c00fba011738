/**
 * System notifications and auto-lock, as a person meets them: a message arriving while Paloma is in the
 * background raises a notification that names the sender and, unless they chose otherwise, not the text;
 * after the chosen idle time the app locks itself.
 */
import { chatting, expect, send, test } from './fixtures.ts'

test('notifications show the sender only, unless the person chose to show the text', async ({ paloma }) => {
  const { alice, bob } = await chatting(paloma, 'hi')
  await bob.context.grantPermissions(['notifications'], { origin: new URL(paloma.web.url).origin })
  // Record what each notification shows (the real Notification is still made), and put the tab in the
  // background, as when the person is in another window.
  await bob.page.evaluate(() => {
    const shown: Array<{ title: string; body?: string }> = []
    ;(window as unknown as { shown: typeof shown }).shown = shown
    const Real = window.Notification
    window.Notification = class extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options)
        shown.push({ title, body: options?.body })
      }
    } as typeof Notification
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' })
  })
  const shown = () => bob.page.evaluate(() => (window as unknown as { shown: unknown[] }).shown)

  await send(alice.page, 'the secret plan')
  await expect.poll(shown).toEqual([{ title: 'New message from alice', body: 'New message' }])

  await bob.page.getByRole('button', { name: 'Settings' }).click()
  const settings = bob.page.getByRole('dialog', { name: 'Settings' })
  await settings.getByRole('checkbox', { name: 'Show message text in notifications' }).check()
  await expect(settings.getByRole('checkbox', { name: 'Show message text in notifications' })).toBeChecked()
  await bob.page.keyboard.press('Escape')
  await send(alice.page, 'now you may read it')
  await expect.poll(shown).toEqual([
    { title: 'New message from alice', body: 'New message' },
    { title: 'New message from alice', body: 'now you may read it' },
  ])
})

test('auto-lock locks the app after the chosen idle time', async ({ paloma }) => {
  const alice = await paloma.person('alice')
  await alice.page.getByRole('button', { name: 'Settings' }).click()
  await alice.page.getByRole('combobox', { name: 'Auto-lock' }).selectOption({ label: 'After 1 minute' })
  await expect(alice.page.getByRole('combobox', { name: 'Auto-lock' })).toHaveValue('1')
  await alice.page.keyboard.press('Escape')
  // Idle: the page's clock moves a minute and a bit (its timers run as they would).
  await alice.page.clock.install()
  await alice.page.clock.runFor(70_000)
  await expect(alice.page.getByRole('button', { name: 'Unlock' })).toBeVisible()
})
