/**
 * Pictures of the app, made with Playwright in Chromium (not run in CI):
 *
 * - `node scripts/screenshots.ts`: the main screens in docs/screenshots/ (PNG), light and dark, on a
 *   1280×800 desktop and a 390 px phone: two people on a local relay chatting through the real UI.
 *   Needs `npm run build` first.
 * - `node scripts/screenshots.ts --icons`: the PNG icons the manifest lists (192, 512 and a maskable
 *   512 with the safe-zone padding) rendered from public/icon.svg into public/.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { serveStatic } from './static-server.ts'
import { startRelay } from '../tests/support/relays.ts'
import { CHROMIUM_ARGS } from '../playwright.config.ts'

const root = resolve(import.meta.dirname, '..')
const out = join(root, 'docs/screenshots')
const PASSPHRASE = 'correct horse battery staple'

const browser: Browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
})

async function icons(): Promise<void> {
  const svg = await readFile(join(root, 'public/icon.svg'), 'utf8')
  const page = await browser.newPage()
  for (const [name, size, pad] of [
    ['icon-192.png', 192, 0],
    ['icon-512.png', 512, 0],
    ['icon-maskable-512.png', 512, 0.1],
  ] as const) {
    await page.setViewportSize({ width: size, height: size })
    const inner = Math.round(size * (1 - 2 * pad))
    await page.setContent(
      `<body style="margin:0;background:#2d3a5c;display:grid;place-items:center;height:${size}px">` +
        `<div style="width:${inner}px;height:${inner}px">${svg.replace('<svg ', `<svg width="${inner}" height="${inner}" `)}</div></body>`,
    )
    await page.screenshot({ path: join(root, 'public', name), omitBackground: pad === 0 })
  }
  await page.close()
}

async function person(
  url: string,
  name: string,
  theme: 'light' | 'dark',
  viewport: { width: number; height: number },
) {
  const context = await browser.newContext({ colorScheme: theme, viewport, locale: 'en-US' })
  const page = await context.newPage()
  await page.goto(url)
  await page.getByRole('textbox', { name: 'Username' }).fill(name)
  await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE)
  await page.getByLabel('Repeat passphrase').fill(PASSPHRASE)
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.getByRole('status', { name: 'Connection' }).getByText('Online').waitFor()
  return { page, context }
}

async function send(page: Page, text: string) {
  await page.getByRole('textbox', { name: 'Message' }).fill(text)
  await page.getByRole('button', { name: 'Send' }).click()
}

async function screens(): Promise<void> {
  await mkdir(out, { recursive: true })
  const relay = await startRelay()
  const web = await serveStatic(join(root, 'dist'), {
    config: { relays: [relay.multiaddr], iceServers: [], allowPrivateAddresses: true },
  })
  try {
    for (const theme of ['light', 'dark'] as const) {
      for (const [device, viewport] of [
        ['desktop', { width: 1280, height: 800 }],
        ['phone', { width: 390, height: 844 }],
      ] as const) {
        const shot = (page: Page, what: string) =>
          page.screenshot({ path: join(out, `${what}-${device}-${theme}.png`) })
        const alice = await person(web.url, 'alice', theme, viewport)
        const bob = await person(web.url, 'bob', theme, { width: 1280, height: 800 })
        await bob.page.getByRole('button', { name: 'Share invite' }).click()
        const link = await bob.page.getByRole('textbox', { name: 'Invite link' }).inputValue()
        if (device === 'desktop') await shot(bob.page, 'invite')
        await bob.page.getByRole('button', { name: 'Close' }).click()
        await alice.page.getByRole('button', { name: 'Add contact' }).click()
        await alice.page.getByRole('textbox', { name: 'Invite link or username' }).fill(link)
        await alice.page.getByRole('button', { name: 'Add', exact: true }).click()
        await send(alice.page, 'Hola Bob! Did the invite work?')
        await bob.page
          .getByRole('list', { name: 'Chats' })
          .getByRole('listitem', { name: 'alice' })
          .getByRole('button')
          .click()
        await send(bob.page, 'It did: one click, and here you are.')
        await send(alice.page, 'Lovely. The notes from today are at https://example.org/notes')
        await send(bob.page, 'Thanks!\nReading them now.')
        await alice.page
          .getByRole('log', { name: 'Messages' })
          .locator('li[data-status="read"]')
          .last()
          .waitFor()
        await shot(alice.page, 'chat')
        if (device === 'phone') {
          await alice.page.getByRole('button', { name: 'Back to chats' }).click()
          await shot(alice.page, 'chats')
        }
        await alice.page.getByRole('button', { name: 'Settings' }).click()
        await shot(alice.page, 'settings')
        await alice.page.keyboard.press('Escape')
        await alice.page.getByRole('button', { name: 'Connection details' }).click()
        await alice.page.getByRole('dialog', { name: 'Connection details' }).getByText('Relays').waitFor()
        await shot(alice.page, 'connection')
        await alice.page.keyboard.press('Escape')
        await alice.page.getByRole('button', { name: 'Lock', exact: true }).click()
        await alice.page.getByRole('button', { name: 'Unlock' }).waitFor()
        await shot(alice.page, 'unlock')
        await alice.context.close()
        await bob.context.close()
      }
    }
  } finally {
    await web.close()
    await relay.stop()
  }
}

try {
  if (process.argv.includes('--icons')) await icons()
  else await screens()
} finally {
  await browser.close()
}
