/**
 * End-to-end fixtures: a real relay process and the built app served with a config.json pointing at it.
 * Each person is a separate browser context (separate IndexedDB, separate libp2p node).
 */
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test'
import { resolve } from 'node:path'
import { serveStatic, type StaticServer } from '../../scripts/static-server.ts'
import { startRelay, type RelayProcess } from '../helpers/relay-process.ts'

export interface Paloma {
  relay: RelayProcess
  web: StaticServer
  /** Opens the app in a fresh browser context: a new person. */
  person(): Promise<{ page: Page; context: BrowserContext }>
  /** Restarts the relay on the same port and key. */
  restartRelay(): Promise<RelayProcess>
}

export const test = base.extend<{ paloma: Paloma }>({
  paloma: async ({ browser }, use) => {
    let relay = await startRelay()
    const web = await serveStatic(resolve(import.meta.dirname, '../../dist'), {
      config: { relays: [relay.multiaddr], iceServers: [], allowPrivateAddresses: true },
    })
    const contexts: BrowserContext[] = []
    await use({
      get relay() {
        return relay
      },
      web,
      async person() {
        const context = await browser.newContext()
        contexts.push(context)
        const page = await context.newPage()
        page.on('pageerror', (err) => console.error('[page error]', err))
        await page.goto(web.url)
        return { page, context }
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

/** Waits until the page holds a reservation and returns its shareable WebRTC address. */
export async function addressOf(page: Page): Promise<string> {
  await expect(page.getByRole('status', { name: 'Connection' })).toHaveText('Online')
  const box = page.getByRole('textbox', { name: 'Your address' })
  await expect(box).toHaveValue(/\/webrtc\/p2p\//)
  return box.inputValue()
}

export async function connectTo(page: Page, address: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Contact address' }).fill(address)
  await page.getByRole('button', { name: 'Connect' }).click()
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text)
  await page.getByRole('button', { name: 'Send' }).click()
}
