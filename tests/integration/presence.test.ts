import { describe, expect, it } from 'vitest'
import { aliceAndBob, until, useScene } from '../support/people.ts'
import type { Platform } from '../../src/app/paloma.ts'

const scene = useScene()

/** Alice and Bob, contacts of each other after Alice's first message; Bob's platform is given. */
async function pair(bobPlatform: Platform = {}) {
  const { alice, bob, invite } = await aliceAndBob(scene, bobPlatform)
  const aliceId = alice.app.peerId!
  // Alice's profile is in the directory before she writes, so Bob names her at once (an account made a
  // moment ago is named a little later: tests/unit/app/requests.twin.test.ts).
  await expect
    .poll(
      () =>
        bob.app.network!.directory.resolvePeer(aliceId).then(
          (p) => p.name,
          () => undefined,
        ),
      {
        timeout: 30_000,
      },
    )
    .toBe('alice')
  await alice.app.addContact(invite)
  await alice.app.send('hello')
  const bobId = bob.app.peerId!
  await until(bob.app, (s) => s.contacts.find((c) => c.peerId === aliceId))
  return { alice, bob, aliceId, bobId }
}

describe('real-time around messages', () => {
  it('bumps the unread count and notifies while the chat is not open, and clears it when opened', async () => {
    const notified: Array<[string, string]> = []
    const { alice, bob, aliceId } = await pair({ notify: (title, body) => notified.push([title, body]) })
    await until(bob.app, (s) => s.contacts.find((c) => c.peerId === aliceId && c.unread === 1))
    await alice.app.send('are you there?')
    await until(bob.app, (s) => s.contacts.find((c) => c.peerId === aliceId && c.unread === 2))
    expect(notified).toEqual([
      ['alice', 'hello'],
      ['alice', 'are you there?'],
    ])
    await bob.app.openChat(aliceId)
    expect(bob.app.snapshot().contacts.find((c) => c.peerId === aliceId)?.unread).toBe(0)
    await until(alice.app, (s) => s.messages.every((m) => m.status === 'read'))
  })

  it('does not send read receipts when they are turned off', async () => {
    const { alice, bob, aliceId } = await pair()
    await bob.app.updateSettings({ readReceipts: false })
    await bob.app.openChat(aliceId)
    await alice.app.send('second')
    await until(alice.app, (s) => s.messages.filter((m) => m.status === 'delivered').length === 2)
    // Bob's receipts go before his reply: once the reply is here, any read receipt would be too.
    await bob.app.send('reply')
    await until(alice.app, (s) => s.messages.find((m) => m.text === 'reply'))
    expect(
      alice.app
        .snapshot()
        .messages.filter((m) => m.direction === 'out')
        .map((m) => m.status),
    ).toEqual(['delivered', 'delivered'])
  })

  it('shows presence, typing and last seen to contacts over a direct connection, and honours the opt-out', async () => {
    const { alice, bob, aliceId, bobId } = await pair()
    await bob.app.openChat(aliceId)
    await until(alice.app, (s) => s.contacts.find((c) => c.peerId === bobId)?.direct, 45_000)
    await until(alice.app, (s) => s.contacts.find((c) => c.peerId === bobId)?.online)

    bob.app.setTyping(true)
    await until(alice.app, (s) => s.contacts.find((c) => c.peerId === bobId)?.typing)
    bob.app.setTyping(false)
    await until(alice.app, (s) => s.contacts.find((c) => c.peerId === bobId)?.typing === false)

    await bob.app.updateSettings({ presence: false })
    bob.app.setTyping(true)
    // Bob's read receipt for this message leaves after his typing would have: once it is here, so is that.
    await alice.app.send('are you typing?')
    await until(alice.app, (s) => s.messages.find((m) => m.text === 'are you typing?' && m.status === 'read'))
    expect(alice.app.snapshot().contacts.find((c) => c.peerId === bobId)?.typing).toBe(false)

    await bob.app.updateSettings({ presence: true })
    const before = Date.now()
    await bob.app.lock()
    const bobView = await until(alice.app, (s) => {
      const c = s.contacts.find((x) => x.peerId === bobId)
      return c && !c.online && c
    })
    expect(bobView.lastSeen).toBeGreaterThanOrEqual(before - 1000)
  })

  it('Connection details show the reservation on the relay and the round trip to it', async () => {
    const { alice } = await pair()
    // libp2p's connection monitor pings every open connection (every 10 s by default).
    await expect
      .poll(() => alice.app.connectionDetails()?.relays[0], { timeout: 30_000, interval: 500 })
      .toMatchObject({ connected: true, reserved: true, mailbox: true, rttMs: expect.any(Number) })
    expect(alice.app.connectionDetails()!.relays[0]!.rttMs).toBeLessThan(1000)
  })
})
