// Benchmark of the end-to-end encryption core (npm run bench:crypto). Prints one JSON line:
// setup_ms: bundle verification + X3DH + first message both ways (mean of 200, fresh identities each run;
// setup_median_ms: their median);
// msgs_per_s_oneway: encrypt+decrypt of a one-direction stream; msgs_per_s_pingpong: direction
// alternates every message (a DH ratchet step each time); overhead_bytes: body length - 100 for a
// 100-byte plaintext on an established session (padding to 160 included).
// The main keys are for the Node (OpenSSL) provider that Node peers install; `portable` repeats the three
// figures for the WebCrypto/@noble default the browser uses. Each provider runs in its own child process
// (`--provider node|portable` prints that provider's figures only), so neither warms the JIT for the other.
import { execFileSync } from 'node:child_process'
import { availableParallelism, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import {
  aesGcmEncrypt,
  portableProvider,
  setCryptoProvider,
  x25519,
  type CryptoProvider,
} from '../src/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '../src/platform/node-crypto.ts'
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
} from '../src/core/crypto/index.ts'

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

async function setupOnce(timed: boolean) {
  const alice = await party()
  const bob = await party()
  const opts = { now, rng }
  const t0 = performance.now()
  await processPreKeyBundle('bob', bob.identity.publicKey, bob.bundle, alice.stores, opts)
  const m1 = await encryptMessage('bob', payload, alice.stores, opts)
  await decryptMessage('alice', m1, bob.stores, opts)
  const r1 = await encryptMessage('alice', payload, bob.stores, opts)
  await decryptMessage('bob', r1, alice.stores, opts)
  const ms = performance.now() - t0
  return { alice, bob, ms: timed ? ms : 0 }
}

async function measure(provider: CryptoProvider) {
  setCryptoProvider(provider)
  for (let i = 0; i < 30; i++) await setupOnce(false)
  const SETUPS = 200
  const setups: number[] = []
  for (let i = 0; i < SETUPS; i++) setups.push((await setupOnce(true)).ms)
  const setup_ms = setups.reduce((a, b) => a + b, 0) / SETUPS
  const setup_median_ms = setups.sort((a, b) => a - b)[SETUPS >> 1] ?? 0

  const { alice, bob } = await setupOnce(false)
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
  await oneway(2000)
  const msgs_per_s_oneway = await oneway(20000)
  await pingpong(300)
  const msgs_per_s_pingpong = await pingpong(3000)

  // Baselines measured in the same run, to read the figures above against this machine's current speed.
  const k = alice.identity.dh
  const t0 = performance.now()
  for (let i = 0; i < 500; i++) await x25519(k.privateKey, bob.identity.dh.publicKey)
  const x25519_us = ((performance.now() - t0) / 500) * 1000
  const key = rng(32)
  const nonce = rng(12)
  const padded = new Uint8Array(160)
  const t1 = performance.now()
  for (let i = 0; i < 5000; i++) aesGcmEncrypt(key, nonce, padded, padded.subarray(0, 112))
  const aes_gcm_160_us = ((performance.now() - t1) / 5000) * 1000
  return {
    provider: provider.name,
    setup_ms: Number(setup_ms.toFixed(3)),
    setup_median_ms: Number(setup_median_ms.toFixed(3)),
    msgs_per_s_oneway: Math.round(msgs_per_s_oneway),
    msgs_per_s_pingpong: Math.round(msgs_per_s_pingpong),
    overhead_bytes,
    x25519_us: Number(x25519_us.toFixed(1)),
    aes_gcm_160_us: Number(aes_gcm_160_us.toFixed(1)),
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
      x25519_us: node.x25519_us,
      aes_gcm_160_us: node.aes_gcm_160_us,
      portable: {
        setup_ms: portable.setup_ms,
        setup_median_ms: portable.setup_median_ms,
        msgs_per_s_oneway: portable.msgs_per_s_oneway,
        msgs_per_s_pingpong: portable.msgs_per_s_pingpong,
        x25519_us: portable.x25519_us,
        aes_gcm_160_us: portable.aes_gcm_160_us,
      },
      loadavg_1m_before: Number(load_before.toFixed(2)),
      loadavg_1m: Number((loadavg()[0] ?? 0).toFixed(2)),
      cpus: availableParallelism(),
      node: process.version,
    }),
  )
}
