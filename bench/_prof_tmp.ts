import { setCryptoProvider } from '../src/core/crypto/primitives.ts'
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
setCryptoProvider(nodeCryptoProvider)
const rng = secureRandom,
  now = Date.now(),
  payload = new Uint8Array(100).fill(0x61),
  opts = { now, rng }
async function party() {
  const identity = await generateIdentity(rng)
  const stores = createInMemoryStores(identity)
  const spk = await generateSignedPreKey(1, rng, now)
  await stores.signedPreKeys.storeSignedPreKey(spk)
  const opks = await generateOneTimePreKeys(1, 1, rng)
  for (const k of opks) await stores.preKeys.storePreKey(k)
  return { identity, stores, bundle: await createPreKeyBundle(identity, spk, opks) }
}
const mode = process.argv[2]
const alice = await party(),
  bob = await party()
await processPreKeyBundle('bob', bob.identity.publicKey, bob.bundle, alice.stores, opts)
const m1 = await encryptMessage('bob', payload, alice.stores, opts)
await decryptMessage('alice', m1, bob.stores, opts)
const t0 = performance.now()
const N = mode === 'oneway' ? 40000 : 6000
for (let i = 0; i < N; i++) {
  if (mode === 'oneway' || i % 2 === 0) {
    const m = await encryptMessage('bob', payload, alice.stores, opts)
    await decryptMessage('alice', m, bob.stores, opts)
  } else {
    const m = await encryptMessage('alice', payload, bob.stores, opts)
    await decryptMessage('bob', m, alice.stores, opts)
  }
}
console.log(mode, Math.round(N / ((performance.now() - t0) / 1000)), 'msgs/s')
