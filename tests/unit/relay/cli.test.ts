import { describe, expect, it } from 'vitest'
import { parseRelayArgs } from '../../../relay-node/src/cli.ts'

describe('relay command line', () => {
  it('reads flags', () => {
    const o = parseRelayArgs(
      ['--port', '7000', '--host', '127.0.0.1', '--data-dir', '/tmp/x', '--peer', '/a', '--peer', '/b'],
      {},
    )
    expect(o).toMatchObject({ port: 7000, host: '127.0.0.1', dataDir: '/tmp/x', peers: ['/a', '/b'] })
  })

  it('falls back to PALOMA_RELAY_* variables, flags winning', () => {
    const env = { PALOMA_RELAY_PORT: '7100', PALOMA_RELAY_PEERS: '/x, /y', PALOMA_RELAY_DATA_DIR: '/d' }
    expect(parseRelayArgs([], env)).toMatchObject({ port: 7100, peers: ['/x', '/y'], dataDir: '/d' })
    expect(parseRelayArgs(['--port', '1'], env)).toMatchObject({ port: 1 })
  })

  it('refuses a port that is not a whole number', () => {
    expect(() => parseRelayArgs(['--port', 'abc'], {})).toThrow(/--port expects a whole number/)
    expect(() => parseRelayArgs(['--max-reservations=-3'], {})).toThrow(/whole number/)
  })

  it('refuses unknown flags', () => {
    expect(() => parseRelayArgs(['--prot', '1'], {})).toThrow()
  })
})
