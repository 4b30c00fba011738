import { describe, expect, it } from 'vitest'
import { delivery } from '../../../src/app/delivery.ts'
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
    depositFails: new Map<string, Error>(),
    dialFails: true,
    isConnected: () => net.connected,
    isDirect: () => net.direct,
    async deliver(peer: string, id: string) {
      calls.push(`deliver ${peer} ${id}`)
      if (net.deliverFails) throw net.deliverFails
    },
    async post(peer: string) {
      calls.push(`post ${peer}`)
    },
    async deposit(relay: string, req: { to: string; id: string }) {
      calls.push(`deposit ${relay.split('/')[2]} ${req.to} ${req.id}`)
      const err = net.depositFails.get(relay)
      if (err) throw err
    },
    async connectDirect(peer: string) {
      calls.push(`dial ${peer}`)
      if (net.dialFails) throw new Error('no route')
      net.connected = net.direct = true
    },
  }
  return net
}

function make(net: ReturnType<typeof fakeNetwork>, clock = { t: 0 }, relays = RELAYS) {
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
    contacts: { get: (p) => (p === BOB ? contact : undefined) },
    now: () => clock.t,
    rng: seededRng(3),
  })
}

const env = new Uint8Array([1, 2, 3])

describe('delivery routes', () => {
  it('goes direct when a connection is open, and the peer acknowledged', async () => {
    const net = fakeNetwork()
    net.connected = true
    expect(await make(net).send(BOB, 'e1', env)).toEqual({ route: 'direct' })
    expect(net.calls).toEqual([`deliver ${BOB} e1`])
  })

  it('falls back to the mailbox on two of the contact’s relays when the direct send is not acknowledged', async () => {
    const net = fakeNetwork()
    net.connected = true
    net.deliverFails = new ChatError('TIMEOUT', 'no ack')
    expect(await make(net).send(BOB, 'e1', env)).toEqual({ route: 'mailbox' })
    expect(net.calls).toEqual([`deliver ${BOB} e1`, `deposit r1.test ${BOB} e1`, `deposit r2.test ${BOB} e1`])
  })

  it('counts one relay that stored it as delivered', async () => {
    const net = fakeNetwork()
    net.depositFails.set(RELAYS[0]!, new MailboxError('UNREACHABLE', 'down'))
    expect(await make(net).send(BOB, 'e1', env)).toEqual({ route: 'mailbox' })
  })

  it('reports the relays’ refusal the person should see, and tries to go direct', async () => {
    const net = fakeNetwork()
    net.depositFails.set(RELAYS[0]!, new MailboxError('UNREACHABLE', 'down'))
    net.depositFails.set(RELAYS[1]!, new MailboxError('RECIPIENT_QUOTA', 'full'))
    expect(await make(net).send(BOB, 'e1', env)).toEqual({ route: undefined, refusal: 'RECIPIENT_QUOTA' })
    expect(net.calls.at(-1)).toBe(`dial ${BOB}`)
  })

  it('reports no refusal for failures that are not the relay’s answer', async () => {
    const net = fakeNetwork()
    for (const r of RELAYS) net.depositFails.set(r, new MailboxError('TIMEOUT', 'slow'))
    expect(await make(net).send(BOB, 'e1', env)).toEqual({ route: undefined })
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

  it('posts ephemeral envelopes only over an open connection', async () => {
    const net = fakeNetwork()
    const d = make(net)
    expect(await d.post(BOB, env)).toBe(false)
    net.connected = true
    expect(await d.post(BOB, env)).toBe(true)
    expect(net.calls).toEqual([`post ${BOB}`])
  })
})
