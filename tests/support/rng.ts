/** The one seeded random source of the tests: deterministic SHA-256(seed || counter) blocks. */
import { sha256 } from '@noble/hashes/sha2.js'

export type SeededRng = (n: number) => Uint8Array

export function seededRng(seed: string | number = 1): SeededRng {
  const seedBytes = new TextEncoder().encode(String(seed))
  let counter = 0
  let pool = new Uint8Array(0)
  return (n: number) => {
    while (pool.length < n) {
      const input = new Uint8Array(seedBytes.length + 4)
      input.set(seedBytes)
      new DataView(input.buffer).setUint32(seedBytes.length, counter++)
      const block = sha256(input)
      const next = new Uint8Array(pool.length + block.length)
      next.set(pool)
      next.set(block, pool.length)
      pool = next
    }
    const out = pool.slice(0, n)
    pool = pool.slice(n)
    return out
  }
}
