/**
 * Valid encodings the fuzzers start from, made with Paloma's own encoders: real envelopes of a real
 * session (prekey and ratchet messages, with and without header encryption), frames of every type,
 * signed one-time prekeys, bundles, session records.
 */
import {
  createInMemoryStores,
  createPreKeyBundle,
  encryptMessage,
  decryptMessage,
  generateIdentity,
  generateOneTimePreKeys,
  generateSignedPreKey,
  processPreKeyBundle,
  type EncryptedMessage,
  type IdentityKeyPair,
} from '@paloma/core/crypto/index.ts'
import { seededRng } from '../../support/rng.ts'

export const NOW = 1_700_000_000_000
export const rng = seededRng('abuse')
export const text = (s: string): Uint8Array => new TextEncoder().encode(s)

export interface Party {
  identity: IdentityKeyPair
  stores: ReturnType<typeof createInMemoryStores>
}

export async function party(opks = 8): Promise<Party> {
  const identity = await generateIdentity(rng)
  const stores = createInMemoryStores(identity)
  await stores.signedPreKeys.storeSignedPreKey(await generateSignedPreKey(1, rng, NOW))
  for (const k of await generateOneTimePreKeys(1, opks, rng)) await stores.preKeys.storePreKey(k)
  return { identity, stores }
}

export async function bundleOf(p: Party, opkIds: number[]): Promise<Uint8Array> {
  const spk = (await p.stores.signedPreKeys.loadSignedPreKey(1))!
  const opks = []
  for (const id of opkIds) opks.push((await p.stores.preKeys.loadPreKey(id))!)
  return createPreKeyBundle(p.identity, spk, opks)
}

export interface Conversation {
  alice: Party
  bob: Party
  /** What Alice sent Bob, in order: prekey messages first, then (after Bob answered) ratchet messages. */
  toBob: Array<{ message: EncryptedMessage; plaintext: Uint8Array }>
  /** Bob's stores right after X3DH set-up on Alice's side (before anything was decrypted). */
  bobBefore: ReturnType<typeof createInMemoryStores>
  /** Bob's session record with Alice once he answered (what her ratchet messages decrypt on). */
  bobSession: Uint8Array
  /** Alice's session record with Bob at the end. */
  aliceSession: Uint8Array
}

/**
 * Alice starts a session with Bob (one-time prekey 1), sends two prekey messages; Bob answers; Alice sends
 * two ratchet messages. Returns the messages and a copy of Bob's fresh stores.
 */
export async function conversation(headerEncryption: boolean): Promise<Conversation> {
  const [alice, bob] = [await party(), await party()]
  const opts = { now: NOW, rng, headerEncryption }
  const bobBefore = createInMemoryStores(bob.identity)
  await bobBefore.signedPreKeys.storeSignedPreKey((await bob.stores.signedPreKeys.loadSignedPreKey(1))!)
  for (let id = 1; id <= 8; id++)
    await bobBefore.preKeys.storePreKey((await bob.stores.preKeys.loadPreKey(id))!)
  await processPreKeyBundle('bob', bob.identity.publicKey, await bundleOf(bob, [1]), alice.stores, opts)
  const toBob: Conversation['toBob'] = []
  const send = async (s: string) => {
    const plaintext = text(s)
    const message = await encryptMessage('bob', plaintext, alice.stores, opts)
    toBob.push({ message, plaintext })
    return message
  }
  await decryptMessage('alice', await send('hello Bob'), bob.stores, opts)
  await decryptMessage('alice', await send('are you there?'), bob.stores, opts)
  const reply = await encryptMessage('alice', text('hi Alice'), bob.stores, opts)
  await decryptMessage('bob', reply, alice.stores, opts)
  const bobSession = (await bob.stores.sessions.loadSession('alice'))!.serialize()
  await decryptMessage('alice', await send('good'), bob.stores, opts)
  await decryptMessage('alice', await send('x'.repeat(400)), bob.stores, opts)
  const aliceSession = (await alice.stores.sessions.loadSession('bob'))!.serialize()
  return { alice, bob, toBob, bobBefore, bobSession, aliceSession }
}
