import { describe, expect, it } from 'vitest'
import { CONFIG_ERROR_CODES, ConfigError, parseConfig } from '../../../src/app/config.ts'

const RELAY = '/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooWCcaXMjm8LxcusnsZLY4JnnMbaJBh5pZJj43KUBca6znG'

describe('config.json', () => {
  it('accepts relays, ICE servers and the private-address switch', () => {
    expect(
      parseConfig({
        relays: [RELAY],
        iceServers: [{ urls: 'stun:stun.example.org' }],
        allowPrivateAddresses: true,
      }),
    ).toEqual({
      relays: [RELAY],
      iceServers: [{ urls: 'stun:stun.example.org' }],
      allowPrivateAddresses: true,
    })
  })

  it('defaults to no ICE servers and public addresses only', () => {
    expect(parseConfig({ relays: [RELAY] })).toEqual({
      relays: [RELAY],
      iceServers: [],
      allowPrivateAddresses: false,
    })
  })

  it.each([
    ['not an object', 'hello'],
    ['no relays', {}],
    ['a relay without a peer id', { relays: ['/ip4/1.2.3.4/tcp/1/ws'] }],
    ['a relay that is not a string', { relays: [42] }],
    ['an empty relay list', { relays: [] }],
    ['a relay address that does not parse', { relays: ['/ip4/1.2.3.4/tcp/1/ws/p2p/notAPeerId'] }],
    [
      'a circuit address instead of a relay',
      { relays: [`${RELAY}/p2p-circuit/p2p/${RELAY.split('/').at(-1)}`] },
    ],
    ['ICE servers that are not a list', { relays: [RELAY], iceServers: 'stun:x' }],
  ])('refuses %s with a ConfigError', (_what, raw) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError)
  })
})

describe('config.json errors', () => {
  it.each([
    ['INVALID_CONFIG', null],
    ['INVALID_RELAYS', { relays: 'one' }],
    ['INVALID_ICE_SERVERS', { relays: [RELAY], iceServers: {} }],
  ])('name the field by code: %s', (code, raw) => {
    let caught: unknown
    try {
      parseConfig(raw)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(ConfigError)
    expect(caught).toMatchObject({ name: 'ConfigError', code })
    expect(CONFIG_ERROR_CODES).toContain(code)
  })
})
