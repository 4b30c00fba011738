import type { KdfOptions } from '../../../../src/core/vault/index.ts'

/** Cheap KDF settings: tests never pay the production cost. */
export const FAST: KdfOptions = { kdf: { alg: 'pbkdf2-sha256', iterations: 1000 }, allowWeakKdf: true }
export const FAST_ARGON: KdfOptions = { kdf: { alg: 'argon2id', m: 64, t: 1, p: 1 }, allowWeakKdf: true }

/** A deterministic (insecure) random source for reproducible tests. */
export function seededRandom(seed = 1): (n: number) => Uint8Array {
  let state = seed >>> 0
  return (n) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      out[i] = state >>> 24
    }
    return out
  }
}

export const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs)
