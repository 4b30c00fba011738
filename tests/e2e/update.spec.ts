/**
 * A new version deployed while the app is open: the service worker installs it in the background and
 * the page offers "Reload"; nothing reloads by itself, not while the person types, and Reload brings the
 * new version.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { serveStatic } from '../../scripts/static-server.ts'
import { createAccount, expect, expectOnline, test } from './fixtures.ts'

test('an update is offered with a Reload button, and never reloads the page by itself', async ({
  paloma,
  browser,
}) => {
  const site = await mkdtemp(join(tmpdir(), 'paloma-update-'))
  await cp(resolve(import.meta.dirname, '../../dist-test'), site, { recursive: true })
  const web = await serveStatic(site, {
    config: { relays: [paloma.relay.multiaddr], iceServers: [], allowPrivateAddresses: true },
  })
  const context = await browser.newContext()
  try {
    const page = await context.newPage()
    await page.goto(web.url)
    await createAccount(page, 'alice')
    await expectOnline(page)
    await page.evaluate(() => navigator.serviceWorker.ready)
    await page.evaluate(() => ((window as { __samePage?: boolean }).__samePage = true))

    // Deploy a new version: another index.html, and the service worker that lists it.
    const html = await readFile(join(site, 'index.html'), 'utf8')
    await writeFile(
      join(site, 'index.html'),
      html.replace('<title>', '<meta name="paloma-build" content="2" />\n    <title>'),
    )
    const sw = await readFile(join(site, 'sw.js'), 'utf8')
    await writeFile(
      join(site, 'sw.js'),
      sw.replace(/(url:"index\.html",revision:")[^"]+/, '$1second-version'),
    )

    // The person is typing when the new version arrives.
    const filter = page.getByRole('searchbox', { name: 'Filter chats' })
    await filter.pressSequentially('half-typed')
    await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.update()))
    const prompt = page.getByRole('status', { name: 'Update' })
    await expect(prompt).toContainText('A new version of Paloma is available')
    await filter.pressSequentially(' and more')
    // The new worker is installed and waiting; the page is the same page, the text still there.
    await page.waitForFunction(() =>
      navigator.serviceWorker.getRegistration().then((r) => r?.waiting != null),
    )
    expect(await page.evaluate(() => (window as { __samePage?: boolean }).__samePage)).toBe(true)
    await expect(filter).toHaveValue('half-typed and more')
    await expect(page.locator('meta[name="paloma-build"]')).toHaveCount(0)

    await prompt.getByRole('button', { name: 'Reload' }).click()
    await expect(page.locator('meta[name="paloma-build"]')).toHaveAttribute('content', '2')
    expect(await page.evaluate(() => (window as { __samePage?: boolean }).__samePage)).toBeUndefined()
    await expect(page.getByRole('button', { name: 'Unlock' })).toBeVisible()
    await expect(page.getByRole('status', { name: 'Update' })).toHaveCount(0)
  } finally {
    await context.close()
    await web.close()
    await rm(site, { recursive: true, force: true })
  }
})
