import { describe, expect, it } from 'vitest'
import {
  envName,
  helpText,
  OptionError,
  parseRelayOptions,
  RELAY_OPTION_SPECS,
} from '../../../relay-node/src/options.ts'

/** A config file reader over an in-memory map of paths. */
const files =
  (map: Record<string, string>) =>
  (path: string): string => {
    const text = map[path]
    if (text === undefined) throw new Error(`ENOENT: no such file, open '${path}'`)
    return text
  }

const parse = (argv: string[], env: Record<string, string> = {}, fs: Record<string, string> = {}) =>
  parseRelayOptions(argv, env, files(fs)).config

describe('relay options', () => {
  it('has a default for every option, used when nothing is given', () => {
    const c = parse([])
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 9090,
      'data-dir': '.data/relay',
      'max-reservations': 1024,
      'mailbox-ttl': 30 * 24 * 3600 * 1000,
      'mailbox-max-envelope': 65536,
      'log-level': 'info',
      'public-only': false,
      peer: [],
    })
    expect(c['metrics-port']).toBeUndefined()
    expect(c['webrtc-direct-port']).toBeUndefined()
    expect(c['tls-cert']).toBeUndefined()
  })

  it('takes a flag over its variable over the config file over the default', () => {
    const fs = {
      'relay.json': JSON.stringify({
        port: 7001,
        'max-reservations': 10,
        'mailbox-ttl': '2d',
        'log-level': 'warn',
      }),
    }
    const env = { PALOMA_RELAY_PORT: '7002', PALOMA_RELAY_MAX_RESERVATIONS: '20' }
    expect(parse(['--config', 'relay.json'], {}, fs)).toMatchObject({
      port: 7001,
      'max-reservations': 10,
      'mailbox-ttl': 2 * 24 * 3600 * 1000,
      'log-level': 'warn',
    })
    expect(parse(['--config', 'relay.json'], env, fs)).toMatchObject({ port: 7002, 'max-reservations': 20 })
    expect(parse(['--config', 'relay.json', '--port', '7003'], env, fs)).toMatchObject({
      port: 7003,
      'max-reservations': 20,
      'log-level': 'warn',
    })
    // The config file may itself come from the environment.
    expect(parse([], { PALOMA_RELAY_CONFIG: 'relay.json' }, fs)).toMatchObject({ port: 7001 })
  })

  it('reads TOML config files with the same keys', () => {
    const fs = {
      '/etc/paloma/relay.toml': [
        'port = 443',
        'peer = ["/dns4/r2.example.org/tcp/443/tls/ws/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"]',
        'public-only = true',
        'mailbox-recipient-bytes = "64MiB"',
        'webrtc-direct-port = 9095',
      ].join('\n'),
    }
    expect(parse(['--config', '/etc/paloma/relay.toml'], {}, fs)).toMatchObject({
      port: 443,
      peer: ['/dns4/r2.example.org/tcp/443/tls/ws/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'],
      'public-only': true,
      'mailbox-recipient-bytes': 64 * 1024 * 1024,
      'webrtc-direct-port': 9095,
    })
  })

  it('reads lists from repeated flags and comma-separated variables', () => {
    const a = '/ip4/10.0.0.1/tcp/9090/ws/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
    const b = '/ip4/10.0.0.2/tcp/9090/ws/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
    expect(parse(['--peer', a, '--peer', b]).peer).toEqual([a, b])
    expect(parse([], { PALOMA_RELAY_PEER: `${a}, ${b}` }).peer).toEqual([a, b])
  })

  it('reads sizes, durations, booleans and "off"', () => {
    const c = parse(
      [
        '--mailbox-max-envelope',
        '128KiB',
        '--relayed-duration',
        '90s',
        '--public-only',
        '--metrics-port',
        '0',
      ],
      { PALOMA_RELAY_STREAM_IDLE_TIMEOUT: '1500' },
    )
    expect(c).toMatchObject({
      'mailbox-max-envelope': 128 * 1024,
      'relayed-duration': 90_000,
      'public-only': true,
      'metrics-port': 0,
      'stream-idle-timeout': 1500,
    })
    expect(parse(['--metrics-port', 'off'])['metrics-port']).toBeUndefined()
    expect(parse(['--no-public-only'], { PALOMA_RELAY_PUBLIC_ONLY: 'true' })['public-only']).toBe(false)
  })

  it.each([
    [['--port', 'abc'], /^--port: expected a port from 0 to 65535, got "abc"$/],
    [['--port', '70000'], /--port: expected a port/],
    [['--max-reservations=-3'], /--max-reservations: expected a whole number from 1 to/],
    [['--mailbox-ttl', 'soon'], /--mailbox-ttl: expected a duration .* got "soon"/],
    [['--mailbox-max-envelope', '1MiB'], /--mailbox-max-envelope: expected a size from 1 to 256KiB/],
    [['--log-level', 'loud'], /--log-level: expected one of fatal, error, warn, info, debug, trace, silent/],
    [['--peer', '/ip4/1.2.3.4/tcp/1/ws'], /--peer: expected multiaddrs ending in \/p2p\/<peer id>/],
    [['--announce', 'relay.example.org'], /--announce: expected multiaddrs, got "relay.example.org"/],
    [['--host', 'example.org'], /--host: expected an IPv4 address/],
    [['--tls-cert', 'cert.pem'], /--tls-cert and --tls-key: give both/],
    [['--metrics-port', '9464', '--metrics-host', '0.0.0.0'], /set --metrics-token/],
    [['--metrics-token', 'short'], /--metrics-token: expected at least 16 characters/],
    [['--prot', '1'], /Unknown option '--prot'.*--help/],
  ])('refuses %j with a message saying what to fix', (argv, message) => {
    expect(() => parse(argv)).toThrow(OptionError)
    expect(() => parse(argv)).toThrow(message)
  })

  it('names the variable or the file a bad value came from', () => {
    expect(() => parse([], { PALOMA_RELAY_MAILBOX_RATE: 'fast' })).toThrow(
      /^PALOMA_RELAY_MAILBOX_RATE \(environment\): expected a whole number from 1 to 1000000000, got "fast"$/,
    )
    const fs = {
      'r.json': '{"max-connections": 0}',
      'bad.json': '{"port": 1,',
      'typo.json': '{"maxReservations": 5}',
    }
    expect(() => parse(['--config', 'r.json'], {}, fs)).toThrow(
      /^"max-connections" in r\.json: expected a whole number/,
    )
    expect(() => parse(['--config', 'bad.json'], {}, fs)).toThrow(/--config: bad\.json is not valid JSON/)
    expect(() => parse(['--config', 'typo.json'], {}, fs)).toThrow(
      /unknown option "maxReservations" in typo\.json \(did you mean "max-reservations"\?\)/,
    )
    expect(() => parse(['--config', 'missing.toml'], {}, fs)).toThrow(/--config: cannot read missing\.toml/)
    expect(() => parse(['--config', 'x.toml'], {}, { 'x.toml': 'port = = 1' })).toThrow(/not valid TOML/)
  })

  it('documents every option with its variable and default in --help', () => {
    const help = helpText()
    for (const spec of RELAY_OPTION_SPECS) {
      const at = help.indexOf(`  --${spec.name}`)
      expect(at, spec.name).toBeGreaterThan(0)
      const block = help.slice(at, help.indexOf('\n  --', at + 3))
      expect(block).toContain(envName(spec.name))
      expect(block).toMatch(/default \S+/)
    }
    expect(help).toContain('default 30d')
    expect(help).toContain('default 64KiB')
    expect(parseRelayOptions(['--help'], {}).help).toBe(true)
  })
})
