/**
 * Starts a real relay process (`relay-node/src/cli.ts`) for tests, on a free port and its own data dir.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { createServer } from 'node:net'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateKey } from '../../relay-node/src/relay.ts'

export interface RelayProcess {
  peerId: string
  /** The plain WebSocket address on 127.0.0.1. */
  multiaddr: string
  /** Every address the relay printed (also /tls/ws and /webrtc-direct when enabled). */
  multiaddrs: string[]
  port: number
  dataDir: string
  /** The extra arguments it was started with (to restart it the same way). */
  args: string[]
  /** Set when started with `--metrics-port`. */
  metricsUrl?: string
  process: ChildProcess
  /** Everything the process wrote to stderr so far (JSON log lines). */
  stderr(): string
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | NodeJS.Signals | null>
  /** Stops the process: SIGTERM (clean) or SIGKILL (crash). */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>
}

const CLI = resolve(import.meta.dirname, '../../relay-node/src/cli.ts')

export async function startRelay(
  opts: {
    port?: number
    dataDir?: string
    args?: string[]
    env?: NodeJS.ProcessEnv
    /** Options for Node itself, before the script (`--cpu-prof`, `--heapsnapshot-signal=SIGUSR2`...). */
    nodeArgs?: string[]
    /** Working directory of the process (where `--cpu-prof` and heap snapshots land). */
    cwd?: string
    /** Another relay's `cli.ts` (an older version, for a baseline measured in the same run). */
    cli?: string
    /** The address to listen on (`0.0.0.0`: every interface). @default '127.0.0.1' */
    host?: string
  } = {},
): Promise<RelayProcess> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'paloma-relay-')))
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      opts.cli ?? CLI,
      '--host',
      opts.host ?? '127.0.0.1',
      '--port',
      String(opts.port ?? 0),
      '--data-dir',
      dataDir,
      ...(opts.args ?? []),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.env !== undefined ? { env: { ...process.env, ...opts.env } } : {}),
    },
  )
  const exited = new Promise<number | NodeJS.Signals | null>((res) =>
    child.once('exit', (code, signal) => res(code ?? signal)),
  )
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += String(d)))
  const line = await new Promise<string>((res, rej) => {
    const rl = createInterface({ input: child.stdout! })
    rl.once('line', res)
    child.once('close', (code) => rej(new Error(`relay exited with ${code} before listening:\n${stderr}`)))
  })
  const info = JSON.parse(line) as { peerId: string; multiaddrs: string[]; metricsUrl?: string }
  const ma = info.multiaddrs.find(
    (a) => a.startsWith('/ip4/127.0.0.1/') && a.includes('/tcp/') && !a.includes('/tls/'),
  )!
  return {
    peerId: info.peerId,
    multiaddr: ma,
    multiaddrs: info.multiaddrs,
    port: Number(ma.split('/')[4]),
    dataDir,
    args: opts.args ?? [],
    metricsUrl: info.metricsUrl,
    process: child,
    stderr: () => stderr,
    exited,
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((res) => {
        if (child.exitCode != null || child.signalCode != null) return res()
        child.once('exit', () => res())
        child.kill(signal)
      }),
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/**
 * `count` relay processes started in parallel, each told about the others (`--peer`): one DHT from the
 * first second. Keys are made before start so every relay knows every address in advance.
 */
export async function startRelayMesh(
  count: number,
  args: string[] = [],
  opts: { host?: string } = {},
): Promise<RelayProcess[]> {
  const plan = await Promise.all(
    Array.from({ length: count }, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'paloma-relay-'))
      const peerId = peerIdFromPrivateKey(await loadOrCreateKey(dataDir)).toString()
      const port = await freePort()
      return { dataDir, port, addr: `/ip4/127.0.0.1/tcp/${port}/ws/p2p/${peerId}` }
    }),
  )
  return Promise.all(
    plan.map((p) =>
      startRelay({
        port: p.port,
        dataDir: p.dataDir,
        args: [...plan.filter((o) => o !== p).flatMap((o) => ['--peer', o.addr]), ...args],
        ...opts,
      }),
    ),
  )
}

// Reading a relay's /metrics: Prometheus text into a map of `name{labels}` to value, and waiting until a
// series reaches a value (polling the endpoint, bounded).

export type Samples = Map<string, number>

/** Parses the Prometheus text format (one sample per line; `# ...` lines skipped). */
export function parseMetrics(text: string): Samples {
  const samples: Samples = new Map()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)$/.exec(line)
    if (m !== null) samples.set(m[1] as string, Number(m[2]))
  }
  return samples
}

export async function scrape(url: string, token?: string): Promise<Samples> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`)
  return parseMetrics(await res.text())
}

/** The value of `series` (`name` or `name{label="value"}`), 0 when absent. */
export function sample(samples: Samples, series: string): number {
  return samples.get(series) ?? 0
}

/** Polls `url` until `series` satisfies `test`; returns the last scrape. @throws after `ms`. */
export async function untilMetric(
  url: string,
  series: string,
  test: (value: number) => boolean,
  ms = 20_000,
): Promise<Samples> {
  const end = Date.now() + ms
  for (;;) {
    const samples = await scrape(url)
    if (test(sample(samples, series))) return samples
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${series}: last value ${sample(samples, series)}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
