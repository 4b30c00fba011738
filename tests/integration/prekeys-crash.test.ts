/**
 * kill -9 of a prekey relay process while peers take one-time prekeys concurrently: no key is ever
 * served twice (a take is committed before its record is sent), and at most the takes in flight at
 * the kill are lost.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { takeOneTimePreKey, uploadOneTimePreKeys } from '../../src/net/prekeys-client.ts'
import { signOneTimePreKey } from '../../src/core/protocol/prekeys.ts'
import { identityFromEd25519Private } from '../../src/core/crypto/keys.ts'
import { generateOneTimePreKeys } from '../../src/core/crypto/prekeys.ts'
import { secureRandom } from '../../src/core/crypto/primitives.ts'
import { keyFromSeed, startClient } from './fixtures/prekeys-nodes.ts'

const FIXTURE = fileURLToPath(new URL('./fixtures/prekeys-relay.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'paloma-prekeys-crash-'))
const children: ChildProcess[] = []
const clients: Libp2p[] = []

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await Promise.all(clients.map((c) => c.stop()))
  rmSync(dir, { recursive: true, force: true })
})

interface RelayProcess {
  child: ChildProcess
  addr: Multiaddr
  exited: Promise<void>
}

async function spawnRelay(path: string): Promise<RelayProcess> {
  const child = spawn(process.execPath, [FIXTURE, path, '7'], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const lines = createInterface({ input: child.stdout! })
  const addr = await new Promise<Multiaddr>((resolve, reject) => {
    lines.once('line', (line) => resolve(multiaddr((JSON.parse(line) as { multiaddr: string }).multiaddr)))
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}: ${stderr}`)))
  })
  return { child, addr, exited }
}

async function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

const KEYS = 400
const TAKERS = 4
const PER_TAKER = 2

describe('prekey relay under kill -9', () => {
  it('never serves a key twice across a crash', async () => {
    const path = join(dir, 'prekeys.sqlite')
    const bobKey = await keyFromSeed(40)
    const bob = await startClient(bobKey)
    const takers = await Promise.all(Array.from({ length: TAKERS }, () => startClient()))
    clients.push(bob, ...takers)
    const identity = await identityFromEd25519Private(bobKey.raw)
    const keys = await generateOneTimePreKeys(1, KEYS, secureRandom)
    const records = await Promise.all(
      keys.map((k) => signOneTimePreKey(identity.seed, identity.publicKey, k.id, k.keyPair.publicKey)),
    )

    let relay = await spawnRelay(path)
    expect(await uploadOneTimePreKeys(bob, relay.addr, records)).toEqual({ stored: KEYS, total: KEYS })

    const received: number[] = []
    let stopped = false
    const loop = async (node: Libp2p): Promise<void> => {
      while (!stopped) {
        try {
          const k = await takeOneTimePreKey(node, relay.addr, bob.peerId, { timeoutMs: 5000 })
          if (k === undefined) return
          received.push(k.id)
        } catch {
          await new Promise((r) => setTimeout(r, 20))
        }
      }
    }
    const workers = takers.flatMap((n) => Array.from({ length: PER_TAKER }, () => loop(n)))
    await waitFor(() => received.length >= KEYS / 4, 'a quarter of the keys taken')
    relay.child.kill('SIGKILL')
    await relay.exited
    const atKill = received.length
    relay = await spawnRelay(path)
    await Promise.all(workers.splice(0))
    stopped = true

    const unique = new Set(received)
    expect(unique.size).toBe(received.length)
    const lost = KEYS - received.length
    // Committed but not delivered at the kill: at most one per concurrent take.
    expect(lost).toBeGreaterThanOrEqual(0)
    expect(lost).toBeLessThanOrEqual(TAKERS * PER_TAKER)
    console.log(
      `prekey crash test: ${KEYS} keys, ${atKill} taken before kill -9, ${received.length} in all, ` +
        `${lost} lost in flight, 0 served twice`,
    )
  })
})
