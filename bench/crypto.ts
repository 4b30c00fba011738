// Benchmark of the end-to-end encryption core (npm run bench:crypto). Prints one JSON line:
// setup_ms: bundle verification + X3DH + first message both ways (mean of 200, fresh identities each run;
// setup_median_ms: their median);
// msgs_per_s_oneway: encrypt+decrypt of a one-direction stream; msgs_per_s_pingpong: direction
// alternates every message (a DH ratchet step each time); both are medians of 5 interleaved rounds, with
// the slowest and fastest round in oneway_range / pingpong_range;
// overhead_bytes: body length - 100 for a 100-byte plaintext on an established session (padding to 160
// included);
// header_encryption: the same figures for sessions that encrypt headers (what the app uses);
// primitives_us: each primitive of the message path timed alone in a hot loop, and ceiling: the three
// figures if nothing but those primitive calls cost anything (no session layer, codecs, stores or GC).
// The main keys are for the Node (OpenSSL) provider that Node peers install; `portable` repeats the figures
// for the WebCrypto/@noble default the browser uses. Each provider runs in its own child process
// (`--provider node|portable` prints that provider's figures only), so neither warms the JIT for the other.
import { execFileSync } from 'node:child_process'
import { availableParallelism, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { MESSAGE_KEY_INFO_BYTES, ROOT_INFO_BYTES } from '@paloma/core/crypto/constants.ts'
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  ed25519PublicFromSeed,
  ed25519PublicToX25519,
  ed25519Sign,
  ed25519Verify,
  generateX25519KeyPair,
  hkdfSha256,
  hmacSha256Pair,
  portableProvider,
  setCryptoProvider,
  x25519,
  type CryptoProvider,
} from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'
import {
  createInMemoryStores,
  createPreKeyBundle,
  decryptMessage,
  encryptMessage,
  generateIdentity,
  generateOneTimePreKeys,
  generateSignedPreKey,
  processPreKeyBundle,
  secureRandom,
} from '@paloma/core/crypto/index.ts'

const rng = secureRandom
const now = Date.now()
const payload = new Uint8Array(100).fill(0x61)

async function party() {
  const identity = await generateIdentity(rng)
  const stores = createInMemoryStores(identity)
  const spk = await generateSignedPreKey(1, rng, now)
  await stores.signedPreKeys.storeSignedPreKey(spk)
  const opks = await generateOneTimePreKeys(1, 1, rng)
  for (const k of opks) await stores.preKeys.storePreKey(k)
  const bundle = await createPreKeyBundle(identity, spk, opks)
  return { identity, stores, bundle }
}

async function setupOnce(timed: boolean, headerEncryption: boolean) {
  const alice = await party()
  const bob = await party()
  const opts = { now, rng, headerEncryption }
  const t0 = performance.now()
  await processPreKeyBundle('bob', bob.identity.publicKey, bob.bundle, alice.stores, opts)
  const m1 = await encryptMessage('bob', payload, alice.stores, opts)
  await decryptMessage('alice', m1, bob.stores, opts)
  const r1 = await encryptMessage('alice', payload, bob.stores, opts)
  await decryptMessage('bob', r1, alice.stores, opts)
  const ms = performance.now() - t0
  return { alice, bob, ms: timed ? ms : 0 }
}

/** The bench's figures for sessions with or without header encryption. */
async function figures(headerEncryption: boolean, setups: number, rounds: number) {
  for (let i = 0; i < 30; i++) await setupOnce(false, headerEncryption)
  const times: number[] = []
  for (let i = 0; i < setups; i++) times.push((await setupOnce(true, headerEncryption)).ms)

  const { alice, bob } = await setupOnce(false, headerEncryption)
  const opts = { now, rng }
  const overhead_bytes =
    (await encryptMessage('bob', payload, alice.stores, opts)).body.length - payload.length

  const oneway = async (n: number) => {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      const m = await encryptMessage('bob', payload, alice.stores, opts)
      await decryptMessage('alice', m, bob.stores, opts)
    }
    return n / ((performance.now() - t0) / 1000)
  }
  const pingpong = async (n: number) => {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) {
        const m = await encryptMessage('bob', payload, alice.stores, opts)
        await decryptMessage('alice', m, bob.stores, opts)
      } else {
        const m = await encryptMessage('alice', payload, bob.stores, opts)
        await decryptMessage('bob', m, alice.stores, opts)
      }
    }
    return n / ((performance.now() - t0) / 1000)
  }
  // Rounds interleaved, medians reported: this shared machine drifts by +-20% between seconds.
  const ow: number[] = []
  const pp: number[] = []
  await oneway(2000)
  await pingpong(300)
  for (let r = 0; r < rounds; r++) {
    ow.push(await oneway(8000))
    pp.push(await pingpong(1200))
  }
  return {
    setup_ms: Number((times.reduce((x, y) => x + y, 0) / setups).toFixed(3)),
    setup_median_ms: Number(median(times).toFixed(3)),
    msgs_per_s_oneway: Math.round(median(ow)),
    msgs_per_s_pingpong: Math.round(median(pp)),
    overhead_bytes,
    oneway_range: [Math.round(Math.min(...ow)), Math.round(Math.max(...ow))],
    pingpong_range: [Math.round(Math.min(...pp)), Math.round(Math.max(...pp))],
  }
}

async function measure(provider: CryptoProvider) {
  setCryptoProvider(provider)
  const plain = await figures(false, 200, 5)
  const he = await figures(true, 100, 3)
  return {
    provider: provider.name,
    ...plain,
    header_encryption: {
      setup_ms: he.setup_ms,
      msgs_per_s_oneway: he.msgs_per_s_oneway,
      msgs_per_s_pingpong: he.msgs_per_s_pingpong,
      overhead_bytes: he.overhead_bytes,
    },
    ...(await ceilings()),
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0

/** Median over 5 rounds of the mean cost of `op` in µs (hot loop of `n` calls, fresh inputs from `input`). */
async function costUs<T>(n: number, input: (i: number) => T, op: (x: T) => unknown): Promise<number> {
  const rounds: number[] = []
  for (let r = 0; r < 5; r++) {
    const inputs = Array.from({ length: n }, (_, i) => input(i))
    const t0 = performance.now()
    for (const x of inputs) await op(x)
    rounds.push(((performance.now() - t0) / n) * 1000)
  }
  return Number(median(rounds).toFixed(1))
}

/**
 * The primitive calls of a setup and of a ping-pong message, in the order the protocol makes them, with fresh
 * keys each time and nothing else (no session layer, codecs or stores): what a zero-cost protocol built on
 * this provider would take in a real sequence rather than a hot loop. Means in ms / µs.
 */
async function sequences() {
  const zero = new Uint8Array(32)
  const ad = new Uint8Array(64 + 48)
  const padded = new Uint8Array(160)
  const signed = new Uint8Array(200)
  // One message, both sides: KDF_CK, message keys, seal; KDF_CK, message keys, open.
  const message = () => {
    const [, mk] = hmacSha256Pair(rng(32), Uint8Array.of(2), Uint8Array.of(1))
    const km = hkdfSha256(mk, zero, MESSAGE_KEY_INFO_BYTES, 44)
    const sealed = aesGcmEncrypt(km.subarray(0, 32), km.subarray(32), padded, ad)
    const [, mk2] = hmacSha256Pair(rng(32), Uint8Array.of(2), Uint8Array.of(1))
    hkdfSha256(mk2, zero, MESSAGE_KEY_INFO_BYTES, 44)
    aesGcmDecrypt(km.subarray(0, 32), km.subarray(32), sealed, ad)
  }
  const kdfRoot = () => hkdfSha256(rng(32), rng(32), ROOT_INFO_BYTES, 64)
  const setups: number[] = []
  for (let i = 0; i < 230; i++) {
    const [alice, bob] = [await generateIdentity(rng), await generateIdentity(rng)]
    const [spk, opk] = [await generateX25519KeyPair(rng), await generateX25519KeyPair(rng)]
    const signature = await ed25519Sign(bob.seed, signed)
    // Every public key as the other side first sees it: a new array (nothing imported yet).
    const [spkB, opkB, ikB] = [spk.publicKey.slice(), opk.publicKey.slice(), bob.publicKey.slice()]
    const ikA = alice.publicKey.slice()
    const t0 = performance.now()
    await ed25519Verify(ikB, signature, signed) // Alice: bundle, X3DH, first ratchet key, first message
    const [ek, ratchetA] = [await generateX25519KeyPair(rng), await generateX25519KeyPair(rng)]
    const ikBx = ed25519PublicToX25519(ikB)
    for (const [k, p] of [
      [alice.dh.privateKey, spkB],
      [ek.privateKey, ikBx],
      [ek.privateKey, spkB],
      [ek.privateKey, opkB],
      [ratchetA.privateKey, spkB],
    ] as const)
      await x25519(k, p)
    hkdfSha256(rng(160), zero, ROOT_INFO_BYTES, 32)
    kdfRoot()
    message()
    const ikAx = ed25519PublicToX25519(ikA) // Bob: X3DH, receiving half, sending half, reply
    const [ekA, ratchetAPub] = [ek.publicKey.slice(), ratchetA.publicKey.slice()]
    for (const [k, p] of [
      [spk.privateKey, ikAx],
      [bob.dh.privateKey, ekA],
      [spk.privateKey, ekA],
      [opk.privateKey, ekA],
      [spk.privateKey, ratchetAPub],
    ] as const)
      await x25519(k, p)
    hkdfSha256(rng(160), zero, ROOT_INFO_BYTES, 32)
    kdfRoot()
    const ratchetB = await generateX25519KeyPair(rng)
    await x25519(ratchetB.privateKey, ratchetAPub)
    kdfRoot()
    message()
    await x25519(ratchetA.privateKey, ratchetB.publicKey.slice()) // Alice: receiving half
    kdfRoot()
    if (i >= 30) setups.push(performance.now() - t0)
  }
  // Ping-pong message: the sender's sending half (key generation, DH, KDF_RK), the receiver's receiving half
  // (DH with the new key, KDF_RK), one message both sides.
  // `remote` is the receiver's ratchet key; the new key becomes the next receiver's remote key.
  let remote = await generateX25519KeyPair(rng)
  const steps = 2000
  for (let round = 0; round < 2; round++) {
    const t0 = performance.now()
    for (let i = 0; i < steps; i++) {
      const next = await generateX25519KeyPair(rng)
      await x25519(next.privateKey, remote.publicKey)
      kdfRoot()
      await x25519(remote.privateKey, next.publicKey.slice())
      kdfRoot()
      message()
      remote = next
    }
    if (round === 1) {
      return {
        setup_ms: Number((setups.reduce((a, b) => a + b, 0) / setups.length).toFixed(3)),
        msgs_per_s_pingpong: Math.round(steps / ((performance.now() - t0) / 1000)),
      }
    }
  }
  throw new Error('unreachable')
}

/**
 * What the primitives alone allow: each operation of the message path timed in a hot loop (so without the
 * session layer, stores, codecs or GC pressure of real traffic), then the figures the bench would print if
 * nothing but those calls cost anything. The protocol cannot beat these ceilings with this provider.
 */
async function ceilings() {
  const zero = new Uint8Array(32)
  const ad = new Uint8Array(64 + 48)
  const padded = new Uint8Array(160)
  const key = rng(32)
  const nonce = rng(12)
  const sealed = aesGcmEncrypt(key, nonce, padded, ad)
  const own = await generateX25519KeyPair(rng)
  const peer = await generateX25519KeyPair(rng)
  const seed = rng(32)
  const signature = await ed25519Sign(seed, padded)
  const fresh = async () => (await generateX25519KeyPair(rng)).publicKey
  // Keys seen for the first time: new arrays each round (the provider caches imported keys per array).
  const freshKeys = await Promise.all(Array.from({ length: 400 }, fresh))
  let e = 0
  const edKeys = await Promise.all(Array.from({ length: 2000 }, () => ed25519PublicFromSeed(rng(32))))
  const nextEdKey = () => edKeys[e++ % edKeys.length] as Uint8Array
  const us = {
    kdf_ck: await costUs(
      4000,
      () => rng(32),
      (ck) => hmacSha256Pair(ck, Uint8Array.of(2), Uint8Array.of(1)),
    ),
    message_keys: await costUs(
      4000,
      () => rng(32),
      (mk) => hkdfSha256(mk, zero, MESSAGE_KEY_INFO_BYTES, 44),
    ),
    kdf_root: await costUs(
      4000,
      () => rng(32),
      (dh) => hkdfSha256(dh, key, ROOT_INFO_BYTES, 64),
    ),
    aes_gcm_seal_160: await costUs(
      4000,
      () => padded,
      (pt) => aesGcmEncrypt(key, nonce, pt, ad),
    ),
    aes_gcm_open_160: await costUs(
      4000,
      () => sealed,
      (ct) => aesGcmDecrypt(key, nonce, ct, ad),
    ),
    x25519_dh: await costUs(
      400,
      () => peer.publicKey,
      (pub) => x25519(own.privateKey, pub),
    ),
    x25519_dh_new_public: await costUs(
      400,
      (i) => (freshKeys[i] as Uint8Array).slice(),
      (pub) => x25519(own.privateKey, pub),
    ),
    x25519_keygen: await costUs(
      400,
      () => null,
      () => generateX25519KeyPair(rng),
    ),
    ed25519_verify_new_key: await costUs(
      400,
      (i) => edKeys[i] as Uint8Array,
      (pub) => ed25519Verify(pub, signature, padded),
    ),
    ed25519_to_x25519: await costUs(400, nextEdKey, ed25519PublicToX25519),
  }
  // Per message both ways: KDF_CK + message keys on each side, one seal, one open.
  const oneway = 2 * us.kdf_ck + 2 * us.message_keys + us.aes_gcm_seal_160 + us.aes_gcm_open_160
  // Plus the DH ratchet step: the sender's new key, DH and KDF_RK; the receiver's DH with a new key and KDF_RK.
  const step = us.x25519_keygen + us.x25519_dh + us.x25519_dh_new_public + 2 * us.kdf_root
  // Setup (see docs/performance.md for the count): 1 verification, 2 Ed25519 -> X25519 conversions,
  // 3 key generations, 12 DH of which 7 with a key not seen before, 2 X3DH KDFs + 4 KDF_RK, 2 messages each way.
  const setup =
    us.ed25519_verify_new_key +
    2 * us.ed25519_to_x25519 +
    3 * us.x25519_keygen +
    5 * us.x25519_dh +
    7 * us.x25519_dh_new_public +
    6 * us.kdf_root +
    2 * oneway
  const inSequence = await sequences()
  return {
    primitives_us: us,
    ceiling: {
      setup_ms: Number((setup / 1000).toFixed(3)),
      msgs_per_s_oneway: Math.round(1e6 / oneway),
      msgs_per_s_pingpong: Math.round(1e6 / (oneway + step)),
      in_sequence: { setup_ms: inSequence.setup_ms, msgs_per_s_pingpong: inSequence.msgs_per_s_pingpong },
    },
  }
}

type Figures = Awaited<ReturnType<typeof measure>>

function child(provider: string): Figures {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--provider', provider], {
    encoding: 'utf8',
  })
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Figures
}

const PROVIDERS: Record<string, CryptoProvider> = { node: nodeCryptoProvider, portable: portableProvider }
const only = process.argv.indexOf('--provider')
if (only >= 0) {
  const provider = PROVIDERS[process.argv[only + 1] ?? '']
  if (!provider) throw new Error(`--provider: expected one of ${Object.keys(PROVIDERS).join(', ')}`)
  console.log(JSON.stringify(await measure(provider)))
} else {
  const load_before = loadavg()[0] ?? 0
  const node = child('node')
  const portable = child('portable')
  console.log(
    JSON.stringify({
      setup_ms: node.setup_ms,
      msgs_per_s_oneway: node.msgs_per_s_oneway,
      msgs_per_s_pingpong: node.msgs_per_s_pingpong,
      overhead_bytes: node.overhead_bytes,
      message_bytes: payload.length,
      provider: node.provider,
      setup_median_ms: node.setup_median_ms,
      oneway_range: node.oneway_range,
      pingpong_range: node.pingpong_range,
      header_encryption: node.header_encryption,
      ceiling: node.ceiling,
      primitives_us: node.primitives_us,
      portable: {
        setup_ms: portable.setup_ms,
        setup_median_ms: portable.setup_median_ms,
        msgs_per_s_oneway: portable.msgs_per_s_oneway,
        msgs_per_s_pingpong: portable.msgs_per_s_pingpong,
        header_encryption: portable.header_encryption,
        ceiling: portable.ceiling,
        primitives_us: portable.primitives_us,
      },
      loadavg_1m_before: Number(load_before.toFixed(2)),
      loadavg_1m: Number((loadavg()[0] ?? 0).toFixed(2)),
      cpus: availableParallelism(),
      node: process.version,
    }),
  )
}
