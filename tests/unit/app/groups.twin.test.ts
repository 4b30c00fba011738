/**
 * Groups on the in-memory network: full apps (every component, the real crypto core and vault), relays,
 * the directory and the gossipsub mesh as twins. What the Node integration test shows over libp2p, here
 * with gossip the test can switch off and tabs it can close at will.
 */
import { decode } from 'cborg'
import { describe, expect, it } from 'vitest'
import { toHex } from '@paloma/core/crypto/bytes.ts'
import {
  GroupError,
  decodeGroupMessage,
  decodeGroupReceiverState,
  decodeSenderKeyState,
  groupDecrypt,
  type GroupReceiverState,
  type SenderKeyState,
} from '@paloma/core/group/index.ts'
import { publicKeyFromPeerIdString } from '@paloma/core/protocol/directory.ts'
import { GroupAppError } from '../../../src/app/group-errors.ts'
import type { PalomaInit } from '../../../src/app/paloma.ts'
import { decodeGroupMessageRecord, groupNames } from '../../../src/app/group-records.ts'
import type { AppSnapshot } from '../../../src/app/types.ts'
import { Vault } from '../../../src/storage/vault.ts'
import { TEST_KDF } from '../../support/people.ts'
import { TwinWorld } from '../../support/twins.ts'
import { next, PASSPHRASE, twinPerson, type TwinPerson } from '../../support/twin-people.ts'

/** Copies go out 100 ms after a publish nobody acknowledged (3 s in the app). */
const FAST: Partial<PalomaInit> = { messenger: { groups: { transport: { liveAckMs: 100 } } } }

async function person(world: TwinWorld, name: string, init = FAST): Promise<TwinPerson> {
  return twinPerson(world, name, { init })
}

/** `a` adds `b` from its invite link and writes; `b` has `a` as a contact (they wrote first). */
async function introduce(a: TwinPerson, b: TwinPerson): Promise<void> {
  await a.app.addContact(b.app.inviteLink()!)
  await a.app.send(`hello ${b.peerId.slice(-4)}`)
  await next(b.app, (s) => s.contacts.find((c) => c.peerId === a.peerId))
}

/** Alice creates a group with Bob and Carol (her contacts); both have it open. */
async function trio(world: TwinWorld, init = FAST) {
  const alice = await person(world, 'alice', init)
  const bob = await person(world, 'bob', init)
  const carol = await person(world, 'carol', init)
  await introduce(alice, bob)
  await introduce(alice, carol)
  const id = await alice.app.createGroup('Climbing', [bob.peerId, carol.peerId])
  for (const p of [bob, carol]) {
    await next(p.app, (s) => s.groups?.find((g) => g.id === id && g.members === 3))
    await p.app.openChat(id)
  }
  return { alice, bob, carol, id }
}

const texts = (s: AppSnapshot, dir?: 'in' | 'out') =>
  (s.group?.messages ?? []).filter((m) => dir === undefined || m.direction === dir).map((m) => m.text)

/** Resolves once `p`'s open group shows `text`. */
const shows = (p: TwinPerson, text: string) =>
  next(p.app, (s) => s.group?.messages.find((m) => m.text === text))

/** The group state `p`'s vault holds now (its own chain and every other member's), read with its passphrase. */
async function keysOf(
  p: TwinPerson,
  id: string,
): Promise<{ own: SenderKeyState; receiver: GroupReceiverState }> {
  const vault = await Vault.unlock(p.backend, PASSPHRASE, TEST_KDF)
  const state = async (name: string) => (decode((await vault.get(name))!) as { state: Uint8Array }).state
  return {
    own: decodeSenderKeyState(await state(groupNames.ownKey(id))),
    receiver: decodeGroupReceiverState(await state(groupNames.receiver(id))),
  }
}

describe('group conversations', () => {
  it('three people read each other, each sender in order, with "delivered to 2 of 2" and "read by 2 of 2"', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, carol, id } = await trio(world, {})
    await alice.app.openChat(id)
    for (let i = 1; i <= 3; i++) {
      await alice.app.send(`alice ${i}`)
      await bob.app.send(`bob ${i}`)
      await carol.app.send(`carol ${i}`)
    }
    for (const p of [alice, bob, carol]) await next(p.app, (s) => s.group?.messages.length === 9)
    for (const p of [alice, bob, carol]) {
      const all = texts(p.app.snapshot())
      for (const who of ['alice', 'bob', 'carol'])
        expect(all.filter((t) => t.startsWith(who))).toEqual([1, 2, 3].map((i) => `${who} ${i}`))
    }
    // Incoming messages carry their sender; outgoing ones count who stored and read them.
    const inAtBob = bob.app.snapshot().group!.messages.filter((m) => m.direction === 'in')
    expect(new Set(inAtBob.map((m) => m.senderName))).toEqual(new Set(['alice', 'carol']))
    const mine = await next(alice.app, (s) => {
      const out = s.group!.messages.filter((m) => m.direction === 'out')
      return out.every((m) => m.status === 'read') && out
    })
    expect(mine.map((m) => [m.recipients, m.deliveredTo, m.readBy])).toEqual([
      [2, 2, 2],
      [2, 2, 2],
      [2, 2, 2],
    ])
    // Everyone was live on the topic and acknowledged in time: no copy was made.
    expect(alice.app.groupStats()).toMatchObject({ published: 3, copies: 0 })
    // Members are listed with fingerprints and roles; Alice may remove the others.
    const members = alice.app.snapshot().group!.members
    expect(members.map((m) => [m.name, m.role, m.canRemove, m.verification])).toEqual([
      ['alice', 'creator', false, 'self'],
      ['bob', 'member', true, 'contact'],
      ['carol', 'member', true, 'contact'],
    ])
    expect(members.every((m) => /^[0-9a-f]{4}(-[0-9a-f]{4}){4}$/.test(m.fingerprint))).toBe(true)
    expect(bob.app.snapshot().group!.members.every((m) => !m.canRemove)).toBe(true)
  })

  it('is correct without gossip: every member gets a copy through the outbox, shown once', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, carol, id } = await trio(world)
    world.pubsubDown = true
    await alice.app.openChat(id)
    await alice.app.send('no mesh')
    await shows(bob, 'no mesh')
    await shows(carol, 'no mesh')
    await next(alice.app, (s) => s.group?.messages.find((m) => m.text === 'no mesh' && m.deliveredTo === 2))
    expect(alice.app.groupStats()).toMatchObject({ published: 0, publishedToNobody: 1, copies: 2 })
    for (const p of [bob, carol]) expect(texts(p.app.snapshot())).toEqual(['no mesh'])
  })

  it('a message that arrives by gossip and as a copy is stored and shown once', async () => {
    const world = await TwinWorld.create(1)
    // No time to acknowledge: every member reached by gossip gets a copy too.
    const now: Partial<PalomaInit> = { messenger: { groups: { transport: { liveAckMs: 0 } } } }
    const alice = await person(world, 'alice', now)
    const bob = await person(world, 'bob')
    await introduce(alice, bob)
    const id = await alice.app.createGroup('Pair', [bob.peerId])
    await next(bob.app, (s) => s.groups?.find((g) => g.id === id))
    await bob.app.openChat(id)
    await alice.app.send('twice on the wire')
    await shows(bob, 'twice on the wire')
    await expect.poll(() => alice.app.groupStats()?.copies, { timeout: 10_000 }).toBe(1)
    expect(alice.app.groupStats()?.published).toBe(1)
    // Bob takes the second arrival, whichever path it took, as a duplicate.
    await expect.poll(() => bob.app.groupStats()?.duplicates, { timeout: 10_000 }).toBe(1)
    expect(bob.app.groupStats()?.received).toBe(1)
    await bob.app.send('seen once?')
    await shows(alice, 'seen once?')
    expect(texts(bob.app.snapshot())).toEqual(['twice on the wire', 'seen once?'])
  })

  it('a member whose tab was closed catches up, each message once and in order', async () => {
    const world = await TwinWorld.create(2)
    const { alice, bob, carol, id } = await trio(world)
    await alice.app.openChat(id)
    await alice.app.send('before')
    await shows(carol, 'before')
    await carol.app.stop()
    for (let i = 1; i <= 4; i++) {
      await alice.app.send(`alice away ${i}`)
      await bob.app.send(`bob away ${i}`)
    }
    // Bob was live (no copy for him); Carol's copies wait on her relays.
    await next(
      alice.app,
      (s) =>
        s.group?.messages.filter((m) => m.text.startsWith('alice away') && m.status === 'sent').length === 4,
    )
    await next(bob.app, (s) => s.group?.messages.length === 9)
    const back = await carol.reopen()
    await back.openChat(id)
    await next(back, (s) => s.group?.messages.length === 9)
    const seen = texts(back.snapshot())
    expect(seen.filter((t) => t.startsWith('alice'))).toEqual([1, 2, 3, 4].map((i) => `alice away ${i}`))
    expect(seen.filter((t) => t.startsWith('bob'))).toEqual([1, 2, 3, 4].map((i) => `bob away ${i}`))
    await next(
      alice.app,
      (s) => s.group?.messages.filter((m) => m.direction === 'out' && m.readBy === 2).length === 5,
    )
    expect(texts(back.snapshot())).toHaveLength(9)
  })

  it('after a removal the removed member reads nothing: not in the app, not with every key it kept', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, carol, id } = await trio(world)
    await alice.app.openChat(id)
    await alice.app.send('all three')
    await bob.app.send('bob to all three')
    await shows(carol, 'all three')
    await shows(carol, 'bob to all three')
    // What Carol could keep: her own chain and every chain she holds for the others.
    const loot = await keysOf(carol, id)
    const before = [await keysOf(alice, id), await keysOf(bob, id)]
    const gossipBefore = world.gossip.length

    await alice.app.removeMember(id, carol.peerId)
    await next(carol.app, (s) => s.groups?.find((g) => g.id === id)?.status === 'removed')
    await next(bob.app, (s) => s.group?.members.length === 2)
    await expect(carol.app.send('still here?')).rejects.toBeInstanceOf(GroupAppError)
    // Everyone remaining rotated before sending again.
    await next(alice.app, (s) => s.group?.members.length === 2)
    const after = [await keysOf(alice, id), await keysOf(bob, id)]
    expect(after[0]!.own.keyId).toBeGreaterThan(before[0]!.own.keyId)
    expect(after[1]!.own.keyId).toBeGreaterThan(before[1]!.own.keyId)
    // And nobody holds Carol's chain any more.
    expect(after.every((k) => !k.receiver.senders.has(toHex(publicKeyFromPeerIdString(carol.peerId))))).toBe(
      true,
    )

    await alice.app.send('after 1')
    await bob.app.send('after 2')
    await shows(bob, 'after 1')
    await shows(alice, 'after 2')
    // An explicit barrier: Alice's next 1:1 message reaches Carol after anything Alice sent her before.
    await carol.app.openChat(alice.peerId)
    await alice.app.openChat(carol.peerId)
    await alice.app.send('marker')
    await next(carol.app, (s) => s.messages.find((m) => m.text === 'marker'))
    await carol.app.openChat(id)
    expect(texts(carol.app.snapshot())).toEqual(['all three', 'bob to all three'])

    // Protocol level: every group message published after the removal, tried with Carol's kept keys,
    // pretending nobody was removed, decrypts under none of them.
    const everyone = [alice, bob, carol].map((p) => publicKeyFromPeerIdString(p.peerId))
    const later = world.gossip.slice(gossipBefore).filter((g) => {
      try {
        return toHex(decodeGroupMessage(g.data).group) === id
      } catch {
        return false
      }
    })
    expect(later.length).toBeGreaterThanOrEqual(2)
    for (const m of later) {
      await expect(
        groupDecrypt(loot.receiver, m.data, { now: Date.now(), members: everyone }),
      ).rejects.toBeInstanceOf(GroupError)
    }
    // The messages Carol did get before the removal are duplicates to that same state: it is the real one.
    const earlier = world.gossip.slice(0, gossipBefore).filter((g) => g.from === bob.peerId)
    expect(earlier.length).toBeGreaterThan(0)
    expect(loot.own.keyId).toBeGreaterThan(0)
  })

  it('a member who leaves stops getting messages; the others rotate and go on', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, carol, id } = await trio(world)
    await alice.app.openChat(id)
    const before = await keysOf(alice, id)
    await bob.app.leaveGroup(id)
    await next(bob.app, (s) => s.groups?.find((g) => g.id === id)?.status === 'left')
    await next(alice.app, (s) => s.group?.members.length === 2)
    await next(carol.app, (s) => s.group?.members.length === 2)
    expect((await keysOf(alice, id)).own.keyId).toBeGreaterThan(before.own.keyId)
    await alice.app.send('without bob')
    await shows(carol, 'without bob')
    await carol.app.send('indeed')
    await shows(alice, 'indeed')
    expect(texts(bob.app.snapshot())).toEqual([])
  })

  it('a member added later reads what comes after, and nothing from before', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, carol, id } = await trio(world)
    const dave = await person(world, 'dave')
    await introduce(alice, dave)
    await alice.app.openChat(id)
    await alice.app.send('before dave')
    await shows(bob, 'before dave')
    await alice.app.addMembers(id, [dave.peerId])
    await next(dave.app, (s) => s.groups?.find((g) => g.id === id && g.members === 4))
    await dave.app.openChat(id)
    for (const p of [bob, carol]) await next(p.app, (s) => s.group?.members.length === 4)
    await bob.app.send('welcome dave')
    await shows(dave, 'welcome dave')
    await dave.app.send('hi all')
    for (const p of [alice, bob, carol]) await shows(p, 'hi all')
    expect(texts(dave.app.snapshot())).toEqual(['welcome dave', 'hi all'])
    // Bob and Carol are not Dave's contacts: listed by username and fingerprint, never added as contacts.
    const members = dave.app.snapshot().group!.members
    expect(members.find((m) => m.name === 'bob')?.verification).toBe('not-contact')
    expect(dave.app.snapshot().contacts.map((c) => c.name)).toEqual(['alice'])
  })

  it('an invitation from someone who is not a contact waits to be accepted', async () => {
    const world = await TwinWorld.create(1)
    const alice = await person(world, 'alice')
    const bob = await person(world, 'bob')
    const erin = await person(world, 'erin')
    await introduce(alice, bob)
    // Alice has Erin's invite link, but Erin never heard of Alice.
    await alice.app.addContact(erin.app.inviteLink()!)
    const id = await alice.app.createGroup('Book club', [bob.peerId, erin.peerId])
    const inv = await next(erin.app, (s) => s.groupInvitations?.find((i) => i.id === id))
    expect(inv).toMatchObject({
      name: 'Book club',
      members: 3,
      from: { peerId: alice.peerId, name: 'alice' },
    })
    expect(erin.app.snapshot().groups).toEqual([])
    expect(erin.app.snapshot().contacts).toEqual([])
    await erin.app.acceptGroupInvitation(id)
    await next(erin.app, (s) => s.groups?.find((g) => g.id === id))
    await erin.app.openChat(id)
    await alice.app.openChat(id)
    await alice.app.send('glad you joined')
    await shows(erin, 'glad you joined')
    await erin.app.send('thanks')
    await shows(alice, 'thanks')
    await next(bob.app, (s) => s.groups?.find((g) => g.id === id))
    await bob.app.openChat(id)
    await shows(bob, 'thanks')
    // Joining made nobody a contact.
    expect(erin.app.snapshot().contacts).toEqual([])
    expect(erin.app.snapshot().groupInvitations).toEqual([])
  })

  it('a declined invitation is a leave: the inviter sees the member gone', async () => {
    const world = await TwinWorld.create(1)
    const alice = await person(world, 'alice')
    const erin = await person(world, 'erin')
    await alice.app.addContact(erin.app.inviteLink()!)
    const id = await alice.app.createGroup('Nope', [erin.peerId])
    await next(erin.app, (s) => s.groupInvitations?.find((i) => i.id === id))
    await erin.app.declineGroupInvitation(id)
    expect(erin.app.snapshot().groupInvitations).toEqual([])
    await next(alice.app, (s) => s.group?.members.length === 1)
    expect(erin.app.snapshot().groups).toEqual([])
  })

  it('survives a reload: history, keys and membership, and the conversation goes on', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, id } = await trio(world)
    await alice.app.openChat(id)
    await alice.app.send('before reload')
    await shows(bob, 'before reload')
    const again = await bob.reopen()
    await next(again, (s) => s.groups?.find((g) => g.id === id))
    await again.openChat(id)
    expect(texts(again.snapshot())).toEqual(['before reload'])
    await alice.app.send('after reload')
    await next(again, (s) => s.group?.messages.find((m) => m.text === 'after reload'))
    await again.send('bob back')
    await shows(alice, 'bob back')
  })

  it('after a restore from a backup, the group is back and new messages flow both ways', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, carol, id } = await trio(world)
    await alice.app.openChat(id)
    await alice.app.send('before the backup')
    await shows(bob, 'before the backup')
    const backup = await bob.app.exportBackup('backup passphrase', true)
    await bob.app.stop()
    const restored = await twinPerson(world, 'bob', {
      restore: { file: backup, passphrase: 'backup passphrase' },
      init: FAST,
    })
    await next(restored.app, (s) => s.groups?.find((g) => g.id === id))
    await restored.app.openChat(id)
    expect(texts(restored.app.snapshot())).toEqual(['before the backup'])
    // Bob's new device made a new sender key and asked for everyone's current one.
    await restored.app.send('new device')
    await shows(alice, 'new device')
    await shows(carol, 'new device')
    await next(restored.app, (s) =>
      s.group?.messages.find((m) => m.text === 'new device' && m.deliveredTo === 2),
    )
    await alice.app.send('welcome back')
    await next(restored.app, (s) => s.group?.messages.find((m) => m.text === 'welcome back'))
  })

  it('shows who is typing', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, carol, id } = await trio(world)
    // Typing goes over open connections and sessions only: opening the group dialled every member, and
    // Bob's first message (his key went before it) made his sessions.
    await alice.app.openChat(id)
    await bob.app.send('hi')
    await shows(carol, 'hi')
    await shows(alice, 'hi')
    await next(
      carol.app,
      () => world.linked(carol.peerId, alice.peerId) && world.linked(bob.peerId, carol.peerId),
    )
    bob.app.setTyping(true)
    await next(carol.app, (s) => s.group?.typing.includes('bob'))
    await next(alice.app, (s) => s.group?.typing.includes('bob'))
    bob.app.setTyping(false)
    await next(carol.app, (s) => s.group?.typing.length === 0)
  })

  it('keeps a named rate limit, and refuses what the group does not allow', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, id } = await trio(world)
    await alice.app.openChat(id)
    const results = await Promise.allSettled(
      Array.from({ length: 31 }, (_, i) => alice.app.send(`burst ${i}`)),
    )
    const refused = results.filter((r) => r.status === 'rejected')
    expect(refused).toHaveLength(1)
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'RATE_LIMITED' })
    await expect(bob.app.removeMember(id, alice.peerId)).rejects.toMatchObject({ code: 'NOT_ALLOWED' })
    await expect(alice.app.createGroup('', [bob.peerId])).rejects.toMatchObject({ code: 'BAD_GROUP_NAME' })
    await expect(alice.app.addMembers(id, [bob.peerId])).rejects.toMatchObject({ code: 'NO_MEMBERS' })
    await expect(
      alice.app.createGroup('x', ['12D3KooWL6Wrv1ZGz1uXiKLa9PdrvZMyvhBNRkbbd2yxcRKPfuj8']),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_CONTACT',
    })
    await next(bob.app, (s) => s.group?.messages.length === 30)
  })

  it('keeps the history in its vault records, decodable and complete', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, id } = await trio(world)
    await alice.app.openChat(id)
    await alice.app.send('stored')
    await shows(bob, 'stored')
    const vault = await Vault.unlock(bob.backend, PASSPHRASE, TEST_KDF)
    const stored = [...(await vault.entries(`history/group/${id}/`))].map(([n, b]) =>
      decodeGroupMessageRecord(n, b),
    )
    expect(stored.map((m) => [m.text, m.sender, m.direction])).toEqual([['stored', alice.peerId, 'in']])
  })
})
