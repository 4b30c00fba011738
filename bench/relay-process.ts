/**
 * A relay in a process of its own for the relay benchmarks, built by `createRelay` from options given as
 * JSON (so a benchmark can set what the command line does not offer, e.g. the mailbox's `commit: 'each'`
 * baseline). Several relays may share the process (`count`; the directory benchmark's 50-relay mesh on 2
 * cores), each on its own port and data directory, joined with `peers` when `mesh` is set.
 *
 * Parent side: {@link spawnRelays}. Child side: `node bench/relay-process.ts '<json>'` prints one JSON line
 * `{"relays":[{"peerId","multiaddr","dataDir"}], "pid"}` once every relay listens; SIGTERM stops them.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setFlagsFromString } from 'node:v8'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'
import {
  createRelay,
  gracefulStop,
  loadOrCreateKey,
  type Relay,
  type RelayOptions,
} from '../relay-node/src/relay.ts'
import { serveMonitoring } from '../relay-node/src/metrics.ts'
import { Readiness } from '../relay-node/src/readiness.ts'
import { freePort } from '../tests/support/relays.ts'

export interface RelayProcessInit {
  /** Relays in this process. @default 1 */
  count?: number
  /** Join them into one DHT (`peers`: every other relay of the process, plus `peers` given). */
  mesh?: boolean
  /** Options of every relay (dataDir and port are chosen per relay). */
  options?: Omit<RelayOptions, 'dataDir' | 'port' | 'metrics' | 'logger'>
  /** V8's --optimize-for-size, as the CLI's option of that name. @default false */
  optimizeForSize?: boolean
  /** Serve `/metrics` of the first relay on a free port (its URL is in the answer). */
  metrics?: boolean
}

export interface RelayInfo {
  peerId: string
  multiaddr: string
  dataDir: string
}

export interface RelayProcessHandle {
  relays: RelayInfo[]
  /** `/metrics` of the first relay, with `metrics: true`. */
  metricsUrl?: string
  process: ChildProcess
  pid: number
  stop(): Promise<void>
}

/** Parent side: starts a relay process and waits until its relays listen. */
export async function spawnRelays(init: RelayProcessInit = {}): Promise<RelayProcessHandle> {
  // PALOMA_BENCH_RELAY_NODE_ARGS: Node options for the relay process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
  const nodeArgs = (process.env.PALOMA_BENCH_RELAY_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const child = spawn(process.execPath, [...nodeArgs, import.meta.filename, JSON.stringify(init)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += String(d)))
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`bench relay exited with ${code}:\n${stderr}`)))
  })
  const { relays, metricsUrl } = JSON.parse(line) as { relays: RelayInfo[]; metricsUrl?: string }
  return {
    relays,
    ...(metricsUrl !== undefined ? { metricsUrl } : {}),
    process: child,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
        child.once('exit', () => {
          clearTimeout(t)
          resolve()
        })
        child.kill('SIGTERM')
      }),
  }
}

async function child(init: RelayProcessInit): Promise<void> {
  if (init.optimizeForSize === true) setFlagsFromString('--optimize-for-size')
  setCryptoProvider(nodeCryptoProvider)
  const count = init.count ?? 1
  const plan = await Promise.all(
    Array.from({ length: count }, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'paloma-bench-relay-'))
      const peerId = peerIdFromPrivateKey(await loadOrCreateKey(dataDir)).toString()
      const port = await freePort()
      return { dataDir, port, addr: `/ip4/127.0.0.1/tcp/${port}/ws/p2p/${peerId}`, peerId }
    }),
  )
  const relays: Relay[] = []
  let metricsUrl: string | undefined
  for (const p of plan) {
    const peers = [
      ...(init.mesh === true ? plan.filter((o) => o !== p).map((o) => o.addr) : []),
      ...(init.options?.peers ?? []),
    ]
    const relay = await createRelay({
      host: '127.0.0.1',
      ...init.options,
      peers,
      dataDir: p.dataDir,
      port: p.port,
    })
    if (init.metrics === true && relays.length === 0) {
      relay.relayMetrics.attach(
        relay,
        new Readiness(relay, {
          dataDir: p.dataDir,
          minFreeBytes: 0,
          expectPeers: false,
          draining: () => false,
        }),
      )
      const server = await serveMonitoring(relay.relayMetrics, { port: 0, host: '127.0.0.1' })
      metricsUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`
      relay.addEventListener('stop', () => server.close(), { once: true })
    }
    relays.push(relay)
  }
  process.stdout.write(
    JSON.stringify({
      relays: plan.map((p) => ({ peerId: p.peerId, multiaddr: p.addr, dataDir: p.dataDir })),
      metricsUrl,
      pid: process.pid,
    }) + '\n',
  )
  const stop = (): void => {
    void Promise.all(relays.map((r) => gracefulStop(r, 2000).catch(() => {})))
      .then(() => Promise.all(plan.map((p) => rm(p.dataDir, { recursive: true, force: true }))))
      .finally(() => process.exit(0))
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

if (import.meta.main) {
  child(JSON.parse(process.argv[2] ?? '{}') as RelayProcessInit).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}
