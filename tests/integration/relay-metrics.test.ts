import { expect, it } from 'vitest'
import { useScene } from '../support/people.ts'

const scene = useScene()

it('a relay reports reservations, connections and its mailbox on /metrics and /health', async () => {
  const relay = await scene.relay(['--metrics-port', '0'])
  expect(relay.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)

  await scene.online('alice', [relay.multiaddr])

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
