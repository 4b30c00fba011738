/**
 * Where a peer keeps its libp2p private key, so its PeerId (and so its address) survives reloads.
 *
 * The browser keeps it in IndexedDB; Node peers (tests, load tools) keep it in memory.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { PalomaDB } from './db.ts'

export interface KeyStore {
  /** The stored node key, or undefined before the first start. */
  load(): Promise<PrivateKey | undefined>
  save(key: PrivateKey): Promise<void>
}

/** The stored key, or a new Ed25519 key saved for next time. */
export async function loadOrCreateNodeKey(store: KeyStore): Promise<PrivateKey> {
  const existing = await store.load()
  if (existing != null) return existing
  const key = await generateKeyPair('Ed25519')
  await store.save(key)
  return key
}

export class MemoryKeyStore implements KeyStore {
  #bytes: Uint8Array | undefined
  async load(): Promise<PrivateKey | undefined> {
    return this.#bytes == null ? undefined : privateKeyFromProtobuf(this.#bytes)
  }
  async save(key: PrivateKey): Promise<void> {
    this.#bytes = privateKeyToProtobuf(key)
  }
}

const NODE_KEY = 'node-key'

export class IdbKeyStore implements KeyStore {
  readonly #db: PalomaDB
  constructor(db: PalomaDB) {
    this.#db = db
  }
  async load(): Promise<PrivateKey | undefined> {
    const bytes = await this.#db.get('keys', NODE_KEY)
    return bytes == null ? undefined : privateKeyFromProtobuf(bytes)
  }
  async save(key: PrivateKey): Promise<void> {
    await this.#db.put('keys', privateKeyToProtobuf(key), NODE_KEY)
  }
}
