/**
 * Connection details, the pending invite link, notification and presence settings, the chat list's
 * previews, and the typing throttle, on the in-memory network with every real component.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { TwinWorld, type TwinNetwork } from '../../support/twins.ts'
import { next, twinPerson } from '../../support/twin-people.ts'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
})
afterEach(() => {
  vi.useRealTimers()
})
const elapse = (ms: number) => vi.advanceTimersByTimeAsync(ms)

async function pair(world: TwinWorld, bobPlatform = {}) {
  const alice = await twinPerson(world, 'alice')
  const bob = await twinPerson(world, 'bob', { platform: bobPlatform })
  await alice.app.addContact(bob.app.inviteLink()!)
  return { alice, bob }
}

describe('connection details', () => {
  it('show each relay, each chat’s route, what waits in the outbox, and the last refusal', async () => {
    const world = await TwinWorld.create(2)
    const { alice, bob } = await pair(world)
    const details = alice.app.connectionDetails()!
    expect(details.state).toBe('online')
    expect(details.relays.map((r) => [r.configured, r.connected, r.reserved, r.mailbox])).toEqual([
      [true, true, true, true],
      [true, true, true, true],
    ])
    expect(details.chats).toEqual([{ peerId: bob.peerId, name: 'bob', route: 'direct', pending: 0 }])
    expect(details.lastError).toBeUndefined()

    await bob.app.stop()
    for (const r of world.relays) r.refuse = 'RECIPIENT_QUOTA'
    await alice.app.send('too much mail')
    await next(alice.app, (s) => s.messages.find((m) => m.problem === 'RECIPIENT_QUOTA'))
    await elapse(1)
    const stuck = alice.app.connectionDetails()!
    expect(stuck.chats[0]).toMatchObject({ route: 'relays', pending: 1 })
    expect(stuck.outbox.pending).toBe(1)
    expect(stuck.outbox.nextRetry).toBeGreaterThan(0)
    expect(stuck.lastError).toMatchObject({ code: 'RECIPIENT_QUOTA' })

    world.setRelayUp(world.relays[0]!, false)
    await elapse(1)
    expect(alice.app.connectionDetails()!.lastError).toMatchObject({ code: 'RELAY_LOST' })
    expect(alice.app.connectionDetails()!.relays[0]).toMatchObject({
      connected: false,
      reserved: false,
      mailbox: false,
    })
    // Presence off hides the route too.
    await alice.app.updateSettings({ presence: false })
    expect(alice.app.connectionDetails()!.chats[0]!.route).toBeUndefined()
  })
})

describe('an invite link the app was opened with', () => {
  it('is shown for one confirmation, after the account exists, and adds the contact', async () => {
    const world = await TwinWorld.create(1)
    const bob = await twinPerson(world, 'bob')
    const alice = await twinPerson(world, 'alice')
    alice.app.openInvite(bob.app.inviteLink()!)
    expect(alice.app.snapshot().invite).toMatchObject({
      peerId: bob.peerId,
      name: 'bob',
      known: false,
      own: false,
    })
    await alice.app.acceptInvite()
    expect(alice.app.snapshot().invite).toBeUndefined()
    expect(alice.app.snapshot().active).toBe(bob.peerId)
    await expect(alice.app.acceptInvite()).rejects.toMatchObject({ code: 'NO_INVITE' })

    alice.app.openInvite(bob.app.inviteLink()!)
    expect(alice.app.snapshot().invite).toMatchObject({ known: true })
    alice.app.dismissInvite()
    alice.app.openInvite(alice.app.inviteLink()!)
    expect(alice.app.snapshot().invite).toMatchObject({ own: true })
    alice.app.openInvite('https://paloma.test/#invite=not-an-invite')
    expect(alice.app.snapshot().invite).toEqual({ error: { area: 'invite', code: 'BAD_INVITE' } })
  })
})

describe('settings', () => {
  it('notifications can be turned off; the chat list shows the last message and its time', async () => {
    const world = await TwinWorld.create(1)
    const notified: string[] = []
    const { alice, bob } = await pair(world, { notify: (title: string) => notified.push(title) })
    await alice.app.send('one')
    const row = await next(bob.app, (s) => s.contacts.find((c) => c.last?.text === 'one' && c.unread === 1))
    expect(row.last).toMatchObject({ direction: 'in', status: 'delivered' })
    expect(notified).toEqual(['alice'])
    await bob.app.updateSettings({ notifications: false })
    await alice.app.send('two')
    await next(bob.app, (s) => s.contacts.find((c) => c.last?.text === 'two' && c.unread === 2))
    expect(notified).toEqual(['alice'])
    expect(bob.app.snapshot().settings).toMatchObject({ notifications: false, notificationText: false })
    await bob.app.updateSettings({ autoLockMinutes: 5 })
    const reopened = await bob.reopen()
    expect(reopened.snapshot().settings).toMatchObject({ notifications: false, autoLockMinutes: 5 })
  })

  it('presence off hides online, last seen and the direct connection of every contact', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await pair(world)
    await alice.app.send('hello')
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    await bob.app.openChat(alice.peerId)
    await elapse(2000)
    const seen = await next(bob.app, (s) => s.contacts.find((c) => c.online && c.direct && c.lastSeen))
    expect(seen.name).toBe('alice')
    await bob.app.updateSettings({ presence: false })
    expect(bob.app.snapshot().contacts[0]).toMatchObject({ online: false, direct: false, typing: false })
    expect(bob.app.snapshot().contacts[0]!.lastSeen).toBeUndefined()
  })
})

describe('typing', () => {
  it('sends at most one typing payload per interval, however the composer changes, and none for a message', async () => {
    // The app's clock is the faked one too, so the interval is measured in the time the test advances.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
    const world = await TwinWorld.create(1, () => Date.now())
    const alice = await twinPerson(world, 'alice')
    // Presence heartbeats are posts too: none during the test, so only typing is counted.
    const bob = await twinPerson(world, 'bob', {
      init: { messenger: { presence: { heartbeatMs: 3_600_000 } } },
    })
    await alice.app.addContact(bob.app.inviteLink()!)
    await alice.app.send('hello')
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    await bob.app.openChat(alice.peerId)
    await elapse(5000)
    // Bob's "online" (announced once he added Alice) has arrived: it is not counted below.
    await vi.waitFor(() => expect(alice.app.snapshot().contacts[0]!.online).toBe(true), { interval: 5 })
    const log = (bob.app.network as unknown as TwinNetwork).sent
    const posts = () => log.filter((x) => !x.acked).length
    const before = posts()
    /** Waits until exactly `n` typing payloads went out since `before` (real crypto runs in between). */
    const sent = async (n: number) => vi.waitFor(() => expect(posts() - before).toBe(n), { interval: 5 })
    for (let i = 0; i < 10; i++) {
      bob.app.setTyping(true)
      bob.app.setTyping(false) // typed a letter and deleted it, ten times
    }
    await sent(1)
    await elapse(2500)
    await sent(2) // the "off", folded in at the end of the interval
    await elapse(10_000)
    bob.app.setTyping(true) // a barrier: had anything gone out in between, this would be the fourth
    await sent(3)
    await bob.app.send('a message ends typing by itself')
    await elapse(10_000)
    bob.app.setTyping(true)
    await sent(4) // no "off" went for the message
    await vi.waitFor(() => expect(alice.app.snapshot().contacts[0]!.typing).toBe(true), { interval: 5 })
  })
})
