// Benchmark of the end-to-end encryption core (npm run bench:crypto). Prints one JSON line:
// setup_ms: bundle verification + X3DH + first message both ways (mean, fresh identities each run);
// msgs_per_s_oneway: encrypt+decrypt of a one-direction stream; msgs_per_s_pingpong: direction
// alternates every message (a DH ratchet step each time); overhead_bytes: body length - 100 for a
// 100-byte plaintext on an established session (padding to 160 included).
import { loadavg } from 'node:os'
import { aesGcmEncrypt, x25519 } from '../src/core/crypto/primitives.ts'
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

async function main() {
  for (let i = 0; i < 30; i++) await setupOnce(false)
  const SETUPS = 200
  let total = 0
  for (let i = 0; i < SETUPS; i++) total += (await setupOnce(true)).ms
  const setup_ms = total / SETUPS

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
  console.log(
    JSON.stringify({
      setup_ms: Number(setup_ms.toFixed(3)),
      msgs_per_s_oneway: Math.round(msgs_per_s_oneway),
      msgs_per_s_pingpong: Math.round(msgs_per_s_pingpong),
      overhead_bytes,
      message_bytes: payload.length,
      x25519_us: Number(x25519_us.toFixed(1)),
      aes_gcm_160_us: Number(aes_gcm_160_us.toFixed(1)),
      loadavg_1m: Number((loadavg()[0] ?? 0).toFixed(2)),
      node: process.version,
    }),
  )
}

await main()
