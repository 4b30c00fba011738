/**
 * Storage interfaces of the crypto core (as libsignal's storage/traits.rs) and in-memory implementations
 * (storage/inmem.rs). Methods are async because the browser implementation is IndexedDB; records are
 * handed over as objects, and persistent stores serialize them (SessionRecord.serialize()).
 * @module
 */
import { equalBytes, toHex } from './bytes.ts'
import type { IdentityKeyPair } from './keys.ts'
import type { OneTimePreKeyRecord, SignedPreKeyRecord } from './prekeys.ts'
import type { SessionRecord } from './session-record.ts'

/** The local identity and the identities trusted for peers. */
export interface IdentityKeyStore {
  getIdentityKeyPair(): Promise<IdentityKeyPair>
  /** True when `identityKey` may be used with `address` (first use, or equal to the saved key). */
  isTrustedIdentity(address: string, identityKey: Uint8Array): Promise<boolean>
  /** Saves the identity of `address`; returns true when it replaced a different key. */
  saveIdentity(address: string, identityKey: Uint8Array): Promise<boolean>
  getIdentity(address: string): Promise<Uint8Array | undefined>
}

/** Session records per address. */
export interface SessionStore {
  loadSession(address: string): Promise<SessionRecord | undefined>
  storeSession(address: string, record: SessionRecord): Promise<void>
}

/** One-time prekeys (deleted once used). */
export interface PreKeyStore {
  loadPreKey(id: number): Promise<OneTimePreKeyRecord | undefined>
  storePreKey(record: OneTimePreKeyRecord): Promise<void>
  removePreKey(id: number): Promise<void>
}

/** Signed prekeys, plus the X3DH base keys already accepted under each (replay defence). */
export interface SignedPreKeyStore {
  loadSignedPreKey(id: number): Promise<SignedPreKeyRecord | undefined>
  storeSignedPreKey(record: SignedPreKeyRecord): Promise<void>
  /** Removes the signed prekey and the base keys remembered under it. */
  removeSignedPreKey(id: number): Promise<void>
  listSignedPreKeys(): Promise<readonly SignedPreKeyRecord[]>
  /** True when a prekey message with this base key (EK_A) was already accepted under `signedPreKeyId`. */
  hasUsedBaseKey(signedPreKeyId: number, baseKey: Uint8Array): Promise<boolean>
  markBaseKeyUsed(signedPreKeyId: number, baseKey: Uint8Array): Promise<void>
}

/** Everything the session functions need. */
export interface ProtocolStores {
  readonly identity: IdentityKeyStore
  readonly sessions: SessionStore
  readonly preKeys: PreKeyStore
  readonly signedPreKeys: SignedPreKeyStore
}

/** In-memory identity store with trust on first use. */
export class InMemoryIdentityKeyStore implements IdentityKeyStore {
  readonly #identity: IdentityKeyPair
  readonly #known = new Map<string, Uint8Array>()
  constructor(identity: IdentityKeyPair) {
    this.#identity = identity
  }
  async getIdentityKeyPair(): Promise<IdentityKeyPair> {
    return this.#identity
  }
  async isTrustedIdentity(address: string, identityKey: Uint8Array): Promise<boolean> {
    const known = this.#known.get(address)
    return known === undefined || equalBytes(known, identityKey)
  }
  async saveIdentity(address: string, identityKey: Uint8Array): Promise<boolean> {
    const known = this.#known.get(address)
    this.#known.set(address, new Uint8Array(identityKey))
    return known !== undefined && !equalBytes(known, identityKey)
  }
  async getIdentity(address: string): Promise<Uint8Array | undefined> {
    return this.#known.get(address)
  }
}

/** In-memory session store (keeps record objects). */
export class InMemorySessionStore implements SessionStore {
  readonly #records = new Map<string, SessionRecord>()
  async loadSession(address: string): Promise<SessionRecord | undefined> {
    return this.#records.get(address)
  }
  async storeSession(address: string, record: SessionRecord): Promise<void> {
    this.#records.set(address, record)
  }
}

/** In-memory one-time prekey store. */
export class InMemoryPreKeyStore implements PreKeyStore {
  readonly #keys = new Map<number, OneTimePreKeyRecord>()
  async loadPreKey(id: number): Promise<OneTimePreKeyRecord | undefined> {
    return this.#keys.get(id)
  }
  async storePreKey(record: OneTimePreKeyRecord): Promise<void> {
    this.#keys.set(record.id, record)
  }
  async removePreKey(id: number): Promise<void> {
    this.#keys.delete(id)
  }
  /** Number of one-time prekeys left (to decide when to publish more). */
  get size(): number {
    return this.#keys.size
  }
}

/** In-memory signed prekey store. */
export class InMemorySignedPreKeyStore implements SignedPreKeyStore {
  readonly #keys = new Map<number, SignedPreKeyRecord>()
  readonly #baseKeys = new Map<number, Set<string>>()
  async loadSignedPreKey(id: number): Promise<SignedPreKeyRecord | undefined> {
    return this.#keys.get(id)
  }
  async storeSignedPreKey(record: SignedPreKeyRecord): Promise<void> {
    this.#keys.set(record.id, record)
  }
  async removeSignedPreKey(id: number): Promise<void> {
    this.#keys.delete(id)
    this.#baseKeys.delete(id)
  }
  async listSignedPreKeys(): Promise<readonly SignedPreKeyRecord[]> {
    return [...this.#keys.values()]
  }
  async hasUsedBaseKey(signedPreKeyId: number, baseKey: Uint8Array): Promise<boolean> {
    return this.#baseKeys.get(signedPreKeyId)?.has(toHex(baseKey)) ?? false
  }
  async markBaseKeyUsed(signedPreKeyId: number, baseKey: Uint8Array): Promise<void> {
    let set = this.#baseKeys.get(signedPreKeyId)
    if (!set) this.#baseKeys.set(signedPreKeyId, (set = new Set()))
    set.add(toHex(baseKey))
  }
}

/** All four in-memory stores for one local identity. */
export function createInMemoryStores(identity: IdentityKeyPair): {
  identity: InMemoryIdentityKeyStore
  sessions: InMemorySessionStore
  preKeys: InMemoryPreKeyStore
  signedPreKeys: InMemorySignedPreKeyStore
} {
  return {
    identity: new InMemoryIdentityKeyStore(identity),
    sessions: new InMemorySessionStore(),
    preKeys: new InMemoryPreKeyStore(),
    signedPreKeys: new InMemorySignedPreKeyStore(),
  }
}
