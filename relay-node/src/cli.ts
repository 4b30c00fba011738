/**
 * `npm run relay` — starts one Paloma relay and prints its addresses.
 *
 * Every option has an embedded default, so the bare command works on a fresh machine. Flags override
 * environment variables (PALOMA_RELAY_*), which override the defaults. The first line on stdout is a JSON
 * object `{"event":"listening","peerId":...,"multiaddrs":[...]}` that scripts and tests read.
 */
import { parseArgs } from 'node:util'
import { createRelay, RELAY_DEFAULTS, type RelayOptions } from './relay.ts'
import { serveMetrics } from './metrics.ts'
import { setCryptoProvider } from '../../src/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '../../src/platform/node-crypto.ts'

const HELP = `Usage: npm run relay -- [options]

  --port <n>              WebSocket port (default ${RELAY_DEFAULTS.port}; 0 = any free port)
  --host <ip>             interface to listen on (default ${RELAY_DEFAULTS.host})
  --data-dir <path>       key and database directory (default ${RELAY_DEFAULTS.dataDir})
  --announce <multiaddr>  public address to announce (repeatable)
  --peer <multiaddr>      another relay to join into one DHT (repeatable)
  --max-reservations <n>  circuit relay reservations held at once (default ${RELAY_DEFAULTS.maxReservations})
  --public-only           drop private addresses from DHT peer records (internet deployments)
  --metrics-port <n>      serve /metrics (Prometheus) and /health (JSON) on 127.0.0.1:<n>
  -h, --help              this text
`

export interface RelayCliOptions extends RelayOptions {
  metricsPort?: number
}

export function parseRelayArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): RelayCliOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      announce: { type: 'string', multiple: true },
      peer: { type: 'string', multiple: true },
      'max-reservations': { type: 'string' },
      'public-only': { type: 'boolean' },
      'metrics-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
  if (values.help === true) {
    process.stdout.write(HELP)
    process.exit(0)
  }
  const list = (v: string | undefined) =>
    v == null || v === '' ? undefined : v.split(',').map((s) => s.trim())
  const int = (name: string, v: string | undefined) => {
    if (v == null) return undefined
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} expects a whole number, got "${v}"`)
    return n
  }
  return {
    port: int('port', values.port ?? env.PALOMA_RELAY_PORT),
    host: values.host ?? env.PALOMA_RELAY_HOST,
    dataDir: values['data-dir'] ?? env.PALOMA_RELAY_DATA_DIR,
    announce: values.announce ?? list(env.PALOMA_RELAY_ANNOUNCE),
    peers: values.peer ?? list(env.PALOMA_RELAY_PEERS),
    maxReservations: int('max-reservations', values['max-reservations'] ?? env.PALOMA_RELAY_MAX_RESERVATIONS),
    allowPrivateAddresses: values['public-only'] === true ? false : undefined,
    metricsPort: int('metrics-port', values['metrics-port'] ?? env.PALOMA_RELAY_METRICS_PORT),
  }
}

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

async function main(): Promise<void> {
  // Signature checks of directory records and one-time prekeys run on OpenSSL (synchronous, faster).
  setCryptoProvider(nodeCryptoProvider)
  let options: RelayCliOptions
  try {
    options = withoutUndefined(parseRelayArgs(process.argv.slice(2)))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`)
    process.exit(2)
  }
  const { metricsPort, ...relayOptions } = options
  const relay = await createRelay(relayOptions)
  const metrics = metricsPort === undefined ? undefined : await serveMetrics(relay, metricsPort)
  const multiaddrs = relay.getMultiaddrs().map((ma) => ma.toString())
  const address = metrics?.address()
  const metricsUrl =
    typeof address === 'object' && address != null ? `http://127.0.0.1:${address.port}/metrics` : undefined
  process.stdout.write(
    JSON.stringify({ event: 'listening', peerId: relay.peerId.toString(), multiaddrs, metricsUrl }) + '\n',
  )
  process.stderr.write(
    `Paloma relay ${relay.peerId.toString()} listening on:\n${multiaddrs.map((a) => `  ${a}\n`).join('')}`,
  )

  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`${signal}: stopping relay\n`)
    const force = setTimeout(() => process.exit(1), 5000)
    force.unref()
    metrics?.close()
    Promise.resolve(relay.stop()).then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

if (import.meta.main) {
  main().catch((err) => {
    process.stderr.write(`relay failed to start: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  })
}
