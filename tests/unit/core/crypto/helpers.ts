// Shared fixtures for the crypto tests: a seeded deterministic rng and ready-made parties.
import {
  createInMemoryStores,
  createPreKeyBundle,
  generateIdentity,
  generateOneTimePreKeys,
  generateSignedPreKey,
  type IdentityKeyPair,
  type Rng,
} from '@paloma/core/crypto/index.ts'

export { seededRng } from '../../../support/rng.ts'

export interface Party {
  name: string
  identity: IdentityKeyPair
  stores: ReturnType<typeof createInMemoryStores>
}

export const NOW = 1_700_000_000_000

export async function makeParty(name: string, rng: Rng, opkCount = 5): Promise<Party> {
  const identity = await generateIdentity(rng)
  const stores = createInMemoryStores(identity)
  await stores.signedPreKeys.storeSignedPreKey(await generateSignedPreKey(1, rng, NOW))
  for (const opk of await generateOneTimePreKeys(1, opkCount, rng)) await stores.preKeys.storePreKey(opk)
  return { name, identity, stores }
}

/** Current bundle of `p`: its signed prekey 1 and the given one-time prekey ids. */
export async function bundleOf(p: Party, opkIds: number[] = []): Promise<Uint8Array> {
  const spk = await p.stores.signedPreKeys.loadSignedPreKey(1)
  if (!spk) throw new Error('no spk')
  const opks = []
  for (const id of opkIds) {
    const k = await p.stores.preKeys.loadPreKey(id)
    if (k) opks.push(k)
  }
  return createPreKeyBundle(p.identity, spk, opks)
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)
export const str = (b: Uint8Array): string => new TextDecoder().decode(b)

/** Copy of `bytes` with bit pattern `mask` flipped at `index`. */
export function flip(bytes: Uint8Array, index: number, mask = 1): Uint8Array {
  const out = new Uint8Array(bytes)
  out[index] = (out[index] ?? 0) ^ mask
  return out
}
