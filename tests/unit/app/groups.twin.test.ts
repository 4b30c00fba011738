/**
 * Groups on the in-memory network: full apps (every component, the real crypto core and vault), relays,
 * the directory and gossipsub as twins.
 */
import { describe, expect, it } from 'vitest'
import { TwinWorld } from '../../support/twins.ts'
import { next, twinPerson, type TwinPerson } from '../../support/twin-people.ts'

async function introduce(a: TwinPerson, b: TwinPerson): Promise<void> {
  await a.app.addContact(b.app.inviteLink()!)
  await a.app.send(`hello ${b.peerId.slice(-4)}`)
  await next(b.app, (s) => s.contacts.find((c) => c.peerId === a.peerId))
}

const groupTexts = (p: TwinPerson) => p.app.snapshot().group?.messages.map((m) => m.text) ?? []

describe('groups', () => {
  it('three people: created, joined, everyone reads everyone', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    const carol = await twinPerson(world, 'carol')
    await introduce(alice, bob)
    await introduce(alice, carol)
    const id = await alice.app.createGroup('Climbing', [bob.peerId, carol.peerId])
    for (const p of [bob, carol]) {
      await next(p.app, (s) => s.groups?.find((g) => g.id === id && g.members === 3))
      await p.app.openChat(id)
    }
    await alice.app.send('hola')
    for (const p of [bob, carol]) await next(p.app, (s) => s.group?.messages.find((m) => m.text === 'hola'))
    await bob.app.send('from bob')
    await carol.app.send('from carol')
    for (const p of [alice, bob, carol]) await next(p.app, (s) => (s.group?.messages.length ?? 0) === 3)
    expect(groupTexts(alice).sort()).toEqual(['from bob', 'from carol', 'hola'])
  })
})
