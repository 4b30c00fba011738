import { describe, expect, it } from 'vitest'
import { delivery, type DeliveryComponents } from '../../../src/app/delivery.ts'
import type { ContactRecord } from '../../../src/app/records.ts'
import { ChatError } from '@paloma/net/chat.ts'
import { MailboxError } from '@paloma/net/mailbox-client.ts'
import { seededRng } from '../../support/rng.ts'

const RELAYS = ['r1', 'r2', 'r3'].map(
  (r) => `/dns4/${r}.test/tcp/443/wss/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK`,
)
const BOB = '12D3KooWL6Wrv1ZGz1uXiKLa9PdrvZMyvhBNRkbbd2yxcRKPfuj8'

/** A network whose answers the test sets, recording every call. */
function fakeNetwork() {
  const calls: string[] = []
  const net = {
    calls,
    connected: false,
    direct: false,
    deliverFails: undefined as Error | undefined,
    /** When not empty, only these ids go unacknowledged while deliverFails is set. */
    unackedIds: new Set<string>(),
    depositFails: new Map<string, MailboxError>(),
    /** When not empty, only these ids are refused by a relay in depositFails. */
    refusedIds: new Set<string>(),
    dialFails: true,
    isConnected: () => net.connected,
    isDirect: () => net.direct,
    async deliver(peer: string, id: string) {
      calls.push(`deliver ${peer} ${id}`)
      if (net.deliverFails && (net.unackedIds.size === 0 || net.unackedIds.has(id))) throw net.deliverFails
    },
    async post(peer: string) {
      calls.push(`post ${peer}`)
    },
    async depositAll(relay: string, reqs: ReadonlyArray<{ to: string; id: string }>) {
      calls.push(`deposit ${relay.split('/')[2]} ${reqs.map((r) => r.id).join(',')}`)
      const err = net.depositFails.get(relay)
      if (err?.code === 'UNREACHABLE') throw err // the whole batch: no stream to the relay
      return reqs.map((r) =>
        err === undefined || (net.refusedIds.size > 0 && !net.refusedIds.has(r.id))
          ? { id: r.id }
          : { id: r.id, error: err },
      )
    },
    async connectDirect(peer: string) {
      calls.push(`dial ${peer}`)
      if (net.dialFails) throw new Error('no route')
      net.connected = net.direct = true
    },
  }
  return net
}

/** Timers the router set, run by hand. */
const timers: Array<{ ms: number; fn: () => void }> = []

function make(
  net: ReturnType<typeof fakeNetwork>,
  clock = { t: 0 },
  relays = RELAYS,
  extra: Pick<DeliveryComponents, 'isOpen'> = {},
) {
  timers.length = 0
  // Bob's circuit addresses, as his profile lists them (a duplicate relay counts once).
  const contact: ContactRecord = {
    peer: BOB,
    name: 'bob',
    relays: [...relays, relays[0]!].map((r) => `${r}/p2p-circuit/p2p/${BOB}`),
    added: 0,
    keyChanged: false,
  }
  return delivery({ mailboxCopies: 2, directRedialMs: 30_000 })({
    network: net,
    contacts: { get: (p) => (p === BOB ? contact : undefined), refresh: async () => false },
    now: () => clock.t,
    rng: seededRng(3),
    ...extra,
    scheduler: {
      after: (ms, fn) => {
        timers.push({ ms, fn })
        return () => {}
      },
    },
  })
}

const env = new Uint8Array([1, 2, 3])
const one = (id: string) => [{ envId: id, envelope: env }]
const many = (...ids: string[]) => ids.map((id) => ({ envId: id, envelope: env }))

describe('delivery routes', () => {
  it('goes direct when a connection is open, and the peer acknowledged', async () => {
    const net = fakeNetwork()
    net.connected = net.direct = true
    expect(await make(net).send(BOB, one('e1'))).toEqual([{ route: 'direct' }])
    expect(net.calls).toEqual([`deliver ${BOB} e1`])
  })

  it('writes a whole batch at once, and deposits only what was not acknowledged directly', async () => {
    const net = fakeNetwork()
    net.connected = net.direct = true
    net.deliverFails = new ChatError('CLOSED', 'stream ended')
    net.unackedIds.add('e2')
    expect(await make(net).send(BOB, many('e1', 'e2', 'e3'))).toEqual([
      { route: 'direct' },
      { route: 'mailbox', held: [RELAYS[0], RELAYS[1]], complete: true },
      { route: 'direct' },
    ])
    expect(net.calls).toEqual([
      `deliver ${BOB} e1`,
      `deliver ${BOB} e2`,
      `deliver ${BOB} e3`,
      'deposit r1.test e2',
      'deposit r2.test e2',
    ])
  })

  it('falls back to the mailbox on two of the contact’s relays when the direct send is not acknowledged', async () => {
    const net = fakeNetwork()
    net.connected = net.direct = true
    net.deliverFails = new ChatError('TIMEOUT', 'no ack')
    expect(await make(net).send(BOB, one('e1'))).toEqual([
      { route: 'mailbox', held: [RELAYS[0], RELAYS[1]], complete: true },
    ])
    expect(net.calls).toEqual([`deliver ${BOB} e1`, 'deposit r1.test e1', 'deposit r2.test e1'])
  })

  it('asks further relays until k hold it, when one does not answer', async () => {
    const net = fakeNetwork()
    net.depositFails.set(RELAYS[0]!, new MailboxError('UNREACHABLE', 'down'))
    expect(await make(net).send(BOB, one('e1'))).toEqual([
      { route: 'mailbox', held: [RELAYS[1], RELAYS[2]], complete: true },
    ])
    expect(net.calls).toEqual([
      'deposit r1.test e1',
      'deposit r2.test e1',
      'deposit r3.test e1',
      `dial ${BOB}`,
    ])
  })

  it('goes back to a direct connection after messages went through the mailbox, one dial per interval', async () => {
    // The contact moved to another network: the old direct connection died, the relays took the messages.
    const net = fakeNetwork()
    net.dialFails = false
    const clock = { t: 1_000_000 }
    const d = make(net, clock)
    net.connected = true // over a relay only
    await d.send(BOB, one('e1'))
    await d.send(BOB, one('e2'))
    expect(net.calls.filter((c) => c.startsWith('dial'))).toEqual([`dial ${BOB}`])
    expect(await d.send(BOB, one('e3'))).toEqual([{ route: 'direct' }])
    // Dropped again later: the next message through the mailbox dials again once the interval passed.
    net.direct = false
    clock.t += 10_000
    await d.send(BOB, one('e4'))
    expect(net.calls.filter((c) => c.startsWith('dial'))).toHaveLength(1)
    clock.t += 30_000
    await d.send(BOB, one('e5'))
    expect(net.calls.filter((c) => c.startsWith('dial'))).toHaveLength(2)
  })

  it('reports incomplete custody when fewer than k relays answer, and skips the relays that hold it', async () => {
    const net = fakeNetwork()
    net.depositFails.set(RELAYS[0]!, new MailboxError('UNREACHABLE', 'down'))
    net.depositFails.set(RELAYS[2]!, new MailboxError('UNREACHABLE', 'down'))
    const d = make(net)
    expect(await d.send(BOB, one('e1'))).toEqual([{ route: 'mailbox', held: [RELAYS[1]], complete: false }])
    net.calls.length = 0
    net.depositFails.clear()
    expect(await d.send(BOB, [{ envId: 'e1', envelope: env, held: [RELAYS[1]!] }])).toEqual([
      { route: 'mailbox', held: [RELAYS[1], RELAYS[0]], complete: true },
    ])
    expect(net.calls).toEqual(['deposit r1.test e1'])
  })

  it('uses the mailbox over a relayed connection (the signalling path of a WebRTC dial)', async () => {
    const net = fakeNetwork()
    net.connected = true
    expect((await make(net).send(BOB, one('e1')))[0]!.route).toBe('mailbox')
    expect(net.calls.some((c) => c.startsWith('deliver'))).toBe(false)
  })

  it('reports the relays’ refusal the person should see, and tries to go direct', async () => {
    const net = fakeNetwork()
    net.depositFails.set(RELAYS[0]!, new MailboxError('UNREACHABLE', 'down'))
    net.depositFails.set(RELAYS[1]!, new MailboxError('RECIPIENT_QUOTA', 'full'))
    net.refusedIds.add('e2')
    net.depositFails.set(RELAYS[2]!, new MailboxError('UNREACHABLE', 'down'))
    expect(await make(net).send(BOB, many('e1', 'e2'))).toEqual([
      { route: 'mailbox', held: [RELAYS[1]], complete: false },
      { route: undefined, refusal: 'RECIPIENT_QUOTA' },
    ])
    expect(net.calls.at(-1)).toBe(`dial ${BOB}`)
  })

  it('reports no refusal for failures that are not the relay’s answer', async () => {
    const net = fakeNetwork()
    for (const r of RELAYS) net.depositFails.set(r, new MailboxError('TIMEOUT', 'slow'))
    expect(await make(net).send(BOB, one('e1'))).toEqual([{ route: undefined }])
  })

  it('dials directly at most once per interval, and not while a dial runs or a direct connection is open', async () => {
    const net = fakeNetwork()
    const clock = { t: 1_000_000 }
    const d = make(net, clock)
    await Promise.all([d.connectDirect(BOB), d.connectDirect(BOB)])
    await d.connectDirect(BOB)
    expect(net.calls.filter((c) => c.startsWith('dial'))).toHaveLength(1)
    clock.t += 30_000
    net.dialFails = false
    await d.connectDirect(BOB)
    clock.t += 30_000
    await d.connectDirect(BOB) // direct now: nothing to do
    expect(net.calls.filter((c) => c.startsWith('dial'))).toHaveLength(2)
  })

  it('dials at once after a network change, whatever the interval says', async () => {
    const net = fakeNetwork()
    const d = make(net, { t: 1_000_000 })
    await d.connectDirect(BOB)
    timers.shift()!.fn() // its quick retry
    await new Promise((r) => setTimeout(r, 0))
    await d.connectDirect(BOB)
    expect(net.calls.filter((c) => c.startsWith('dial'))).toHaveLength(2)
    d.networkChanged()
    net.dialFails = false
    await d.connectDirect(BOB)
    expect(net.calls.filter((c) => c.startsWith('dial'))).toHaveLength(3)
  })

  it('while the chat is open, a dial that failed twice is tried again every interval until it goes direct', async () => {
    const net = fakeNetwork()
    net.dialFails = true
    const clock = { t: 1_000_000 }
    const d = make(net, clock, RELAYS, { isOpen: (peer) => peer === BOB })
    const dials = () => net.calls.filter((c) => c.startsWith('dial')).length
    await d.connectDirect(BOB)
    timers.shift()!.fn() // the quick retry
    await new Promise((r) => setTimeout(r, 0))
    expect(dials()).toBe(2)
    expect(timers.map((t) => t.ms)).toEqual([30_000])
    clock.t += 30_000
    timers.shift()!.fn()
    await new Promise((r) => setTimeout(r, 0))
    expect(dials()).toBe(3)
    expect(timers.map((t) => t.ms)).toEqual([30_000]) // still failing, still open: again
    net.dialFails = false
    clock.t += 30_000
    timers.shift()!.fn()
    await new Promise((r) => setTimeout(r, 0))
    expect(dials()).toBe(4)
    expect(timers).toEqual([]) // direct now
  })

  it('a chat closed before the next attempt is not dialled for', async () => {
    const net = fakeNetwork()
    net.dialFails = true
    const clock = { t: 1_000_000 }
    let open = true
    const d = make(net, clock, RELAYS, { isOpen: () => open })
    await d.connectDirect(BOB)
    timers.shift()!.fn()
    await new Promise((r) => setTimeout(r, 0))
    expect(timers.map((t) => t.ms)).toEqual([30_000])
    open = false
    clock.t += 30_000
    timers.shift()!.fn()
    await new Promise((r) => setTimeout(r, 0))
    expect(net.calls.filter((c) => c.startsWith('dial'))).toHaveLength(2)
    expect(timers).toEqual([])
  })

  it('tries a failed direct dial once more a second later, then waits for the interval', async () => {
    const net = fakeNetwork()
    net.dialFails = true
    const d = make(net, { t: 1_000_000 })
    await d.connectDirect(BOB)
    expect(timers.map((t) => t.ms)).toEqual([1000])
    timers.shift()!.fn()
    await new Promise((r) => setTimeout(r, 0))
    expect(net.calls.filter((c) => c.startsWith('dial'))).toHaveLength(2)
    expect(timers).toEqual([]) // the second failure waits for directRedialMs
    await d.connectDirect(BOB)
    expect(net.calls.filter((c) => c.startsWith('dial'))).toHaveLength(2)
  })

  it('posts ephemeral envelopes only over an open connection', async () => {
    const net = fakeNetwork()
    const d = make(net)
    expect(await d.post(BOB, env)).toBe(false)
    net.connected = true
    expect(await d.post(BOB, env)).toBe(true)
    expect(net.calls).toEqual([`post ${BOB}`])
  })
})
