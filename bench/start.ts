/**
 * Start-up of the web app, one JSON line: the gzipped JavaScript and CSS the first screen loads (what
 * index.html references; the app service and libp2p are a later chunk), and in Chromium, against a local
 * relay and the production build served by scripts/static-server.ts:
 *
 * - `firstVisitMs`: navigation to an interactive create screen (button enabled), empty cache, no worker;
 * - `warmUnlockMs`: navigation to an interactive unlock screen with the service worker serving the shell;
 * - `unlockMs`: "Unlock" clicked (production Argon2id cost) to the main screen;
 * - `unlockToOnlineMs`: the main screen to "Online" (a relay reservation held);
 * - `baselineMs`: the same navigation to a static page with one button, served the same way: what the
 *   browser and server cost by themselves on this machine.
 *
 * Needs `npm run build` first. Usage: node bench/start.ts [--runs 3]
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { chromium, type Page } from 'playwright-core'
import { serveStatic } from '../scripts/static-server.ts'
import { startRelay } from '../tests/support/relays.ts'
import { CHROMIUM_ARGS } from '../playwright.config.ts'

const root = resolve(import.meta.dirname, '..')
const dist = join(root, 'dist')
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 3)
const PASSPHRASE = 'correct horse battery staple'

/** Gzipped bytes of every script, module preload and stylesheet index.html names. */
async function firstScreenBytes(): Promise<{ js: number; css: number }> {
  const html = await readFile(join(dist, 'index.html'), 'utf8')
  const files = [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!)
  let js = 0
  let css = 0
  for (const f of new Set(files)) {
    const size = gzipSync(await readFile(join(dist, f)), { level: 9 }).length
    if (f.endsWith('.css')) css += size
    else js += size
  }
  return { js, css }
}

/** ms from navigation start until `ready` resolves in the page. */
async function until(page: Page, ready: () => Promise<unknown>): Promise<number> {
  await ready()
  return page.evaluate(() => performance.now())
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const relay = await startRelay()
const web = await serveStatic(dist, {
  config: { relays: [relay.multiaddr], iceServers: [], allowPrivateAddresses: true },
})
const plainDir = await mkdtemp(join(tmpdir(), 'paloma-baseline-'))
await writeFile(join(plainDir, 'index.html'), '<!doctype html><title>x</title><button>Go</button>')
const plain = await serveStatic(plainDir)
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
})
const samples = { baselineMs: [] as number[], firstVisitMs: [] as number[], warmUnlockMs: [] as number[] }
const unlockSamples = { unlockMs: [] as number[], unlockToOnlineMs: [] as number[] }
try {
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(plain.url)
    samples.baselineMs.push(await until(page, () => page.getByRole('button', { name: 'Go' }).waitFor()))

    await page.goto(web.url)
    const create = page.getByRole('button', { name: 'Create account' })
    samples.firstVisitMs.push(await until(page, () => create.and(page.locator(':enabled')).waitFor()))
    await page.getByRole('textbox', { name: 'Username' }).fill(`bench${i}`)
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE)
    await page.getByLabel('Repeat passphrase').fill(PASSPHRASE)
    await create.click()
    await page.getByRole('status', { name: 'Connection' }).getByText('Online').waitFor()
    await page.evaluate(() => navigator.serviceWorker.ready)

    await page.reload()
    const unlock = page.getByRole('button', { name: 'Unlock' })
    samples.warmUnlockMs.push(await until(page, () => unlock.and(page.locator(':enabled')).waitFor()))
    const controlled = await page.evaluate(() => navigator.serviceWorker.controller !== null)
    if (!controlled) throw new Error('the warm start was not served by the service worker')
    await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE)
    const t0 = Date.now()
    await unlock.click()
    await page.getByRole('button', { name: 'Lock', exact: true }).waitFor()
    const t1 = Date.now()
    await page.getByRole('status', { name: 'Connection' }).getByText('Online').waitFor()
    unlockSamples.unlockMs.push(t1 - t0)
    unlockSamples.unlockToOnlineMs.push(Date.now() - t1)
    await context.close()
  }
  const bytes = await firstScreenBytes()
  console.log(
    JSON.stringify({
      bench: 'start',
      runs,
      firstScreenGzipBytes: bytes.js + bytes.css,
      firstScreenJsGzipBytes: bytes.js,
      baselineMs: Math.round(median(samples.baselineMs)),
      firstVisitMs: Math.round(median(samples.firstVisitMs)),
      warmUnlockMs: Math.round(median(samples.warmUnlockMs)),
      unlockMs: Math.round(median(unlockSamples.unlockMs)),
      unlockToOnlineMs: Math.round(median(unlockSamples.unlockToOnlineMs)),
    }),
  )
} finally {
  await browser.close()
  await plain.close()
  await web.close()
  await relay.stop()
  await rm(plainDir, { recursive: true, force: true })
}
