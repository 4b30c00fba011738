/**
 * Secure WebSockets from certificate files: a relay process serves `/tls/ws` with the certificate it was
 * given, a libp2p client connects through it, and when the files change (an atomic swap of the directory
 * they live in, as certbot and most ACME clients do) new TLS handshakes get the new certificate while the
 * open connection stays up. A key that does not match its certificate is refused and the previous
 * certificate stays in use.
 *
 * The certificates are self-signed (openssl CLI) and the client trusts them by not verifying
 * (NODE_TLS_REJECT_UNAUTHORIZED=0 in this test process only): what is checked is which certificate
 * the relay serves, by its fingerprint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { connect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { ping } from '@libp2p/ping'
import { startNode } from './fixtures/nodes.ts'
import { sample, scrape, startRelay, untilMetric, type RelayProcess } from '../support/relays.ts'

process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'

const dir = mkdtempSync(join(tmpdir(), 'paloma-tls-'))
let relay: RelayProcess & { metricsUrl: string }
let client: Libp2p<{ ping: { ping(ma: unknown): Promise<number> } }>

/** A self-signed P-256 certificate for localhost and 127.0.0.1 in `dir/name/{cert,key}.pem`. */
function selfSigned(name: string): { cert: string; key: string; fingerprint: string } {
  const out = join(dir, name)
  mkdirSync(out)
  const r = spawnSync(
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
      `/CN=localhost`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(out, 'key.pem'),
      '-out',
      join(out, 'cert.pem'),
    ],
    { encoding: 'utf8' },
  )
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`)
  const cert = readFileSync(join(out, 'cert.pem'), 'utf8')
  return {
    cert,
    key: readFileSync(join(out, 'key.pem'), 'utf8'),
    fingerprint: new X509Certificate(cert).fingerprint256,
  }
}

/** Points `dir/live` at `dir/<name>` atomically (a new symlink renamed over the old one). */
function activate(name: string): void {
  const tmp = join(dir, `live-${name}.tmp`)
  symlinkSync(join(dir, name), tmp)
  renameSync(tmp, join(dir, 'live'))
}

/** The fingerprint of the certificate the relay serves to a new TLS handshake. */
function served(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false },
      () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '')
        socket.end()
      },
    )
    socket.once('error', reject)
  })
}

let a: ReturnType<typeof selfSigned>
let b: ReturnType<typeof selfSigned>

beforeAll(async () => {
  a = selfSigned('a')
  b = selfSigned('b')
  const c = selfSigned('c')
  // A certificate with somebody else's key.
  mkdirSync(join(dir, 'mismatch'))
  writeFileSync(join(dir, 'mismatch', 'cert.pem'), b.cert)
  writeFileSync(join(dir, 'mismatch', 'key.pem'), c.key)
  activate('a')
  relay = (await startRelay({
    args: [
      '--tls-cert',
      join(dir, 'live', 'cert.pem'),
      '--tls-key',
      join(dir, 'live', 'key.pem'),
      '--tls-port',
      '0',
      '--metrics-port',
      '0',
    ],
  })) as RelayProcess & { metricsUrl: string }
  client = (await startNode({ ping: ping() })) as typeof client
})

afterAll(async () => {
  await client?.stop()
  await relay?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('secure WebSockets', () => {
  it('serves its certificate on /tls/ws, reloads it when the files change and keeps open connections', async () => {
    const wss = relay.multiaddrs.find((m) => m.includes('/tls/ws/'))
    expect(wss).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/tls\/ws\/p2p\//)
    const port = Number(wss!.split('/')[4])
    expect(await served(port)).toBe(a.fingerprint)
    const before = await scrape(relay.metricsUrl)
    expect(sample(before, 'paloma_relay_tls_certificate_expiry_seconds')).toBe(
      new X509Certificate(a.cert).validToDate.getTime() / 1000,
    )

    const connection = await client.dial(multiaddr(wss!))
    expect(connection.remoteAddr.toString()).toContain('/tls/ws')
    expect(await client.services.ping.ping(multiaddr(wss!))).toBeGreaterThanOrEqual(0)

    activate('b')
    await untilMetric(relay.metricsUrl, 'paloma_relay_tls_reloads_total{result="ok"}', (v) => v === 1)
    expect(await served(port)).toBe(b.fingerprint)
    expect(connection.status).toBe('open')
    expect(await client.services.ping.ping(multiaddr(wss!))).toBeGreaterThanOrEqual(0)
    expect(client.getConnections().filter((x) => x.status === 'open')).toHaveLength(1)

    activate('mismatch')
    const after = await untilMetric(
      relay.metricsUrl,
      'paloma_relay_tls_reloads_total{result="error"}',
      (v) => v >= 1,
    )
    expect(sample(after, 'paloma_relay_tls_reloads_total{result="ok"}')).toBe(1)
    expect(await served(port)).toBe(b.fingerprint)
    expect(sample(after, 'paloma_relay_tls_certificate_expiry_seconds')).toBe(
      new X509Certificate(b.cert).validToDate.getTime() / 1000,
    )
    expect(relay.stderr()).toContain('does not fit --tls-cert')
  })

  it('refuses to start with a key that does not fit the certificate, naming the files', async () => {
    await expect(
      startRelay({
        args: [
          '--tls-cert',
          join(dir, 'mismatch', 'cert.pem'),
          '--tls-key',
          join(dir, 'mismatch', 'key.pem'),
          '--tls-port',
          '0',
        ],
      }),
    ).rejects.toThrow(/paloma-relay failed to start: --tls-key .*mismatch\/key\.pem does not fit --tls-cert/)
  })
})
