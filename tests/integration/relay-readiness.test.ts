/**
 * `/healthz`, `/readyz` and the metrics token of a real relay process.
 *
 * Read-only storage: as a normal user the data directory is made read-only with chmod; as root (tests
 * may run as root, and root ignores permission bits) with the immutable attribute (`chattr +i`), which
 * stops root too. Either way the test first checks that creating a file in the directory really fails,
 * so it cannot pass without the condition it claims.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { chmod, writeFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { sample, scrape, startRelay, untilMetric, type RelayProcess } from '../support/relays.ts'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {})
})

async function relay(args: string[] = []): Promise<RelayProcess & { metricsUrl: string }> {
  const r = await startRelay({ args: ['--metrics-port', '0', ...args] })
  cleanups.push(() => r.stop())
  return r as RelayProcess & { metricsUrl: string }
}

const endpoint = (r: { metricsUrl: string }, path: string) => r.metricsUrl.replace('/metrics', path)

async function readyz(r: { metricsUrl: string }) {
  const res = await fetch(endpoint(r, '/readyz'))
  return {
    status: res.status,
    body: (await res.json()) as { ready: boolean; checks: Record<string, { ok: boolean; detail: string }> },
  }
}

/** Makes `dir` refuse new files, for root too; returns the undo. */
async function makeReadOnly(dir: string): Promise<() => Promise<void>> {
  if (process.getuid?.() === 0) {
    const set = spawnSync('chattr', ['+i', dir], { encoding: 'utf8' })
    if (set.status !== 0) throw new Error(`chattr +i ${dir} failed (needed as root): ${set.stderr}`)
    return async () => void spawnSync('chattr', ['-i', dir])
  }
  await chmod(dir, 0o555)
  return () => chmod(dir, 0o700)
}

describe('relay health and readiness', () => {
  it('goes unready while its data directory is read-only, and ready again after', async () => {
    const r = await relay()
    const ok = await readyz(r)
    expect(ok).toMatchObject({ status: 200, body: { ready: true } })
    expect(Object.keys(ok.body.checks).sort()).toEqual(['dht', 'listening', 'storage'])

    const undo = await makeReadOnly(r.dataDir)
    cleanups.push(undo)
    // Precondition: the directory really refuses new files now.
    const probe = join(r.dataDir, 'test-probe')
    const wrote = await writeFile(probe, 'x').then(
      () => true,
      () => false,
    )
    if (wrote) await unlink(probe)
    expect(wrote, 'the data directory still accepts new files').toBe(false)

    const bad = await readyz(r)
    expect(bad.status).toBe(503)
    expect(bad.body.ready).toBe(false)
    expect(bad.body.checks.storage).toMatchObject({
      ok: false,
      detail: expect.stringContaining('not writable'),
    })
    expect(bad.body.checks.listening?.ok).toBe(true)
    // Still alive: a read-only disk is a reason to take it out of rotation, not to restart it in a loop.
    expect((await fetch(endpoint(r, '/healthz'))).status).toBe(200)
    expect(sample(await scrape(r.metricsUrl), 'paloma_relay_ready')).toBe(0)

    await undo()
    expect(await readyz(r)).toMatchObject({ status: 200, body: { ready: true } })
    expect(sample(await scrape(r.metricsUrl), 'paloma_relay_ready')).toBe(1)
  })

  it('is unready until it joins the DHT of its --peer relays', async () => {
    const first = await relay()
    const lonely = await relay(['--peer', first.multiaddr.replace(/\/tcp\/\d+\//, '/tcp/1/')])
    const report = await readyz(lonely)
    expect(report.status).toBe(503)
    expect(report.body.checks.dht).toMatchObject({
      ok: false,
      detail: expect.stringContaining('no DHT peer'),
    })

    const joined = await relay(['--peer', first.multiaddr])
    await untilMetric(joined.metricsUrl, 'paloma_relay_ready', (v) => v === 1)
    expect((await readyz(joined)).body.checks.dht).toMatchObject({ ok: true, detail: '1 DHT peers' })
  })

  it('keeps /metrics behind the bearer token when one is set, and health open', async () => {
    const token = 'test-token-0123456789abcdef'
    const r = await relay(['--metrics-token', token])
    expect((await fetch(r.metricsUrl)).status).toBe(401)
    expect(
      (await fetch(r.metricsUrl, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status,
    ).toBe(401)
    expect(sample(await scrape(r.metricsUrl, token), 'paloma_relay_ready')).toBe(1)
    expect((await fetch(endpoint(r, '/healthz'))).status).toBe(200)
    expect((await fetch(endpoint(r, '/health'))).status).toBe(200)
    expect((await fetch(endpoint(r, '/readyz'))).status).toBe(200)
  })

  it('exits with a message naming the option when a value is invalid', async () => {
    await expect(startRelay({ args: ['--mailbox-ttl', 'forever'] })).rejects.toThrow(
      /exited with 2 before listening:\npaloma-relay: --mailbox-ttl: expected a duration/,
    )
    await expect(startRelay({ env: { PALOMA_RELAY_MAX_RESERVATIONS: 'lots' } })).rejects.toThrow(
      /PALOMA_RELAY_MAX_RESERVATIONS \(environment\): expected a whole number/,
    )
  })
})
