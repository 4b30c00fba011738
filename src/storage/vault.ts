/**
 * The encrypted vault on a storage backend: IndexedDB in the browser, memory in tests.
 *
 * Owns the layout of the `vault` object store: the header under {@link HEADER_KEY}, each record under
 * its blinded key `r/<hex>` (see `packages/core/vault/record.ts`). All cryptography is in `packages/core/vault`;
 * this module only moves opaque bytes and holds the unlocked keys. It knows nothing about what records
 * mean beyond the backup naming convention (`identity/`, `history/`).
 */
import {
  type KdfOptions,
  type VaultKeys,
  RECORD_KEY_PREFIX,
  VaultExistsError,
  VaultLockedError,
  VaultNotFoundError,
  checkNewPassphrase,
  createVaultHeader,
  exportBackup as encryptBackup,
  importBackup as decryptBackup,
  inBackupScope,
  openRecord,
  openVaultHeader,
  recordKey,
  rewrapVaultHeader,
  sealRecord,
  secureRandom,
} from '@paloma/core/vault/index.ts'
import type { PalomaDB } from './db.ts'

/** Where the vault keeps its opaque blobs. Keys are strings, values are bytes. */
export interface VaultBackend {
  get(name: string): Promise<Uint8Array | undefined>
  put(name: string, bytes: Uint8Array): Promise<void>
  /** Writes all entries atomically: either every one is stored or none is. */
  putMany(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void>
  /** Stores `puts` and removes `deletes` atomically: all of it happens, or none. */
  commit(puts: ReadonlyArray<readonly [string, Uint8Array]>, deletes: readonly string[]): Promise<void>
  delete(name: string): Promise<void>
  keys(): Promise<string[]>
  clear(): Promise<void>
}

/** Storage key of the vault header. */
export const HEADER_KEY = 'header'

/** In-memory backend, for tests and Node peers. Stores copies, so callers cannot alias stored bytes. */
export class MemoryVaultBackend implements VaultBackend {
  readonly #map = new Map<string, Uint8Array>()

  async get(name: string): Promise<Uint8Array | undefined> {
    const value = this.#map.get(name)
    return value === undefined ? undefined : new Uint8Array(value)
  }
  async put(name: string, bytes: Uint8Array): Promise<void> {
    this.#map.set(name, new Uint8Array(bytes))
  }
  async putMany(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    for (const [name, bytes] of entries) this.#map.set(name, new Uint8Array(bytes))
  }
  async commit(
    puts: ReadonlyArray<readonly [string, Uint8Array]>,
    deletes: readonly string[],
  ): Promise<void> {
    for (const name of deletes) this.#map.delete(name)
    await this.putMany(puts)
  }
  async delete(name: string): Promise<void> {
    this.#map.delete(name)
  }
  async keys(): Promise<string[]> {
    return [...this.#map.keys()]
  }
  async clear(): Promise<void> {
    this.#map.clear()
  }
}

/** IndexedDB backend over the `vault` object store (out-of-line string keys). */
export class IdbVaultBackend implements VaultBackend {
  readonly #db: PalomaDB

  constructor(db: PalomaDB) {
    this.#db = db
  }

  get(name: string): Promise<Uint8Array | undefined> {
    return this.#db.get('vault', name)
  }
  async put(name: string, bytes: Uint8Array): Promise<void> {
    await this.#db.put('vault', bytes, name)
  }
  /** One readwrite transaction: IndexedDB commits all puts or, on any failure, none. */
  putMany(entries: ReadonlyArray<readonly [string, Uint8Array]>): Promise<void> {
    return this.commit(entries, [])
  }
  async commit(
    puts: ReadonlyArray<readonly [string, Uint8Array]>,
    deletes: readonly string[],
  ): Promise<void> {
    const tx = this.#db.transaction('vault', 'readwrite')
    await Promise.all([
      ...deletes.map((name) => tx.store.delete(name)),
      ...puts.map(([name, bytes]) => tx.store.put(bytes, name)),
      tx.done,
    ])
  }
  delete(name: string): Promise<void> {
    return this.#db.delete('vault', name)
  }
  keys(): Promise<string[]> {
    return this.#db.getAllKeys('vault')
  }
  clear(): Promise<void> {
    return this.#db.clear('vault')
  }
}

/** Options of {@link Vault.exportBackup}. */
export interface ExportBackupOptions extends KdfOptions {
  /** Also export `history/…` records. @default false */
  readonly includeHistory?: boolean
}

/**
 * An encrypted store of named records, unlocked by a passphrase.
 *
 * @example
 * ```ts
 * const backend = new IdbVaultBackend(await openPalomaDB())
 * const vault = (await Vault.exists(backend))
 *   ? await Vault.unlock(backend, passphrase)
 *   : await Vault.create(backend, passphrase)
 * await vault.put('identity/ed25519', privateKeyBytes)
 * vault.lock()
 * ```
 */
export class Vault {
  readonly #backend: VaultBackend
  readonly #opts: KdfOptions
  #keys: VaultKeys | undefined
  /**
   * Decrypted records read or written while unlocked (undefined: known absent). The app reads the same
   * few records (ratchet sessions) on every message; this spares an IndexedDB read and a decryption.
   * Dropped by lock().
   */
  readonly #cache = new Map<string, Uint8Array | undefined>()
  /** Bumped by every write, so a read that raced a write does not cache what it read. */
  #writes = 0
  /** Blinded storage keys by record name: the same few names (sessions) recur on every message. */
  readonly #keyOf = new Map<string, string>()

  private constructor(backend: VaultBackend, keys: VaultKeys, opts: KdfOptions) {
    this.#backend = backend
    this.#keys = keys
    this.#opts = opts
  }

  /** Whether `backend` holds a vault. */
  static async exists(backend: VaultBackend): Promise<boolean> {
    return (await backend.get(HEADER_KEY)) !== undefined
  }

  /**
   * Creates an empty vault, unlocked.
   * @throws VaultExistsError if `backend` already holds one; InvalidPassphraseError, InvalidKdfParamsError
   */
  static async create(backend: VaultBackend, passphrase: string, opts: KdfOptions = {}): Promise<Vault> {
    if (await Vault.exists(backend)) throw new VaultExistsError()
    const { header, keys } = await createVaultHeader(passphrase, opts)
    await backend.put(HEADER_KEY, header)
    return new Vault(backend, keys, opts)
  }

  /**
   * Opens an existing vault. Reads only: a wrong passphrase changes nothing.
   * @param opts - cost and randomness used for later writes (passphrase change, backups)
   * @throws VaultNotFoundError, WrongPassphraseError, VaultCorruptedError
   */
  static async unlock(backend: VaultBackend, passphrase: string, opts: KdfOptions = {}): Promise<Vault> {
    const header = await backend.get(HEADER_KEY)
    if (header === undefined) throw new VaultNotFoundError()
    return new Vault(backend, await openVaultHeader(header, passphrase), opts)
  }

  /**
   * Creates a vault from a backup file, with a new vault passphrase. Header and records are written in
   * one atomic write, so a failed import leaves no half-made vault.
   * @throws VaultExistsError, InvalidPassphraseError (new passphrase: checked before the backup is
   *   decrypted), InvalidBackupError, WrongPassphraseError (backup passphrase)
   */
  static async importBackup(
    backend: VaultBackend,
    bytes: Uint8Array,
    backupPassphrase: string,
    newVaultPassphrase: string,
    opts: KdfOptions = {},
  ): Promise<Vault> {
    if (await Vault.exists(backend)) throw new VaultExistsError()
    checkNewPassphrase(newVaultPassphrase)
    const records = await decryptBackup(bytes, backupPassphrase)
    const { header, keys } = await createVaultHeader(newVaultPassphrase, opts)
    const random = opts.random ?? secureRandom
    const entries: [string, Uint8Array][] = [[HEADER_KEY, header]]
    for (const [name, data] of records) {
      const { key, blob } = await sealRecord(keys, name, data, random)
      entries.push([key, blob])
    }
    await backend.putMany(entries)
    return new Vault(backend, keys, opts)
  }

  /** Removes every vault blob from `backend`, without a passphrase (forgotten passphrase, account deletion). */
  static async wipe(backend: VaultBackend): Promise<void> {
    await backend.clear()
  }

  /** Whether the keys have been forgotten. */
  get isLocked(): boolean {
    return this.#keys === undefined
  }

  /** Forgets the keys. Every later use throws {@link VaultLockedError}; unlock again with {@link Vault.unlock}. */
  lock(): void {
    this.#keys = undefined
    this.#cache.clear()
    this.#keyOf.clear()
  }

  async #recordKey(keys: VaultKeys, name: string): Promise<string> {
    let key = this.#keyOf.get(name)
    if (key === undefined) {
      key = await recordKey(keys, name)
      if (this.#keyOf.size >= 4096) this.#keyOf.clear()
      this.#keyOf.set(name, key)
    }
    return key
  }

  #unlocked(): VaultKeys {
    if (this.#keys === undefined) throw new VaultLockedError()
    return this.#keys
  }

  #random() {
    return this.#opts.random ?? secureRandom
  }

  /**
   * Reads record `name`.
   * @returns its data, or undefined if there is none
   * @throws VaultLockedError, VaultCorruptedError
   */
  async get(name: string): Promise<Uint8Array | undefined> {
    const keys = this.#unlocked()
    if (this.#cache.has(name)) return this.#cache.get(name)?.slice()
    const writes = this.#writes
    const key = await this.#recordKey(keys, name)
    const blob = await this.#backend.get(key)
    const data = blob === undefined ? undefined : (await openRecord(keys, key, blob, name)).data
    if (writes === this.#writes) this.#cache.set(name, data?.slice())
    return data
  }

  /** Writes record `name`, replacing any previous value. @throws VaultLockedError */
  async put(name: string, data: Uint8Array): Promise<void> {
    const keys = this.#unlocked()
    const { key, blob } = await sealRecord(
      keys,
      name,
      data,
      this.#random(),
      await this.#recordKey(keys, name),
    )
    this.#writes++
    this.#cache.delete(name)
    await this.#backend.put(key, blob)
    this.#writes++
    this.#cache.set(name, data.slice())
  }

  /**
   * Writes several records atomically (e.g. a message and the ratchet state that decrypted it).
   * @throws VaultLockedError
   */
  putMany(entries: Iterable<readonly [string, Uint8Array]>): Promise<void> {
    return this.commit(entries, [])
  }

  /**
   * Writes `puts` and deletes `deletes` in one atomic write (one IndexedDB transaction).
   * @throws VaultLockedError
   */
  async commit(puts: Iterable<readonly [string, Uint8Array]>, deletes: Iterable<string> = []): Promise<void> {
    const keys = this.#unlocked()
    const plain: [string, Uint8Array][] = [...puts].map(([name, data]) => [name, data.slice()])
    const gone = [...deletes]
    const [sealed, goneKeys] = await Promise.all([
      Promise.all(
        plain.map(async ([name, data]): Promise<[string, Uint8Array]> => {
          const key = await this.#recordKey(keys, name)
          const { blob } = await sealRecord(keys, name, data, this.#random(), key)
          return [key, blob]
        }),
      ),
      Promise.all(gone.map((name) => this.#recordKey(keys, name))),
    ])
    this.#writes++
    for (const name of [...gone, ...plain.map(([n]) => n)]) this.#cache.delete(name)
    await this.#backend.commit(sealed, goneKeys)
    this.#writes++
    for (const name of gone) this.#cache.set(name, undefined)
    for (const [name, data] of plain) this.#cache.set(name, data)
  }

  /** Deletes record `name` (no error if absent). @throws VaultLockedError */
  async delete(name: string): Promise<void> {
    const keys = this.#unlocked()
    this.#writes++
    this.#cache.delete(name)
    await this.#backend.delete(await this.#recordKey(keys, name))
    this.#writes++
    this.#cache.set(name, undefined)
  }

  /** Every record whose name starts with `prefix`, decrypted in one pass. @throws VaultLockedError */
  async entries(prefix = ''): Promise<Map<string, Uint8Array>> {
    return this.#entries((name) => name.startsWith(prefix))
  }

  /**
   * Names of all records, optionally only those starting with `prefix`. Decrypts every record: use sparingly.
   * @throws VaultLockedError, VaultCorruptedError
   */
  async names(prefix = ''): Promise<string[]> {
    return [...(await this.#entries((name) => name.startsWith(prefix))).keys()].sort()
  }

  async #entries(wanted: (name: string) => boolean): Promise<Map<string, Uint8Array>> {
    const keys = this.#unlocked()
    const out = new Map<string, Uint8Array>()
    for (const key of await this.#backend.keys()) {
      if (!key.startsWith(RECORD_KEY_PREFIX)) continue
      const blob = await this.#backend.get(key)
      if (blob === undefined) continue
      const { name, data } = await openRecord(keys, key, blob)
      if (wanted(name)) out.set(name, data)
    }
    return out
  }

  /**
   * Re-wraps the keys under `newPassphrase`. Only the header is rewritten: records are not re-encrypted.
   * @throws VaultLockedError, WrongPassphraseError (old passphrase; nothing changed), InvalidPassphraseError
   */
  async changePassphrase(oldPassphrase: string, newPassphrase: string): Promise<void> {
    this.#unlocked()
    const header = await this.#backend.get(HEADER_KEY)
    if (header === undefined) throw new VaultNotFoundError()
    await this.#backend.put(
      HEADER_KEY,
      await rewrapVaultHeader(header, oldPassphrase, newPassphrase, this.#opts),
    )
  }

  /**
   * Exports `identity/…` records (and `history/…` with `includeHistory`) as a backup file encrypted under
   * `passphrase` with its own salt. Sessions are never exported.
   * @throws VaultLockedError, VaultCorruptedError, InvalidPassphraseError
   */
  async exportBackup(passphrase: string, opts: ExportBackupOptions = {}): Promise<Uint8Array> {
    const records = await this.#entries((name) => inBackupScope(name, opts.includeHistory ?? false))
    return encryptBackup(records, passphrase, { ...this.#opts, ...opts })
  }

  /** Removes every vault blob and forgets the keys (account deletion). Works while locked. */
  async destroy(): Promise<void> {
    this.lock()
    await this.#backend.clear()
  }
}
