import { describe, expect, it } from 'vitest'
import { aliceAndBob, PASSPHRASE, until, useScene } from '../support/people.ts'

const scene = useScene()

describe('messaging between two people (Node peers, real relay process)', () => {
  it('sends end-to-end encrypted messages both ways, directly, with delivery and read receipts', async () => {
    const { alice, bob, invite } = await aliceAndBob(scene)

    expect(await alice.app.addContact(invite)).toBeUndefined()
    await alice.app.send('hola Bob')
    const got = await until(bob.app, (s) => s.contacts.find((c) => c.name === 'alice'))
    await bob.app.openChat(got.peerId)
    await until(bob.app, (s) => s.messages.find((m) => m.text === 'hola Bob' && m.direction === 'in'))
    await until(alice.app, (s) => s.messages.find((m) => m.text === 'hola Bob' && m.status === 'read'))

    // Opening the chat dialled a direct WebRTC connection through the relay.
    await until(alice.app, (s) => s.contacts.find((c) => c.name === 'bob')?.direct, 45_000)
    await bob.app.send('hi Alice')
    await until(alice.app, (s) => s.messages.find((m) => m.text === 'hi Alice' && m.direction === 'in'))
    expect(alice.app.snapshot().messages.map((m) => m.text)).toEqual(['hola Bob', 'hi Alice'])
  })

  it('stores messages for an offline contact and delivers them, once and in order, when they return', async () => {
    const { alice, bob, invite } = await aliceAndBob(scene)
    await alice.app.addContact(invite)
    await alice.app.send('first')
    await until(alice.app, (s) => s.messages.find((m) => m.text === 'first' && m.status === 'delivered'))

    await bob.app.stop()
    for (let i = 1; i <= 5; i++) await alice.app.send(`offline ${i}`)
    await until(alice.app, (s) => s.messages.filter((m) => m.status === 'sent').length === 5)

    const reopened = await bob.reopen()
    await reopened.unlock(PASSPHRASE)
    const aliceId = alice.app.peerId!
    await reopened.openChat(aliceId)
    const texts = await until(reopened, (s) => {
      const t = s.messages.filter((m) => m.direction === 'in').map((m) => m.text)
      return t.length >= 6 && t
    })
    expect(texts).toEqual(['first', 'offline 1', 'offline 2', 'offline 3', 'offline 4', 'offline 5'])
    await until(alice.app, (s) => s.messages.filter((m) => m.status === 'read').length === 6)
  })
})

describe('sessions', () => {
  it('starts sessions with a one-time prekey served once by the home relay', async () => {
    const { relay: r, alice, bob, invite } = await aliceAndBob(scene)
    const count = () => bob.app.network!.countPreKeys(r.multiaddr)
    await expect.poll(count, { timeout: 20_000, interval: 1000 }).toBe(50)

    await alice.app.addContact(invite)
    await alice.app.send('first contact')
    await until(alice.app, (s) => s.messages.find((m) => m.status === 'delivered'))
    expect(await count()).toBe(49)
  })

  it('recovers after a restore from backup: the old session is reset and unconfirmed messages come again', async () => {
    const { relay: r, alice, bob, invite } = await aliceAndBob(scene)
    await alice.app.addContact(invite)
    await alice.app.send('before the backup')
    await until(alice.app, (s) => s.messages.find((m) => m.status === 'delivered'))
    const aliceId = alice.app.peerId!
    await until(bob.app, (s) => s.contacts.find((c) => c.peerId === aliceId))
    const backup = await bob.app.exportBackup('backup passphrase', true)
    await bob.app.stop()

    // Alice keeps writing on the old session while Bob moves to a new device.
    await alice.app.send('while you were moving')
    await until(alice.app, (s) =>
      s.messages.find((m) => m.text === 'while you were moving' && m.status === 'sent'),
    )

    const bob2 = await scene.blank([r.multiaddr])
    await bob2.app.importBackup(backup, 'backup passphrase', 'new passphrase 1')
    await bob2.app.openChat(alice.app.peerId!)
    const texts = await until(
      bob2.app,
      (s) => {
        const t = s.messages.filter((m) => m.direction === 'in').map((m) => m.text)
        return t.includes('while you were moving') && t
      },
      45_000,
    )
    expect(texts).toEqual(['before the backup', 'while you were moving'])
    await until(alice.app, (s) =>
      s.messages.find((m) => m.text === 'while you were moving' && m.status === 'read'),
    )

    await bob2.app.send('new device, same me')
    await until(alice.app, (s) => s.messages.find((m) => m.text === 'new device, same me'))
  })
})

describe('restores', () => {
  it('receives a first message sent with a one-time prekey made after the backup', async () => {
    const relay = await scene.relay()
    const alice = await scene.online('alice', [relay.multiaddr])
    const invite = alice.app.snapshot().me!.inviteLink!
    // The backup is taken before the app uploads its one-time prekeys (2 s after start).
    const backup = await alice.app.exportBackup('backup passphrase', true)
    const count = () => alice.app.network!.countPreKeys(relay.multiaddr)
    await expect.poll(count, { timeout: 20_000, interval: 1000 }).toBe(50)
    await alice.app.stop()

    // Carol writes first, using one of those prekeys: the restored device never had its private half.
    const carol = await scene.online('carol', [relay.multiaddr])
    await carol.app.addContact(invite)
    await carol.app.send('hello, restored alice')
    await until(carol.app, (s) => s.messages.find((m) => m.status === 'sent'))

    const alice2 = await scene.blank([relay.multiaddr])
    await alice2.app.importBackup(backup, 'backup passphrase', 'new passphrase 1')
    const carolId = carol.app.peerId!
    await until(alice2.app, (s) => s.contacts.find((c) => c.peerId === carolId), 45_000)
    await alice2.app.openChat(carolId)
    await until(alice2.app, (s) => s.messages.find((m) => m.text === 'hello, restored alice'), 45_000)
    await until(carol.app, (s) => s.messages.find((m) => m.status === 'read'))
  })
})

describe('relays', () => {
  it('reaches a contact whose relay is not joined to ours, and remembers that relay', async () => {
    const relayA = await scene.relay()
    const relayB = await scene.relay()
    const alice = await scene.online('alice', [relayA.multiaddr])
    const bob = await scene.online('bob', [relayB.multiaddr])
    await alice.app.addContact(bob.app.snapshot().me!.inviteLink!)
    await alice.app.send('across relay networks')
    const aliceId = alice.app.peerId!
    await until(bob.app, (s) => s.contacts.find((c) => c.peerId === aliceId), 45_000)
    await bob.app.openChat(aliceId)
    await until(bob.app, (s) => s.messages.find((m) => m.text === 'across relay networks'))
    await until(alice.app, (s) => s.messages.find((m) => m.status === 'read'))

    // Bob's relay is remembered: reopened, Alice's node joins it at start (for the DHT and deposits).
    const reopened = await alice.reopen()
    await reopened.unlock(PASSPHRASE)
    await expect
      .poll(() => reopened.network!.isConnected(relayB.peerId), { timeout: 20_000, interval: 200 })
      .toBe(true)
  })
})
