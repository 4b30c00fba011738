import { describe, expect, it } from 'vitest'
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js'
import { fromHex, toHex } from '@paloma/core/crypto/bytes.ts'
import { InvalidKeyError, LowOrderPointError } from '@paloma/core/crypto/errors.ts'
import {
  ed25519PublicToX25519,
  ed25519Sign,
  ed25519Verify,
  hkdfSha256,
  x25519,
  x25519KeyPairFromPrivate,
} from '@paloma/core/crypto/primitives.ts'
import { seededRng } from './helpers.ts'

describe('primitives', () => {
  it('X25519 matches RFC 7748 section 6.1', async () => {
    const a = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
    const b = await x25519KeyPairFromPrivate(
      fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'),
    )
    expect(toHex(b.publicKey)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
    expect(toHex(await x25519(a, b.publicKey))).toBe(
      '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
    )
  })

  it('rejects low-order points and wrong lengths', async () => {
    const a = new Uint8Array(32).fill(5)
    await expect(x25519(a, new Uint8Array(32))).rejects.toBeInstanceOf(LowOrderPointError)
    await expect(x25519(a, new Uint8Array(31))).rejects.toBeInstanceOf(InvalidKeyError)
  })

  it('HKDF-SHA-256 matches RFC 5869 test case 1', () => {
    const okm = hkdfSha256(
      fromHex('0b'.repeat(22)),
      fromHex('000102030405060708090a0b0c'),
      fromHex('f0f1f2f3f4f5f6f7f8f9'),
      42,
    )
    expect(toHex(okm)).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    )
  })

  it('maps Ed25519 keys to X25519 exactly like @noble/curves toMontgomery', () => {
    const rng = seededRng('montgomery')
    for (let i = 0; i < 40; i++) {
      const pub = ed25519.getPublicKey(rng(32))
      expect(toHex(ed25519PublicToX25519(pub))).toBe(toHex(ed25519.utils.toMontgomery(pub)))
      const flipped = pub.slice()
      flipped[31] = (flipped[31] ?? 0) ^ 0x80
      expect(toHex(ed25519PublicToX25519(flipped))).toBe(toHex(ed25519.utils.toMontgomery(pub)))
    }
    const one = new Uint8Array(32)
    one[0] = 1
    expect(() => ed25519PublicToX25519(one)).toThrow(InvalidKeyError)
    expect(() => ed25519PublicToX25519(new Uint8Array(32).fill(0xff))).toThrow(InvalidKeyError)
  })

  it('Ed25519 signatures through WebCrypto interoperate with @noble/curves', async () => {
    const seed = seededRng('ed')(32)
    const msg = new TextEncoder().encode('paloma')
    const sig = await ed25519Sign(seed, msg)
    expect(ed25519.verify(sig, msg, ed25519.getPublicKey(seed))).toBe(true)
    expect(await ed25519Verify(ed25519.getPublicKey(seed), sig, msg)).toBe(true)
    expect(await ed25519Verify(ed25519.getPublicKey(seed), sig, msg.subarray(1))).toBe(false)
    expect(toHex(nobleX25519.getPublicKey(seed))).toBe(
      toHex((await x25519KeyPairFromPrivate(seed)).publicKey),
    )
  })
})
