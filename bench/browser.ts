/**
 * Shared set-up for browser benchmarks: a relay process, the built app served against it, Chromium, and
 * people created through the real UI. Measurements then drive the app service in the page
 * (`globalThis.paloma`, which only test builds have), the same object the UI calls.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { join, resolve } from 'node:path'
import { serveStatic, type StaticServer } from '../scripts/static-server.ts'
import { startRelay, type RelayProcess } from '../tests/support/relays.ts'
import { CHROMIUM_ARGS } from '../playwright.config.ts'

export const PASSPHRASE = 'correct horse battery staple'
const root = resolve(import.meta.dirname, '..')

export interface Lab {
  relay: RelayProcess
  web: StaticServer
  browser: Browser
  close(): Promise<void>
}

/**
 * Benchmarks measure Paloma, not the relay's abuse limits: the relay takes any rate from one sender
 * (production defaults: `npm run relay -- --help`), and serves /metrics.
 */
const RELAY_ARGS = ['--mailbox-rate', '1000000', '--mailbox-rate-burst', '1000000', '--metrics-port', '0']

export async function lab(): Promise<Lab> {
  const relay = await startRelay({ args: RELAY_ARGS })
  const web = await serveStatic(join(root, 'dist-test'), {
    config: { relays: [relay.multiaddr], iceServers: [], allowPrivateAddresses: true },
  })
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  })
  return {
    relay,
    web,
    browser,
    async close() {
      await browser.close()
      await web.close()
      await relay.stop()
    },
  }
}

export interface BenchPerson {
  context: BrowserContext
  page: Page
  /** Milliseconds from opening the page to holding a relay reservation (status Online). */
  reservationMs: number
}

export async function newPerson(l: Lab, name: string): Promise<BenchPerson> {
  const context = await l.browser.newContext({ locale: 'en-US' })
  const page = await context.newPage()
  await page.goto(l.web.url)
  await page.getByRole('textbox', { name: 'Username' }).fill(name)
  await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE)
  await page.getByLabel('Repeat passphrase').fill(PASSPHRASE)
  const t0 = performance.now()
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.getByRole('status', { name: 'Connection' }).getByText('Online').waitFor({ timeout: 60_000 })
  return { context, page, reservationMs: performance.now() - t0 }
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

export const round = (x: number, digits = 1) => Number(x.toFixed(digits))
