/**
 * What a relay keeps in its data directory across restarts and upgrades: its PeerId and its WebRTC-Direct
 * certificate (so both addresses in every config.json stay valid), and the directory's layout version
 * (an older directory is migrated, a newer one refused with a message saying what to do).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { spawnSync } from 'node:child_process'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createPalomaNode, type PalomaNode } from '@paloma/net/node.ts'
import { startRelay, type RelayProcess } from '../support/relays.ts'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {})
})

async function relay(opts: Parameters<typeof startRelay>[0]): Promise<RelayProcess> {
  const r = await startRelay(opts)
  cleanups.push(() => r.stop())
  return r
}

const certhash = (addrs: string[]) =>
  addrs
    .find((a) => a.includes('/certhash/'))
    ?.split('/certhash/')[1]
    ?.split('/')[0]

describe('relay data directory', () => {
  it('keeps its PeerId and WebRTC-Direct certhash across restarts, and Node peers dial that address', async () => {
    const first = await relay({ args: ['--webrtc-direct-port', '0'] })
    const hash = certhash(first.multiaddrs)
    expect(hash).toMatch(/^uEi[A-Za-z0-9_-]{44}$/)
    expect(JSON.parse(await readFile(join(first.dataDir, 'schema.json'), 'utf8'))).toMatchObject({
      version: 1,
    })
    await first.stop()

    const again = await relay({ dataDir: first.dataDir, args: ['--webrtc-direct-port', '0'] })
    expect(again.peerId).toBe(first.peerId)
    expect(certhash(again.multiaddrs)).toBe(hash)

    const direct = again.multiaddrs.find((a) => a.includes('/webrtc-direct/'))!
    const node: PalomaNode = await createPalomaNode({
      privateKey: await generateKeyPair('Ed25519'),
      relays: [direct],
      allowPrivateAddresses: true,
    })
    cleanups.push(() => node.libp2p.stop())
    await node.libp2p.start()
    for (
      const end = Date.now() + 20_000;
      node.relays.connectedCount() < 1;
      await new Promise((r) => setTimeout(r, 50))
    ) {
      if (Date.now() > end) throw new Error('no WebRTC-Direct connection to the relay')
    }
    expect(node.libp2p.getConnections()[0]?.remoteAddr.toString()).toContain('/webrtc-direct/')
    // WebRTC (node-datachannel) included, the relay wrote nothing but JSON lines to stderr.
    for (const line of again.stderr().trim().split('\n')) expect(() => JSON.parse(line), line).not.toThrow()
  })

  it('adopts a data directory from before schema.json, keeping its identity', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'paloma-relay-old-'))
    const key = await generateKeyPair('Ed25519')
    await writeFile(join(dataDir, 'peer-key'), privateKeyToProtobuf(key))
    const r = await relay({ dataDir })
    expect(r.peerId).toBe(peerIdFromPrivateKey(key).toString())
    expect(JSON.parse(await readFile(join(dataDir, 'schema.json'), 'utf8'))).toMatchObject({ version: 1 })
    expect(r.stderr()).toContain('data directory migrated: 0 -> 1')
  })

  it('prints its PeerId before the first start (--print-peer-id), the one it then listens with', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'paloma-relay-id-'))
    const cli = resolve(import.meta.dirname, '../../relay-node/src/cli.ts')
    const printed = spawnSync(process.execPath, [cli, '--data-dir', dataDir, '--print-peer-id'], {
      encoding: 'utf8',
    })
    expect(printed.status).toBe(0)
    expect(printed.stdout).toMatch(/^12D3KooW\w+\n$/)
    const r = await relay({ dataDir })
    expect(r.peerId).toBe(printed.stdout.trim())
  })

  it('refuses a data directory written by a newer relay', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'paloma-relay-new-'))
    await writeFile(
      join(dataDir, 'schema.json'),
      JSON.stringify({ version: 2, writtenBy: 'paloma-relay 9.0.0' }),
    )
    await expect(startRelay({ dataDir })).rejects.toThrow(
      /exited with 1 before listening:\npaloma-relay failed to start: data directory .* has layout version 2, newer than this relay knows \(1\)/,
    )
  })
})
