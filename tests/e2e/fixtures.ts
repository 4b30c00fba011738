/**
 * End-to-end fixtures: a real relay process and the built app served with a config.json pointing at it.
 * Each person is a separate browser context (own IndexedDB, own libp2p node); closing a person's page
 * and opening a new one in the same context is "closing the tab and coming back later".
 */
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test'
import { resolve } from 'node:path'
import { serveStatic, type StaticServer } from '../../scripts/static-server.ts'
import { startRelay, type RelayProcess } from '../support/relays.ts'

export const PASSPHRASE = 'correct horse battery staple'

export interface Person {
  page: Page
  context: BrowserContext
  name: string
}

export interface Paloma {
  relay: RelayProcess
  web: StaticServer
  /** A new person with a new account, online. */
  person(name: string): Promise<Person>
  /** A fresh browser context on the app's start page (no account yet). */
  blank(): Promise<{ page: Page; context: BrowserContext }>
  /** Restarts the relay on the same port and key (its mailbox survives). */
  restartRelay(): Promise<RelayProcess>
}

export const test = base.extend<{ paloma: Paloma }>({
  paloma: async ({ browser }, use) => {
    let relay = await startRelay()
    // The test build: the same app, plus the hook that hands the service to tests (src/test-hook.ts).
    const web = await serveStatic(resolve(import.meta.dirname, '../../dist-test'), {
      config: { relays: [relay.multiaddr], iceServers: [], allowPrivateAddresses: true },
    })
    const contexts: BrowserContext[] = []
    const blank = async () => {
      const context = await browser.newContext()
      contexts.push(context)
      const page = await context.newPage()
      watch(page)
      await page.goto(web.url)
      return { page, context }
    }
    await use({
      get relay() {
        return relay
      },
      web,
      blank,
      async person(name) {
        const { page, context } = await blank()
        await createAccount(page, name)
        await expectOnline(page)
        return { page, context, name }
      },
      async restartRelay() {
        await relay.stop()
        relay = await startRelay({ port: relay.port, dataDir: relay.dataDir })
        return relay
      },
    })
    for (const c of contexts) await c.close()
    await web.close()
    await relay.stop()
  },
})

export { expect }

function watch(page: Page): void {
  page.on('pageerror', (err) => console.error('[page error]', err))
}

export async function createAccount(page: Page, name: string, passphrase = PASSPHRASE): Promise<void> {
  await page.getByRole('textbox', { name: 'Username' }).fill(name)
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase)
  await page.getByLabel('Repeat passphrase').fill(passphrase)
  await page.getByRole('button', { name: 'Create account' }).click()
  await expect(page.getByRole('button', { name: 'Lock', exact: true })).toBeVisible()
}

export async function unlock(page: Page, passphrase = PASSPHRASE): Promise<void> {
  await page.getByLabel('Passphrase', { exact: true }).fill(passphrase)
  await page.getByRole('button', { name: 'Unlock' }).click()
}

export async function expectOnline(page: Page): Promise<void> {
  await expect(page.getByRole('status', { name: 'Connection' })).toHaveText('Online')
}

export async function inviteLinkOf(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Share invite' }).click()
  const box = page.getByRole('textbox', { name: 'Invite link' })
  await expect(box).toHaveValue(/#invite=/)
  await expect(page.getByRole('img', { name: 'Invite QR code' })).toBeVisible()
  const link = await box.inputValue()
  await page.getByRole('button', { name: 'Close' }).click()
  return link
}

export async function addContact(page: Page, text: string): Promise<void> {
  await page.getByRole('button', { name: 'Add contact' }).click()
  await page.getByRole('textbox', { name: 'Invite link or username' }).fill(text)
  await page.getByRole('button', { name: 'Add', exact: true }).click()
}

/** Makes `a` and `b` contacts through `b`'s invite link; `a` ends up in the chat with `b`. */
export async function introduce(a: Person, b: Person): Promise<void> {
  await addContact(a.page, await inviteLinkOf(b.page))
  await expect(chats(a.page).getByRole('listitem', { name: b.name })).toBeVisible()
}

export function chats(page: Page) {
  return page.getByRole('list', { name: 'Chats' })
}

export async function openChat(page: Page, name: string): Promise<void> {
  await chats(page).getByRole('listitem', { name }).getByRole('button').click()
}

export function requests(page: Page) {
  return page.getByRole('list', { name: 'Requests' })
}

/** Accepts the message request from `name` (someone who wrote without this person's invite link). */
export async function acceptRequest(page: Page, name: string): Promise<void> {
  await requests(page).getByRole('listitem', { name }).getByRole('button', { name: 'Accept' }).click()
  await expect(chats(page).getByRole('listitem', { name }).first()).toBeVisible()
}

export function log(page: Page) {
  return page.getByRole('log', { name: 'Messages' })
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text)
  await page.getByRole('button', { name: 'Send' }).click()
}

/** Alice and Bob already talking: Alice's `first` message shown in Bob's open chat with her. */
export async function chatting(paloma: Paloma, first: string): Promise<{ alice: Person; bob: Person }> {
  const alice = await paloma.person('alice')
  const bob = await paloma.person('bob')
  await introduce(alice, bob)
  await send(alice.page, first)
  await openChat(bob.page, 'alice')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText([first])
  return { alice, bob }
}
