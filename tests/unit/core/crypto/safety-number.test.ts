import { describe, expect, it } from 'vitest'
import {
  InvalidRecordError,
  PADDING_BLOCK,
  generateIdentity,
  pad,
  safetyNumber,
  unpad,
  verifyScannedSafetyNumber,
} from '@paloma/core/crypto/index.ts'
import { seededRng } from './helpers.ts'

describe('safety numbers', () => {
  it('are 60 digits, identical on both sides, and change when a key changes', async () => {
    const rng = seededRng('safety')
    const [a, b, c] = [await generateIdentity(rng), await generateIdentity(rng), await generateIdentity(rng)]
    const ab = safetyNumber(a.publicKey, b.publicKey)
    const ba = safetyNumber(b.publicKey, a.publicKey)
    expect(ab.digits).toMatch(/^\d{60}$/)
    expect(ba.digits).toBe(ab.digits)
    expect(ba.qr).toEqual(ab.qr)
    expect(safetyNumber(a.publicKey, c.publicKey).digits).not.toBe(ab.digits)
    expect(verifyScannedSafetyNumber(ab, ba.qr)).toBe(true)
    expect(verifyScannedSafetyNumber(ab, safetyNumber(c.publicKey, b.publicKey).qr)).toBe(false)
    expect(() => verifyScannedSafetyNumber(ab, new Uint8Array([1]))).toThrow(InvalidRecordError)
  })

  it('is stable (regression value)', () => {
    const k1 = new Uint8Array(32).fill(1)
    const k2 = new Uint8Array(32).fill(2)
    const n = safetyNumber(k1, k2).digits
    expect(n).toBe(safetyNumber(k2, k1).digits)
    expect(n).toMatchInlineSnapshot(`"175484055375002258331488126542222053289797895769293280776578"`)
  })
})

describe('padding', () => {
  it('pads to a multiple of PADDING_BLOCK and round-trips', () => {
    for (const len of [0, 1, PADDING_BLOCK - 1, PADDING_BLOCK, 1000]) {
      const m = new Uint8Array(len).fill(7)
      const p = pad(m)
      expect(p.length % PADDING_BLOCK).toBe(0)
      expect(p.length).toBeGreaterThan(len)
      expect(unpad(p)).toEqual(m)
    }
    expect(pad(new Uint8Array(100)).length).toBe(PADDING_BLOCK)
    expect(() => unpad(new Uint8Array(PADDING_BLOCK))).toThrow(InvalidRecordError)
    expect(() => unpad(Uint8Array.of(1, 2, 3))).toThrow(InvalidRecordError)
  })
})
