import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { serveStatic } from '../../scripts/static-server.ts'
import { createAccount, expect, expectOnline, test } from './fixtures.ts'

const dist = resolve(import.meta.dirname, '../../dist')

test('the production build hands the unlocked service to no script on the page', async ({
  paloma,
  browser,
}) => {
  // The built JavaScript has no trace of the test hook…
  const assets = join(dist, 'assets')
  for (const file of (await readdir(assets)).filter((f) => f.endsWith('.js'))) {
    const code = await readFile(join(assets, file), 'utf8')
    expect(code, file).not.toMatch(/globalThis\)?\.paloma\b/)
  }
  // …and a page of it, unlocked and online, exposes nothing under the name.
  const web = await serveStatic(dist, {
    config: { relays: [paloma.relay.multiaddr], iceServers: [], allowPrivateAddresses: true },
  })
  const context = await browser.newContext()
  try {
    const page = await context.newPage()
    await page.goto(web.url)
    await createAccount(page, 'dana')
    await expectOnline(page)
    expect(await page.evaluate(() => 'paloma' in globalThis)).toBe(false)
  } finally {
    await context.close()
    await web.close()
  }
})

test('the test build has the hook that tests and benchmarks use', async ({ paloma }) => {
  const dana = await paloma.person('dana')
  expect(await dana.page.evaluate(() => typeof (globalThis as { paloma?: unknown }).paloma)).toBe('object')
})
