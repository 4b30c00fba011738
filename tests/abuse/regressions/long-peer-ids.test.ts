/**
 * Regression (found by tests/abuse/directory.fuzz.test.ts, parseProfileKey and validateProfileRecord):
 * the PeerId inside a DHT key was base58-decoded whatever its length, in time quadratic in it. A 16 KiB
 * key took about a second of a relay's event loop in its PUT validator, and kad-dht accepts much longer
 * keys. An Ed25519 PeerId string is 52 characters: longer ones are refused before decoding.
 */
import { describe, expect, it } from 'vitest'
import {
  WrongNamespaceError,
  parseProfileKey,
  publicKeyFromPeerIdString,
} from '@paloma/core/protocol/directory.ts'
import { dhtValidators } from '@paloma/net/dht-records.ts'

describe('a DHT key with a very long PeerId', () => {
  it('is refused at once, before any base58 decoding', () => {
    for (const length of [65, 16 * 1024, 1024 * 1024]) {
      const key = new TextEncoder().encode(`/paloma-profile/${'x'.repeat(length)}`)
      const t0 = performance.now()
      expect(() => parseProfileKey(key)).toThrow(WrongNamespaceError)
      expect(() => dhtValidators['paloma-profile']!(key, new Uint8Array(1))).toThrow(WrongNamespaceError)
      expect(performance.now() - t0).toBeLessThan(100)
    }
  })
  it('while a real one still parses', () => {
    const peer = '12D3KooWCcaXMjm8LxcusnsZLY4JnnMbaJBh5pZJj43KUBca6znG'
    expect(publicKeyFromPeerIdString(peer)).toHaveLength(32)
    expect(() => publicKeyFromPeerIdString(`${peer}1`)).toThrow(WrongNamespaceError)
  })
})
