/**
 * After a network change, connections that went silent are found by a ping over each of them and closed,
 * and the relays are dialled again; live ones stay. A relay process stopped with SIGSTOP is a silent
 * connection, as one from an address the device no longer has: nothing fails, nothing closes.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createPeerNetwork, type PeerNetwork } from '@paloma/net/network.ts'
import { startRelayMesh, type RelayProcess } from '../support/relays.ts'
import { waitFor } from '../support/wait.ts'

let relays: RelayProcess[] = []
let network: PeerNetwork | undefined

afterEach(async () => {
  for (const r of relays) r.process.kill('SIGCONT')
  await network?.stop()
  for (const r of relays) await r.stop()
})

const connectedTo = (n: PeerNetwork, r: RelayProcess) => n.connections().some((c) => c.peer === r.peerId)

describe('checking connections after a network change', () => {
  it('closes the one that stopped answering within the timeout, keeps the live one, and redials', async () => {
    relays = await startRelayMesh(2)
    const n = await createPeerNetwork({
      privateKey: await generateKeyPair('Ed25519'),
      relays: relays.map((r) => r.multiaddr),
      allowPrivateAddresses: true,
      onEnvelope: async () => {},
    })
    network = n
    await n.start()
    await waitFor(() => relays.every((r) => connectedTo(n, r)), 'both relays connected', 20_000)
    const [silent, live] = relays as [RelayProcess, RelayProcess]
    const liveBefore = n.connections().find((c) => c.peer === live.peerId)!.addr

    silent.process.kill('SIGSTOP')
    const started = Date.now()
    await n.checkConnections(1000)
    const took = Date.now() - started
    expect(took).toBeLessThan(3000)
    expect(connectedTo(n, silent)).toBe(false)
    expect(n.connections().find((c) => c.peer === live.peerId)?.addr).toBe(liveBefore)

    // Answering again: dialled at once (no backoff left from before), no waiting for the keeper's tick.
    silent.process.kill('SIGCONT')
    await n.checkConnections(1000)
    await waitFor(() => connectedTo(n, silent), 'the relay dialled again', 10_000)
    expect(relays.every((r) => connectedTo(n, r))).toBe(true)
  })
})
