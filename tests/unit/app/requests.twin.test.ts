/**
 * Message requests, blocking, invite proofs, verification and held chats, on the in-memory network with
 * every real component. Negative checks ("nothing was sent") run on fake timers: every timer that could
 * send something (receipt batches, presence, typing, outbox retries) is run out before the check.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { TwinWorld, type TwinNetwork } from '../../support/twins.ts'
import { next, twinPerson, type TwinPerson } from '../../support/twin-people.ts'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
})
afterEach(() => {
  vi.useRealTimers()
})

/** Runs every timer due in the next `ms` (and what they start), with the promises between them. */
const elapse = (ms: number) => vi.advanceTimersByTimeAsync(ms)
const net = (p: TwinPerson) => p.app.network as unknown as TwinNetwork
/** Everything `from` sent to `to`: direct deliveries and posts, and deposits in `to`'s mailboxes. */
function sentTo(world: TwinWorld, from: TwinPerson, to: TwinPerson): number {
  const deposits = world.relays.flatMap((r) => r.mailboxes.get(to.peerId) ?? [])
  return (
    net(from).sent.filter((s) => s.to === to.peerId).length +
    deposits.filter((d) => d.from === from.peerId).length
  )
}

/** Alice writes to Bob after finding him by username: she is a stranger to him. */
async function strangerWrites(world: TwinWorld, text = 'hi, we met at the conference') {
  const alice = await twinPerson(world, 'alice')
  const bob = await twinPerson(world, 'bob')
  const [claimant] = (await alice.app.addContact('bob'))!
  await alice.app.chooseClaimant(claimant!)
  await alice.app.send(text)
  const request = await next(bob.app, (s) => s.requests.find((r) => r.peerId === alice.peerId))
  return { alice, bob, request }
}

describe('message requests', () => {
  it('keep a stranger out of Chats and send them nothing (no receipt, presence or typing) until Accept', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob, request } = await strangerWrites(world)
    expect(request).toMatchObject({ name: 'alice', nameTaken: false })
    expect(request.messages.map((m) => m.text)).toEqual(['hi, we met at the conference'])
    expect(bob.app.snapshot().contacts).toEqual([])
    world.connect(alice.peerId, bob.peerId) // an open connection: presence would go now, if it went
    await elapse(60_000)
    expect(sentTo(world, bob, alice)).toBe(0)
    expect(alice.app.snapshot().messages.map((m) => m.status)).toEqual(['sent'])
    await expect(bob.app.openChat(alice.peerId)).rejects.toMatchObject({ code: 'UNKNOWN_CONTACT' })

    await bob.app.acceptRequest(alice.peerId)
    expect(bob.app.snapshot().requests).toEqual([])
    expect(bob.app.snapshot().contacts.map((c) => c.name)).toEqual(['alice'])
    expect(bob.app.snapshot().active).toBe(alice.peerId)
    await elapse(1000)
    await next(alice.app, (s) => s.messages.find((m) => m.status === 'read'))
    await bob.app.send('nice to hear from you')
    await elapse(1000)
    await next(alice.app, (s) => s.messages.find((m) => m.text === 'nice to hear from you'))
  })

  it('raise one notification per new request, naming the sender as a request', async () => {
    const world = await TwinWorld.create(1)
    const notified: Array<[string, string, string | undefined]> = []
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob', {
      platform: { notify: (title, body, kind) => notified.push([title, body, kind]) },
    })
    const [claimant] = (await alice.app.addContact('bob'))!
    await alice.app.chooseClaimant(claimant!)
    await alice.app.send('first')
    await alice.app.send('second')
    await elapse(1000)
    await next(bob.app, (s) => s.requests.find((r) => r.messages.length === 2))
    expect(notified).toEqual([['alice', '', 'request']])
  })

  it('survive a reload, and Delete drops the request and its messages', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await strangerWrites(world)
    const reopened = await bob.reopen()
    await elapse(10)
    expect(reopened.snapshot().requests.map((r) => r.peerId)).toEqual([alice.peerId])
    await reopened.deleteRequest(alice.peerId)
    expect(reopened.snapshot().requests).toEqual([])
    const again = await bob.reopen()
    await elapse(10)
    expect(again.snapshot().requests).toEqual([])
    // A later message makes a new request.
    await alice.app.send('are you there?')
    const request = await next(again, (s) => s.requests[0])
    expect(request.messages.map((m) => m.text)).toEqual(['are you there?'])
  })

  it('Block drops a peer’s later envelopes unread and keeps no direct connection to them', async () => {
    const world = await TwinWorld.create(1)
    const { alice, bob } = await strangerWrites(world)
    await bob.app.blockRequest(alice.peerId)
    expect(bob.app.snapshot().requests).toEqual([])
    expect(bob.app.snapshot().blocked).toEqual([alice.peerId])

    world.disconnect(alice.peerId, bob.peerId)
    await alice.app.send('let me in') // deposited: acknowledged by Bob's subscription, not decrypted
    await next(alice.app, (s) => s.messages.find((m) => m.text === 'let me in' && m.status === 'sent'))
    await elapse(1000)
    expect(world.relays[0]!.mailboxes.get(bob.peerId)).toEqual([])
    // A blocked peer keeps no direct connection (it would tell them Bob is online)…
    world.connect(alice.peerId, bob.peerId)
    expect(net(bob).isDirect(alice.peerId)).toBe(false)
    // …so Alice's next message goes through the relays, and is dropped unread there too.
    await alice.app.send('over the relays again')
    await elapse(1000)
    expect(world.relays[0]!.mailboxes.get(bob.peerId)).toEqual([])
    expect(bob.app.snapshot().requests).toEqual([])
    expect(sentTo(world, bob, alice)).toBe(0)

    await bob.app.unblock(alice.peerId)
    await alice.app.send('and now?')
    await elapse(1000)
    const request = await next(bob.app, (s) => s.requests[0])
    expect(request.messages.map((m) => m.text)).toEqual(['and now?'])
  })

  it('let someone who opened this person’s invite link straight into Chats (the link proves it)', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    const link = bob.app.inviteLink()!
    expect(link).toMatch(/#invite=[^&]+&t=[0-9a-f]{32}$/)
    await alice.app.addContact(link)
    await alice.app.send('from your QR code')
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    expect(bob.app.snapshot().requests).toEqual([])
    await elapse(1000)
    await next(alice.app, (s) => s.messages.find((m) => m.status === 'delivered'))

    // The same invite without its secret proves nothing: Carol lands in Requests.
    const carol = await twinPerson(world, 'carol')
    await carol.app.addContact(link.replace(/&t=.*$/, ''))
    await carol.app.send('me too')
    await next(bob.app, (s) => s.requests.find((r) => r.peerId === carol.peerId))
  })

  it('name an invitee whose profile was not in the directory yet once it is (an account made a moment ago)', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    const link = bob.app.inviteLink()!
    await alice.app.addContact(link)
    const profile = world.profiles.get(alice.peerId)!
    world.profiles.delete(alice.peerId) // not published yet, as Bob reads it
    await alice.app.send('hi, I just made my account')
    const unnamed = await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId))
    expect(unnamed.name).toBe(alice.peerId.slice(-8))
    world.profiles.set(alice.peerId, profile)
    await elapse(2_000)
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === alice.peerId && c.name === 'alice'))
  })

  it('hold the chat of an invitee named later under a verified contact’s name', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    await bob.app.addContact(alice.app.inviteLink()!)
    await bob.app.markVerified(alice.peerId, true)
    const impostor = await twinPerson(world, 'alice')
    await impostor.app.addContact(bob.app.inviteLink()!)
    const profile = world.profiles.get(impostor.peerId)!
    world.profiles.delete(impostor.peerId)
    await impostor.app.send('it is me, new phone')
    await next(bob.app, (s) => s.contacts.find((c) => c.peerId === impostor.peerId && !c.held))
    world.profiles.set(impostor.peerId, profile)
    await elapse(2_000)
    const held = await next(bob.app, (s) => s.contacts.find((c) => c.peerId === impostor.peerId && c.held))
    expect(held).toMatchObject({ name: 'alice', keyChanged: true })
  })
})

describe('a restored device', () => {
  it('asks a stranger whose message it cannot decrypt to send it again, then shows it as a request', async () => {
    vi.useRealTimers()
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const backup = await alice.app.exportBackup('backup passphrase', true)
    const carol = await twinPerson(world, 'carol')
    const [claimant] = (await carol.app.addContact('alice'))!
    await carol.app.chooseClaimant(claimant!)
    await carol.app.send('one')
    await next(alice.app, (s) => s.requests[0])
    await alice.app.acceptRequest(carol.peerId)
    await alice.app.send('hello carol')
    await next(carol.app, (s) => s.messages.find((m) => m.text === 'hello carol'))
    await alice.app.stop()
    await carol.app.send('two')
    await next(carol.app, (s) => s.messages.find((m) => m.text === 'two' && m.status === 'sent'))

    // Alice on a new device, from the backup made before she knew Carol: no contact, no session.
    const restored = await twinPerson(world, 'alice', {
      restore: { file: backup, passphrase: 'backup passphrase' },
    })
    const request = await next(restored.app, (s) => s.requests.find((r) => r.messages.length > 0))
    expect(request.peerId).toBe(carol.peerId)
    expect(request.messages.map((m) => m.text)).toEqual(['two'])
    expect(restored.app.snapshot().contacts).toEqual([])
  })
})

describe('verification', () => {
  it('is stored per contact, and a new key under a verified name holds the chat until verified', async () => {
    const world = await TwinWorld.create(1)
    const alice = await twinPerson(world, 'alice')
    const bob = await twinPerson(world, 'bob')
    await alice.app.addContact(bob.app.inviteLink()!)
    await alice.app.markVerified(bob.peerId, true)
    expect(alice.app.snapshot().contacts[0]).toMatchObject({ verified: true, held: false })
    const reopened = await alice.reopen()
    await elapse(10)
    expect(reopened.snapshot().contacts[0]).toMatchObject({ verified: true })

    // Bob "reinstalls": a new key under the same name, added from his new invite.
    const newBob = await twinPerson(world, 'bob')
    await reopened.addContact(newBob.app.inviteLink()!)
    const held = reopened.snapshot().contacts.find((c) => c.peerId === newBob.peerId)!
    expect(held).toMatchObject({ held: true, verified: false, keyChanged: true })
    await expect(reopened.send('hello?')).rejects.toMatchObject({ code: 'CONTACT_HELD' })

    await newBob.app.addContact(reopened.inviteLink()!)
    await newBob.app.send('it is really me')
    await elapse(1000)
    await next(reopened, (s) => s.contacts.find((c) => c.peerId === newBob.peerId && c.unread === 1))
    // Held: the messages stay out of the snapshot (and the chat list), and are not marked read.
    expect(reopened.snapshot().active).toBe(newBob.peerId)
    expect(reopened.snapshot().messages).toEqual([])
    expect(reopened.snapshot().contacts.find((c) => c.peerId === newBob.peerId)?.last).toBeUndefined()

    await reopened.markVerified(newBob.peerId, true)
    const released = reopened.snapshot()
    expect(released.contacts.find((c) => c.peerId === newBob.peerId)).toMatchObject({
      held: false,
      verified: true,
      unread: 0,
    })
    expect(released.messages.map((m) => m.text)).toEqual(['it is really me'])
    await reopened.send('welcome back')
  })
})
