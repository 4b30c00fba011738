import { describe, expect, it } from 'vitest'
import { TwinWorld } from '../../support/twins.ts'
import { next, twinPerson } from '../../support/twin-people.ts'

describe('two people on the in-memory network', () => {
  it('chat end to end, with sent, delivered and read ticks', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    await next(alice.app, (s) => s.state === 'online')

    await alice.app.addContact(bob.app.inviteLink()!)
    await alice.app.send('hola Bob')
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    await bob.app.openChat(alice.peerId)
    await next(bob.app, (s) => s.messages.find((m) => m.text === 'hola Bob'))
    await next(alice.app, (s) => s.messages.find((m) => m.status === 'read'))

    await bob.app.send('hi Alice')
    await next(alice.app, (s) => s.messages.find((m) => m.text === 'hi Alice'))
    expect(alice.app.snapshot().messages.map((m) => m.text)).toEqual(['hola Bob', 'hi Alice'])
  })
})
