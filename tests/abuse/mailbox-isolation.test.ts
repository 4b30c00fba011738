/**
 * Mailbox isolation on a real relay process (tests/support/relays.ts) with Node libp2p clients: no peer
 * reads, deletes (acks) or fills another's mailbox beyond the quotas.
 *
 * Already shown elsewhere, not repeated here (on the same service, in-process):
 * tests/integration/mailbox.test.ts "does not let another peer read or delete Bob's envelopes" (Eve's own
 * subscription is empty; acking seqs 1..100 deletes nothing), "answers size, quota, rate and recipient
 * limits with their codes" and "counts quota bytes as well as envelopes". What this file adds: seqs Eve
 * learned exactly (they are global on a relay), a subscription whose frames name Bob, and quotas as
 * several senders meet them on a deployed relay.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { encode } from 'cborg'
import { deposit, MailboxError, openMailbox, type MailboxEnvelope } from '@paloma/net/mailbox-client.ts'
import {
  encodeFrame,
  FrameReader,
  MAILBOX_PROTOCOL,
  type MailboxFrame,
} from '@paloma/core/protocol/mailbox.ts'
import { encodeLengthPrefixed } from '@paloma/core/protocol/frames.ts'
import { startRelay, type RelayProcess } from '../support/relays.ts'
import { startClient } from '../integration/fixtures/nodes.ts'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse())
    await Promise.resolve()
      .then(c)
      .catch(() => {})
})

async function relay(args: string[] = []): Promise<RelayProcess> {
  const r = await startRelay({ args: ['--mailbox-rate-burst', '1000', '--mailbox-rate', '1000', ...args] })
  cleanups.push(() => r.stop())
  return r
}

/** `n` client nodes (at most four), stopped after the test. */
async function clients(n: number): Promise<Libp2p[] & Record<0 | 1 | 2 | 3, Libp2p>> {
  const nodes = await Promise.all(Array.from({ length: n }, () => startClient()))
  for (const node of nodes) cleanups.push(() => node.stop())
  return nodes as Libp2p[] & Record<0 | 1 | 2 | 3, Libp2p>
}

const bytes = (...b: number[]) => Uint8Array.from(b)

/** Retries a deposit refused with RECIPIENT_QUOTA while the relay commits acks sent on another stream. */
async function untilAccepted(put: () => Promise<void>, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    try {
      return await put()
    } catch (err) {
      if (!(err instanceof MailboxError) || err.code !== 'RECIPIENT_QUOTA' || Date.now() > end) throw err
      await new Promise((res) => setTimeout(res, 50))
    }
  }
}

/** Subscribes, collects everything until synced, then closes: acknowledges what it got unless told not to. */
async function drain(node: Libp2p, r: RelayProcess, ack = true): Promise<MailboxEnvelope[]> {
  const got: MailboxEnvelope[] = []
  const sub = await openMailbox(node, r.multiaddr, (e) => {
    got.push(e)
    if (!ack) throw new Error('not now')
  })
  await sub.synced
  await sub.close()
  return got
}

/**
 * Raw frames on one stream (bytes as given, frames encoded): the relay's answers until it closes. The
 * stream is held open `holdMs` after writing, so the relay acts on everything before the end.
 */
async function raw(
  node: Libp2p,
  r: RelayProcess,
  out: Array<MailboxFrame | Uint8Array>,
  holdMs = 300,
): Promise<MailboxFrame[]> {
  const stream = await node.dialProtocol(multiaddr(r.multiaddr), MAILBOX_PROTOCOL)
  for (const f of out) stream.send(f instanceof Uint8Array ? f : encodeFrame(f))
  const reader = new FrameReader()
  const frames: MailboxFrame[] = []
  const reading = (async () => {
    for await (const chunk of stream) frames.push(...reader.push(chunk.subarray()))
  })().catch(() => {})
  await new Promise((res) => setTimeout(res, holdMs))
  await stream.close().catch(() => {})
  await Promise.race([reading, new Promise((res) => setTimeout(res, 2000))])
  return frames
}

describe('mailbox isolation on a relay process', () => {
  it('Eve cannot delete Bob’s envelope even with its exact seq, on her own subscription, by ack or nack', async () => {
    const r = await relay()
    const [alice, bob, eve] = await clients(3)
    const [bobId, eveId] = [bob.peerId.toString(), eve.peerId.toString()]
    await deposit(alice, r.multiaddr, { to: bobId, id: 'for-bob', envelope: bytes(1, 2, 3) })
    // Seqs are one counter per relay: Eve deposits to herself right after and reads hers, so she knows Bob's.
    await deposit(eve, r.multiaddr, { to: eveId, id: 'probe', envelope: bytes(9) })
    const [mine] = await drain(eve, r, false)
    const bobSeq = mine!.seq - 1
    const guesses = Array.from({ length: 21 }, (_, i) => bobSeq - 10 + i).filter((s) => s > 0)
    const answers = await raw(eve, r, [
      { t: 'sub' },
      { t: 'ack', seqs: guesses },
      { t: 'nack', seqs: guesses },
    ])
    // Her subscription shows her own envelope only, and the acks take hers alone.
    expect(answers.filter((f) => f.t === 'env').map((f) => (f as { from: string; id: string }).id)).toEqual([
      'probe',
    ])
    expect(await drain(eve, r)).toEqual([])
    // Bob's envelope is still there, from Alice.
    const got = await drain(bob, r)
    expect(got.map((e) => [e.from, e.id, e.seq])).toEqual([[alice.peerId.toString(), 'for-bob', bobSeq]])
  })

  it('a subscription naming Bob in its frames serves the authenticated peer (Eve) only', async () => {
    const r = await relay()
    const [alice, bob, eve] = await clients(3)
    const bobId = bob.peerId.toString()
    await deposit(alice, r.multiaddr, { to: bobId, id: 'secret', envelope: bytes(7) })
    // Unknown keys are ignored by the codec; none of them changes whose mailbox this is.
    const sub = encodeLengthPrefixed(
      encode({ v: 1, t: 'sub', to: bobId, peer: bobId, owner: bobId, from: bobId, for: bobId }),
    )
    const answers = await raw(eve, r, [sub])
    expect(answers.map((f) => f.t)).toEqual(['synced'])
    expect((await drain(bob, r)).map((e) => e.id)).toEqual(['secret'])
  })

  it('the sender of a deposit is the authenticated connection, whatever the frame says', async () => {
    const r = await relay()
    const [alice, bob, mallory] = await clients(3)
    const bobId = bob.peerId.toString()
    const aliceId = alice.peerId.toString()
    const put = encodeLengthPrefixed(
      encode({
        v: 1,
        t: 'put',
        to: bobId,
        id: 'claims-alice',
        env: bytes(5),
        from: aliceId,
        sender: aliceId,
      }),
    )
    expect((await raw(mallory, r, [put])).map((f) => f.t)).toEqual(['ok'])
    const [got] = await drain(bob, r)
    expect(got).toMatchObject({ id: 'claims-alice', from: mallory.peerId.toString() })
  })

  it('with the default quota ratio (sender above recipient) one stranger fills a mailbox; everyone else then gets RECIPIENT_QUOTA until it is read', async () => {
    // Deployed defaults: 1000 per recipient, 2000 per sender. Scaled down, same ratio.
    const r = await relay(['--mailbox-recipient-count', '4', '--mailbox-sender-count', '8'])
    const [alice, bob, mallory] = await clients(3)
    const bobId = bob.peerId.toString()
    for (let i = 0; i < 4; i++)
      await deposit(mallory, r.multiaddr, { to: bobId, id: `junk-${i}`, envelope: bytes(i) })
    const refused = await deposit(alice, r.multiaddr, { to: bobId, id: 'real', envelope: bytes(1) }).catch(
      (e: unknown) => e,
    )
    expect(refused).toBeInstanceOf(MailboxError)
    expect((refused as MailboxError).code).toBe('RECIPIENT_QUOTA')
    expect((refused as MailboxError).retryable).toBe(true)
    // Bob reads (his app acknowledges even what it cannot decrypt): the mailbox has room again.
    expect(await drain(bob, r)).toHaveLength(4)
    await untilAccepted(() => deposit(alice, r.multiaddr, { to: bobId, id: 'real', envelope: bytes(1) }))
    expect((await drain(bob, r)).map((e) => e.id)).toEqual(['real'])
  })

  it('with a sender quota below the recipient quota one sender cannot fill a mailbox: others still get in', async () => {
    const r = await relay(['--mailbox-recipient-count', '5', '--mailbox-sender-count', '3'])
    const [alice, bob, carol, mallory] = await clients(4)
    const bobId = bob.peerId.toString()
    for (let i = 0; i < 3; i++)
      await deposit(mallory, r.multiaddr, { to: bobId, id: `junk-${i}`, envelope: bytes(i) })
    const stopped = await deposit(mallory, r.multiaddr, {
      to: bobId,
      id: 'junk-3',
      envelope: bytes(3),
    }).catch((e: unknown) => e)
    expect((stopped as MailboxError).code).toBe('SENDER_QUOTA')
    // Mallory's other recipients count against the same quota (it is over all recipients).
    const other = await deposit(mallory, r.multiaddr, {
      to: carol.peerId.toString(),
      id: 'x',
      envelope: bytes(1),
    }).catch((e: unknown) => e)
    expect((other as MailboxError).code).toBe('SENDER_QUOTA')
    await deposit(alice, r.multiaddr, { to: bobId, id: 'a1', envelope: bytes(1) })
    await deposit(carol, r.multiaddr, { to: bobId, id: 'c1', envelope: bytes(1) })
    // Now Bob's mailbox is full (5): for everyone, Mallory included.
    const full = await deposit(alice, r.multiaddr, { to: bobId, id: 'a2', envelope: bytes(1) }).catch(
      (e: unknown) => e,
    )
    expect((full as MailboxError).code).toBe('RECIPIENT_QUOTA')
    expect((await drain(bob, r)).map((e) => e.id)).toEqual(['junk-0', 'junk-1', 'junk-2', 'a1', 'c1'])
  })
})
