/**
 * Resilience in browsers: five relays with two of them stopped for good, and network flaps on both sides.
 * Each person is a browser context on the test build, configured with every relay of a mesh.
 */
import { test as base, type Browser, type BrowserContext } from '@playwright/test'
import { resolve } from 'node:path'
import { serveStatic, type StaticServer } from '../../scripts/static-server.ts'
import { startRelayMesh, type RelayProcess } from '../support/relays.ts'
import {
  createAccount,
  expect,
  expectOnline,
  introduce,
  log,
  openChat,
  send,
  unlock,
  type Person,
} from './fixtures.ts'

interface Mesh {
  relays: RelayProcess[]
  url: string
  person(name: string): Promise<Person>
}

const test = base.extend<{ mesh: Mesh }>({
  mesh: async ({ browser }, use) => {
    const relays = await startRelayMesh(5)
    const web: StaticServer = await serveStatic(resolve(import.meta.dirname, '../../dist-test'), {
      config: { relays: relays.map((r) => r.multiaddr), iceServers: [], allowPrivateAddresses: true },
    })
    const contexts: BrowserContext[] = []
    await use({
      relays,
      url: web.url,
      async person(name) {
        const context = await (browser as Browser).newContext()
        contexts.push(context)
        const page = await context.newPage()
        await page.goto(web.url)
        await createAccount(page, name)
        await expectOnline(page)
        return { page, context, name }
      },
    })
    for (const c of contexts) await c.close()
    await web.close()
    for (const r of relays) await r.stop()
  },
})

test('with two of five relays stopped for good, messages to a closed tab still arrive', async ({ mesh }) => {
  const alice = await mesh.person('alice')
  const bob = await mesh.person('bob')
  await introduce(alice, bob)
  await send(alice.page, 'before')
  await openChat(bob.page, 'alice')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText(['before'])

  await bob.page.close()
  await Promise.all([mesh.relays[0]!.stop('SIGKILL'), mesh.relays[1]!.stop('SIGKILL')])
  await send(alice.page, 'with two relays down')
  await expect(log(alice.page).locator('li[data-direction="out"]').last()).toHaveAttribute(
    'data-status',
    'sent',
  )

  bob.page = await bob.context.newPage()
  await bob.page.goto(mesh.url)
  await unlock(bob.page)
  await openChat(bob.page, 'alice')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText([
    'before',
    'with two relays down',
  ])
  await expect(log(alice.page).locator('li[data-direction="out"]').last()).toHaveAttribute(
    'data-status',
    'read',
  )
})

test('both sides losing the network and getting it back: the app recovers by itself', async ({ mesh }) => {
  const alice = await mesh.person('alice')
  const bob = await mesh.person('bob')
  await introduce(alice, bob)
  await send(alice.page, 'hello')
  await openChat(bob.page, 'alice')
  await expect(log(bob.page).locator('li[data-direction="in"]')).toHaveText(['hello'])

  const recoveries: number[] = []
  for (let flap = 1; flap <= 3; flap++) {
    await Promise.all([alice.context.setOffline(true), bob.context.setOffline(true)])
    await expect(alice.page.getByRole('status', { name: 'Connection' })).toHaveText('Offline')
    await send(alice.page, `written offline ${flap}`)
    await Promise.all([alice.context.setOffline(false), bob.context.setOffline(false)])
    const back = Date.now()
    // Stated bound: back online and the message written offline shown on the other side within 30 s.
    await expect(log(bob.page).locator('li[data-direction="in"]').last()).toHaveText(
      `written offline ${flap}`,
      {
        timeout: 30_000,
      },
    )
    recoveries.push(Date.now() - back)
    await expectOnline(alice.page)
    await expectOnline(bob.page)
  }
  console.log(JSON.stringify({ suite: 'network-flaps', flaps: recoveries.length, recovery_ms: recoveries }))
  await send(bob.page, 'all good')
  await expect(log(alice.page).locator('li[data-direction="in"]').last()).toHaveText('all good')
})
