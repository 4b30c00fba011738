/**
 * Two of five relays stopped for good (the original design: 2K+1 = 5 replicas tolerating K = 2 failed
 * nodes), end to end in the app: Node people on all five relays find each other by username, start a
 * session, and deliver to someone who is away, with two relays gone.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { startRelayMesh, type RelayProcess } from '../support/relays.ts'
import { PASSPHRASE, until, useScene } from '../support/people.ts'

const scene = useScene()
let relays: RelayProcess[] = []
afterEach(async () => {
  for (const r of relays.splice(0)) await r.stop()
})

describe('two of five relays stopped for good', () => {
  it('directory, sessions and offline delivery keep working on the three left', async () => {
    relays = await startRelayMesh(5)
    const addrs = relays.map((r) => r.multiaddr)
    const [alice, bob] = await Promise.all([scene.online('alice', addrs), scene.online('bob', addrs)])
    const bobId = bob.app.peerId!
    // Bob's profile and name are in the directory before the failures (it is replicated on the relays).
    await until(bob.app, (s) => s.state === 'online')
    await expect
      .poll(async () => (await alice.app.addContact('bob').catch(() => []))?.length ?? 0, { timeout: 30_000 })
      .toBeGreaterThan(0)

    // Two relays die for good, among them one of those listed first in Bob's profile.
    await Promise.all([relays[0]!.stop('SIGKILL'), relays[3]!.stop('SIGKILL')])
    await bob.app.stop()

    // Alice finds Bob by username and writes to him while he is away.
    const claimants = await alice.app.addContact('bob')
    expect(claimants?.map((c) => c.peerId)).toEqual([bobId])
    await alice.app.chooseClaimant(claimants![0]!)
    for (let i = 1; i <= 3; i++) await alice.app.send(`while away ${i}`)
    const sent = await until(alice.app, (s) => {
      const out = s.messages.filter((m) => m.direction === 'out')
      return out.length === 3 && out.every((m) => m.status === 'sent') && out
    })
    // Each is held by two of the three relays left (custody k = 2), never by a dead one.
    const dead = new Set([relays[0]!.peerId, relays[3]!.peerId])
    for (const m of sent) {
      expect(m.custody).toHaveLength(2)
      for (const relay of m.custody!) expect(dead.has(relay.split('/').at(-1)!)).toBe(false)
    }

    const back = await bob.reopen()
    await back.unlock(PASSPHRASE)
    const aliceId = alice.app.peerId!
    // Alice is not Bob's contact: her messages arrive as a message request, which he accepts.
    await until(back, (s) => s.requests.find((r) => r.peerId === aliceId && r.messages.length === 3), 60_000)
    await back.acceptRequest(aliceId)
    expect(back.snapshot().messages.map((m) => m.text)).toEqual([
      'while away 1',
      'while away 2',
      'while away 3',
    ])
    await until(alice.app, (s) => s.messages.filter((m) => m.status === 'read').length === 3, 60_000)
  })

  it('a relay gone for good leaves the profile, and contacts stop depositing there', async () => {
    relays = await startRelayMesh(3)
    const addrs = relays.map((r) => r.multiaddr)
    const alice = await scene.online('alice', addrs, {}, { network: { relayGoneMs: 2000 } })
    const bob = await scene.online('bob', addrs)
    const aliceId = alice.app.peerId!
    await bob.app.addContact(alice.app.snapshot().me!.inviteLink!)
    await bob.app.send('hi')
    await until(bob.app, (s) => s.messages.find((m) => m.status === 'delivered'))

    await relays[0]!.stop('SIGKILL')
    // Two seconds later Alice's profile names only the two relays left.
    const circuits = async () => (await bob.app.network!.directory.resolvePeer(aliceId)).relays
    await expect.poll(async () => (await circuits()).length, { timeout: 30_000, interval: 500 }).toBe(2)
    expect((await circuits()).some((c) => c.includes(relays[0]!.peerId))).toBe(false)

    // Bob writes while Alice is away: his deposits go to the two relays of her current profile.
    await alice.app.stop()
    await bob.app.send('while you are away')
    const m = await until(bob.app, (s) =>
      s.messages.find((x) => x.text === 'while you are away' && x.status === 'sent'),
    )
    expect(m.custody?.some((c) => c.includes(relays[0]!.peerId))).toBe(false)
  })
})
