import { addressOf, connectTo, expect, send, test } from './fixtures.ts'

test('two people chat over a direct WebRTC connection that outlives the relay', async ({ paloma }) => {
  const alice = await paloma.person()
  const bob = await paloma.person()
  const bobAddress = await addressOf(bob.page)
  await addressOf(alice.page)

  await connectTo(alice.page, bobAddress)
  await expect(alice.page.getByText('Direct connection')).toBeVisible()

  await send(alice.page, 'Hola Bob 👋')
  const bobLog = bob.page.getByRole('log', { name: 'Messages' })
  const aliceLog = alice.page.getByRole('log', { name: 'Messages' })
  await expect(bobLog.locator('li[data-direction="in"]')).toHaveText(['Hola Bob 👋'])
  await expect(aliceLog.locator('li[data-direction="out"]')).toHaveAttribute('data-status', 'delivered')

  await send(bob.page, 'Hi Alice')
  await expect(aliceLog.locator('li[data-direction="in"]')).toHaveText(['Hi Alice'])

  // The connection the chat runs on is WebRTC, not the relayed circuit.
  const remote = await alice.page.evaluate((peer) => {
    const m = (
      globalThis as unknown as {
        paloma: {
          node: {
            libp2p: {
              getConnections(): Array<{
                remotePeer: { toString(): string }
                remoteAddr: { toString(): string }
                limits?: unknown
              }>
            }
          }
        }
      }
    ).paloma
    return m.node.libp2p
      .getConnections()
      .filter((c) => c.remotePeer.toString() === peer)
      .map((c) => ({ addr: c.remoteAddr.toString(), limited: c.limits != null }))
  }, bobAddress.split('/p2p/').at(-1)!)
  expect(remote.some((c) => c.addr.includes('/webrtc') && !c.limited)).toBe(true)

  // With the relay process gone, messages still flow both ways.
  await paloma.relay.stop()
  await expect(alice.page.getByRole('status', { name: 'Connection' })).not.toHaveText('Online')
  await send(alice.page, 'Sin relé')
  await expect(bobLog.locator('li[data-direction="in"]')).toHaveText(['Hola Bob 👋', 'Sin relé'])
  await send(bob.page, 'Still here')
  await expect(aliceLog.locator('li[data-direction="in"]')).toHaveText(['Hi Alice', 'Still here'])
})

test('both browsers reserve again after the relay restarts and can be reached again', async ({ paloma }) => {
  const alice = await paloma.person()
  const bob = await paloma.person()
  await addressOf(alice.page)
  await addressOf(bob.page)

  await paloma.restartRelay()
  const bobAddress = await addressOf(bob.page)
  await addressOf(alice.page)

  await connectTo(alice.page, bobAddress)
  await send(alice.page, 'after the restart')
  await expect(bob.page.getByRole('log', { name: 'Messages' }).locator('li[data-direction="in"]')).toHaveText(
    ['after the restart'],
  )
  await expect(
    alice.page.getByRole('log', { name: 'Messages' }).locator('li[data-direction="out"]'),
  ).toHaveAttribute('data-status', 'delivered')
})

test('the address survives a reload (stable PeerId in IndexedDB)', async ({ paloma }) => {
  const alice = await paloma.person()
  const before = await addressOf(alice.page)
  await alice.page.reload()
  const after = await addressOf(alice.page)
  expect(after.split('/p2p/').at(-1)).toBe(before.split('/p2p/').at(-1))
})
