import {
  expect,
  expectOnline,
  introduce,
  inviteLinkOf,
  log,
  openChat,
  send,
  test,
  unlock,
} from './fixtures.ts'

test('two people chat end-to-end encrypted over a direct WebRTC connection that outlives the relay', async ({
  paloma,
}) => {
  const alice = await paloma.person('alice')
  const bob = await paloma.person('bob')
  await introduce(alice, bob)
  await expect(alice.page.getByText('Direct connection')).toBeVisible()

  await send(alice.page, 'Hola Bob 👋')
  await openChat(bob.page, 'alice')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText(['Hola Bob 👋'])
  await expect(log(alice.page).locator('li[data-direction="out"]')).toHaveAttribute('data-status', 'read')

  await send(bob.page, 'Hi Alice')
  await expect(log(alice.page).locator('li[data-direction="in"]')).toHaveText(['Hi Alice'])

  // The connection between the two is WebRTC, not the relayed circuit.
  const connections = await alice.page.evaluate(() => {
    type Conn = { addr: string; limited: boolean }
    const app = (globalThis as unknown as { paloma: { network: { connections(): Conn[] } } }).paloma
    return app.network.connections()
  })
  expect(connections.some((c) => c.addr.includes('/webrtc') && !c.limited)).toBe(true)

  // With the relay process gone, messages still flow both ways.
  await paloma.relay.stop()
  await expect(alice.page.getByRole('status', { name: 'Connection' })).not.toHaveText('Online')
  await send(alice.page, 'Sin relé')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText(['Hola Bob 👋', 'Sin relé'])
  await send(bob.page, 'Still here')
  await expect(log(alice.page).locator('li[data-direction="in"]')).toHaveText(['Hi Alice', 'Still here'])
})

test('both browsers reserve again after the relay restarts and can be reached again', async ({ paloma }) => {
  const alice = await paloma.person('alice')
  const bob = await paloma.person('bob')

  await paloma.restartRelay()
  await expect(alice.page.getByRole('status', { name: 'Connection' })).not.toHaveText('Online')
  await expectOnline(alice.page)
  await expectOnline(bob.page)

  await introduce(alice, bob)
  await send(alice.page, 'after the restart')
  await openChat(bob.page, 'alice')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText(['after the restart'])
  await expect(log(alice.page).locator('li[data-direction="out"]')).toHaveAttribute('data-status', 'read')
})

test('the identity (PeerId) survives a reload', async ({ paloma }) => {
  const alice = await paloma.person('alice')
  const before = new URL(await inviteLinkOf(alice.page)).hash
  await alice.page.reload()
  await unlock(alice.page)
  await expectOnline(alice.page)
  expect(new URL(await inviteLinkOf(alice.page)).hash).toBe(before)
})
