/**
 * `npm run loadtest -- --clients N --rate R [--duration S] [--relay <multiaddr> [--metrics <url>] | --spawn]`
 *
 * Relay capacity under what the app does: N Node libp2p clients connect to one relay over WebSockets (Noise,
 * Yamux, identify, ping, a kad-dht client unless `--no-dht`, libp2p's connection monitor as in the app), hold a
 * circuit relay reservation (listening on `<relay>/p2p-circuit`), keep a mailbox subscription open, and then
 * deposit 1 KiB envelopes to each other at R per second in total (open loop) while every recipient's
 * subscription fetches and acknowledges them. One JSON line on stdout:
 *
 * - `clients_held`: clients holding a reservation and a subscription at the end of the idle phase (and the
 *   relay's own gauges: connections, reservations, subscriptions, refusals by reason);
 * - `relay_memory`: RSS (from /proc) and heap (`nodejs_heap_size_used_bytes`, the lowest seen: after a
 *   collection) of the relay at rest, with half the clients and with all of them idle;
 *   `rss_per_added_client` / `heap_per_added_client` are the slope between the two loads (what one more idle
 *   client costs, free of start-up garbage);
 * - `traffic`: deposits attempted and acknowledged per second, acknowledgement latency (the deposit call to its
 *   `ok`, sent only after the commit) p50/p99/max, delivery latency (the deposit call to the recipient's
 *   handler), errors by code, the relay's refusals by reason, relay and load-generator CPU per envelope;
 * - `relay_cpu`, `loadgen_cpu`: CPU seconds and cores of the relay and of all load-generator processes per phase
 *   (arrival, idle, traffic) and the busiest worker's, and event-loop lags, so that a run tells whether the relay
 *   or the load generator was the bottleneck.
 *
 * Options: `--deposit stream` (default: `deposit()`, one stream per envelope, as the app's outbox) or `session`
 * (one long-lived deposit stream per client, puts pipelined: what the protocol allows and the client does not do
 * yet); `--arrival` clients per second (default 50; a client that fails to start retries with backoff, as the
 * app's PeerKeeper redials); `--idle` seconds before measuring memory; `--workers` load-generator processes
 * (default one per 1,250 clients, at most 4); `--client-ping <ms|off>` the clients' connection monitor interval
 * (default libp2p's 10 s); `--relay-arg <flag>` more relay options; `--relay-cli <path>` another relay version
 * (e.g. the relay before a change, exported with `git archive`, for a baseline in the same session; only the
 * options its `--help` lists are passed); `--cpu-prof`, `--heap-snapshot` profile the spawned relay (files in
 * `profile_dir`).
 *
 * The relay is spawned (`--spawn`, the default) from `relay-node/src/cli.ts` with its defaults, except the limits
 * that would refuse one load generator on one IP address (printed in `relay_args`). `--relay` measures a running
 * relay instead (memory and CPU then come from its `--metrics` URL only). WebRTC is left out of the clients (it
 * carries conversations between browsers, never through the relay).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createLibp2p, type Libp2p } from 'libp2p'
import { webSockets } from '@libp2p/websockets'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import { DHT_PROTOCOL } from '@paloma/net/protocols.ts'
import { dhtSelectors, dhtValidators } from '@paloma/net/dht-records.ts'
import { deposit, openMailbox, MailboxError, type MailboxSubscription } from '@paloma/net/mailbox-client.ts'
import { encodeFrame, FrameReader, MAILBOX_PROTOCOL } from '@paloma/core/protocol/mailbox.ts'
import type { Stream } from '@libp2p/interface'
import { parseMetrics, sample, startRelay, type RelayProcess, type Samples } from '../tests/support/relays.ts'

// ---------------------------------------------------------------------------------------------------------
// Shared

/**
 * `--deposit session`: one long-lived deposit stream per client, `put` frames pipelined on it and answered in
 * order (the protocol allows any number of puts per stream; `deposit()` opens one stream per envelope).
 * Reopened when it ends (the relay closes a deposit stream idle for 30 s).
 */
class DepositSession {
  #stream: Promise<Stream> | undefined
  readonly #waiting: Array<{ id: string; resolve(): void; reject(err: Error): void }> = []
  readonly #node: Libp2p
  readonly #relay: ReturnType<typeof multiaddr>

  constructor(node: Libp2p, relay: ReturnType<typeof multiaddr>) {
    this.#node = node
    this.#relay = relay
  }

  #open(): Promise<Stream> {
    const opening = this.#node
      .dialProtocol(this.#relay, MAILBOX_PROTOCOL, {
        runOnLimitedConnection: true,
        signal: AbortSignal.timeout(15_000),
      })
      .then((stream) => {
        void this.#read(stream)
        return stream
      })
    opening.catch(() => {
      if (this.#stream === opening) this.#stream = undefined
    })
    return opening
  }

  async #read(stream: Stream): Promise<void> {
    const reader = new FrameReader()
    let failure: Error = new MailboxError('NO_RESPONSE', 'the deposit stream ended')
    try {
      for await (const chunk of stream) {
        for (const frame of reader.push(chunk.subarray())) {
          const next = this.#waiting.shift()
          if (next === undefined) throw new MailboxError('PROTOCOL', `unexpected ${frame.t}`)
          if (frame.t === 'ok') next.resolve()
          else if (frame.t === 'err') next.reject(new MailboxError(frame.code, frame.msg))
          else next.reject(new MailboxError('PROTOCOL', `unexpected ${frame.t}`))
        }
      }
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err))
    }
    if (this.#stream !== undefined && (await this.#stream.catch(() => undefined)) === stream)
      this.#stream = undefined
    for (const w of this.#waiting.splice(0)) w.reject(failure)
  }

  async put(to: string, id: string, env: Uint8Array): Promise<void> {
    this.#stream ??= this.#open()
    let stream: Stream
    try {
      stream = await this.#stream
    } catch (err) {
      throw new MailboxError('UNREACHABLE', (err as Error).message)
    }
    const answered = new Promise<void>((resolve, reject) => this.#waiting.push({ id, resolve, reject }))
    if (!stream.send(encodeFrame({ t: 'put', to, id, env }))) await stream.onDrain()
    return answered
  }
}

interface WorkerStart {
  type: 'start'
  index: number
  relay: string
  clients: number
  /** Clients per second this worker starts. */
  arrival: number
  dht: boolean
  envelopeBytes: number
  maxInflight: number
  depositMode: 'stream' | 'session'
  /** Clients' libp2p connection monitor ping interval (ms); 0: off. Undefined: libp2p's default (10 s), as the app. */
  clientPingMs?: number
}
interface WorkerTraffic {
  type: 'traffic'
  peers: string[]
  rate: number
  durationMs: number
}
type ToWorker = WorkerStart | WorkerTraffic | { type: 'report' } | { type: 'stop' }

interface Cpu {
  user: number
  system: number
}
interface WorkerReport {
  type: 'report'
  index: number
  held: number
  failed: number
  startErrors: Record<string, number>
  dropped: number
  attempted: number
  acked: number
  delivered: number
  duplicates: number
  errors: Record<string, number>
  ackMs: number[]
  deliveryMs: number[]
  cpu: Cpu
  rss: number
  /** Event-loop delay p99 since the previous report, in milliseconds. */
  lagP99Ms: number
}
type FromWorker =
  | {
      type: 'ready'
      index: number
      peers: string[]
      failed: number
      startErrors: Record<string, number>
      retries: number
      retryErrors: Record<string, number>
    }
  | { type: 'progress'; index: number; started: number }
  | { type: 'traffic-done'; index: number }
  | WorkerReport

const now = (): number => performance.timeOrigin + performance.now()

function errorCode(err: unknown): string {
  if (err instanceof MailboxError) return err.code
  return err instanceof Error ? err.name : 'Error'
}

function count(map: Record<string, number>, key: string, n = 1): void {
  map[key] = (map[key] ?? 0) + n
}

// ---------------------------------------------------------------------------------------------------------
// Worker: many clients in one process

async function startClient(init: WorkerStart, onEnvelope: (bytes: Uint8Array) => void) {
  const relay = multiaddr(init.relay)
  const node: Libp2p = await createLibp2p({
    addresses: { listen: [`${init.relay}/p2p-circuit`] },
    transports: [webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    ...(init.clientPingMs === undefined
      ? {}
      : {
          connectionMonitor:
            init.clientPingMs === 0 ? { enabled: false } : { pingInterval: init.clientPingMs },
        }),
    services: {
      identify: identify(),
      ping: ping(),
      ...(init.dht
        ? {
            dht: kadDHT({
              protocol: DHT_PROTOCOL,
              validators: dhtValidators,
              selectors: dhtSelectors,
              clientMode: true,
              peerInfoMapper: passthroughMapper,
            }),
          }
        : {}),
    },
  })
  const reserved = (): boolean => node.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit'))
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reservation in 60 s')), 60_000)
      const check = (): void => {
        if (!reserved()) return
        clearTimeout(timer)
        node.removeEventListener('self:peer:update', check)
        resolve()
      }
      node.addEventListener('self:peer:update', check)
      check()
    })
    const sub: MailboxSubscription = await openMailbox(node, relay, (e) => onEnvelope(e.envelope), {
      timeoutMs: 30_000,
    })
    await sub.synced
    return { node, sub }
  } catch (err) {
    await Promise.resolve(node.stop()).catch(() => {})
    throw err
  }
}

async function worker(): Promise<void> {
  const send = (m: FromWorker): void => void process.send?.(m)
  const clients: Array<{ node: Libp2p; sub: MailboxSubscription; id: string; session?: DepositSession }> = []
  const startErrors: Record<string, number> = {}
  const retryErrors: Record<string, number> = {}
  let retries = 0
  let failed = 0
  let init: WorkerStart | undefined
  const ackMs: number[] = []
  const deliveryMs: number[] = []
  const errors: Record<string, number> = {}
  let attempted = 0
  let acked = 0
  let delivered = 0
  let dropped = 0
  let inflight = 0
  const seen = new Set<string>()
  let duplicates = 0
  const cpu0 = process.cpuUsage()
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()

  const onEnvelope = (bytes: Uint8Array): void => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const sentAt = view.getFloat64(0)
    const key = `${view.getUint32(8)}:${view.getUint32(12)}`
    if (seen.has(key)) {
      duplicates++
      return
    }
    seen.add(key)
    delivered++
    deliveryMs.push(now() - sentAt)
  }

  /** Starts a client, retrying with backoff (0.5 s ... 8 s, 6 attempts) as the app's PeerKeeper redials. */
  async function startWithRetries(s: WorkerStart): Promise<{ node: Libp2p; sub: MailboxSubscription }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await startClient(s, onEnvelope)
      } catch (err) {
        if (attempt >= 5) throw err
        retries++
        count(retryErrors, errorCode(err))
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt * (0.5 + Math.random())))
      }
    }
  }

  async function startAll(s: WorkerStart): Promise<void> {
    const gap = 1000 / s.arrival
    const t0 = now()
    const pending: Array<Promise<void>> = []
    for (let i = 0; i < s.clients; i++) {
      const wait = t0 + i * gap - now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      pending.push(
        startWithRetries(s).then(
          ({ node, sub }) => {
            clients.push({ node, sub, id: node.peerId.toString() })
            if (clients.length % 100 === 0)
              send({ type: 'progress', index: s.index, started: clients.length })
          },
          (err: unknown) => {
            failed++
            if (failed <= 3 && process.env.LOADTEST_DEBUG !== undefined)
              process.stderr.write(
                `client failed: ${(err as Error).stack} cause ${String((err as Error).cause)}\n`,
              )
            count(startErrors, errorCode(err))
          },
        ),
      )
    }
    await Promise.all(pending)
  }

  async function traffic(t: WorkerTraffic, s: WorkerStart): Promise<void> {
    if (t.rate <= 0 || clients.length === 0) return
    const envelopeFor = (seq: number): Uint8Array => {
      const env = new Uint8Array(s.envelopeBytes)
      const view = new DataView(env.buffer)
      view.setFloat64(0, now())
      view.setUint32(8, s.index)
      view.setUint32(12, seq)
      return env
    }
    const relay = multiaddr(s.relay)
    const t0 = now()
    let sent = 0
    const running = new Set<Promise<void>>()
    while (now() - t0 < t.durationMs) {
      const due = Math.floor(((now() - t0) / 1000) * t.rate) - sent
      for (let k = 0; k < due; k++) {
        sent++
        if (inflight >= s.maxInflight) {
          dropped++
          continue
        }
        const from = clients[Math.floor(Math.random() * clients.length)]!
        let to = t.peers[Math.floor(Math.random() * t.peers.length)]!
        if (to === from.id && t.peers.length > 1) to = t.peers[(t.peers.indexOf(to) + 1) % t.peers.length]!
        const seq = sent
        const started = now()
        attempted++
        inflight++
        const id = `w${s.index}-${seq}`
        const p = (
          s.depositMode === 'session'
            ? (from.session ??= new DepositSession(from.node, relay)).put(to, id, envelopeFor(seq))
            : deposit(from.node, relay, { to, id, envelope: envelopeFor(seq) }, { timeoutMs: 15_000 })
        ).then(
          () => {
            acked++
            ackMs.push(now() - started)
          },
          (err: unknown) => count(errors, errorCode(err)),
        )
        const tracked = p.finally(() => {
          inflight--
          running.delete(tracked)
        })
        running.add(tracked)
      }
      await new Promise((r) => setTimeout(r, 2))
    }
    await Promise.all(running)
  }

  process.on('message', (m: ToWorker) => {
    void (async () => {
      if (m.type === 'start') {
        init = m
        await startAll(m)
        send({
          type: 'ready',
          index: m.index,
          peers: clients.map((c) => c.id),
          failed,
          startErrors,
          retries,
          retryErrors,
        })
      } else if (m.type === 'traffic' && init !== undefined) {
        await traffic(m, init)
        send({ type: 'traffic-done', index: init.index })
      } else if (m.type === 'report') {
        const held = clients.length
        const c = process.cpuUsage(cpu0)
        send({
          type: 'report',
          index: init?.index ?? -1,
          held,
          failed,
          startErrors,
          dropped,
          attempted,
          acked,
          delivered,
          duplicates,
          errors,
          ackMs,
          deliveryMs,
          cpu: { user: c.user / 1e6, system: c.system / 1e6 },
          rss: process.memoryUsage().rss,
          lagP99Ms: Math.round(lag.percentile(99) / 1e4) / 100,
        })
        lag.reset()
      } else if (m.type === 'stop') {
        await Promise.all(clients.map((c) => Promise.resolve(c.node.stop()).catch(() => {})))
        process.exit(0)
      }
    })().catch((err: unknown) => {
      process.stderr.write(`loadtest worker failed: ${(err as Error).stack ?? String(err)}\n`)
      process.exit(1)
    })
  })
}

// ---------------------------------------------------------------------------------------------------------
// Parent: relay, workers, measurements

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return Math.round(sorted[i]! * 10) / 10
}

function latency(xs: number[]): { n: number; p50: number | null; p99: number | null; max: number | null } {
  const s = [...xs].sort((a, b) => a - b)
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: percentile(s, 100) }
}

/** The process's CPU seconds (user + system) from /proc, or null when it is not a local child. */
function procCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return ticks / 100 // USER_HZ is 100 on Linux
  } catch {
    return null
  }
}

function procRss(pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? null : Number(m[1]) * 1024
  } catch {
    return null
  }
}

async function scrapeOrNull(url: string | undefined): Promise<Samples | null> {
  if (url === undefined) return null
  try {
    const res = await fetch(url)
    return res.ok ? parseMetrics(await res.text()) : null
  } catch {
    return null
  }
}

interface MemorySample {
  rss: number | null
  heap: number | null
  external: number | null
}

/** RSS (median) and heap (lowest, i.e. after a collection) of the relay over `ms`. */
async function settledMemory(url: string | undefined, pid: number | undefined, ms: number) {
  const rss: number[] = []
  const heap: number[] = []
  const external: number[] = []
  const end = Date.now() + ms
  do {
    const s = await scrapeOrNull(url)
    const r = procRss(pid) ?? (s === null ? null : sample(s, 'process_resident_memory_bytes'))
    if (r !== null) rss.push(r)
    if (s !== null) heap.push(sample(s, 'nodejs_heap_size_used_bytes'))
    if (s !== null) external.push(sample(s, 'nodejs_external_memory_bytes'))
    await new Promise((res) => setTimeout(res, 250))
  } while (Date.now() < end)
  rss.sort((a, b) => a - b)
  return {
    rss: rss.length === 0 ? null : rss[rss.length >> 1]!,
    heap: heap.length === 0 ? null : Math.min(...heap),
    external: external.length === 0 ? null : Math.min(...external),
  } satisfies MemorySample
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '100' },
      rate: { type: 'string', default: '0' },
      duration: { type: 'string', default: '20' },
      relay: { type: 'string' },
      metrics: { type: 'string' },
      spawn: { type: 'boolean', default: false },
      workers: { type: 'string' },
      arrival: { type: 'string', default: '50' },
      'envelope-bytes': { type: 'string', default: '1024' },
      dht: { type: 'boolean', default: true },
      idle: { type: 'string', default: '10' },
      'relay-arg': { type: 'string', multiple: true, default: [] },
      'heap-snapshot': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'max-inflight': { type: 'string', default: '4000' },
      deposit: { type: 'string', default: 'stream' },
      'relay-cli': { type: 'string' },
      'client-ping': { type: 'string' },
    },
    allowNegative: true,
    strict: true,
  })
  const clients = Number(values.clients)
  const rate = Number(values.rate)
  const durationS = Number(values.duration)
  const arrival = Number(values.arrival)
  const envelopeBytes = Number(values['envelope-bytes'])
  const workerCount = Number(values.workers ?? Math.min(4, Math.max(1, Math.ceil(clients / 1250))))
  if (
    ![clients, rate, durationS, arrival, envelopeBytes, workerCount].every(Number.isFinite) ||
    envelopeBytes < 16
  ) {
    throw new Error('--clients, --rate, --duration, --arrival, --workers and --envelope-bytes take numbers')
  }
  const log = (msg: string): void => void process.stderr.write(`[loadtest] ${msg}\n`)

  let relay: RelayProcess | undefined
  let relayAddr = values.relay
  let metricsUrl = values.metrics
  let profileDir: string | undefined
  const relayArgs: string[] = []
  if (relayAddr === undefined) {
    // The relay's defaults, except what would refuse one load generator on one address: connections per
    // second from one IP, connections and reservations in total, the per-sender deposit rate.
    const perSender = clients > 0 ? rate / clients : rate
    relayArgs.push(
      '--metrics-port',
      '0',
      '--max-connections',
      String(2 * clients + 64),
      '--max-reservations',
      String(clients + 16),
      '--connection-rate',
      String(Math.ceil(arrival * 2)),
      '--max-connections-per-ip',
      String(2 * clients + 64),
      // The load generator paces arrivals itself; on this shared machine a handshake can take seconds.
      '--max-pending-connections',
      String(clients + 64),
    )
    // Every client is on 127.0.0.1: the per-IP deposit limit would be the whole load generator's.
    relayArgs.push('--mailbox-ip-rate', String(Math.max(200, Math.ceil(rate * 2))))
    relayArgs.push('--mailbox-ip-burst', String(Math.max(1000, Math.ceil(rate * 4))))
    if (perSender * 4 > 20) {
      relayArgs.push('--mailbox-rate', String(Math.ceil(perSender * 4)))
      relayArgs.push('--mailbox-rate-burst', String(Math.max(100, Math.ceil(perSender * 20))))
    }
    relayArgs.push(...(values['relay-arg'] as string[]))
    // Another relay version (`--relay-cli`, e.g. the relay before a change, for a baseline): only the options
    // its --help lists.
    const cli = values['relay-cli']
    if (cli !== undefined) {
      const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' }).stdout
      for (let i = 0; i < relayArgs.length;) {
        const flag = relayArgs[i]!
        const takesValue = i + 1 < relayArgs.length && !relayArgs[i + 1]!.startsWith('--')
        if (flag.startsWith('--') && !help.includes(`  ${flag.split('=')[0]}`))
          relayArgs.splice(i, takesValue ? 2 : 1)
        else i += takesValue ? 2 : 1
      }
    }
    const nodeArgs: string[] = []
    if (values['cpu-prof'] || values['heap-snapshot']) {
      profileDir = await mkdtemp(join(tmpdir(), 'paloma-loadtest-prof-'))
      if (values['cpu-prof']) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`)
      if (values['heap-snapshot']) nodeArgs.push('--heapsnapshot-signal=SIGUSR2')
    }
    relay = await startRelay({
      args: relayArgs,
      nodeArgs,
      cwd: profileDir ?? process.cwd(),
      ...(cli !== undefined ? { cli } : {}),
    })
    relayAddr = relay.multiaddr
    metricsUrl = relay.metricsUrl
    log(`relay ${relay.peerId} pid ${relay.process.pid} at ${relayAddr}`)
  }
  const relayPid = relay?.process.pid
  const relayCpu = async (): Promise<number | null> => {
    const local = procCpuSeconds(relayPid)
    if (local !== null) return local
    const s = await scrapeOrNull(metricsUrl)
    return s === null ? null : sample(s, 'process_cpu_seconds_total')
  }

  /** Asks the relay for a heap snapshot (SIGUSR2; it collects garbage first) and waits until it is written. */
  const heapSnapshot = async (): Promise<string | undefined> => {
    if (!values['heap-snapshot'] || relay === undefined || profileDir === undefined) return undefined
    const before = new Set(await readdir(profileDir))
    relay.process.kill('SIGUSR2')
    for (let i = 0; i < 1200; i++) {
      await new Promise((r) => setTimeout(r, 500))
      const file = (await readdir(profileDir)).find((f) => f.endsWith('.heapsnapshot') && !before.has(f))
      if (file === undefined) continue
      // Written once its size stops changing.
      let size = -1
      for (;;) {
        const now = (await stat(join(profileDir, file))).size
        if (now === size && now > 0) break
        size = now
        await new Promise((r) => setTimeout(r, 1000))
      }
      log(`heap snapshot: ${join(profileDir, file)}`)
      return join(profileDir, file)
    }
    return undefined
  }

  await new Promise((r) => setTimeout(r, 1000))
  const base = await settledMemory(metricsUrl, relayPid, 3000)
  const baseSnapshot = await heapSnapshot()
  log(`relay at rest: rss ${base.rss} heap ${base.heap}`)

  // Workers
  const script = new URL(import.meta.url).pathname
  const workers: ChildProcess[] = []
  const messages: FromWorker[] = []
  const waiters: Array<() => void> = []
  const onMessage = (m: FromWorker): void => {
    if (m.type === 'progress') return
    messages.push(m)
    for (const w of waiters.splice(0)) w()
  }
  const collect = async <T extends FromWorker['type']>(type: T, n: number, ms: number) => {
    const end = Date.now() + ms
    for (;;) {
      const got = messages.filter((m) => m.type === type)
      if (got.length >= n) {
        for (const m of got) messages.splice(messages.indexOf(m), 1)
        return got as Array<Extract<FromWorker, { type: T }>>
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${n} ${type} messages (got ${got.length})`)
      await new Promise<void>((r) => {
        waiters.push(r)
        setTimeout(r, 1000)
      })
    }
  }
  const shares = Array.from(
    { length: workerCount },
    (_, i) => Math.floor(clients / workerCount) + (i < clients % workerCount ? 1 : 0),
  )
  for (let i = 0; i < workerCount; i++) {
    const w = fork(script, ['--worker'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      execArgv: ['--max-old-space-size=8192'],
    })
    w.on('message', onMessage)
    workers.push(w)
  }
  const workerCpu = (): number[] => workers.map((w) => procCpuSeconds(w.pid) ?? 0)

  // Phase 1: arrival, in two halves with a pause between them, so the memory of a client is measured as the
  // slope between two loads (what one more client costs), free of the relay's start-up garbage.
  const idleMs = Number(values.idle) * 1000
  const cpuA0 = { relay: await relayCpu(), workers: workerCpu() }
  const tA0 = Date.now()
  let arrivalMs = 0
  const arrive = async (part: number[]) => {
    const t = Date.now()
    workers.forEach((w, i) =>
      w.send({
        type: 'start',
        index: i,
        relay: relayAddr,
        clients: part[i]!,
        arrival: arrival / workerCount,
        dht: values.dht,
        envelopeBytes,
        maxInflight: Number(values['max-inflight']),
        depositMode: values.deposit === 'session' ? 'session' : 'stream',
        ...(values['client-ping'] !== undefined
          ? { clientPingMs: values['client-ping'] === 'off' ? 0 : Number(values['client-ping']) }
          : {}),
      } satisfies WorkerStart),
    )
    const sum = part.reduce((a, b) => a + b, 0)
    const got = await collect('ready', workerCount, 120_000 + (sum / arrival) * 2000)
    arrivalMs += Date.now() - t
    return got
  }
  const firstHalf = shares.map((n) => Math.floor(n / 2))
  const readyHalf = await arrive(firstHalf)
  const halfHeld = readyHalf.reduce((a, r) => a + r.peers.length, 0)
  await new Promise((r) => setTimeout(r, Math.max(0, idleMs - 4000)))
  const half = await settledMemory(metricsUrl, relayPid, Math.min(4000, idleMs))
  log(`${halfHeld} clients: rss ${half.rss} heap ${half.heap}`)
  const ready = await arrive(shares.map((n, i) => n - firstHalf[i]!))
  const arrivalS = arrivalMs / 1000
  const cpuA1 = { relay: await relayCpu(), workers: workerCpu() }
  void tA0
  const peers = ready.flatMap((r) => r.peers)
  const startErrors: Record<string, number> = {}
  for (const r of ready) for (const [k, v] of Object.entries(r.startErrors)) count(startErrors, k, v)
  const retryErrors: Record<string, number> = {}
  for (const r of ready) for (const [k, v] of Object.entries(r.retryErrors)) count(retryErrors, k, v)
  log(`${peers.length} clients up in ${arrivalS.toFixed(1)} s (${clients - peers.length} failed)`)

  // Phase 2: idle
  await new Promise((r) => setTimeout(r, Math.max(0, idleMs - 4000)))
  const idle = await settledMemory(metricsUrl, relayPid, Math.min(4000, idleMs))
  const cpuI1 = { relay: await relayCpu(), workers: workerCpu() }
  const gauges = await scrapeOrNull(metricsUrl)
  log(`idle: rss ${idle.rss} heap ${idle.heap}`)
  const snapshots = [
    ...(baseSnapshot !== undefined ? [baseSnapshot] : []),
    ...[await heapSnapshot()].filter((f) => f !== undefined),
  ]

  // Phase 3: traffic
  let traffic: Record<string, unknown> | undefined
  let cpuT1 = cpuI1
  let trafficS = 0
  if (rate > 0) {
    const before = await scrapeOrNull(metricsUrl)
    const tT0 = Date.now()
    workers.forEach((w, i) =>
      w.send({
        type: 'traffic',
        peers,
        rate: (rate * shares[i]!) / clients,
        durationMs: durationS * 1000,
      } satisfies WorkerTraffic),
    )
    await collect('traffic-done', workerCount, durationS * 1000 + 60_000)
    trafficS = (Date.now() - tT0) / 1000
    cpuT1 = { relay: await relayCpu(), workers: workerCpu() }
    // Let the subscriptions drain what is stored.
    for (let i = 0; i < 100; i++) {
      const s = await scrapeOrNull(metricsUrl)
      if (s === null || sample(s, 'paloma_relay_mailbox_envelopes') === 0) break
      await new Promise((r) => setTimeout(r, 200))
    }
    const after = await scrapeOrNull(metricsUrl)
    workers.forEach((w) => w.send({ type: 'report' }))
    const reports = await collect('report', workerCount, 60_000)
    const errors: Record<string, number> = {}
    for (const r of reports) for (const [k, v] of Object.entries(r.errors)) count(errors, k, v)
    const sum = (f: (r: WorkerReport) => number): number => reports.reduce((a, r) => a + f(r), 0)
    const delta = (series: string): number | null =>
      before === null || after === null ? null : sample(after, series) - sample(before, series)
    const acked = sum((r) => r.acked)
    traffic = {
      rate_asked: rate,
      duration_s: Math.round(trafficS * 10) / 10,
      attempted: sum((r) => r.attempted),
      dropped_by_loadgen: sum((r) => r.dropped),
      acked,
      acked_per_s: Math.round(acked / durationS),
      delivered: sum((r) => r.delivered),
      delivered_again: sum((r) => r.duplicates),
      relay_stored: delta('paloma_relay_mailbox_stored_total'),
      relay_delivered: delta('paloma_relay_mailbox_delivered_total'),
      loadgen_eventloop_lag_p99_ms: reports.map((r) => r.lagP99Ms),
      relay_eventloop_lag_p99_ms:
        after === null ? null : Math.round(sample(after, 'nodejs_eventloop_lag_p99_seconds') * 1e4) / 10,
      relay_refused:
        before === null || after === null
          ? null
          : Object.fromEntries(
              [...after.entries()]
                .filter(([k]) => /_refused_total\{/.test(k))
                .map(([k, v]) => [k, v - sample(before, k)])
                .filter(([, v]) => (v as number) > 0),
            ),
      ack_ms: latency(reports.flatMap((r) => r.ackMs)),
      delivery_ms: latency(reports.flatMap((r) => r.deliveryMs)),
      errors,
    }
  }
  workers.forEach((w) => w.send({ type: 'report' }))
  const finals = await collect('report', workerCount, 60_000)

  const per = (a: number | null, b: number | null): number | null =>
    a === null || b === null || peers.length === 0 ? null : Math.round((b - a) / peers.length)
  const cpuShare = (from: number | null, to: number | null, s: number) =>
    from === null || to === null || s <= 0
      ? null
      : { seconds: Math.round((to - from) * 100) / 100, cores: Math.round(((to - from) / s) * 100) / 100 }
  const sumW = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
  const idleS = idleMs / 1000
  const result = {
    loadtest: 'relay',
    date: new Date().toISOString(),
    clients_asked: clients,
    clients_held: peers.length,
    start_failures: startErrors,
    start_retries: retryErrors,
    arrival_per_s_asked: arrival,
    arrival_s: Math.round(arrivalS * 10) / 10,
    dht_clients: values.dht,
    deposit_mode: values.deposit === 'session' ? 'session' : 'stream',
    client_ping: values['client-ping'] ?? 'libp2p default (10 s)',
    workers: workerCount,
    relay_cli: values['relay-cli'] ?? 'relay-node/src/cli.ts',
    relay_args: relay === undefined ? null : relayArgs,
    relay_gauges:
      gauges === null
        ? null
        : {
            connections: sample(gauges, 'paloma_relay_connections'),
            reservations: sample(gauges, 'paloma_relay_relay_reservations'),
            subscriptions: sample(gauges, 'paloma_relay_mailbox_subscriptions'),
            dht_routing_table: sample(gauges, 'paloma_relay_dht_routing_table_size'),
            refused: Object.fromEntries(
              [...gauges.entries()].filter(([k, v]) => /_refused_total\{/.test(k) && v > 0),
            ),
          },
    relay_memory: {
      base_rss: base.rss,
      idle_rss: idle.rss,
      base_heap: base.heap,
      idle_heap: idle.heap,
      base_external: base.external,
      idle_external: idle.external,
      half_clients: halfHeld,
      half_rss: half.rss,
      half_heap: half.heap,
      rss_per_idle_client: per(base.rss, idle.rss),
      rss_per_added_client:
        half.rss === null || idle.rss === null || peers.length <= halfHeld
          ? null
          : Math.round((idle.rss - half.rss) / (peers.length - halfHeld)),
      heap_per_added_client:
        half.heap === null || idle.heap === null || peers.length <= halfHeld
          ? null
          : Math.round((idle.heap - half.heap) / (peers.length - halfHeld)),
      heap_per_idle_client: per(base.heap, idle.heap),
      external_per_idle_client: per(base.external, idle.external),
    },
    relay_cpu: {
      arrival: cpuShare(cpuA0.relay, cpuA1.relay, arrivalS),
      arrival_ms_per_client:
        cpuA0.relay === null || cpuA1.relay === null || peers.length === 0
          ? null
          : Math.round(((cpuA1.relay - cpuA0.relay) / peers.length) * 1e4) / 10,
      idle: cpuShare(cpuA1.relay, cpuI1.relay, idleS),
      traffic: rate > 0 ? cpuShare(cpuI1.relay, cpuT1.relay, trafficS) : null,
    },
    loadgen_cpu: {
      arrival: cpuShare(sumW(cpuA0.workers), sumW(cpuA1.workers), arrivalS),
      idle: cpuShare(sumW(cpuA1.workers), sumW(cpuI1.workers), idleS),
      traffic: rate > 0 ? cpuShare(sumW(cpuI1.workers), sumW(cpuT1.workers), trafficS) : null,
      busiest_worker_traffic_cores:
        rate > 0 && trafficS > 0
          ? Math.round((Math.max(...cpuT1.workers.map((c, i) => c - cpuI1.workers[i]!)) / trafficS) * 100) /
            100
          : null,
      rss_per_worker: finals.map((r) => r.rss),
    },
    ...(traffic !== undefined ? { traffic } : {}),
    profile_dir: profileDir ?? null,
    heap_snapshots: snapshots,
  }
  if (traffic !== undefined && typeof traffic.acked === 'number' && traffic.acked > 0) {
    const acked = traffic.acked
    const us = (share: { seconds: number } | null): number | null =>
      share === null ? null : Math.round((share.seconds / acked) * 1e6)
    traffic.relay_cpu_us_per_envelope = us(result.relay_cpu.traffic)
    traffic.loadgen_cpu_us_per_envelope = us(result.loadgen_cpu.traffic)
  }
  process.stdout.write(JSON.stringify(result) + '\n')

  workers.forEach((w) => w.send({ type: 'stop' }))
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((r) => {
          const t = setTimeout(() => {
            w.kill('SIGKILL')
            r()
          }, 20_000)
          w.once('exit', () => {
            clearTimeout(t)
            r()
          })
        }),
    ),
  )
  if (relay !== undefined) {
    await relay.stop('SIGTERM')
    await rm(relay.dataDir, { recursive: true, force: true })
  }
  if (profileDir !== undefined) log(`profiles in ${profileDir}`)
}

if (process.argv.includes('--worker')) {
  await worker()
} else {
  await main()
  process.exit(0)
}
