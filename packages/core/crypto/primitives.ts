/**
 * Thin wrappers over the primitives Paloma uses; nothing here implements a primitive.
 *
 * The primitives themselves come from a {@link CryptoProvider}, settable once per process with
 * {@link setCryptoProvider}. The default, {@link portableProvider}, runs unchanged in browsers and Node:
 * X25519 and Ed25519 through WebCrypto (`crypto.subtle`, native, ~10x faster than pure JS); HMAC/HKDF-SHA-256,
 * SHA-512 and AES-256-GCM on the synchronous @noble libraries, which beat the async WebCrypto round trip by
 * 3-10x on inputs this small. Node peers (relay, tools, tests, the bench) install the provider of
 * `packages/node-crypto/index.ts` (OpenSSL through `node:crypto`, synchronous) at start-up; the browser never
 * loads it. Whatever the provider, the wrappers below check lengths, reject all-zero X25519 outputs and
 * map every provider failure to the same typed error, so callers and tests see one behaviour.
 * The Ed25519 -> X25519 conversion always uses @noble/curves' field arithmetic (it is not a provider
 * primitive).
 * @module
 */
import { gcm } from '@noble/ciphers/aes.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256, sha512 } from '@noble/hashes/sha2.js'
import { concatBytes, fromBase64Url, isAllZero } from './bytes.ts'
import { KEY_LENGTH, NONCE_LENGTH, SIGNATURE_LENGTH, TAG_LENGTH } from './constants.ts'
import { DecryptionFailedError, InvalidKeyError, LowOrderPointError } from './errors.ts'

/** Source of randomness: returns `n` fresh random bytes. */
export type Rng = (n: number) => Uint8Array

/** An X25519 key pair as raw 32-byte strings. */
export interface KeyPair {
  readonly publicKey: Uint8Array
  readonly privateKey: Uint8Array
}

/** A value or a promise of it: asymmetric primitives may be asynchronous (WebCrypto), symmetric ones not. */
export type MaybePromise<T> = T | Promise<T>

/**
 * The primitives under the crypto core. Implementations must be well-kept libraries (WebCrypto, @noble,
 * OpenSSL), never code of ours. Inputs are validated by the wrappers of this module before they reach a
 * provider (key, nonce and signature lengths); a provider may throw (or reject) anything on failure, the
 * wrappers turn it into the module's typed errors. Results must be plain, unshared byte arrays owned by the
 * caller (the core wipes and slices them). A provider may cache per-key state (imported keys) keyed by the
 * identity of the key's `Uint8Array`: the core never changes the bytes of a key array it still uses.
 */
export interface CryptoProvider {
  /** Short name, for logs and benchmarks. */
  readonly name: string
  /** X25519 public key of a 32-byte private key (RFC 7748, clamping included). */
  x25519PublicKey(privateKey: Uint8Array): MaybePromise<Uint8Array>
  /** X25519(privateKey, publicKey); may throw/reject on an all-zero output (the wrapper checks anyway). */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): MaybePromise<Uint8Array>
  /** Ed25519 public key of a 32-byte seed (RFC 8032). */
  ed25519PublicKey(seed: Uint8Array): MaybePromise<Uint8Array>
  /** Ed25519 signature (64 bytes) of `message` by the key of `seed`. */
  ed25519Sign(seed: Uint8Array, message: Uint8Array): MaybePromise<Uint8Array>
  /** RFC 8032 verification; false (or a throw/rejection) when it does not verify. */
  ed25519Verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): MaybePromise<boolean>
  /** AES-256-GCM encryption: ciphertext || 16-byte tag. */
  aesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array
  /** AES-256-GCM decryption of ciphertext || tag (at least 16 bytes); throws when the tag does not verify. */
  aesGcmOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array
  /** HMAC-SHA-256. */
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array
  /** HMAC-SHA-256 of two messages under one key (lets a provider compute the key schedule once). */
  hmacSha256Pair?(key: Uint8Array, a: Uint8Array, b: Uint8Array): [Uint8Array, Uint8Array]
  /** HKDF-SHA-256 (RFC 5869). */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array
  /** SHA-512. */
  sha512(data: Uint8Array): Uint8Array
  /** `n` bytes from a cryptographically secure generator. */
  randomBytes(n: number): Uint8Array
}

/** Counters of symmetric key derivations, for tests that must prove no key was derived. */
export const _stats = { hmac: 0, hkdf: 0 }

const subtle = (): SubtleCrypto => globalThis.crypto.subtle
/** WebCrypto's typings want ArrayBuffer-backed views; ours always are. */
const buf = (a: Uint8Array): Uint8Array<ArrayBuffer> => a as Uint8Array<ArrayBuffer>

// PKCS#8 DER prefixes (RFC 8410) for a 32-byte X25519 / Ed25519 private key.
const X25519_PKCS8_PREFIX = Uint8Array.of(48, 46, 2, 1, 0, 48, 5, 6, 3, 43, 101, 110, 4, 34, 4, 32)
const ED25519_PKCS8_PREFIX = Uint8Array.of(48, 46, 2, 1, 0, 48, 5, 6, 3, 43, 101, 112, 4, 34, 4, 32)

const privateKeyCache = new WeakMap<Uint8Array, Promise<CryptoKey>>()
const publicKeyCache = new WeakMap<Uint8Array, Promise<CryptoKey>>()
const signingKeyCache = new WeakMap<Uint8Array, Promise<CryptoKey>>()

function importX25519Private(priv: Uint8Array, extractable: boolean): Promise<CryptoKey> {
  return subtle().importKey(
    'pkcs8',
    buf(concatBytes(X25519_PKCS8_PREFIX, priv)),
    { name: 'X25519' },
    extractable,
    ['deriveBits'],
  )
}

function x25519PrivateKey(priv: Uint8Array): Promise<CryptoKey> {
  let k = privateKeyCache.get(priv)
  if (!k) {
    k = importX25519Private(priv, false)
    privateKeyCache.set(priv, k)
  }
  return k
}

function x25519PublicCryptoKey(pub: Uint8Array): Promise<CryptoKey> {
  let k = publicKeyCache.get(pub)
  if (!k) {
    k = subtle().importKey('raw', buf(pub), { name: 'X25519' }, true, [])
    publicKeyCache.set(pub, k)
  }
  return k
}

function ed25519SigningKey(seed: Uint8Array): Promise<CryptoKey> {
  let k = signingKeyCache.get(seed)
  if (!k) {
    k = subtle().importKey('pkcs8', buf(concatBytes(ED25519_PKCS8_PREFIX, seed)), { name: 'Ed25519' }, true, [
      'sign',
    ])
    signingKeyCache.set(seed, k)
  }
  return k
}

function hmacPairNoble(key: Uint8Array, a: Uint8Array, b: Uint8Array): [Uint8Array, Uint8Array] {
  const keyed = hmac.create(sha256, key)
  const second = keyed.clone()
  return [keyed.update(a).digest(), second.update(b).digest()]
}

/**
 * The portable default: WebCrypto for X25519/Ed25519 (imported `CryptoKey`s cached per key array), the
 * synchronous @noble libraries for HMAC, HKDF, SHA-512 and AES-256-GCM, WebCrypto's CSPRNG.
 */
export const portableProvider: CryptoProvider = {
  name: 'portable',
  async x25519PublicKey(privateKey) {
    const key = await importX25519Private(privateKey, true)
    const jwk = await subtle().exportKey('jwk', key)
    privateKeyCache.set(privateKey, Promise.resolve(key))
    return fromBase64Url(jwk.x ?? '')
  },
  async x25519(privateKey, publicKey) {
    const [priv, pub] = await Promise.all([x25519PrivateKey(privateKey), x25519PublicCryptoKey(publicKey)])
    return new Uint8Array(await subtle().deriveBits({ name: 'X25519', public: pub }, priv, 256))
  },
  async ed25519PublicKey(seed) {
    const jwk = await subtle().exportKey('jwk', await ed25519SigningKey(seed))
    return fromBase64Url(jwk.x ?? '')
  },
  async ed25519Sign(seed, message) {
    return new Uint8Array(
      await subtle().sign({ name: 'Ed25519' }, await ed25519SigningKey(seed), buf(message)),
    )
  },
  async ed25519Verify(publicKey, signature, message) {
    const key = await subtle().importKey('raw', buf(publicKey), { name: 'Ed25519' }, false, ['verify'])
    return subtle().verify({ name: 'Ed25519' }, key, buf(signature), buf(message))
  },
  aesGcmSeal: (key, nonce, plaintext, ad) => gcm(key, nonce, ad).encrypt(plaintext),
  aesGcmOpen: (key, nonce, sealed, ad) => gcm(key, nonce, ad).decrypt(sealed),
  hmacSha256: (key, data) => hmac(sha256, key, data),
  hmacSha256Pair: hmacPairNoble,
  hkdfSha256: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  sha512: (data) => sha512(data),
  randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
}

let provider: CryptoProvider = portableProvider

/**
 * Installs the provider every primitive of this process goes through. Call it once at start-up, before any
 * key is generated or session used (tests switch providers between suites). Returns the previous one.
 * @example
 * import { nodeCryptoProvider } from '../platform/node-crypto.ts'
 * setCryptoProvider(nodeCryptoProvider)
 */
export function setCryptoProvider(p: CryptoProvider): CryptoProvider {
  const previous = provider
  provider = p
  return previous
}

/** The provider in use. */
export function getCryptoProvider(): CryptoProvider {
  return provider
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_LENGTH) {
    throw new InvalidKeyError(`${what}: expected ${KEY_LENGTH}-byte Uint8Array, got ${describe(key)}`)
  }
}

function describe(v: unknown): string {
  return v instanceof Uint8Array ? `${v.length} bytes` : typeof v
}

/**
 * X25519 key pair from 32 private bytes (clamped by X25519 itself, RFC 7748).
 * @throws InvalidKeyError when `privateKey` is not 32 bytes.
 */
export async function x25519KeyPairFromPrivate(privateKey: Uint8Array): Promise<KeyPair> {
  checkKey(privateKey, 'X25519 private key')
  return { publicKey: await provider.x25519PublicKey(privateKey), privateKey }
}

/** Fresh X25519 key pair from `rng`. */
export function generateX25519KeyPair(rng: Rng): Promise<KeyPair> {
  return x25519KeyPairFromPrivate(rng(KEY_LENGTH))
}

/**
 * X25519(privateKey, publicKey).
 * @throws LowOrderPointError when the output is all zeros (low-order peer key).
 * @throws InvalidKeyError when a key has the wrong length.
 */
export async function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array> {
  checkKey(privateKey, 'X25519 private key')
  checkKey(publicKey, 'X25519 public key')
  let out: Uint8Array
  try {
    out = await provider.x25519(privateKey, publicKey)
  } catch {
    // WebCrypto and OpenSSL reject an all-zero shared secret themselves.
    throw new LowOrderPointError()
  }
  if (isAllZero(out)) throw new LowOrderPointError()
  return out
}

/** One asymmetric operation of an {@link x25519Batch}: a DH, or the generation of a key pair. */
export type X25519Op = readonly [privateKey: Uint8Array, publicKey: Uint8Array] | { readonly generate: Rng }

const isPromise = (v: unknown): v is Promise<unknown> =>
  typeof (v as { then?: unknown } | null)?.then === 'function'

function checkedDh(out: Uint8Array): Uint8Array {
  if (isAllZero(out)) throw new LowOrderPointError()
  return out
}

/**
 * Runs several independent X25519 operations (DH outputs as Uint8Array, generations as KeyPair), in order:
 * with a synchronous provider no promise is made per operation and the result is a plain array; with an
 * asynchronous one they run concurrently. Every operation is started (and its randomness drawn) even when
 * an earlier one fails, exactly as with `Promise.all` of {@link x25519} / {@link generateX25519KeyPair};
 * the first failure in order is thrown (or rejected) with the same typed errors.
 * @throws LowOrderPointError, InvalidKeyError
 */
export function x25519Batch(
  ops: readonly X25519Op[],
): (Uint8Array | KeyPair)[] | Promise<(Uint8Array | KeyPair)[]> {
  const p = provider
  const results: MaybePromise<Uint8Array | KeyPair>[] = []
  let error: { e: unknown } | null = null
  let pending = false
  for (const op of ops) {
    try {
      const r = 'generate' in op ? generateOne(p, op.generate) : dhOne(p, op[0], op[1])
      if (isPromise(r)) pending = true
      results.push(r)
    } catch (e) {
      error ??= { e }
    }
  }
  if (error) {
    // The first failure in order wins; later asynchronous operations are left to settle unobserved.
    for (const r of results) if (isPromise(r)) r.catch(() => undefined)
    throw error.e
  }
  return pending ? Promise.all(results) : (results as (Uint8Array | KeyPair)[])
}

function generateOne(p: CryptoProvider, rng: Rng): MaybePromise<KeyPair> {
  const privateKey = rng(KEY_LENGTH)
  checkKey(privateKey, 'X25519 private key')
  const pub = p.x25519PublicKey(privateKey)
  return isPromise(pub)
    ? pub.then((publicKey) => ({ publicKey, privateKey }))
    : { publicKey: pub, privateKey }
}

function dhOne(p: CryptoProvider, privateKey: Uint8Array, publicKey: Uint8Array): MaybePromise<Uint8Array> {
  checkKey(privateKey, 'X25519 private key')
  checkKey(publicKey, 'X25519 public key')
  let out: MaybePromise<Uint8Array>
  try {
    out = p.x25519(privateKey, publicKey)
  } catch {
    // WebCrypto and OpenSSL reject an all-zero shared secret themselves.
    throw new LowOrderPointError()
  }
  return isPromise(out)
    ? out.then(checkedDh, () => {
        throw new LowOrderPointError()
      })
    : checkedDh(out)
}

/** Ed25519 public key of a 32-byte seed (RFC 8032 private key). */
export async function ed25519PublicFromSeed(seed: Uint8Array): Promise<Uint8Array> {
  checkKey(seed, 'Ed25519 seed')
  return provider.ed25519PublicKey(seed)
}

/** Ed25519 signature of `message` with the key whose seed is `seed`. */
export async function ed25519Sign(seed: Uint8Array, message: Uint8Array): Promise<Uint8Array> {
  checkKey(seed, 'Ed25519 seed')
  return provider.ed25519Sign(seed, message)
}

/** Verifies an Ed25519 signature; false on any malformed input, never throws for bad signatures. */
export async function ed25519Verify(
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false
  try {
    return (await provider.ed25519Verify(publicKey, signature, message)) === true
  } catch {
    return false
  }
}

const montgomeryCache = new Map<string, Uint8Array>()
const MONTGOMERY_CACHE_MAX = 1024
const Fp = ed25519.Point.Fp

/**
 * X25519 form of an Ed25519 public key: u = (1 + y) / (1 - y) mod p (RFC 7748 section 4.1), computed with
 * @noble/curves' field arithmetic. Equal to `ed25519.utils.toMontgomery` for every valid key, but skips
 * its point decompression (a square root, ~10x the cost): like libsignal's X25519 keys, the result is not
 * checked to lie on the curve rather than its twist, which X25519 tolerates; all-zero DH outputs are still
 * rejected, and AD binds the exact Ed25519 bytes. Cached per key.
 * @throws InvalidKeyError for a non-canonical y (>= p) or y = 1 (the identity point).
 */
export function ed25519PublicToX25519(edPublic: Uint8Array): Uint8Array {
  checkKey(edPublic, 'Ed25519 public key')
  const id = String.fromCharCode(...edPublic)
  const hit = montgomeryCache.get(id)
  if (hit) return hit
  let y = 0n
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt((edPublic[i] as number) & (i === 31 ? 0x7f : 0xff))
  if (y >= Fp.ORDER || y === 1n) throw new InvalidKeyError('Ed25519 public key: not a usable curve point')
  const u = Fp.toBytes(Fp.div(Fp.add(1n, y), Fp.sub(1n, y)))
  if (montgomeryCache.size >= MONTGOMERY_CACHE_MAX) montgomeryCache.clear()
  montgomeryCache.set(id, u)
  return u
}

/** X25519 private scalar (clamped SHA-512(seed)[0..32]) matching {@link ed25519PublicToX25519}. */
export function ed25519SeedToX25519(seed: Uint8Array): Uint8Array {
  checkKey(seed, 'Ed25519 seed')
  return ed25519.utils.toMontgomerySecret(seed)
}

/** HMAC-SHA-256. */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  _stats.hmac++
  return provider.hmacSha256(key, data)
}

/** HMAC-SHA-256 of two messages under one key (the key schedule is computed once where the provider can). */
export function hmacSha256Pair(key: Uint8Array, a: Uint8Array, b: Uint8Array): [Uint8Array, Uint8Array] {
  _stats.hmac += 2
  const p = provider
  return p.hmacSha256Pair ? p.hmacSha256Pair(key, a, b) : [p.hmacSha256(key, a), p.hmacSha256(key, b)]
}

/** HKDF-SHA-256 (RFC 5869). */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  _stats.hkdf++
  return provider.hkdfSha256(ikm, salt, info, length)
}

/** SHA-512. */
export function sha512Hash(data: Uint8Array): Uint8Array {
  return provider.sha512(data)
}

/** SHA-256 (always @noble/hashes: not on any hot path). */
export function sha256Hash(data: Uint8Array): Uint8Array {
  return sha256(data)
}

function checkAead(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== KEY_LENGTH || nonce.length !== NONCE_LENGTH)
    throw new InvalidKeyError('AES-256-GCM key/nonce')
}

/** AES-256-GCM encryption; returns ciphertext with the 16-byte tag appended. */
export function aesGcmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
): Uint8Array {
  checkAead(key, nonce)
  return provider.aesGcmSeal(key, nonce, plaintext, ad)
}

/**
 * AES-256-GCM decryption of ciphertext||tag.
 * @throws DecryptionFailedError when the tag does not verify (or the input is shorter than a tag).
 */
export function aesGcmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  ad: Uint8Array,
): Uint8Array {
  checkAead(key, nonce)
  if (ciphertext.length < TAG_LENGTH) throw new DecryptionFailedError()
  try {
    return provider.aesGcmOpen(key, nonce, ciphertext, ad)
  } catch {
    throw new DecryptionFailedError()
  }
}

/** Default randomness for applications: the provider's CSPRNG (WebCrypto's by default). */
export const secureRandom: Rng = (n) => provider.randomBytes(n)
