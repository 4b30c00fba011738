/**
 * Regression (found by tests/abuse/crypto.fuzz.test.ts, verifyScannedSafetyNumber): a scanned payload
 * with an extra field (or another encoding of the two hashes) matched, while docs/protocol.md says a
 * payload matches when it equals ours byte for byte. It now does only then.
 */
import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { generateIdentity, safetyNumber, verifyScannedSafetyNumber } from '@paloma/core/crypto/index.ts'
import { decode } from 'cborg'
import { seededRng } from '../../support/rng.ts'

describe('a scanned safety number', () => {
  it('matches byte for byte only', async () => {
    const rng = seededRng('qr')
    const [a, b] = [await generateIdentity(rng), await generateIdentity(rng)]
    const ours = safetyNumber(a.publicKey, b.publicKey)
    const theirs = safetyNumber(b.publicKey, a.publicKey)
    expect(verifyScannedSafetyNumber(ours, theirs.qr)).toBe(true)
    const fields = decode(theirs.qr) as Record<string, unknown>
    expect(verifyScannedSafetyNumber(ours, encode({ ...fields, '': '' }))).toBe(false)
    expect(verifyScannedSafetyNumber(ours, encode({ ...fields, x: 1 }))).toBe(false)
  })
})
