/**
 * The app served over HTTPS (a self-signed certificate for 127.0.0.1, trusted for the test with
 * `ignoreHTTPSErrors`) reaches a relay that it can only reach one way: its config.json lists only the
 * relay's secure WebSocket address (`/tls/ws`, the relay's own certificate files), or only its
 * WebRTC-Direct address (`/webrtc-direct/certhash/…`, no domain certificate). An https page may not open
 * plain `ws://`, so "Online" (a reservation held on the relay) means that transport works.
 */
import { test, expect } from '@playwright/test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { serveStatic, type StaticServer } from '../../scripts/static-server.ts'
import { startRelay, untilMetric, type RelayProcess } from '../support/relays.ts'
import { createAccount, expectOnline } from './fixtures.ts'

const certDir = mkdtempSync(join(tmpdir(), 'paloma-e2e-tls-'))
const certFile = join(certDir, 'cert.pem')
const keyFile = join(certDir, 'key.pem')

let relay: RelayProcess & { metricsUrl: string }
const servers: StaticServer[] = []

test.beforeAll(async () => {
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { encoding: 'utf8' },
  )
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`)
  relay = (await startRelay({
    args: [
      '--tls-cert',
      certFile,
      '--tls-key',
      keyFile,
      '--tls-port',
      '0',
      '--webrtc-direct-port',
      '0',
      '--metrics-port',
      '0',
    ],
  })) as RelayProcess & { metricsUrl: string }
})

test.afterAll(async () => {
  for (const s of servers) await s.close()
  await relay?.stop()
  rmSync(certDir, { recursive: true, force: true })
})

async function httpsApp(relayAddress: string): Promise<StaticServer> {
  const web = await serveStatic(resolve(import.meta.dirname, '../../dist'), {
    https: { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') },
    config: { relays: [relayAddress], iceServers: [], allowPrivateAddresses: true },
  })
  servers.push(web)
  return web
}

for (const [transport, pick] of [
  ['secure WebSockets', (a: string) => a.includes('/tls/ws/')],
  ['WebRTC-Direct', (a: string) => a.includes('/webrtc-direct/certhash/')],
] as const) {
  test(`an app on an https page goes online through the relay's ${transport} address`, async ({
    browser,
  }) => {
    const address = relay.multiaddrs.find(pick)
    expect(address, `the relay prints a ${transport} address`).toBeDefined()
    const web = await httpsApp(address!)
    expect(web.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/)
    const before = Number(
      (await (await fetch(relay.metricsUrl)).text()).match(
        /^paloma_relay_reservations_granted_total\{kind="new"\} (\d+)$/m,
      )?.[1],
    )

    const context = await browser.newContext({ ignoreHTTPSErrors: true })
    try {
      const page = await context.newPage()
      page.on('pageerror', (err) => console.error('[page error]', err))
      await page.goto(web.url)
      expect(await page.evaluate(() => window.isSecureContext && location.protocol)).toBe('https:')
      await createAccount(page, transport === 'WebRTC-Direct' ? 'direct' : 'secure')
      await expectOnline(page)
      // The relay granted this browser a reservation over that address.
      await untilMetric(
        relay.metricsUrl,
        'paloma_relay_reservations_granted_total{kind="new"}',
        (v) => v === before + 1,
      )
    } finally {
      await context.close()
    }
  })
}
