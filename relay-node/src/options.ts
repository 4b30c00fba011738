/**
 * Every option of the relay, in one table: the table drives the command-line flags, the `PALOMA_RELAY_*`
 * environment variables, the config file (`--config relay.json` or `relay.toml`), `--help` and validation.
 *
 * Precedence: a flag beats its environment variable, which beats the config file, which beats the default.
 * A value that does not parse or is out of range is an {@link OptionError} naming the option, where the
 * value came from, what was expected and what was given. Knows nothing about libp2p.
 */
import { readFileSync } from 'node:fs'
import { extname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { isIP } from 'node:net'
import { isRelayAddress, parseAddress } from '@paloma/net/addresses.ts'
import { parse as parseToml } from 'smol-toml'

/** A value that fails its option's rule; `message` says which option, from where, and what to fix. */
export class OptionError extends Error {
  override name = 'OptionError'
}

type Kind =
  | { type: 'string' }
  | { type: 'path' }
  | { type: 'bool' }
  | { type: 'int'; min: number; max: number }
  | { type: 'port'; off?: boolean }
  | { type: 'bytes'; min: number; max: number }
  | { type: 'duration'; min: number; max: number }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'multiaddrs'; p2p?: boolean }

interface Spec {
  /** Flag without the dashes; also the config file key. */
  name: string
  group: string
  kind: Kind
  /** `undefined`: unset unless given. */
  default: unknown
  help: string
  /** Not read from the config file (only flag or environment). */
  notInFile?: boolean
}

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const MAX_SAFE = Number.MAX_SAFE_INTEGER

/** Hard protocol cap on one mailbox envelope (packages/core/protocol/mailbox.ts MAX_ENVELOPE_BYTES). */
const PROTOCOL_MAX_ENVELOPE_BYTES = 256 * KiB

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

const SPECS = [
  // Network
  {
    name: 'host',
    group: 'Network',
    kind: { type: 'string' },
    default: '0.0.0.0',
    help: 'IPv4 interface to listen on',
  },
  {
    name: 'port',
    group: 'Network',
    kind: { type: 'port' },
    default: 9090,
    help: 'plain WebSocket (/ws) TCP port, for a TLS-terminating proxy or local use; 0 = any free port',
  },
  {
    name: 'tls-port',
    group: 'Network',
    kind: { type: 'port' },
    default: 9443,
    help: 'secure WebSocket (/tls/ws) TCP port, used when --tls-cert is set; 0 = any free port',
  },
  {
    name: 'tls-cert',
    group: 'Network',
    kind: { type: 'path' },
    default: undefined,
    help: 'PEM certificate (full chain) for secure WebSockets; reloaded when the file changes',
  },
  {
    name: 'tls-key',
    group: 'Network',
    kind: { type: 'path' },
    default: undefined,
    help: 'PEM private key of --tls-cert; reloaded when the file changes',
  },
  {
    name: 'webrtc-direct-port',
    group: 'Network',
    kind: { type: 'port', off: true },
    default: 'off',
    help: 'UDP port for WebRTC-Direct (/webrtc-direct: browsers on https pages reach it without a domain certificate); 0 = any free port',
  },
  {
    name: 'announce',
    group: 'Network',
    kind: { type: 'multiaddrs' },
    default: [],
    help: 'public multiaddr to announce instead of the listen addresses (repeatable; comma-separated in the environment)',
  },
  {
    name: 'peer',
    group: 'Network',
    kind: { type: 'multiaddrs', p2p: true },
    default: [],
    help: 'another relay (multiaddr ending in /p2p/<id>) kept connected, forming one DHT (repeatable)',
  },
  {
    name: 'public-only',
    group: 'Network',
    kind: { type: 'bool' },
    default: false,
    help: 'drop private and loopback addresses from DHT peer records and refuse to dial them (internet deployments)',
  },
  // Storage
  {
    name: 'data-dir',
    group: 'Storage',
    kind: { type: 'path' },
    default: '.data/relay',
    help: 'peer key, WebRTC-Direct certificate, mailbox and prekey databases, schema.json',
  },
  {
    name: 'min-free-disk',
    group: 'Storage',
    kind: { type: 'bytes', min: 0, max: MAX_SAFE },
    default: 64 * MiB,
    help: "below this much free space on the data directory's file system /readyz reports not ready and new mailbox deposits and prekey uploads are refused (retryable: senders use another relay)",
  },
  // Limits
  {
    name: 'max-connections',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 2048,
    help: 'open libp2p connections at once (browsers, relays, relayed circuits)',
  },
  {
    name: 'max-pending-connections',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 100_000 },
    default: 64,
    help: 'inbound connections still negotiating encryption and muxer at once',
  },
  {
    name: 'connection-rate',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 100_000 },
    default: 5,
    help: 'inbound connections per second from one IP address before more are refused',
  },
  {
    name: 'max-connections-per-ip',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 128,
    help: 'connections open at once from one IP address (many browsers behind one NAT share one)',
  },
  {
    name: 'max-streams',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 100_000 },
    default: 256,
    help: 'inbound streams per connection (all protocols)',
  },
  {
    name: 'stream-rate',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 32,
    help: 'inbound streams per second one connection may sustain opening (all protocols; beyond it a stream is reset before negotiation)',
  },
  {
    name: 'stream-burst',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 128,
    help: 'inbound streams one connection may open in a burst',
  },
  {
    name: 'max-service-streams',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 10_000 },
    default: 32,
    help: 'inbound mailbox or prekey streams per connection',
  },
  {
    name: 'max-reservations',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 1024,
    help: 'circuit relay reservations held at once',
  },
  {
    name: 'relayed-duration',
    group: 'Limits',
    kind: { type: 'duration', min: SECOND, max: DAY },
    default: 10 * MINUTE,
    help: 'how long one relayed connection may last (browsers upgrade to direct WebRTC well before)',
  },
  {
    name: 'relayed-bytes',
    group: 'Limits',
    kind: { type: 'bytes', min: KiB, max: 4 * GiB },
    default: 16 * MiB,
    help: 'bytes one relayed connection may carry',
  },
  {
    name: 'stream-idle-timeout',
    group: 'Limits',
    kind: { type: 'duration', min: SECOND, max: HOUR },
    default: 30 * SECOND,
    help: 'a mailbox or prekey stream silent this long is aborted (subscriptions are exempt)',
  },
  {
    name: 'keepalive-interval',
    group: 'Limits',
    kind: { type: 'duration', min: SECOND, max: HOUR },
    default: MINUTE,
    help: 'each connection is pinged (a Yamux frame) once per interval, spread evenly; one silent for 20 s more is closed',
  },
  {
    name: 'dht-put-rate',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 1,
    help: 'DHT record writes (PUT_VALUE, ADD_PROVIDER) per second one peer may sustain',
  },
  {
    name: 'dht-put-burst',
    group: 'Limits',
    kind: { type: 'int', min: 1, max: 1_000_000 },
    default: 20,
    help: 'DHT record writes one peer may make in a burst',
  },
  // Mailbox
  {
    name: 'mailbox-max-envelope',
    group: 'Mailbox',
    kind: { type: 'bytes', min: 1, max: PROTOCOL_MAX_ENVELOPE_BYTES },
    default: 64 * KiB,
    help: 'largest envelope accepted (the protocol caps it at 256KiB)',
  },
  {
    name: 'mailbox-ttl',
    group: 'Mailbox',
    kind: { type: 'duration', min: SECOND, max: 365 * DAY },
    default: 30 * DAY,
    help: 'how long an undelivered envelope is kept',
  },
  {
    name: 'mailbox-recipient-count',
    group: 'Mailbox',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 1000,
    help: 'envelopes waiting for one recipient',
  },
  {
    name: 'mailbox-recipient-bytes',
    group: 'Mailbox',
    kind: { type: 'bytes', min: 1, max: MAX_SAFE },
    default: 32 * MiB,
    help: 'bytes waiting for one recipient',
  },
  {
    name: 'mailbox-sender-count',
    group: 'Mailbox',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 2000,
    help: 'envelopes one sender may have waiting, over all recipients',
  },
  {
    name: 'mailbox-sender-bytes',
    group: 'Mailbox',
    kind: { type: 'bytes', min: 1, max: MAX_SAFE },
    default: 64 * MiB,
    help: 'bytes one sender may have waiting, over all recipients',
  },
  {
    name: 'mailbox-rate-burst',
    group: 'Mailbox',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 100,
    help: 'deposits one sender may make in a burst',
  },
  {
    name: 'mailbox-rate',
    group: 'Mailbox',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 20,
    help: 'deposits per second one sender may sustain',
  },
  {
    name: 'mailbox-ip-burst',
    group: 'Mailbox',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 1000,
    help: 'deposits all senders from one IP address may make in a burst (many PeerIds on one address)',
  },
  {
    name: 'mailbox-ip-rate',
    group: 'Mailbox',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 200,
    help: 'deposits per second all senders from one IP address may sustain',
  },
  {
    name: 'mailbox-max-unacked',
    group: 'Mailbox',
    kind: { type: 'int', min: 1, max: 100_000 },
    default: 256,
    help: 'envelopes sent on one subscription and not yet acknowledged',
  },
  {
    name: 'mailbox-sweep-interval',
    group: 'Mailbox',
    kind: { type: 'duration', min: 10, max: DAY },
    default: MINUTE,
    help: 'how often expired envelopes are deleted',
  },
  // Prekeys
  {
    name: 'prekeys-per-owner',
    group: 'Prekeys',
    kind: { type: 'int', min: 1, max: 100_000 },
    default: 200,
    help: 'one-time prekeys one owner may keep here',
  },
  {
    name: 'prekeys-take-burst',
    group: 'Prekeys',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 20,
    help: 'prekeys one peer may take in a burst',
  },
  {
    name: 'prekeys-take-rate',
    group: 'Prekeys',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 2,
    help: 'prekeys per second one peer may sustain taking',
  },
  {
    name: 'prekeys-owner-burst',
    group: 'Prekeys',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 20,
    help: 'uploads and counts one owner may make in a burst',
  },
  {
    name: 'prekeys-owner-rate',
    group: 'Prekeys',
    kind: { type: 'int', min: 1, max: 1e9 },
    default: 2,
    help: 'uploads and counts per second one owner may sustain',
  },
  // Observability
  {
    name: 'log-level',
    group: 'Observability',
    kind: { type: 'enum', values: LOG_LEVELS },
    default: 'info',
    help: "JSON log lines on stderr at this level and above (debug adds libp2p's errors, trace everything)",
  },
  {
    name: 'metrics-port',
    group: 'Observability',
    kind: { type: 'port', off: true },
    default: 'off',
    help: 'HTTP port for /metrics, /healthz, /readyz; 0 = any free port',
  },
  {
    name: 'metrics-host',
    group: 'Observability',
    kind: { type: 'string' },
    default: '127.0.0.1',
    help: 'interface of the metrics port; anything but loopback needs --metrics-token',
  },
  {
    name: 'metrics-token',
    group: 'Observability',
    kind: { type: 'string' },
    default: undefined,
    help: 'bearer token required on /metrics (Authorization: Bearer <token>)',
  },
  // Operations
  {
    name: 'optimize-for-size',
    group: 'Operations',
    kind: { type: 'bool' },
    default: false,
    help: "V8's --optimize-for-size: garbage collected sooner, a smaller heap (a third to a half of the memory per idle browser) for 2-4x the CPU per connection; for hosts short of memory rather than CPU",
  },
  {
    name: 'shutdown-timeout',
    group: 'Operations',
    kind: { type: 'duration', min: 100, max: 10 * MINUTE },
    default: 10 * SECOND,
    help: 'on SIGTERM/SIGINT: time to finish in-flight work before exiting anyway (exit code 1)',
  },
  {
    name: 'print-peer-id',
    group: 'Operations',
    kind: { type: 'bool' },
    default: false,
    help: 'create the data directory and its key if needed, print the PeerId on stdout and exit (to write --peer addresses and config.json before the first start)',
    notInFile: true,
  },
  {
    name: 'config',
    group: 'Operations',
    kind: { type: 'path' },
    default: undefined,
    help: 'config file, JSON (.json) or TOML (.toml), keys as the flag names',
    notInFile: true,
  },
] as const satisfies readonly Spec[]

type Name = (typeof SPECS)[number]['name']

/** The parsed options, by flag name; see {@link RELAY_OPTION_SPECS} for each one's meaning. */
export interface RelayConfig {
  host: string
  port: number
  'tls-port': number
  'tls-cert'?: string
  'tls-key'?: string
  /** `undefined` when off. */
  'webrtc-direct-port'?: number
  announce: string[]
  peer: string[]
  'public-only': boolean
  'data-dir': string
  'min-free-disk': number
  'max-connections': number
  'max-pending-connections': number
  'connection-rate': number
  'max-connections-per-ip': number
  'max-streams': number
  'stream-rate': number
  'stream-burst': number
  'max-service-streams': number
  'max-reservations': number
  'relayed-duration': number
  'relayed-bytes': number
  'stream-idle-timeout': number
  'keepalive-interval': number
  'dht-put-rate': number
  'dht-put-burst': number
  'mailbox-max-envelope': number
  'mailbox-ttl': number
  'mailbox-recipient-count': number
  'mailbox-recipient-bytes': number
  'mailbox-sender-count': number
  'mailbox-sender-bytes': number
  'mailbox-rate-burst': number
  'mailbox-rate': number
  'mailbox-ip-burst': number
  'mailbox-ip-rate': number
  'mailbox-max-unacked': number
  'mailbox-sweep-interval': number
  'prekeys-per-owner': number
  'prekeys-take-burst': number
  'prekeys-take-rate': number
  'prekeys-owner-burst': number
  'prekeys-owner-rate': number
  'log-level': (typeof LOG_LEVELS)[number]
  /** `undefined` when off. */
  'metrics-port'?: number
  'metrics-host': string
  'metrics-token'?: string
  'optimize-for-size': boolean
  'shutdown-timeout': number
  'print-peer-id': boolean
  config?: string
}

// Every spec has a field and every field a spec.
type _SameNames = [Exclude<Name, keyof RelayConfig>, Exclude<keyof RelayConfig, Name>] extends [never, never]
  ? true
  : never
const _sameNames: _SameNames = true
void _sameNames

export const RELAY_OPTION_SPECS: readonly Spec[] = SPECS

/** `PALOMA_RELAY_DATA_DIR` for `data-dir`. */
export function envName(name: string): string {
  return `PALOMA_RELAY_${name.toUpperCase().replaceAll('-', '_')}`
}

const UNITS_BYTES: Record<string, number> = {
  '': 1,
  b: 1,
  kib: KiB,
  kb: 1000,
  mib: MiB,
  mb: 1e6,
  gib: GiB,
  gb: 1e9,
}
const UNITS_TIME: Record<string, number> = { '': 1, ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY }

function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', GiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`
  }
  return String(n)
}

function formatDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', DAY],
    ['h', HOUR],
    ['m', MINUTE],
    ['s', SECOND],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

function formatDefault(spec: Spec): string {
  const d = spec.default
  if (d === undefined) return 'unset'
  if (Array.isArray(d)) return d.length === 0 ? 'none' : d.join(',')
  if (spec.kind.type === 'bytes') return formatBytes(d as number)
  if (spec.kind.type === 'duration') return formatDuration(d as number)
  return String(d)
}

function expected(kind: Kind): string {
  switch (kind.type) {
    case 'string':
      return 'a non-empty string'
    case 'path':
      return 'a file or directory path'
    case 'bool':
      return 'true or false'
    case 'int':
      return `a whole number from ${kind.min} to ${kind.max}`
    case 'port':
      return `a port from 0 to 65535${kind.off === true ? ' or "off"' : ''}`
    case 'bytes':
      return `a size from ${formatBytes(kind.min)} to ${formatBytes(kind.max)} (bytes, or with KiB, MiB, GiB)`
    case 'duration':
      return `a duration from ${formatDuration(kind.min)} to ${formatDuration(kind.max)} (milliseconds, or like 500ms, 90s, 10m, 12h, 30d)`
    case 'enum':
      return `one of ${kind.values.join(', ')}`
    case 'multiaddrs':
      return kind.p2p === true ? 'multiaddrs ending in /p2p/<peer id>' : 'multiaddrs'
  }
}

/** Where a value came from, for error messages. */
type Source = { kind: 'flag' } | { kind: 'env' } | { kind: 'file'; path: string } | { kind: 'default' }

function describeSource(spec: Spec, source: Source): string {
  switch (source.kind) {
    case 'flag':
      return `--${spec.name}`
    case 'env':
      return `${envName(spec.name)} (environment)`
    case 'file':
      return `"${spec.name}" in ${source.path}`
    case 'default':
      return `--${spec.name} (default)`
  }
}

function fail(spec: Spec, source: Source, raw: unknown, extra = ''): never {
  const shown = typeof raw === 'string' ? `"${raw}"` : JSON.stringify(raw)
  throw new OptionError(
    `${describeSource(spec, source)}: expected ${expected(spec.kind)}${extra}, got ${shown}`,
  )
}

function parseWithUnit(text: string, units: Record<string, number>): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text)
  if (m === null) return undefined
  const unit = units[(m[2] ?? '').toLowerCase()]
  if (unit === undefined) return undefined
  const n = Number(m[1]) * unit
  return Number.isSafeInteger(n) ? n : undefined
}

/** Converts one raw value (a string from a flag or the environment, any JSON/TOML value from a file). */
function convert(spec: Spec, source: Source, raw: unknown): unknown {
  const kind = spec.kind
  const text = typeof raw === 'string' ? raw.trim() : undefined
  switch (kind.type) {
    case 'string':
    case 'path':
      if (text === undefined || text === '') fail(spec, source, raw)
      return text
    case 'bool':
      if (typeof raw === 'boolean') return raw
      if (text !== undefined && ['true', '1', 'yes', 'on'].includes(text.toLowerCase())) return true
      if (text !== undefined && ['false', '0', 'no', 'off'].includes(text.toLowerCase())) return false
      return fail(spec, source, raw)
    case 'enum':
      if (text === undefined || !kind.values.includes(text)) fail(spec, source, raw)
      return text
    case 'int':
    case 'port': {
      if (kind.type === 'port' && kind.off === true && (text === 'off' || raw === false)) return undefined
      const n =
        typeof raw === 'number' ? raw : text !== undefined && /^-?\d+$/.test(text) ? Number(text) : NaN
      const [min, max] = kind.type === 'port' ? [0, 65535] : [kind.min, kind.max]
      if (!Number.isSafeInteger(n) || n < min || n > max) fail(spec, source, raw)
      return n
    }
    case 'bytes':
    case 'duration': {
      const n =
        typeof raw === 'number'
          ? raw
          : text !== undefined
            ? parseWithUnit(text, kind.type === 'bytes' ? UNITS_BYTES : UNITS_TIME)
            : undefined
      if (n === undefined || !Number.isSafeInteger(n) || n < kind.min || n > kind.max) fail(spec, source, raw)
      return n
    }
    case 'multiaddrs': {
      const items = Array.isArray(raw)
        ? raw
        : text === undefined
          ? fail(spec, source, raw)
          : text === ''
            ? []
            : text.split(',').map((s) => s.trim())
      return items.map((item: unknown) => {
        if (typeof item !== 'string' || !item.startsWith('/')) return fail(spec, source, item)
        const ma = parseAddress(item)
        if (ma === undefined || (kind.p2p === true && !isRelayAddress(item))) return fail(spec, source, item)
        return ma.toString()
      })
    }
  }
}

/** Reads a config file: `.toml` as TOML, anything else as JSON. Keys are the flag names. */
export function readConfigFile(
  path: string,
  read: (p: string) => string = (p) => readFileSync(p, 'utf8'),
): Record<string, unknown> {
  let text: string
  try {
    text = read(path)
  } catch (err) {
    throw new OptionError(`--config: cannot read ${path}: ${(err as Error).message}`)
  }
  let data: unknown
  try {
    data = extname(path).toLowerCase() === '.toml' ? parseToml(text) : JSON.parse(text)
  } catch (err) {
    throw new OptionError(
      `--config: ${path} is not valid ${extname(path).toLowerCase() === '.toml' ? 'TOML' : 'JSON'}: ${(err as Error).message}`,
    )
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new OptionError(`--config: ${path} must hold an object of options (keys as the flag names)`)
  }
  return data as Record<string, unknown>
}

export interface ParsedArgs {
  config: RelayConfig
  /** `--help` was asked for. */
  help: boolean
}

/**
 * Parses the command line, the environment and the config file into a validated {@link RelayConfig}.
 *
 * @throws OptionError naming the option, its source, what is expected and what was given.
 */
export function parseRelayOptions(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  read?: (path: string) => string,
): ParsedArgs {
  const flagOptions: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  }
  for (const spec of SPECS) {
    const k = spec.kind as Kind
    flagOptions[spec.name] =
      k.type === 'bool'
        ? { type: 'boolean' }
        : k.type === 'multiaddrs'
          ? { type: 'string', multiple: true }
          : { type: 'string' }
  }
  let values: Record<string, unknown>
  try {
    values = parseArgs({
      args: [...argv],
      options: flagOptions,
      strict: true,
      allowPositionals: false,
      allowNegative: true,
    }).values
  } catch (err) {
    throw new OptionError(`${(err as Error).message} (see --help)`)
  }

  const configSpec = SPECS.find((s) => s.name === 'config') as Spec
  const configPath =
    (values.config as string | undefined) ??
    (env[envName('config')] === '' ? undefined : env[envName('config')])
  const file = configPath === undefined ? {} : readConfigFile(configPath, read)
  const known = new Set(SPECS.filter((s) => !(s as Spec).notInFile).map((s) => s.name as string))
  for (const key of Object.keys(file)) {
    if (!known.has(key)) {
      const hint = [...known].find((k) => k.replaceAll('-', '') === key.toLowerCase().replaceAll(/[-_]/g, ''))
      throw new OptionError(
        `--config: unknown option "${key}" in ${configPath}${hint !== undefined ? ` (did you mean "${hint}"?)` : ''}; keys are the flag names, see --help`,
      )
    }
  }

  const out: Record<string, unknown> = {}
  for (const s of SPECS) {
    const spec = s as Spec
    if (spec === configSpec) {
      out.config = configPath === undefined ? undefined : resolve(configPath)
      continue
    }
    const flag = values[spec.name]
    const fromEnv = env[envName(spec.name)]
    if (flag !== undefined) out[spec.name] = convert(spec, { kind: 'flag' }, flag)
    else if (fromEnv !== undefined && fromEnv !== '') out[spec.name] = convert(spec, { kind: 'env' }, fromEnv)
    else if (Object.hasOwn(file, spec.name))
      out[spec.name] = convert(spec, { kind: 'file', path: configPath as string }, file[spec.name])
    else out[spec.name] = spec.default === 'off' ? undefined : spec.default
  }
  const config = out as unknown as RelayConfig
  checkTogether(config)
  return { config, help: values.help === true }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

/** The rules between options. */
function checkTogether(c: RelayConfig): void {
  if (isIP(c.host) !== 4)
    throw new OptionError(`--host: expected an IPv4 address such as 0.0.0.0 or 127.0.0.1, got "${c.host}"`)
  if ((c['tls-cert'] === undefined) !== (c['tls-key'] === undefined)) {
    throw new OptionError(
      '--tls-cert and --tls-key: give both (the certificate chain and its private key) or neither',
    )
  }
  if (c['tls-cert'] !== undefined && c['tls-port'] !== 0 && c['tls-port'] === c.port) {
    throw new OptionError(`--tls-port: must differ from --port (both are ${c.port})`)
  }
  if (c['metrics-port'] !== undefined && !isLoopback(c['metrics-host']) && c['metrics-token'] === undefined) {
    throw new OptionError(
      `--metrics-host ${c['metrics-host']} exposes /metrics beyond this machine: set --metrics-token (or ${envName('metrics-token')}) too, or keep --metrics-host 127.0.0.1`,
    )
  }
  if (c['metrics-token'] !== undefined && c['metrics-token'].length < 16) {
    throw new OptionError('--metrics-token: expected at least 16 characters (e.g. `openssl rand -hex 24`)')
  }
  if (c['mailbox-recipient-bytes'] < c['mailbox-max-envelope']) {
    throw new OptionError(
      `--mailbox-recipient-bytes (${c['mailbox-recipient-bytes']}) must be at least --mailbox-max-envelope (${c['mailbox-max-envelope']}), or no envelope of the largest size fits`,
    )
  }
}

/** `--help`: every option, its environment variable and its default, by group. */
export function helpText(): string {
  const lines = [
    'Usage: npm run relay -- [options]',
    '',
    'Each option is a flag, an environment variable, or a key of the --config file (JSON or TOML, keys as',
    'the flag names); a flag beats its variable, which beats the file, which beats the default.',
    'Sizes take KiB/MiB/GiB, durations ms/s/m/h/d.',
  ]
  let group = ''
  for (const s of SPECS) {
    const spec = s as Spec
    if (spec.group !== group) {
      group = spec.group
      lines.push('', `${group}:`)
    }
    const arg =
      spec.kind.type === 'bool' ? '' : ` <${spec.kind.type === 'multiaddrs' ? 'multiaddr' : spec.kind.type}>`
    lines.push(`  --${spec.name}${arg}`)
    lines.push(`      ${spec.help}`)
    lines.push(`      env ${envName(spec.name)}, default ${formatDefault(spec)}`)
  }
  lines.push('', '  -h, --help', '      this text', '')
  return lines.join('\n')
}
