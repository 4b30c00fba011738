import type { KdfOptions } from '@paloma/core/vault/index.ts'

/** Cheap KDF settings: tests never pay the production cost. */
export const FAST: KdfOptions = { kdf: { alg: 'pbkdf2-sha256', iterations: 1000 }, allowWeakKdf: true }
export const FAST_ARGON: KdfOptions = { kdf: { alg: 'argon2id', m: 64, t: 1, p: 1 }, allowWeakKdf: true }

export { seededRng } from '../../../support/rng.ts'

export const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs)
