/**
 * The relay mailbox end to end: real libp2p nodes (WebSockets on loopback, Noise, Yamux), the
 * mailbox service on a relay-like node, and the client from packages/net.
 */
import { describe, expect, it } from 'vitest'
import { join } from 'node:path'
import type { Libp2p } from 'libp2p'
import {
  deposit,
  depositAll,
  MailboxError,
  openMailbox,
  type MailboxEnvelope,
} from '@paloma/net/mailbox-client.ts'
import { encodeFrame, FrameReader, MAILBOX_PROTOCOL } from '@paloma/core/protocol/mailbox.ts'
import type { MailboxInit } from '../../relay-node/src/mailbox/index.ts'
import { keyFromSeed, relayAddr, startClient, startRelay, type RelayNode } from './fixtures/mailbox-nodes.ts'
import { waitFor } from './fixtures/nodes.ts'
import { cleanupAfterEach, frameTestKit } from './fixtures/frame-tests.ts'

const { nodes, tempDir } = cleanupAfterEach()

async function setup(
  init: MailboxInit = {},
): Promise<{ relay: RelayNode; alice: Libp2p; bob: Libp2p; eve: Libp2p }> {
  const relay = await startRelay(init)
  const [alice, bob, eve] = await Promise.all([startClient(), startClient(), startClient()])
  nodes.push(relay, alice, bob, eve)
  return { relay, alice, bob, eve }
}

const tempDb = (): string => join(tempDir('paloma-mailbox-'), 'mailbox.sqlite')

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

/** Subscribes, collects everything until synced, closes. */
async function drain(node: Libp2p, relay: RelayNode): Promise<MailboxEnvelope[]> {
  const got: MailboxEnvelope[] = []
  const sub = await openMailbox(node, relayAddr(relay), (e) => {
    got.push(e)
  })
  await sub.synced
  await sub.close()
  return got
}

const { expectCode, rawExchange } = frameTestKit({
  error: MailboxError,
  protocol: MAILBOX_PROTOCOL,
  encodeFrame,
  newReader: () => new FrameReader(),
})

describe('mailbox relay', () => {
  it('stores a deposit, delivers it to the recipient, deletes it after the ack', async () => {
    const { relay, alice, bob } = await setup()
    await deposit(alice, relayAddr(relay), { to: bob.peerId.toString(), id: 'm1', envelope: bytes(1, 2, 3) })
    expect(relay.services.mailbox.stats()).toMatchObject({ envelopes: 1, bytes: 3 })

    const got = await drain(bob, relay)
    expect(got).toHaveLength(1)
    expect(got[0]).toMatchObject({ from: alice.peerId.toString(), id: 'm1', envelope: bytes(1, 2, 3) })
    await waitFor(() => relay.services.mailbox.stats().envelopes === 0)
    expect(await drain(bob, relay)).toEqual([])
  })

  it('accepts a relay given as a multiaddr string', async () => {
    const { relay, alice, bob } = await setup()
    await deposit(alice, relayAddr(relay).toString(), {
      to: bob.peerId.toString(),
      id: 's',
      envelope: bytes(1),
    })
    expect((await drain(bob, relay)).map((e) => e.id)).toEqual(['s'])
  })

  it('pushes new envelopes to a connected recipient, in order', async () => {
    const { relay, alice, bob } = await setup({ maxUnacked: 3 })
    const to = bob.peerId.toString()
    await deposit(alice, relayAddr(relay), { to, id: 'old', envelope: bytes(0) })
    const got: string[] = []
    const sub = await openMailbox(bob, relayAddr(relay), async (e) => {
      await new Promise((r) => setTimeout(r, 1))
      got.push(e.id)
    })
    await sub.synced
    expect(got).toEqual(['old'])
    const t0 = Date.now()
    await deposit(alice, relayAddr(relay), { to, id: 'live', envelope: bytes(1) })
    await waitFor(() => got.length === 2)
    expect(Date.now() - t0).toBeLessThan(1000)
    // More than the unacked window: the relay resumes as acks come back.
    for (let i = 0; i < 10; i++)
      await deposit(alice, relayAddr(relay), { to, id: `n${i}`, envelope: bytes(i) })
    await waitFor(() => got.length === 12)
    expect(got.slice(2)).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}`))
    await waitFor(() => relay.services.mailbox.stats().envelopes === 0)
    await sub.close()
    expect(await sub.closed).toBeUndefined()
  })

  it('keeps envelopes whose handler failed, without stalling the subscription, and delivers them again', async () => {
    const { relay, alice, bob } = await setup({ maxUnacked: 2 })
    const to = bob.peerId.toString()
    const ids = ['x1', 'x2', 'x3', 'x4', 'x5']
    for (const id of ids) await deposit(alice, relayAddr(relay), { to, id, envelope: bytes(9) })
    const errors: unknown[] = []
    const sub = await openMailbox(
      bob,
      relayAddr(relay),
      () => {
        throw new Error('cannot decrypt yet')
      },
      { onError: (err) => errors.push(err) },
    )
    // More failures than the unacked window: nacks release it, so the backlog still completes.
    await sub.synced
    await sub.close()
    expect(errors).toHaveLength(5)
    expect(relay.services.mailbox.stats().envelopes).toBe(5)
    expect((await drain(bob, relay)).map((e) => e.id)).toEqual(ids)
  })

  it("does not let another peer read or delete Bob's envelopes", async () => {
    const { relay, alice, bob, eve } = await setup()
    await deposit(alice, relayAddr(relay), { to: bob.peerId.toString(), id: 'secret', envelope: bytes(7) })
    // Eve subscribes: she only ever sees her own (empty) mailbox.
    expect(await drain(eve, relay)).toEqual([])
    // Eve acknowledges every plausible seq: nothing of Bob's is deleted.
    const answer = await rawExchange(eve, relay, [
      { t: 'ack', seqs: Array.from({ length: 100 }, (_, i) => i + 1) },
    ])
    expect(answer).toEqual([])
    expect(relay.services.mailbox.stats().envelopes).toBe(1)
    const got = await drain(bob, relay)
    expect(got.map((e) => e.id)).toEqual(['secret'])
  })

  it('caps the subscriptions of one peer, closing the oldest', async () => {
    const { relay, bob } = await setup()
    const subs = []
    for (let i = 0; i < 5; i++) {
      const sub = await openMailbox(bob, relayAddr(relay), () => {})
      await sub.synced
      subs.push(sub)
    }
    expect(await subs[0]?.closed).toBeInstanceOf(Error)
    expect(relay.services.mailbox.stats().subscriptions).toBe(4)
    await Promise.all(subs.map((s) => s.close()))
    await waitFor(() => relay.services.mailbox.stats().subscriptions === 0)
  })

  it('stores a duplicate deposit once, and not again after delivery', async () => {
    const { relay, alice, bob } = await setup()
    const req = { to: bob.peerId.toString(), id: 'dup', envelope: bytes(1) }
    await deposit(alice, relayAddr(relay), req)
    await deposit(alice, relayAddr(relay), req)
    await Promise.all([deposit(alice, relayAddr(relay), req), deposit(alice, relayAddr(relay), req)])
    expect(relay.services.mailbox.stats().envelopes).toBe(1)
    expect((await drain(bob, relay)).map((e) => e.id)).toEqual(['dup'])
    // A late retry (the sender missed the ok) after Bob acknowledged: ok, but not delivered twice.
    await waitFor(() => relay.services.mailbox.stats().envelopes === 0)
    await deposit(alice, relayAddr(relay), req)
    expect(await drain(bob, relay)).toEqual([])
  })

  it('answers size, quota, rate and recipient limits with their codes', async () => {
    let now = 1_000_000
    const { relay, alice, bob, eve } = await setup({
      maxEnvelopeBytes: 1024,
      perRecipientQuota: { count: 3 },
      perSenderQuota: { count: 4, bytes: 4000 },
      rateLimit: { burst: 6, perSecond: 1 },
      now: () => now,
    })
    const addr = relayAddr(relay)
    const bobId = bob.peerId.toString()
    const eveId = eve.peerId.toString()

    const tooLarge = await expectCode(
      deposit(alice, addr, { to: bobId, id: 'big', envelope: new Uint8Array(1025) }),
      'TOO_LARGE',
    )
    expect(tooLarge.retryable).toBe(false)
    await expectCode(deposit(alice, addr, { to: 'QmTooShort', id: 'r', envelope: bytes(1) }), 'BAD_RECIPIENT')
    // Tokens used so far: 2 of 6.
    await deposit(alice, addr, { to: bobId, id: 'a', envelope: bytes(1) })
    await deposit(alice, addr, { to: bobId, id: 'b', envelope: bytes(1) })
    await deposit(alice, addr, { to: bobId, id: 'c', envelope: bytes(1) })
    await expectCode(deposit(alice, addr, { to: bobId, id: 'd', envelope: bytes(1) }), 'RECIPIENT_QUOTA')
    // Bucket now empty: rate limited even for another recipient.
    const limited = await expectCode(
      deposit(alice, addr, { to: eveId, id: 'e', envelope: bytes(1) }),
      'RATE_LIMITED',
    )
    expect(limited.retryable).toBe(true)
    now += 1000 // one token back
    await deposit(alice, addr, { to: eveId, id: 'e', envelope: bytes(1) })
    now += 1000
    // Alice has 4 envelopes stored on this relay: her sender quota is reached.
    await expectCode(deposit(alice, addr, { to: eveId, id: 'f', envelope: bytes(1) }), 'SENDER_QUOTA')
    // Bob's mailbox is full for everyone, but Eve (another sender) is only refused by that.
    await expectCode(deposit(eve, addr, { to: bobId, id: 'g', envelope: bytes(1) }), 'RECIPIENT_QUOTA')
    // Byte quota: Eve fills her 4000 bytes.
    await deposit(eve, addr, { to: eve.peerId.toString(), id: 'h', envelope: new Uint8Array(1000) })
    expect(relay.services.mailbox.stats().envelopes).toBe(5)
  })

  it('pipelines several deposits on one stream with a result per envelope', async () => {
    const { relay, alice, bob } = await setup({ maxEnvelopeBytes: 100 })
    const to = bob.peerId.toString()
    const results = await depositAll(alice, relayAddr(relay), [
      { to, id: 'a', envelope: bytes(1) },
      { to, id: 'big', envelope: new Uint8Array(101) },
      { to, id: 'a', envelope: bytes(1) },
      { to, id: 'bad id', envelope: bytes(1) },
      { to, id: 'b', envelope: bytes(2) },
    ])
    expect(results.map((r) => [r.id, r.error?.code])).toEqual([
      ['a', undefined],
      ['big', 'TOO_LARGE'],
      ['a', undefined],
      ['bad id', 'BAD_FRAME'],
      ['b', undefined],
    ])
    expect((await drain(bob, relay)).map((e) => e.id)).toEqual(['a', 'b'])
  })

  it('counts quota bytes as well as envelopes', async () => {
    const { relay, alice, bob, eve } = await setup({
      perRecipientQuota: { bytes: 1500 },
      perSenderQuota: { bytes: 2500 },
    })
    const addr = relayAddr(relay)
    const [bobId, eveId, aliceId] = [bob.peerId.toString(), eve.peerId.toString(), alice.peerId.toString()]
    await deposit(alice, addr, { to: bobId, id: 'a', envelope: new Uint8Array(1000) })
    await expectCode(
      deposit(alice, addr, { to: bobId, id: 'b', envelope: new Uint8Array(600) }),
      'RECIPIENT_QUOTA',
    )
    await deposit(alice, addr, { to: eveId, id: 'c', envelope: new Uint8Array(1000) })
    await expectCode(
      deposit(alice, addr, { to: aliceId, id: 'd', envelope: new Uint8Array(600) }),
      'SENDER_QUOTA',
    )
    await deposit(alice, addr, { to: aliceId, id: 'e', envelope: new Uint8Array(500) })
    // Delivery frees both quotas.
    expect((await drain(bob, relay)).map((e) => e.id)).toEqual(['a'])
    await waitFor(() => relay.services.mailbox.stats().envelopes === 2)
    await deposit(alice, addr, { to: bobId, id: 'b', envelope: new Uint8Array(1000) })
    expect(relay.services.mailbox.stats().bytes).toBe(2500)
  })

  it('answers malformed and unexpected frames with BAD_FRAME / UNEXPECTED_FRAME / TOO_LARGE', async () => {
    const { relay, alice } = await setup()
    const garbage = await rawExchange(alice, relay, [bytes(3, 0xff, 0xff, 0xff)])
    expect(garbage).toMatchObject([{ t: 'err', code: 'BAD_FRAME' }])
    const unexpected = await rawExchange(alice, relay, [{ t: 'ok', id: 'x' }])
    expect(unexpected).toMatchObject([{ t: 'err', code: 'UNEXPECTED_FRAME' }])
    const huge = await rawExchange(alice, relay, [bytes(0xff, 0xff, 0xff, 0x7f)])
    expect(huge).toMatchObject([{ t: 'err', code: 'TOO_LARGE' }])
    const version = await rawExchange(alice, relay, [
      bytes(8, 0xa2, 0x61, 0x76, 0x02, 0x61, 0x74, 0x63, 0x73),
    ])
    expect(version[0]?.t).toBe('err')
  })

  it('never delivers expired envelopes and sweeps them', async () => {
    let now = 5_000_000
    const { relay, alice, bob } = await setup({
      ttlMs: 60_000,
      perRecipientQuota: { count: 2 },
      now: () => now,
    })
    const to = bob.peerId.toString()
    await deposit(alice, relayAddr(relay), { to, id: 'old', envelope: bytes(1) })
    now += 30_000
    await deposit(alice, relayAddr(relay), { to, id: 'new', envelope: bytes(2) })
    now += 31_000 // 'old' is 61 s old, 'new' 31 s
    expect((await drain(bob, relay)).map((e) => e.id)).toEqual(['new'])
    await waitFor(() => relay.services.mailbox.stats().envelopes === 1)
    expect(await relay.services.mailbox.sweep()).toBe(1)
    expect(relay.services.mailbox.stats().envelopes).toBe(0)
    // The sweep freed the recipient quota (2 envelopes): two more fit.
    await deposit(alice, relayAddr(relay), { to, id: 'x', envelope: bytes(3) })
    await deposit(alice, relayAddr(relay), { to, id: 'y', envelope: bytes(4) })
  })

  it('keeps unacknowledged envelopes across a relay restart on the same database file', async () => {
    const path = tempDb()
    const privateKey = await keyFromSeed(3)
    const relay1 = await startRelay({ path }, { privateKey })
    const [alice, bob] = await Promise.all([startClient(), startClient()])
    nodes.push(alice, bob)
    const to = bob.peerId.toString()
    for (const id of ['a', 'b', 'c']) await deposit(alice, relayAddr(relay1), { to, id, envelope: bytes(1) })
    // Bob receives 'a' but fails to process it: it must survive too.
    const sub = await openMailbox(bob, relayAddr(relay1), () => Promise.reject(new Error('later')))
    await sub.synced
    await sub.close()
    await relay1.stop()
    await waitFor(() => bob.getConnections(relay1.peerId).length === 0)

    const relay2 = await startRelay({ path }, { privateKey })
    nodes.push(relay2)
    expect(relay2.services.mailbox.stats().envelopes).toBe(3)
    expect((await drain(bob, relay2)).map((e) => e.id)).toEqual(['a', 'b', 'c'])
  })
})
