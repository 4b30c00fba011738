/**
 * A relay operator who lies to the apps it serves, on the in-memory network (tests/support/twins.ts): the
 * twin relay is the operator's own code, so it can say an envelope came from anyone, hand one out again
 * later, or drop what it was given. The apps are the real ones (every component, the crypto core, the
 * vault). What a relay process does when it is honest is shown against real processes in
 * forgery.test.ts and mailbox-isolation.test.ts.
 */
import { describe, expect, it, vi } from 'vitest'
import { UntrustedIdentityError } from '@paloma/core/crypto/index.ts'
import { TwinWorld, type TwinRelay } from '../support/twins.ts'
import { next, twinPerson, type TwinPerson } from '../support/twin-people.ts'
import { waitFor } from '../support/wait.ts'

/** What `app` shows in its conversation with `peer`, incoming. */
async function shown(p: TwinPerson, peer: string): Promise<string[]> {
  await p.app.openChat(peer)
  return p.app
    .snapshot()
    .messages.filter((m) => m.direction === 'in')
    .map((m) => m.text)
}

/** Takes back the envelopes waiting for `to` (the operator keeps copies and hands out what it likes). */
function take(relay: TwinRelay, to: string) {
  const box = relay.mailboxes.get(to) ?? []
  relay.mailboxes.set(to, [])
  return box
}

const settle = () => new Promise((r) => setTimeout(r, 50))

describe('a relay operator who lies', () => {
  it('cannot pass Mallory’s envelope off as Alice’s: the app pins the sender’s key, refuses it and shows nothing', async () => {
    const world = await TwinWorld.create(1)
    const [relay] = world.relays as [TwinRelay]
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    const mallory = await twinPerson(world, 'mallory')
    await bob.app.addContact(alice.app.inviteLink()!)
    await bob.app.stop()
    await mallory.app.addContact(bob.app.inviteLink()!)
    await mallory.app.send('from mallory')
    await next(mallory.app, (s) => s.messages.length === 1 && s.messages[0]!.status === 'sent')
    const [envelope] = take(relay, bob.peerId)
    expect(envelope).toBeDefined()

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    try {
      // The operator delivers Mallory's envelope as one from Alice.
      relay.store(bob.peerId, alice.peerId, 'forged-sender', envelope!.envelope, world.now())
      await bob.reopen()
      await waitFor(() => (relay.mailboxes.get(bob.peerId) ?? []).length === 0, 'the mailbox read')
      await settle()
      expect(await shown(bob, alice.peerId)).toEqual([])
      expect(bob.app.snapshot().contacts.map((c) => c.peerId)).not.toContain(mallory.peerId)
      expect(warn.mock.calls.some(([, err]) => err instanceof UntrustedIdentityError)).toBe(true)
    } finally {
      warn.mockRestore()
    }
  })

  it('replaying an envelope later, under a new id, shows it once', async () => {
    const world = await TwinWorld.create(1)
    const [relay] = world.relays as [TwinRelay]
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    await alice.app.addContact(bob.app.inviteLink()!)
    await bob.app.stop()
    await alice.app.send('only once')
    await next(alice.app, (s) => s.messages.length > 0 && s.messages.every((m) => m.status === 'sent'))
    const copies = (relay.mailboxes.get(bob.peerId) ?? []).map((e) => ({ ...e }))
    await bob.reopen()
    await next(alice.app, (s) => s.messages.every((m) => m.status === 'delivered'))
    // Later, the operator hands every copy out again.
    for (const [i, e] of copies.entries())
      relay.store(bob.peerId, e.from, `again-${i}`, e.envelope, world.now())
    await waitFor(() => (relay.mailboxes.get(bob.peerId) ?? []).length === 0, 'the mailbox read')
    await settle()
    expect(await shown(bob, alice.peerId)).toEqual(['only once'])
  })

  it('can drop what it was given: the sender never sees “delivered” unless another relay carried it', async () => {
    const world = await TwinWorld.create(2)
    const [dropper, honest] = world.relays as [TwinRelay, TwinRelay]
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    await alice.app.addContact(bob.app.inviteLink()!)
    await bob.app.stop()
    dropper.store = () => {} // takes every deposit, keeps nothing
    await alice.app.send('k = 2 copies')
    await next(alice.app, (s) => s.messages.length > 0 && s.messages.every((m) => m.status === 'sent'))
    await bob.reopen()
    await next(alice.app, (s) => s.messages.every((m) => m.status === 'delivered'))
    expect(await shown(bob, alice.peerId)).toEqual(['k = 2 copies'])

    // Both relays drop: the message stays "sent" (the relay accepted it), never "delivered".
    await bob.app.stop()
    honest.store = () => {}
    await alice.app.send('lost')
    await next(alice.app, (s) => s.messages.find((m) => m.text === 'lost')?.status === 'sent')
    await bob.reopen()
    await settle()
    expect(alice.app.snapshot().messages.find((m) => m.text === 'lost')?.status).toBe('sent')
    expect(await shown(bob, alice.peerId)).toEqual(['k = 2 copies'])
  })
})
