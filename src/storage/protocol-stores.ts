/**
 * The crypto core's stores (identity, sessions, prekeys) kept in the encrypted vault.
 *
 * `transaction()` gives the crypto functions stores whose writes are held in memory, then commits them
 * together with the caller's own records (a received message, an outbox entry) in ONE vault write, i.e.
 * one IndexedDB transaction: a crash or reload never leaves a message stored without the ratchet step
 * that produced it, or the reverse.
 *
 * Record names (see packages/core/vault/names.ts for what a backup includes):
 *   identity/spk/<id>             signed prekey        CBOR {id, pub, priv, t}
 *   identity/opk/<id>             one-time prekey      CBOR {id, pub, priv}
 *   identity/basekey/<spk>/<hex>  accepted X3DH base keys (replay defence)
 *   identity/trust/<peer>         pinned identity key of a peer
 *   session/<peer>                SessionRecord.serialize()
 */
import { toString } from 'uint8arrays'
import {
  decodeStrictMap,
  encodeCanonical as encode,
  expectBytes,
  expectInteger,
  type CborFail,
} from '@paloma/core/cbor.ts'
import {
  SessionRecord,
  type IdentityKeyPair,
  type IdentityKeyStore,
  type OneTimePreKeyRecord,
  type PreKeyStore,
  type ProtocolStores,
  type SessionStore,
  type SignedPreKeyRecord,
  type SignedPreKeyStore,
} from '@paloma/core/crypto/index.ts'
import { VaultCorruptedError } from '@paloma/core/vault/index.ts'
import type { Vault } from './vault.ts'

/** The few vault operations the stores need. */
interface Records {
  get(name: string): Promise<Uint8Array | undefined>
  put(name: string, bytes: Uint8Array): Promise<void>
  delete(name: string): Promise<void>
  names(prefix: string): Promise<string[]>
}

/** Holds writes in memory over a base, to be committed at once. */
class BufferedRecords implements Records {
  readonly writes = new Map<string, Uint8Array | null>()
  readonly #base: Records
  constructor(base: Records) {
    this.#base = base
  }
  async get(name: string): Promise<Uint8Array | undefined> {
    const w = this.writes.get(name)
    if (w !== undefined) return w ?? undefined
    return this.#base.get(name)
  }
  async put(name: string, bytes: Uint8Array): Promise<void> {
    this.writes.set(name, bytes)
  }
  async delete(name: string): Promise<void> {
    this.writes.set(name, null)
  }
  async names(prefix: string): Promise<string[]> {
    const names = new Set(await this.#base.names(prefix))
    for (const [n, v] of this.writes) {
      if (!n.startsWith(prefix)) continue
      if (v === null) names.delete(n)
      else names.add(n)
    }
    return [...names]
  }
}

const hex = (b: Uint8Array) => toString(b, 'base16')
const SPK = 'identity/spk/'
const OPK = 'identity/opk/'
const BASEKEY = 'identity/basekey/'
const TRUST = 'identity/trust/'
const SESSION = 'session/'

interface KeyRecord {
  id: number
  pub: Uint8Array
  priv: Uint8Array
  t?: number
}

/** A prekey record, decoded with the strict kit (it may come from a restored backup). */
function readKeyRecord(bytes: Uint8Array, name: string): KeyRecord {
  const fail: CborFail = (message, failure) => {
    throw new VaultCorruptedError(
      `The vault record '${name}' is damaged (${message}): restore your account from a backup.`,
      failure?.cause === undefined ? undefined : { cause: failure.cause },
    )
  }
  const m = decodeStrictMap(bytes, fail, name)
  return {
    id: expectInteger(m.id, `${name}.id`, fail, { max: 0xffffffff }),
    pub: expectBytes(m.pub, `${name}.pub`, fail, { length: 32 }),
    priv: expectBytes(m.priv, `${name}.priv`, fail, { length: 32 }),
    ...(m.t === undefined ? {} : { t: expectInteger(m.t, `${name}.t`, fail) }),
  }
}

function storesOver(records: Records, identity: IdentityKeyPair): ProtocolStores {
  const identityStore: IdentityKeyStore = {
    async getIdentityKeyPair() {
      return identity
    },
    async isTrustedIdentity(address, key) {
      const known = await records.get(TRUST + address)
      return known === undefined || hex(known) === hex(key)
    },
    async saveIdentity(address, key) {
      const known = await records.get(TRUST + address)
      if (known !== undefined && hex(known) === hex(key)) return false // unchanged: nothing to write
      await records.put(TRUST + address, key.slice())
      return known !== undefined
    },
    getIdentity: (address) => records.get(TRUST + address),
  }
  const sessions: SessionStore = {
    async loadSession(address) {
      const bytes = await records.get(SESSION + address)
      return bytes === undefined ? undefined : SessionRecord.deserialize(bytes)
    },
    storeSession: (address, record) => records.put(SESSION + address, record.serialize()),
  }
  const preKeys: PreKeyStore = {
    async loadPreKey(id) {
      const bytes = await records.get(OPK + id)
      if (bytes === undefined) return undefined
      const r = readKeyRecord(bytes, OPK + id)
      return { id: r.id, keyPair: { publicKey: r.pub, privateKey: r.priv } }
    },
    storePreKey: (r: OneTimePreKeyRecord) =>
      records.put(OPK + r.id, encode({ id: r.id, pub: r.keyPair.publicKey, priv: r.keyPair.privateKey })),
    removePreKey: (id) => records.delete(OPK + id),
  }
  const readSpk = (bytes: Uint8Array): SignedPreKeyRecord => {
    const r = readKeyRecord(bytes, 'identity/spk')
    return { id: r.id, keyPair: { publicKey: r.pub, privateKey: r.priv }, createdAt: r.t ?? 0 }
  }
  const signedPreKeys: SignedPreKeyStore = {
    async loadSignedPreKey(id) {
      const bytes = await records.get(SPK + id)
      return bytes === undefined ? undefined : readSpk(bytes)
    },
    storeSignedPreKey: (r) =>
      records.put(
        SPK + r.id,
        encode({ id: r.id, pub: r.keyPair.publicKey, priv: r.keyPair.privateKey, t: r.createdAt }),
      ),
    async removeSignedPreKey(id) {
      await records.delete(SPK + id)
      for (const n of await records.names(`${BASEKEY}${id}/`)) await records.delete(n)
    },
    async listSignedPreKeys() {
      const out: SignedPreKeyRecord[] = []
      for (const n of await records.names(SPK)) {
        const bytes = await records.get(n)
        if (bytes !== undefined) out.push(readSpk(bytes))
      }
      return out
    },
    async hasUsedBaseKey(spkId, baseKey) {
      return (await records.get(`${BASEKEY}${spkId}/${hex(baseKey)}`)) !== undefined
    },
    markBaseKeyUsed: (spkId, baseKey) =>
      records.put(`${BASEKEY}${spkId}/${hex(baseKey)}`, new Uint8Array([1])),
  }
  return { identity: identityStore, sessions, preKeys, signedPreKeys }
}

export class VaultProtocolStores {
  readonly #vault: Vault
  readonly #identity: IdentityKeyPair
  readonly #records: Records
  /** Write-through stores, for set-up outside any message (prekey generation, rotation). */
  readonly direct: ProtocolStores

  constructor(vault: Vault, identity: IdentityKeyPair) {
    this.#vault = vault
    this.#identity = identity
    this.#records = {
      get: (n) => vault.get(n),
      put: (n, b) => vault.put(n, b),
      delete: (n) => vault.delete(n),
      names: (p) => vault.names(p),
    }
    this.direct = storesOver(this.#records, identity)
  }

  /**
   * Runs `fn` on buffered stores; if it succeeds, writes every store change plus `extra(result)` in one
   * vault transaction. If `fn` throws, nothing is written.
   */
  async transaction<T>(
    fn: (stores: ProtocolStores) => Promise<T>,
    extra: (result: T) => Array<readonly [string, Uint8Array]> = () => [],
  ): Promise<T> {
    const [outcome] = await this.transactionBatch([undefined], () => fn, extra)
    if (!outcome!.ok) throw outcome!.error
    return outcome!.value
  }

  /**
   * Runs `fn` for each item in turn, each on its own buffer layered over the batch's (so an item sees what
   * the items before it changed: the ratchet state a previous message left), then writes the changes of
   * every item that succeeded, plus its `extra(result, item)`, in ONE vault transaction. An item that
   * throws leaves no trace and gets its error in its outcome; the others are written.
   * @throws only when the final write fails, for every item.
   */
  async transactionBatch<I, T>(
    items: readonly I[],
    fn: (item: I) => (stores: ProtocolStores) => Promise<T>,
    extra: (result: T, item: I) => Array<readonly [string, Uint8Array]> = () => [],
  ): Promise<Array<{ ok: true; value: T } | { ok: false; error: unknown }>> {
    const batch = new BufferedRecords(this.#records)
    const puts: Array<readonly [string, Uint8Array]> = []
    const outcomes: Array<{ ok: true; value: T } | { ok: false; error: unknown }> = []
    for (const item of items) {
      const own = new BufferedRecords(batch)
      try {
        const value = await fn(item)(storesOver(own, this.#identity))
        puts.push(...extra(value, item))
        for (const [name, bytes] of own.writes) batch.writes.set(name, bytes)
        outcomes.push({ ok: true, value })
      } catch (error) {
        outcomes.push({ ok: false, error })
      }
    }
    const deletes: string[] = []
    for (const [name, bytes] of batch.writes) {
      if (bytes === null) deletes.push(name)
      else puts.push([name, bytes])
    }
    // One transaction: a used one-time prekey disappears with the message it decrypted, or neither does.
    if (puts.length > 0 || deletes.length > 0) await this.#vault.commit(puts, deletes)
    return outcomes
  }
}
