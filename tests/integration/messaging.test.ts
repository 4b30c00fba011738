import { afterEach, describe, expect, it } from 'vitest'
import { startRelay } from '../helpers/relay-process.ts'
import { person, until, type Person } from '../helpers/people.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

async function relay() {
  const r = await startRelay()
  cleanups.push(() => r.stop())
  return r
}

function track(p: Person): Person {
  cleanups.push(() => p.app.stop())
  return p
}

describe('messaging between two people (Node peers, real relay process)', () => {
  it('sends end-to-end encrypted messages both ways, directly, with delivery and read receipts', async () => {
    const r = await relay()
    const alice = track(person([r.multiaddr]))
    const bob = track(person([r.multiaddr]))
    await alice.app.open()
    await bob.app.open()
    await alice.app.createAccount('alice', 'correct horse battery')
    await bob.app.createAccount('bob', 'correct horse battery')
    await until(alice.app, (s) => s.state === 'online')
    const invite = await until(bob.app, (s) => s.state === 'online' && s.me?.inviteLink)

    expect(await alice.app.addContact(invite)).toBeUndefined()
    await alice.app.send('hola Bob')
    const got = await until(bob.app, (s) => s.contacts.find((c) => c.name === 'alice'))
    await bob.app.openChat(got.peerId)
    await until(bob.app, (s) => s.messages.find((m) => m.text === 'hola Bob' && m.direction === 'in'))
    await until(alice.app, (s) => s.messages.find((m) => m.text === 'hola Bob' && m.status === 'read'))

    await bob.app.send('hi Alice')
    await until(alice.app, (s) => s.messages.find((m) => m.text === 'hi Alice' && m.direction === 'in'))
    expect(alice.app.snapshot().messages.map((m) => m.text)).toEqual(['hola Bob', 'hi Alice'])
  })

  it('stores messages for an offline contact and delivers them, once and in order, when they return', async () => {
    const r = await relay()
    const alice = track(person([r.multiaddr]))
    const bob = track(person([r.multiaddr]))
    await alice.app.open()
    await bob.app.open()
    await alice.app.createAccount('alice', 'correct horse battery')
    await bob.app.createAccount('bob', 'correct horse battery')
    const invite = await until(bob.app, (s) => s.state === 'online' && s.me?.inviteLink)
    await until(alice.app, (s) => s.state === 'online')
    await alice.app.addContact(invite)
    await alice.app.send('first')
    await until(alice.app, (s) => s.messages.find((m) => m.text === 'first' && m.status === 'delivered'))

    await bob.app.stop()
    for (let i = 1; i <= 5; i++) await alice.app.send(`offline ${i}`)
    await until(alice.app, (s) => s.messages.filter((m) => m.status === 'sent').length === 5)

    const reopened = await bob.reopen()
    await reopened.unlock('correct horse battery')
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
