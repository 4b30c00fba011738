/**
 * Clients whose connection to the relay is still opening fire 32 deposits at once (an outbox flushing on
 * start): each opens a stream, and the first Yamux frames of them can arrive with the end of the handshake,
 * before libp2p listens for streams on the new connection. The relay used to close the whole connection
 * beyond 10 of those (Yamux's default maxEarlyStreams; MaxEarlyStreamsError, seen by the client as "The
 * stream has been reset": what crashed bench/mailbox.ts); it now serves them all.
 *
 * The relay runs in this process, as in the benchmark that crashed: the clients' first frames then reach it in
 * the same turn as the end of its handshake far more often than across processes.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from 'libp2p'
import { deposit, openMailbox } from '@paloma/net/mailbox-client.ts'
import { createRelay } from '../../relay-node/src/relay.ts'
import { keyFromSeed, startClient } from './fixtures/nodes.ts'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {})
})

describe('mailbox deposits from a connection still opening', () => {
  it('serves 32 deposits fired at once by each of 12 fresh clients, each stored once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'paloma-burst-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const relay = await createRelay({ dataDir: dir, host: '127.0.0.1', port: 0, connectionRate: 100 })
    cleanups.push(() => relay.stop())
    const addr = relay.getMultiaddrs()[0]!
    const bob: Libp2p = await startClient(await keyFromSeed(82))
    cleanups.push(() => bob.stop())
    const to = bob.peerId.toString()
    const ids: string[] = []
    const failures: string[] = []
    for (let c = 0; c < 12; c++) {
      const alice: Libp2p = await startClient(await keyFromSeed(100 + c))
      cleanups.push(() => alice.stop())
      const mine = Array.from({ length: 32 }, (_, i) => `burst-${c}-${i}`)
      ids.push(...mine)
      const results = await Promise.allSettled(
        mine.map((id) => deposit(alice, addr, { to, id, envelope: Uint8Array.of(1) })),
      )
      for (const r of results) if (r.status === 'rejected') failures.push(String(r.reason))
    }
    expect(failures.slice(0, 3)).toEqual([])

    const got: string[] = []
    const sub = await openMailbox(bob, addr, (e) => void got.push(e.id))
    await sub.synced
    await sub.close()
    expect(got.sort()).toEqual([...ids].sort())
  })
})
