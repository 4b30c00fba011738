/**
 * The mailbox over a limited (circuit-relayed) connection: both the handler and the client open
 * their streams with `runOnLimitedConnection`, so a mailbox host reached only through a circuit
 * relay still takes deposits and serves subscriptions.
 */
import { describe, expect, it } from 'vitest'
import { createLibp2p, type Libp2p } from 'libp2p'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { mailbox, type MailboxService } from '../../relay-node/src/mailbox/index.ts'
import { deposit, openMailbox } from '@paloma/net/mailbox-client.ts'
import { relayAddr } from './fixtures/mailbox-nodes.ts'
import { cleanupAfterEach } from './fixtures/frame-tests.ts'

const { nodes } = cleanupAfterEach()

const base = {
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionGater: { denyDialMultiaddr: () => false },
}

describe('mailbox over a limited connection', () => {
  it('deposits and delivers through a circuit relay', async () => {
    const circuit = await createLibp2p({
      ...base,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0/ws'] },
      transports: [webSockets()],
      services: { identify: identify(), relay: circuitRelayServer() },
    })
    nodes.push(circuit)
    // The mailbox host has no listen address of its own: it is reachable only via the circuit.
    const host = (await createLibp2p({
      ...base,
      addresses: { listen: ['/p2p-circuit'] },
      transports: [webSockets(), circuitRelayTransport()],
      services: { identify: identify(), mailbox: mailbox() },
    })) as Libp2p<{ identify: unknown; mailbox: MailboxService }>
    nodes.push(host)
    await host.dial(relayAddr(circuit))
    const end = Date.now() + 10_000
    while (!host.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit'))) {
      if (Date.now() > end) throw new Error('no circuit reservation')
      await new Promise((r) => setTimeout(r, 20))
    }
    const hostAddr = host.getMultiaddrs().find((a) => a.toString().includes('/p2p-circuit'))!

    const client = () =>
      createLibp2p({
        ...base,
        transports: [webSockets(), circuitRelayTransport()],
        services: { identify: identify() },
      })
    const [alice, bob] = await Promise.all([client(), client()])
    nodes.push(alice, bob)

    await deposit(alice, hostAddr, {
      to: bob.peerId.toString(),
      id: 'via-circuit',
      envelope: Uint8Array.of(1, 2),
    })
    expect(alice.getConnections(host.peerId)[0]?.limits).toBeDefined()
    expect(host.services.mailbox.stats().envelopes).toBe(1)

    const got: string[] = []
    const sub = await openMailbox(bob, hostAddr, (e) => {
      got.push(e.id)
    })
    await sub.synced
    await sub.close()
    expect(got).toEqual(['via-circuit'])
  })
})
