/**
 * Foundation benchmark: two real Chromium pages (two browser contexts) and a real relay process.
 * Prints one JSON line:
 *   reservation_ms   page open -> relay reservation held (status Online), median of both pages
 *   direct_dial_ms   dial of the other's WebRTC address -> direct connection open
 *   rtt_ms_p50/p99   app-level round trip of a chat message (send -> ack) over the direct connection, 100 msgs
 *   js_gzip_bytes    gzipped size of the built JavaScript
 * Needs `npm run build` first (npm run bench does it).
 */
import { chromium } from 'playwright-core'
import { readdir, readFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { join, resolve } from 'node:path'
import { serveStatic } from '../scripts/static-server.ts'
import { startRelay } from '../tests/helpers/relay-process.ts'
import { CHROMIUM_ARGS } from '../playwright.config.ts'
import type { Messenger, MessengerSnapshot } from '../src/app/messenger.ts'

const root = resolve(import.meta.dirname, '..')
const ROUNDS = 100

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
}

const relay = await startRelay()
const web = await serveStatic(join(root, 'dist'), {
  config: { relays: [relay.multiaddr], iceServers: [], allowPrivateAddresses: true },
})
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: CHROMIUM_ARGS,
})
try {
  const open = async () => {
    const page = await (await browser.newContext()).newPage()
    const t0 = performance.now()
    await page.goto(web.url)
    await page.waitForFunction(
      () => (globalThis as unknown as { paloma: Messenger }).paloma?.snapshot().state === 'online',
      null,
      {
        polling: 5,
        timeout: 60_000,
      },
    )
    return { page, reservationMs: performance.now() - t0 }
  }
  const a = await open()
  const b = await open()
  const bobAddress = await b.page.evaluate(
    () => (globalThis as unknown as { paloma: Messenger }).paloma.snapshot().addresses[0]!,
  )

  const dialMs = await a.page.evaluate(async (addr) => {
    const t0 = performance.now()
    await (globalThis as unknown as { paloma: Messenger }).paloma.connect(addr)
    return performance.now() - t0
  }, bobAddress)
  const direct = await a.page.evaluate(
    () => (globalThis as unknown as { paloma: Messenger }).paloma.snapshot().contact?.direct === true,
  )

  const rtts = await a.page.evaluate(async (rounds) => {
    const m = (globalThis as unknown as { paloma: Messenger }).paloma
    const out: number[] = []
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now()
      const sent = await m.send(`ping ${i}`)
      await new Promise<void>((res) => {
        const off = m.subscribe((s: MessengerSnapshot) => {
          if (s.messages.some((x) => x.id === sent.id && x.status === 'delivered')) {
            queueMicrotask(() => off())
            res()
          }
        })
      })
      out.push(performance.now() - t0)
    }
    return out
  }, ROUNDS)

  const assets = join(root, 'dist/assets')
  let gz = 0
  let raw = 0
  for (const f of await readdir(assets)) {
    if (!f.endsWith('.js')) continue
    const bytes = await readFile(join(assets, f))
    raw += bytes.byteLength
    gz += gzipSync(bytes, { level: 9 }).byteLength
  }

  console.log(
    JSON.stringify({
      bench: 'foundation',
      reservation_ms: Math.round(percentile([a.reservationMs, b.reservationMs], 50)),
      reservation_ms_each: [a.reservationMs, b.reservationMs].map(Math.round),
      direct_dial_ms: Math.round(dialMs),
      direct,
      rtt_ms_p50: +percentile(rtts, 50).toFixed(2),
      rtt_ms_p99: +percentile(rtts, 99).toFixed(2),
      rounds: ROUNDS,
      js_bytes: raw,
      js_gzip_bytes: gz,
    }),
  )
} finally {
  await browser.close()
  await web.close()
  await relay.stop()
}
