/**
 * Groups between Node peers over a real relay process: libp2p nodes with gossipsub, WebRTC through
 * node-datachannel, the relay's mailbox and directory. The same app as in the browser.
 */
import { describe, expect, it } from 'vitest'
import type { Paloma } from '../../src/app/paloma.ts'
import { PASSPHRASE, until, useScene, type Person } from '../support/people.ts'

const scene = useScene()

/** `a` adds `b` by invite link and writes; `b` has `a` as a contact. */
async function meet(a: Person, b: Person): Promise<void> {
  await a.app.addContact(b.app.snapshot().me!.inviteLink!)
  await a.app.send('hi')
  const aId = a.app.peerId!
  await until(b.app, (s) => s.contacts.find((c) => c.peerId === aId), 45_000)
}

const groupTexts = (app: Paloma) => app.snapshot().group?.messages.map((m) => m.text) ?? []

async function trio() {
  const relay = await scene.relay()
  const [alice, bob, carol] = await Promise.all(
    ['alice', 'bob', 'carol'].map((n) => scene.online(n, [relay.multiaddr])),
  )
  await meet(alice!, bob!)
  await meet(alice!, carol!)
  const id = await alice!.app.createGroup('Node group', [bob!.app.peerId!, carol!.app.peerId!])
  for (const p of [bob!, carol!]) {
    await until(p.app, (s) => s.groups?.find((g) => g.id === id && g.members === 3), 45_000)
    await p.app.openChat(id)
  }
  return { relay, alice: alice!, bob: bob!, carol: carol!, id }
}

describe('groups between Node peers (real relay process, gossipsub over WebRTC)', () => {
  it('three people read each other; members online on the topic need no copies', async () => {
    const { alice, bob, carol, id } = await trio()
    for (const p of [alice, bob, carol]) await p.app.send(`${p === alice ? 'a' : p === bob ? 'b' : 'c'} 1`)
    for (const p of [alice, bob, carol])
      await until(p.app, (s) => (s.group?.messages.length ?? 0) === 3 && s.group!.messages, 45_000)
    for (const p of [alice, bob, carol]) expect(groupTexts(p.app).sort()).toEqual(['a 1', 'b 1', 'c 1'])
    await until(alice.app, (s) => s.group?.messages.find((m) => m.direction === 'out' && m.deliveredTo === 2))
    // Opening the group dialled the members directly: once the mesh is up, gossip carries messages.
    await until(alice.app, (s) => s.contacts.every((c) => c.direct), 45_000)
    await expect.poll(() => alice.app.groupLivePeers(id).length, { timeout: 30_000, interval: 250 }).toBe(2)
    const before = alice.app.groupStats()!
    await alice.app.send('over the mesh')
    for (const p of [bob, carol])
      await until(p.app, (s) => s.group?.messages.find((m) => m.text === 'over the mesh'))
    await until(alice.app, (s) =>
      s.group?.messages.find((m) => m.text === 'over the mesh' && m.deliveredTo === 2),
    )
    const after = alice.app.groupStats()!
    expect(after.published - before.published).toBe(1)
    expect(after.copies - before.copies).toBe(0)
  })

  it('a member who was offline catches up from the mailbox, each message once and in order', async () => {
    const { alice, bob, carol, id } = await trio()
    await carol.app.stop()
    for (let i = 1; i <= 3; i++) {
      await alice.app.send(`alice ${i}`)
      await bob.app.send(`bob ${i}`)
    }
    await until(bob.app, (s) => s.group?.messages.length === 6, 45_000)
    const back = await carol.reopen()
    await back.unlock(PASSPHRASE)
    await back.openChat(id)
    const seen = await until(back, (s) => (s.group?.messages.length ?? 0) >= 6 && s.group!.messages, 60_000)
    expect(seen.filter((m) => m.senderName === 'alice').map((m) => m.text)).toEqual([
      'alice 1',
      'alice 2',
      'alice 3',
    ])
    expect(seen.filter((m) => m.senderName === 'bob').map((m) => m.text)).toEqual(['bob 1', 'bob 2', 'bob 3'])
    await until(
      alice.app,
      (s) => s.group?.messages.filter((m) => m.direction === 'out' && m.readBy === 2).length === 3,
      45_000,
    )
    expect(back.snapshot().group!.messages).toHaveLength(6)
  })

  it('after a removal the others rotate and go on; the removed member reads none of it', async () => {
    const { alice, bob, carol, id } = await trio()
    await alice.app.send('before')
    await until(carol.app, (s) => s.group?.messages.find((m) => m.text === 'before'), 45_000)
    const keysBefore = alice.app.groupStats()!.keys
    await alice.app.removeMember(id, carol.app.peerId!)
    await until(carol.app, (s) => s.groups?.find((g) => g.id === id)?.status === 'removed', 45_000)
    await until(bob.app, (s) => s.group?.members.length === 2, 45_000)
    // Alice's new key went to Bob (one distribution); Bob's to Alice.
    expect(alice.app.groupStats()!.keys - keysBefore).toBe(1)
    await alice.app.send('after 1')
    await bob.app.send('after 2')
    await until(bob.app, (s) => s.group?.messages.find((m) => m.text === 'after 1'), 45_000)
    await until(alice.app, (s) => s.group?.messages.find((m) => m.text === 'after 2'), 45_000)
    // Barrier: Alice's next 1:1 message arrives after anything she sent Carol before.
    await alice.app.openChat(carol.app.peerId!)
    await alice.app.send('marker')
    const aliceId = alice.app.peerId!
    await carol.app.openChat(aliceId)
    await until(carol.app, (s) => s.messages.find((m) => m.text === 'marker'), 45_000)
    await carol.app.openChat(id)
    expect(groupTexts(carol.app)).toEqual(['before'])
    // Carol left the topic: Alice's node no longer sees her on it.
    await expect
      .poll(() => alice.app.groupLivePeers(id), { timeout: 30_000, interval: 250 })
      .toEqual([bob.app.peerId])
  })
})
