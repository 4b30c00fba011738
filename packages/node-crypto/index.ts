/**
 * The crypto core's primitives on Node's OpenSSL bindings (`node:crypto`), all synchronous: X25519 with
 * `crypto.diffieHellman`, Ed25519 with `crypto.sign(null, ...)` / `crypto.verify`, AES-256-GCM with
 * `createCipheriv`, HMAC-SHA-256 with `createHmac`, HKDF with `hkdfSync`, SHA-512 with `createHash`, random
 * bytes with `randomFillSync` (pooled). No primitive is ours: this only adapts OpenSSL to {@link CryptoProvider}.
 *
 * Node peers (relay, tests, load tools, the bench) install it at start-up; the browser bundle never imports
 * this file (it lives outside packages/core):
 * @example
 * import { setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
 * import { nodeCryptoProvider } from './index.ts'
 * setCryptoProvider(nodeCryptoProvider)
 *
 * KeyObjects made from raw bytes are cached per `Uint8Array` (WeakMap, so they die with the array): a
 * ratchet key pair is imported once when generated and reused by both DH operations of the next step.
 * Importing a private key costs a scalar multiplication (OpenSSL derives the public key), so X25519 key
 * generation is one import plus a raw export. Every result is a plain `Uint8Array` owned by the caller,
 * never a view into Node's shared Buffer pool.
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  hkdfSync,
  randomFillSync,
  sign,
  verify,
  type KeyObject,
  type PrivateKeyInput,
  type PublicKeyInput,
} from 'node:crypto'
import type { CryptoProvider } from '@paloma/core/crypto/primitives.ts'

const TAG_LENGTH = 16

type KeyType = 'x25519' | 'ed25519'

const x25519Private = new WeakMap<Uint8Array, KeyObject>()
const x25519Public = new WeakMap<Uint8Array, KeyObject>()
const ed25519Private = new WeakMap<Uint8Array, KeyObject>()

// DER prefixes (RFC 8410) of 32-byte keys, for Node releases without raw key formats.
const PKCS8_PREFIX: Record<KeyType, Uint8Array> = {
  x25519: Uint8Array.of(48, 46, 2, 1, 0, 48, 5, 6, 3, 43, 101, 110, 4, 34, 4, 32),
  ed25519: Uint8Array.of(48, 46, 2, 1, 0, 48, 5, 6, 3, 43, 101, 112, 4, 34, 4, 32),
}
const SPKI_PREFIX: Record<KeyType, Uint8Array> = {
  x25519: Uint8Array.of(48, 42, 48, 5, 6, 3, 43, 101, 110, 3, 33, 0),
  ed25519: Uint8Array.of(48, 42, 48, 5, 6, 3, 43, 101, 112, 3, 33, 0),
}

function withPrefix(prefix: Uint8Array, key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(prefix.length + key.length)
  out.set(prefix)
  out.set(key, prefix.length)
  return out
}

/**
 * Node 24 imports and exports raw key bytes (`format: 'raw-public' | 'raw-private'`); on older releases
 * the RFC 8410 DER forms are used instead (same keys, a little slower). Detected once.
 */
const RAW_FORMATS = ((): boolean => {
  try {
    const probe = { key: new Uint8Array(32).fill(9), format: 'raw-public', asymmetricKeyType: 'x25519' }
    createPublicKey(probe as unknown as PublicKeyInput)
    return true
  } catch {
    return false
  }
})()

/**
 * Runs `fn` with stack traces off. Node's key-argument checks (`isKeyObject` / `isCryptoKey` in native
 * code) throw and catch an internal TypeError for every argument that is not already a KeyObject, and
 * capturing that error's stack trace is about half the cost of importing a raw key (measured); errors
 * reaching the core are replaced by its typed errors anyway.
 */
function quietly<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return fn()
  } finally {
    Error.stackTraceLimit = limit
  }
}

function importPrivate(type: KeyType, raw: Uint8Array): KeyObject {
  const input = RAW_FORMATS
    ? { key: raw, format: 'raw-private', asymmetricKeyType: type }
    : { key: withPrefix(PKCS8_PREFIX[type], raw), format: 'der', type: 'pkcs8' }
  return quietly(() => createPrivateKey(input as unknown as PrivateKeyInput))
}

function importPublic(type: KeyType, raw: Uint8Array): KeyObject {
  const input = RAW_FORMATS
    ? { key: raw, format: 'raw-public', asymmetricKeyType: type }
    : { key: withPrefix(SPKI_PREFIX[type], raw), format: 'der', type: 'spki' }
  return quietly(() => createPublicKey(input as unknown as PublicKeyInput))
}

/** Raw 32-byte public key of a private KeyObject. */
function rawPublic(key: KeyObject): Uint8Array {
  const pub = createPublicKey(key)
  if (RAW_FORMATS) return new Uint8Array(pub.export({ format: 'raw-public' }))
  const der = pub.export({ format: 'der', type: 'spki' }) // its last 32 bytes are the key
  return new Uint8Array(der.subarray(der.length - 32))
}

function cached(map: WeakMap<Uint8Array, KeyObject>, raw: Uint8Array, make: () => KeyObject): KeyObject {
  let k = map.get(raw)
  if (!k) {
    k = make()
    map.set(raw, k)
  }
  return k
}

const x25519PrivateKey = (raw: Uint8Array) => cached(x25519Private, raw, () => importPrivate('x25519', raw))
const x25519PublicKey = (raw: Uint8Array) => cached(x25519Public, raw, () => importPublic('x25519', raw))
const ed25519PrivateKey = (raw: Uint8Array) =>
  cached(ed25519Private, raw, () => importPrivate('ed25519', raw))

/**
 * A secret key as a KeyObject: Node checks a raw-bytes key argument by throwing and catching internally
 * (see {@link quietly}), which costs more than the HMAC or AES operation itself; a KeyObject skips that.
 * Not cached: a message or chain key is used once.
 */
const secretKey = (key: Uint8Array): KeyObject => createSecretKey(key)

/** Copies a Node Buffer into a plain, unshared Uint8Array. */
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b)

/**
 * Random bytes for keys: OpenSSL's CSPRNG is called once per 4 KiB rather than once per key (each call costs
 * ~3 µs of binding overhead, more than copying 32 bytes). Every byte handed out is erased from the pool, so
 * no two callers ever see the same bytes; larger requests go straight to OpenSSL.
 */
const POOL_BYTES = 4096
const pool = new Uint8Array(POOL_BYTES)
let poolOffset = POOL_BYTES

function randomBytes(n: number): Uint8Array {
  if (n > 256) return randomFillSync(new Uint8Array(n))
  if (poolOffset + n > POOL_BYTES) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const end = poolOffset + n
  const out = pool.slice(poolOffset, end)
  pool.fill(0, poolOffset, end)
  poolOffset = end
  return out
}

/** The Node (OpenSSL) crypto provider. */
export const nodeCryptoProvider: CryptoProvider = {
  name: 'node',
  x25519PublicKey: (privateKey) => rawPublic(x25519PrivateKey(privateKey)),
  x25519: (privateKey, publicKey) =>
    plain(diffieHellman({ privateKey: x25519PrivateKey(privateKey), publicKey: x25519PublicKey(publicKey) })),
  ed25519PublicKey: (seed) => rawPublic(ed25519PrivateKey(seed)),
  ed25519Sign: (seed, message) => plain(sign(null, message, ed25519PrivateKey(seed))),
  ed25519Verify: (publicKey, signature, message) =>
    verify(null, message, importPublic('ed25519', publicKey), signature),
  aesGcmSeal(key, nonce, plaintext, ad) {
    const cipher = createCipheriv('aes-256-gcm', secretKey(key), nonce, { authTagLength: TAG_LENGTH })
    cipher.setAAD(ad)
    const out = new Uint8Array(plaintext.length + TAG_LENGTH)
    const body = cipher.update(plaintext)
    out.set(body)
    const rest = cipher.final()
    out.set(rest, body.length)
    out.set(cipher.getAuthTag(), plaintext.length)
    return out
  },
  aesGcmOpen(key, nonce, sealed, ad) {
    if (sealed.length < TAG_LENGTH) throw new RangeError('AES-256-GCM: input shorter than the tag')
    const end = sealed.length - TAG_LENGTH
    const decipher = createDecipheriv('aes-256-gcm', secretKey(key), nonce, { authTagLength: TAG_LENGTH })
    decipher.setAAD(ad)
    decipher.setAuthTag(sealed.subarray(end))
    const body = decipher.update(sealed.subarray(0, end))
    try {
      decipher.final() // throws when the tag does not verify
    } catch (e) {
      body.fill(0)
      throw e
    }
    const out = new Uint8Array(body)
    body.fill(0)
    return out
  },
  hmacSha256: (key, data) => plain(createHmac('sha256', secretKey(key)).update(data).digest()),
  hmacSha256Pair(key, a, b) {
    const k = secretKey(key)
    return [
      plain(createHmac('sha256', k).update(a).digest()),
      plain(createHmac('sha256', k).update(b).digest()),
    ]
  },
  hkdfSha256: (ikm, salt, info, length) =>
    new Uint8Array(hkdfSync('sha256', secretKey(ikm), salt, info, length)),
  sha512: (data) => plain(createHash('sha512').update(data).digest()),
  randomBytes,
}
