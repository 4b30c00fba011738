import { afterEach, expect, it } from 'vitest'
import { startRelay } from '../helpers/relay-process.ts'
import { person, until, type Person } from '../helpers/people.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

it('a relay reports reservations, connections and its mailbox on /metrics and /health', async () => {
  const relay = await startRelay({ args: ['--metrics-port', '0'] })
  cleanups.push(() => relay.stop())
  expect(relay.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)

  const alice: Person = person([relay.multiaddr])
  cleanups.push(() => alice.app.stop())
  await alice.app.open()
  await alice.app.createAccount('alice', 'correct horse battery')
  await until(alice.app, (s) => s.state === 'online')

  const text = await (await fetch(relay.metricsUrl!)).text()
  const value = (name: string) => Number(text.match(new RegExp(`^paloma_relay_${name} (\\d+)$`, 'm'))?.[1])
  expect(text).toContain('# TYPE paloma_relay_relay_reservations gauge')
  expect(value('relay_reservations')).toBeGreaterThanOrEqual(1)
  expect(value('connections')).toBeGreaterThanOrEqual(1)
  expect(value('mailbox_subscriptions')).toBeGreaterThanOrEqual(1)

  const health = await (await fetch(relay.metricsUrl!.replace('/metrics', '/health'))).json()
  expect(health).toMatchObject({ ok: true, peer_id: relay.peerId })
  expect((await fetch(relay.metricsUrl!.replace('/metrics', '/nope'))).status).toBe(404)
})
