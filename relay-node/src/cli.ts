/**
 * `npm run relay` — starts one Paloma relay and prints its addresses.
 *
 * Options come from flags, `PALOMA_RELAY_*` variables and a config file, in that precedence (see
 * options.ts and `--help`); every one has a default, so the bare command works on a fresh machine.
 *
 * Output contract: the first line on stdout is a JSON object
 * `{"event":"listening","peerId":...,"multiaddrs":[...],"metricsUrl":...}` that scripts and tests read;
 * nothing else goes to stdout. Logs are JSON lines on stderr (pino); the only other stderr text is a
 * fatal start-up error (a bad option, an unusable data directory or certificate), which exits non-zero.
 *
 * Signals: SIGTERM and SIGINT stop gracefully (exit 0; 1 if `--shutdown-timeout` runs out), SIGHUP
 * reloads the TLS certificate.
 */
import type { Server } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createRelay, gracefulStop, loadOrCreateKey, type Relay, type RelayOptions } from './relay.ts'
import { RelayMetrics, serveMonitoring } from './metrics.ts'
import { Readiness } from './readiness.ts'
import { componentLogger, createLog, formatLogArgs, type RelayLog } from './log.ts'
import { helpText, OptionError, parseRelayOptions, type RelayConfig } from './options.ts'
import { DataDirError, prepareDataDir } from './data-dir.ts'
import { TlsCertificateError } from './tls.ts'
import { setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'
import pkg from '../../package.json' with { type: 'json' }

export const RELAY_VERSION = `paloma-relay ${pkg.version}`

/** The relay's options (camelCase, for `createRelay`) from a parsed config. */
export function relayOptionsOf(c: RelayConfig): RelayOptions {
  return {
    dataDir: c['data-dir'],
    host: c.host,
    port: c.port,
    ...(c['tls-cert'] !== undefined && c['tls-key'] !== undefined
      ? { tls: { cert: c['tls-cert'], key: c['tls-key'], port: c['tls-port'] } }
      : {}),
    ...(c['webrtc-direct-port'] !== undefined ? { webrtcDirectPort: c['webrtc-direct-port'] } : {}),
    announce: c.announce,
    peers: c.peer,
    allowPrivateAddresses: !c['public-only'],
    maxConnections: c['max-connections'],
    maxPendingConnections: c['max-pending-connections'],
    connectionRate: c['connection-rate'],
    maxConnectionsPerIp: c['max-connections-per-ip'],
    maxStreams: c['max-streams'],
    streamRate: { burst: c['stream-burst'], perSecond: c['stream-rate'] },
    dhtPutRate: { burst: c['dht-put-burst'], perSecond: c['dht-put-rate'] },
    minFreeDiskBytes: c['min-free-disk'],
    maxServiceStreams: c['max-service-streams'],
    maxReservations: c['max-reservations'],
    relayedConnectionSeconds: Math.ceil(c['relayed-duration'] / 1000),
    relayedConnectionBytes: c['relayed-bytes'],
    streamIdleTimeoutMs: c['stream-idle-timeout'],
    keepAliveIntervalMs: c['keepalive-interval'],
    mailbox: {
      maxEnvelopeBytes: c['mailbox-max-envelope'],
      ttlMs: c['mailbox-ttl'],
      perRecipientQuota: { count: c['mailbox-recipient-count'], bytes: c['mailbox-recipient-bytes'] },
      perSenderQuota: { count: c['mailbox-sender-count'], bytes: c['mailbox-sender-bytes'] },
      rateLimit: { burst: c['mailbox-rate-burst'], perSecond: c['mailbox-rate'] },
      ipRateLimit: { burst: c['mailbox-ip-burst'], perSecond: c['mailbox-ip-rate'] },
      maxUnacked: c['mailbox-max-unacked'],
      sweepIntervalMs: c['mailbox-sweep-interval'],
    },
    prekeys: {
      maxKeysPerOwner: c['prekeys-per-owner'],
      takeRateLimit: { burst: c['prekeys-take-burst'], perSecond: c['prekeys-take-rate'] },
      ownerRateLimit: { burst: c['prekeys-owner-burst'], perSecond: c['prekeys-owner-rate'] },
    },
  }
}

/** Startup failures an operator fixes by changing the configuration or the files: no stack trace. */
function isOperatorError(err: unknown): err is Error {
  return err instanceof OptionError || err instanceof DataDirError || err instanceof TlsCertificateError
}

async function main(): Promise<void> {
  let config: RelayConfig
  try {
    const parsed = parseRelayOptions(process.argv.slice(2))
    if (parsed.help) {
      process.stdout.write(helpText())
      process.exit(0)
    }
    config = parsed.config
  } catch (err) {
    if (!(err instanceof OptionError)) throw err
    process.stderr.write(`paloma-relay: ${err.message}\nRun "npm run relay -- --help" for every option.\n`)
    process.exit(2)
  }
  // Before the relay allocates anything of its own: from here on V8 collects garbage sooner and keeps the heap
  // small (a third to a half of the memory per idle browser, for 2-4x the CPU per connection: measured in
  // docs/performance.md, so off by default).
  if (config['optimize-for-size']) setFlagsFromString('--optimize-for-size')
  const log = createLog(config['log-level'])
  // Libraries that print with console.* would break the stdout contract or the JSON-only stderr.
  for (const [method, level] of [
    ['log', 'info'],
    ['info', 'info'],
    ['debug', 'debug'],
    ['warn', 'warn'],
    ['error', 'error'],
  ] as const) {
    console[method] = (...args: unknown[]) => {
      const { msg, err } = formatLogArgs(args[0], args.slice(1))
      if (err === undefined) log[level]({ component: 'console' }, msg)
      else log[level]({ component: 'console', err }, msg)
    }
  }
  process.removeAllListeners('warning')
  process.on('warning', (w) => log.warn({ component: 'node', warning: w.name }, w.message))
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception: exiting')
    process.exit(1)
  })
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason instanceof Error ? reason : new Error(String(reason)) }, 'unhandled rejection')
  })
  // Signature checks of directory records and one-time prekeys run on OpenSSL (synchronous, faster).
  setCryptoProvider(nodeCryptoProvider)

  const dir = await prepareDataDir(config['data-dir'], RELAY_VERSION)
  for (const step of dir.ran) log.info({ dataDir: config['data-dir'] }, `data directory migrated: ${step}`)
  if (config['print-peer-id']) {
    process.stdout.write(`${peerIdFromPrivateKey(await loadOrCreateKey(config['data-dir'])).toString()}\n`)
    process.exit(0)
  }

  const options = relayOptionsOf(config)
  const metrics = new RelayMetrics({
    dataDir: config['data-dir'],
    limits: { maxReservations: config['max-reservations'], maxConnections: config['max-connections'] },
  })
  const relay = await createRelay({ ...options, metrics, logger: componentLogger(log) })
  const readiness = new Readiness(relay, {
    dataDir: config['data-dir'],
    minFreeBytes: config['min-free-disk'],
    expectPeers: config.peer.length > 0,
    draining: () => relay.services.lifecycle.draining,
  })
  metrics.attach(relay, readiness)

  let monitoring: Server | undefined
  if (config['metrics-port'] !== undefined) {
    monitoring = await serveMonitoring(metrics, {
      port: config['metrics-port'],
      host: config['metrics-host'],
      ...(config['metrics-token'] !== undefined ? { token: config['metrics-token'] } : {}),
    })
  }
  const multiaddrs = relay.getMultiaddrs().map((ma) => ma.toString())
  const address = monitoring?.address()
  const metricsHost = config['metrics-host'] === '0.0.0.0' ? '127.0.0.1' : config['metrics-host']
  const metricsUrl =
    typeof address === 'object' && address != null
      ? `http://${metricsHost}:${address.port}/metrics`
      : undefined
  process.stdout.write(
    JSON.stringify({ event: 'listening', peerId: relay.peerId.toString(), multiaddrs, metricsUrl }) + '\n',
  )
  log.info(
    { event: 'listening', peerId: relay.peerId.toString(), multiaddrs, metricsUrl, version: RELAY_VERSION },
    'relay listening',
  )
  handleSignals(relay, monitoring, config, log)
}

function handleSignals(
  relay: Relay,
  monitoring: Server | undefined,
  config: RelayConfig,
  log: RelayLog,
): void {
  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) return
    stopping = true
    const started = Date.now()
    const timeout = config['shutdown-timeout']
    log.info({ event: 'stopping', signal, timeoutMs: timeout }, 'stopping: draining connections')
    const force = setTimeout(() => {
      log.error({ event: 'stop-timeout', timeoutMs: timeout }, 'shutdown timed out: exiting anyway')
      process.exit(1)
    }, timeout)
    force.unref()
    // Drain for at most 80% of the budget, so the node's own stop fits in the rest.
    gracefulStop(relay, Math.floor(timeout * 0.8))
      .then(async () => {
        monitoring?.close()
        monitoring?.closeAllConnections()
        log.info({ event: 'stopped', durationMs: Date.now() - started }, 'relay stopped')
        process.exit(0)
      })
      .catch((err: unknown) => {
        log.error({ err }, 'relay did not stop cleanly')
        process.exit(1)
      })
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGHUP', () => {
    const tls = relay.services.tls
    if (tls === undefined) log.info('SIGHUP: no --tls-cert configured, nothing to reload')
    else tls.reload()
  })
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    const text = isOperatorError(err) ? err.message : ((err as Error).stack ?? String(err))
    process.stderr.write(`paloma-relay failed to start: ${text}\n`)
    process.exit(1)
  })
}
