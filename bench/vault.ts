/**
 * Time to create and to unlock a vault at the production KDF cost, in this Node process.
 * Prints one JSON line: the default (Argon2id in pure JS, noble-hashes), with PBKDF2-SHA-256 (WebCrypto)
 * at 600,000 iterations for comparison. Unlock = derive the KEK, unwrap the keys, read one record.
 * Run: `node bench/vault.ts` (Node 24 from node_modules); `PALOMA_BENCH_RUNS` sets the unlock count.
 */
import { DEFAULT_KDF, KDF_MINIMUMS, type KdfChoice } from '@paloma/core/vault/index.ts'
import { MemoryVaultBackend, Vault } from '../src/storage/vault.ts'

const RUNS = Number(process.env.PALOMA_BENCH_RUNS ?? 2)
const PASSPHRASE = 'a passphrase for the bench'

async function measure(kdf: KdfChoice): Promise<{ create_ms: number; unlock_ms: number }> {
  const backend = new MemoryVaultBackend()
  let t = performance.now()
  const vault = await Vault.create(backend, PASSPHRASE, { kdf })
  const createMs = performance.now() - t
  await vault.put('identity/key', new Uint8Array(64))
  const unlockMs: number[] = []
  for (let i = 0; i < RUNS; i++) {
    t = performance.now()
    await (await Vault.unlock(backend, PASSPHRASE)).get('identity/key')
    unlockMs.push(performance.now() - t)
  }
  unlockMs.sort((a, b) => a - b)
  return {
    create_ms: Math.round(createMs),
    unlock_ms: Math.round(unlockMs[Math.floor(unlockMs.length / 2)]!),
  }
}

const pbkdf2: KdfChoice = { alg: 'pbkdf2-sha256', iterations: KDF_MINIMUMS.pbkdf2Iterations }
const main = await measure(DEFAULT_KDF)
const alt = await measure(pbkdf2)
console.log(
  JSON.stringify({
    kdf: DEFAULT_KDF.alg,
    m_kib: DEFAULT_KDF.m,
    t: DEFAULT_KDF.t,
    p: DEFAULT_KDF.p,
    ...main,
    pbkdf2_sha256: { iterations: pbkdf2.iterations, ...alt },
    runs: RUNS,
    node: process.version,
  }),
)
