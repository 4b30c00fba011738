// The Node (OpenSSL) crypto provider: each primitive equals the portable (WebCrypto/@noble) one on random
// inputs and on published vectors, and every failure (low-order point, bad signature, tampered tag, short
// input) surfaces as the same typed error whichever provider is installed.
import { afterAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fromHex, toHex } from '@paloma/core/crypto/bytes.ts'
import { DecryptionFailedError, InvalidKeyError, LowOrderPointError } from '@paloma/core/crypto/errors.ts'
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519PublicFromSeed,
  ed25519Sign,
  ed25519Verify,
  getCryptoProvider,
  hkdfSha256,
  hmacSha256,
  hmacSha256Pair,
  portableProvider,
  secureRandom,
  setCryptoProvider,
  sha512Hash,
  x25519,
  x25519Batch,
  x25519KeyPairFromPrivate,
  type CryptoProvider,
  type KeyPair,
} from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const RUNS = 150

/** Runs `fn` with `p` installed (tests in a file run one at a time). */
async function under<T>(p: CryptoProvider, fn: () => Promise<T> | T): Promise<T> {
  const previous = setCryptoProvider(p)
  try {
    return await fn()
  } finally {
    setCryptoProvider(previous)
  }
}

/** The outcome of `fn` under both providers: value or error class name. */
async function both(fn: () => unknown): Promise<[unknown, unknown]> {
  const run = (p: CryptoProvider) =>
    under(p, async () => {
      try {
        const v = await fn()
        return v instanceof Uint8Array ? toHex(v) : Array.isArray(v) ? v.map((x: Uint8Array) => toHex(x)) : v
      } catch (e) {
        return `throws ${(e as Error).name}`
      }
    })
  return [await run(nodeCryptoProvider), await run(portableProvider)]
}

// Curve25519 points of small order (libsignal / RFC 7748 section 7 lists), as X25519 public keys.
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]

describe('Node crypto provider', () => {
  afterAll(() => {
    setCryptoProvider(portableProvider)
  })

  it('is not installed by default; setCryptoProvider swaps and returns the previous one', () => {
    expect(getCryptoProvider()).toBe(portableProvider)
    expect(setCryptoProvider(nodeCryptoProvider)).toBe(portableProvider)
    expect(getCryptoProvider().name).toBe('node')
    expect(setCryptoProvider(portableProvider)).toBe(nodeCryptoProvider)
  })

  it('X25519 matches RFC 7748 section 6.1', async () => {
    await under(nodeCryptoProvider, async () => {
      const a = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
      const b = await x25519KeyPairFromPrivate(
        fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'),
      )
      expect(toHex(b.publicKey)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
      expect(toHex(await x25519(a, b.publicKey))).toBe(
        '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
      )
    })
  })

  it('X25519 key generation and DH equal the portable provider on random keys', async () => {
    await fc.assert(
      fc.asyncProperty(bytes(32), bytes(32), async (a, b) => {
        const [n, p] = await both(async () => {
          const pa = await x25519KeyPairFromPrivate(a.slice())
          const pb = await x25519KeyPairFromPrivate(b.slice())
          return [pa.publicKey, pb.publicKey, await x25519(pa.privateKey, pb.publicKey)]
        })
        expect(n).toEqual(p)
        // Any 32 bytes are an X25519 public key (RFC 7748 masks the top bit): not only curve points.
        const [rn, rp] = await both(() => x25519(a, b))
        expect(rn).toEqual(rp)
      }),
      { numRuns: RUNS },
    )
  })

  it('rejects low-order points with LowOrderPointError and wrong lengths with InvalidKeyError', async () => {
    const priv = secureRandom(32)
    for (const hex of LOW_ORDER) {
      expect(await both(() => x25519(priv, fromHex(hex)))).toEqual([
        'throws LowOrderPointError',
        'throws LowOrderPointError',
      ])
    }
    await under(nodeCryptoProvider, async () => {
      await expect(x25519(priv, new Uint8Array(31))).rejects.toBeInstanceOf(InvalidKeyError)
      await expect(x25519(new Uint8Array(33), new Uint8Array(32).fill(9))).rejects.toBeInstanceOf(
        InvalidKeyError,
      )
      await expect(x25519(priv, new Uint8Array(32))).rejects.toBeInstanceOf(LowOrderPointError)
    })
  })

  it('Ed25519 public keys and signatures equal the portable provider (RFC 8032 is deterministic)', async () => {
    await fc.assert(
      fc.asyncProperty(bytes(32), fc.uint8Array({ maxLength: 300 }), async (seed, msg) => {
        const [n, p] = await both(async () => {
          const pub = await ed25519PublicFromSeed(seed.slice())
          const sig = await ed25519Sign(seed.slice(), msg)
          return [pub, sig]
        })
        expect(n).toEqual(p)
        const [pub, sig] = (n as string[]).map(fromHex) as [Uint8Array, Uint8Array]
        expect(await both(() => ed25519Verify(pub, sig, msg))).toEqual([true, true])
      }),
      { numRuns: RUNS },
    )
  })

  it('RFC 8032 test 1, and bad signatures are false (never a throw) with both providers', async () => {
    const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')
    const pub = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
    const sig =
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
    expect(await both(() => ed25519PublicFromSeed(seed))).toEqual([pub, pub])
    expect(await both(() => ed25519Sign(seed, new Uint8Array(0)))).toEqual([sig, sig])
    const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
      [fromHex(pub), fromHex(sig), Uint8Array.of(1)], // other message
      [fromHex(pub), fromHex(sig.slice(0, -2) + '0a'), new Uint8Array(0)], // flipped bit
      [fromHex(pub), fromHex(sig).subarray(1), new Uint8Array(0)], // short signature
      [new Uint8Array(32), fromHex(sig), new Uint8Array(0)], // not a key
      [new Uint8Array(32).fill(0xff), fromHex(sig), new Uint8Array(0)], // not a point
      [fromHex(pub).subarray(1), fromHex(sig), new Uint8Array(0)], // short key
    ]
    for (const [k, s, m] of cases) expect(await both(() => ed25519Verify(k, s, m))).toEqual([false, false])
  })

  it('AES-256-GCM seals identically and rejects tampering with DecryptionFailedError', async () => {
    await fc.assert(
      fc.asyncProperty(
        bytes(32),
        bytes(12),
        fc.uint8Array({ maxLength: 400 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(),
        async (key, nonce, pt, ad, at) => {
          const [n, p] = await both(() => aesGcmEncrypt(key, nonce, pt, ad))
          expect(n).toEqual(p)
          const sealed = fromHex(n as string)
          expect(await both(() => aesGcmDecrypt(key, nonce, sealed, ad))).toEqual([toHex(pt), toHex(pt)])
          const tampered = sealed.slice()
          tampered[at % tampered.length] = (tampered[at % tampered.length] as number) ^ 1
          const failed = ['throws DecryptionFailedError', 'throws DecryptionFailedError']
          expect(await both(() => aesGcmDecrypt(key, nonce, tampered, ad))).toEqual(failed)
          expect(await both(() => aesGcmDecrypt(key, nonce, sealed, Uint8Array.of(...ad, 0)))).toEqual(failed)
          expect(await both(() => aesGcmDecrypt(key, nonce, sealed.subarray(0, 15), ad))).toEqual(failed)
        },
      ),
      { numRuns: RUNS },
    )
    const bad = ['throws InvalidKeyError', 'throws InvalidKeyError']
    expect(
      await both(() =>
        aesGcmEncrypt(new Uint8Array(16), new Uint8Array(12), Uint8Array.of(1), new Uint8Array(0)),
      ),
    ).toEqual(bad)
    expect(
      await both(() =>
        aesGcmDecrypt(new Uint8Array(32), new Uint8Array(16), new Uint8Array(32), new Uint8Array(0)),
      ),
    ).toEqual(bad)
  })

  it('a tampered tag is a DecryptionFailedError (instance, not just by name)', async () => {
    await under(nodeCryptoProvider, () => {
      const key = secureRandom(32)
      const sealed = aesGcmEncrypt(key, new Uint8Array(12), Uint8Array.of(1, 2, 3), new Uint8Array(0))
      sealed[sealed.length - 1] = (sealed[sealed.length - 1] as number) ^ 0x80
      expect(() => aesGcmDecrypt(key, new Uint8Array(12), sealed, new Uint8Array(0))).toThrow(
        DecryptionFailedError,
      )
    })
  })

  it('AES-256-GCM matches the NIST GCM test case 16 (AES-256, 96-bit IV, AAD)', async () => {
    const key = fromHex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308')
    const iv = fromHex('cafebabefacedbaddecaf888')
    const pt = fromHex(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    )
    const ad = fromHex('feedfacedeadbeeffeedfacedeadbeefabaddad2')
    const expected =
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
      '76fc6ece0f4e1768cddf8853bb2d551b'
    expect(await both(() => aesGcmEncrypt(key, iv, pt, ad))).toEqual([expected, expected])
  })

  it('HMAC, HKDF and SHA-512 equal the portable provider on random inputs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 100 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.uint8Array({ maxLength: 100 }),
        fc.uint8Array({ maxLength: 60 }),
        fc.integer({ min: 1, max: 200 }),
        async (key, a, b, info, len) => {
          for (const f of [
            () => hmacSha256(key, a),
            () => hmacSha256Pair(key, a, b),
            () => hkdfSha256(key, a, info, len),
            () => sha512Hash(a),
          ]) {
            const [n, p] = await both(f)
            expect(n).toEqual(p)
            expect(String(n)).not.toMatch(/^throws/)
          }
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('returns plain, unshared Uint8Arrays (never Buffers or views into a pool)', async () => {
    await under(nodeCryptoProvider, async () => {
      const key = secureRandom(32)
      const pair = await x25519KeyPairFromPrivate(secureRandom(32))
      const outputs = [
        secureRandom(32),
        pair.publicKey,
        await x25519(key, pair.publicKey),
        await ed25519PublicFromSeed(key),
        await ed25519Sign(key, Uint8Array.of(1)),
        aesGcmEncrypt(key, new Uint8Array(12), Uint8Array.of(1, 2), new Uint8Array(0)),
        aesGcmDecrypt(
          key,
          new Uint8Array(12),
          aesGcmEncrypt(key, new Uint8Array(12), Uint8Array.of(1, 2), new Uint8Array(0)),
          new Uint8Array(0),
        ),
        hmacSha256(key, Uint8Array.of(1)),
        ...hmacSha256Pair(key, Uint8Array.of(1), Uint8Array.of(2)),
        hkdfSha256(key, key, key, 44),
        sha512Hash(key),
      ]
      for (const o of outputs) {
        expect(Object.getPrototypeOf(o)).toBe(Uint8Array.prototype)
        expect(o.byteOffset).toBe(0)
        expect(o.buffer.byteLength).toBe(o.length)
      }
    })
  })

  it('pooled random bytes: right lengths, never the same bytes twice (across pool refills), caller-owned', () => {
    const seen = new Set<string>()
    let zeros = 0
    for (let i = 0; i < 600; i++) {
      const n = [1, 12, 32, 64, 200, 257, 5000][i % 7] as number
      const out = nodeCryptoProvider.randomBytes(n)
      expect(out.length).toBe(n)
      expect(out.buffer.byteLength).toBe(n)
      if (n >= 12) {
        const hex = Buffer.from(out.subarray(0, 12)).toString('hex')
        expect(seen.has(hex)).toBe(false)
        seen.add(hex)
      }
      for (const b of out) if (b === 0) zeros++
      out.fill(0) // a caller wiping its copy does not touch later outputs
    }
    // 600 requests cross the 4 KiB pool many times; zero bytes stay at their random rate (~1/256).
    expect(seen.size).toBe(514)
    expect(zeros).toBeLessThan(((600 / 7) * (1 + 12 + 32 + 64 + 200 + 257 + 5000)) / 128)
  })

  it('x25519Batch: synchronous with the Node provider, a promise with the portable one, same results and errors', async () => {
    const a = await x25519KeyPairFromPrivate(secureRandom(32))
    const b = await x25519KeyPairFromPrivate(secureRandom(32))
    const seed = secureRandom(32)
    const results: Record<string, string[]> = {}
    for (const p of [nodeCryptoProvider, portableProvider]) {
      await under(p, async () => {
        const out = x25519Batch([[a.privateKey, b.publicKey], { generate: () => seed.slice() }])
        expect(Array.isArray(out)).toBe(p === nodeCryptoProvider)
        const [dh, pair] = (await out) as [Uint8Array, KeyPair]
        expect(toHex(dh)).toBe(toHex(await x25519(a.privateKey, b.publicKey)))
        results[p.name] = [toHex(dh), toHex(pair.publicKey), toHex(pair.privateKey)]
        // The first failure in order wins; every operation still draws its randomness.
        let drawn = 0
        const failing = () =>
          x25519Batch([
            [a.privateKey, new Uint8Array(31)],
            [a.privateKey, new Uint8Array(32)],
            { generate: (n) => (drawn++, secureRandom(n)) },
          ])
        await expect((async () => failing())()).rejects.toBeInstanceOf(InvalidKeyError)
        await expect(
          (async () => x25519Batch([[a.privateKey, new Uint8Array(32)]]))(),
        ).rejects.toBeInstanceOf(LowOrderPointError)
        expect(drawn).toBe(1)
      })
    }
    expect(results.node).toEqual(results.portable)
  })
})
