/**
 * The app's flows end to end on the in-memory network: every component, the real crypto core and vault,
 * relays and the directory as twins. What the Node integration tests show over libp2p, here in
 * milliseconds and with relays the test can take down at will.
 */
import { describe, expect, it } from 'vitest'
import { TwinWorld } from '../../support/twins.ts'
import { next, twinPerson, type TwinPerson } from '../../support/twin-people.ts'

async function pair(world: TwinWorld, bobPlatform = {}) {
  const alice = await twinPerson(world, 'alice')
  const bob = await twinPerson(world, 'bob', { platform: bobPlatform })
  await alice.app.addContact(bob.app.inviteLink()!)
  return { alice, bob }
}

const texts = (p: TwinPerson, dir: 'in' | 'out') =>
  p.app
    .snapshot()
    .messages.filter((m) => m.direction === dir)
    .map((m) => m.text)

describe('store and forward', () => {
  it('keeps messages for a closed tab on the relay and shows each once, in order, when it returns', async () => {
    const world = await TwinWorld.create(2)
    const { alice, bob } = await pair(world)
    await bob.app.stop()
    for (let i = 1; i <= 5; i++) await alice.app.send(`offline ${i}`)
    await next(alice.app, (s) => s.messages.every((m) => m.status === 'sent'))
    // Deposited on both of Bob's relays, as k = 2 copies.
    expect(world.relays.map((r) => r.mailboxes.get(bob.peerId)?.length)).toEqual([5, 5])

    const reopened = await bob.reopen()
    await next(reopened, (s) => s.contacts.find((c) => c.peerId === alice.peerId && c.unread === 5))
    await reopened.openChat(alice.peerId)
    await next(reopened, (s) => s.messages.length === 5)
    expect(texts(bob, 'in')).toEqual(['offline 1', 'offline 2', 'offline 3', 'offline 4', 'offline 5'])
    await next(alice.app, (s) => s.messages.every((m) => m.status === 'read'))
    // Read from both relays, each copy acknowledged, none shown twice.
    expect(world.relays.map((r) => r.mailboxes.get(bob.peerId)?.length)).toEqual([0, 0])
    expect(texts(bob, 'in')).toHaveLength(5)
  })

  it('shows why the relays refused, and delivers once they accept', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await pair(world)
    await bob.app.stop()
    world.relays[0]!.refuse = 'RECIPIENT_QUOTA'
    await alice.app.send('too much mail')
    await next(alice.app, (s) => s.messages.find((m) => m.problem === 'RECIPIENT_QUOTA'))
    world.relays[0]!.refuse = undefined
    alice.app.networkChanged()
    const sent = await next(alice.app, (s) => s.messages.find((m) => m.status === 'sent'))
    expect(sent.problem).toBeUndefined()
  })
})

describe('contacts', () => {
  it('sends a first message from an invite link alone: its prekey bundle spares the directory lookup', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    world.directoryDownFor.add(alice.peerId) // Alice cannot read the directory at all
    await alice.app.addContact(bob.app.inviteLink()!)
    await alice.app.send('hello from the invite')
    await next(alice.app, (s) => s.messages.find((m) => m.status === 'delivered'))
    // The bundle was used once: a session exists, the contact keeps no copy of it.
    expect(await alice.app.network!.directory.resolvePeer(bob.peerId).catch(() => 'no directory')).toBe(
      'no directory',
    )
  })

  it('reaches someone who wrote while their profile could not be read, once the directory answers', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await pair(world)
    world.directoryDownFor.add(bob.peerId)
    await alice.app.send('hello, stranger')
    const known = await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    expect(known.name).toBe(alice.peerId.slice(-8)) // added under the short id: no profile yet
    await bob.app.stop() // Bob goes away before the directory is back; Alice too
    await alice.app.stop()
    world.directoryDownFor.clear()
    const back = await bob.reopen()
    await back.openChat(alice.peerId)
    await back.send('hello, Alice')
    // Alice's relay is learned from her profile now: the reply waits in her mailbox, and she gets it.
    await next(back, (s) => s.messages.find((m) => m.text === 'hello, Alice' && m.status === 'sent'))
    expect(back.snapshot().contacts.find((c) => c.peerId === alice.peerId)?.name).toBe('alice')
    const aliceBack = await alice.reopen()
    await next(aliceBack, (s) => s.contacts.find((c) => c.peerId === bob.peerId))
    await aliceBack.openChat(bob.peerId)
    await next(aliceBack, (s) => s.messages.find((m) => m.text === 'hello, Alice'))
  })
})

describe('direct connections', () => {
  it('opening a chat goes direct, and messages then travel over the direct link', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await pair(world)
    await next(alice.app, (s) => s.contacts.find((c) => c.peerId === bob.peerId)?.direct)
    // The first message makes Alice Bob's contact (her invite proof); from then on, direct and acknowledged.
    await alice.app.send('first')
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    await alice.app.send('direct')
    const m = await next(alice.app, (s) =>
      s.messages.find((x) => x.text === 'direct' && x.status === 'delivered'),
    )
    const net = alice.app.network as unknown as { sent: Array<{ to: string; acked: boolean }> }
    expect(net.sent.some((x) => x.to === bob.peerId && x.acked)).toBe(true)
    expect(m.custody).toBeUndefined() // never left in a mailbox
  })
})

describe('presence and typing', () => {
  it('shows online, typing (sent once per few seconds, not per keystroke) and last seen', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await pair(world)
    await alice.app.send('hello')
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    await bob.app.openChat(alice.peerId)
    await next(alice.app, (s) => s.contacts.find((c) => c.peerId === bob.peerId)?.online)

    const bobNet = bob.app.network as unknown as { sent: unknown[] }
    const before = bobNet.sent.length
    for (let i = 0; i < 20; i++) bob.app.setTyping(true) // twenty keystrokes
    await next(alice.app, (s) => s.contacts.find((c) => c.peerId === bob.peerId)?.typing)
    expect(bobNet.sent.length - before).toBe(1)
    bob.app.setTyping(false)
    await next(alice.app, (s) => s.contacts.find((c) => c.peerId === bob.peerId)?.typing === false)

    const t0 = Date.now()
    await bob.app.lock()
    const seen = await next(alice.app, (s) => {
      const c = s.contacts.find((x) => x.peerId === bob.peerId)
      return c?.online === false && c
    })
    expect(seen.lastSeen).toBeGreaterThanOrEqual(t0)
  })

  it('with presence off, sends neither presence nor typing', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await pair(world)
    await alice.app.send('hello')
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    await bob.app.updateSettings({ presence: false })
    await bob.app.openChat(alice.peerId)
    const bobNet = bob.app.network as unknown as { sent: Array<{ acked: boolean }> }
    const ephemeral = () => bobNet.sent.filter((x) => !x.acked).length
    const before = ephemeral()
    bob.app.setTyping(true)
    await bob.app.send('no typing shown')
    await next(alice.app, (s) => s.messages.find((m) => m.text === 'no typing shown'))
    expect(ephemeral()).toBe(before)
    expect(alice.app.snapshot().contacts.find((c) => c.peerId === bob.peerId)?.typing).toBe(false)
  })
})

describe('receipts', () => {
  it('sends no read receipt when they are off: the next message arrives with its own still "delivered"', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await pair(world)
    await alice.app.send('first')
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    await bob.app.updateSettings({ readReceipts: false })
    await bob.app.openChat(alice.peerId)
    // Bob's receipts go before his reply, and Alice applies what Bob sends in order: once his reply is
    // applied (Alice's open chat marks it read), a read receipt of his would have been applied too.
    await bob.app.send('reply')
    await next(alice.app, (s) => s.messages.find((m) => m.text === 'reply' && m.status === 'read'))
    expect(
      alice.app
        .snapshot()
        .messages.filter((m) => m.direction === 'out')
        .map((m) => m.status),
    ).toEqual(['delivered'])
  })
})

describe('session reset', () => {
  it('after a restore, the old session is reset and unconfirmed messages come again, each shown once', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await pair(world)
    await alice.app.send('before the backup')
    await next(alice.app, (s) => s.messages.find((m) => m.status === 'delivered'))
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    const backup = await bob.app.exportBackup('backup passphrase', true)
    await bob.app.stop()
    await alice.app.send('while you were moving')
    await next(alice.app, (s) =>
      s.messages.find((m) => m.text === 'while you were moving' && m.status === 'sent'),
    )

    // Bob on a new device: the restored identity has no session with Alice.
    const restored = await twinPerson(world, 'bob', {
      restore: { file: backup, passphrase: 'backup passphrase' },
    })
    await restored.app.openChat(alice.peerId)
    await next(restored.app, (s) => s.messages.some((m) => m.text === 'while you were moving'))
    await alice.app.send('after the reset')
    await next(restored.app, (s) => s.messages.some((m) => m.text === 'after the reset'))
    expect(texts(restored, 'in')).toEqual(['before the backup', 'while you were moving', 'after the reset'])
  })
})
