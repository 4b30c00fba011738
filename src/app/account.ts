/**
 * The account on this device: the vault (created, unlocked, restored from a backup, locked, deleted,
 * its passphrase changed, exported) and what unlocking it yields: the identity key, which is also the
 * libp2p PeerId, and the crypto stores on the vault.
 *
 * Owns the account record. Knows nothing about the network.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { identityFromEd25519Private, type IdentityKeyPair } from '@paloma/core/crypto/index.ts'
import { normalizeName } from '@paloma/core/protocol/directory.ts'
import type { KdfOptions } from '@paloma/core/vault/header.ts'
import { VaultProtocolStores } from '../storage/protocol-stores.ts'
import { Vault, type VaultBackend } from '../storage/vault.ts'
import { AppError } from './errors.ts'
import { AppRecords, entry, type AccountRecord } from './records.ts'

/** An unlocked account: what every other component of a session is built on. */
export interface Unlocked {
  vault: Vault
  records: AppRecords
  account: AccountRecord
  privateKey: PrivateKey
  identity: IdentityKeyPair
  stores: VaultProtocolStores
}

export interface Account {
  /** Whether this device holds an account (locked or not). */
  exists(): Promise<boolean>
  /** @throws InvalidNameError (the naming rules), AppError `ACCOUNT_EXISTS`, VaultError */
  create(name: string, passphrase: string): Promise<Unlocked>
  /** @throws WrongPassphraseError (nothing changed), VaultError, AppError `NO_ACCOUNT` / `BAD_RECORD` */
  unlock(passphrase: string): Promise<Unlocked>
  /**
   * Makes the vault from a backup file, under a new passphrase. The relays may hold one-time prekeys
   * made after the backup, whose private halves are gone: they are all replaced at the next upkeep.
   */
  restore(file: Uint8Array, backupPassphrase: string, newPassphrase: string): Promise<Unlocked>
  changePassphrase(u: Unlocked, oldPassphrase: string, newPassphrase: string): Promise<void>
  exportBackup(u: Unlocked, passphrase: string, includeHistory: boolean): Promise<Uint8Array>
  /** Removes every record of this device's account (with or without the passphrase). */
  destroy(u: Unlocked | undefined): Promise<void>
}

export interface AccountInit {
  /** Vault KDF cost (tests lower it). @default the vault's production default (Argon2id) */
  kdf?: KdfOptions
}

export interface AccountComponents {
  backend: VaultBackend
  now(): number
}

export function account(init: AccountInit = {}) {
  return (components: AccountComponents): Account => new DeviceAccount(components, init)
}

class DeviceAccount implements Account {
  readonly #c: AccountComponents
  readonly #kdf: KdfOptions | undefined

  constructor(components: AccountComponents, init: AccountInit) {
    this.#c = components
    this.#kdf = init.kdf
  }

  exists(): Promise<boolean> {
    return Vault.exists(this.#c.backend)
  }

  async create(name: string, passphrase: string): Promise<Unlocked> {
    const display = name.trim()
    normalizeName(display) // throws InvalidNameError with the rules
    if (await this.exists()) throw new AppError('ACCOUNT_EXISTS', 'an account already exists on this device')
    const vault = await Vault.create(this.#c.backend, passphrase, this.#kdf)
    const key = await generateKeyPair('Ed25519')
    const record: AccountRecord = { name: display, key: privateKeyToProtobuf(key), created: this.#c.now() }
    const records = new AppRecords(vault)
    await records.migrate()
    await records.write([entry.account(record)])
    return this.#open(vault)
  }

  async unlock(passphrase: string): Promise<Unlocked> {
    return this.#open(await Vault.unlock(this.#c.backend, passphrase, this.#kdf))
  }

  async restore(file: Uint8Array, backupPassphrase: string, newPassphrase: string): Promise<Unlocked> {
    const vault = await Vault.importBackup(this.#c.backend, file, backupPassphrase, newPassphrase, this.#kdf)
    // A backup that does not open into an account leaves nothing behind: the device stays as it was.
    try {
      const records = new AppRecords(vault)
      if ((await records.account()) === undefined)
        throw new AppError('NO_ACCOUNT', 'this backup holds no account')
      await records.setPreKeyReset(true)
      await records.setRestoredAt(this.#c.now())
      return await this.#open(vault)
    } catch (err) {
      await vault.destroy()
      throw err
    }
  }

  async #open(vault: Vault): Promise<Unlocked> {
    const records = new AppRecords(vault)
    await records.migrate()
    const account = await records.account()
    if (account === undefined)
      throw new AppError('NO_ACCOUNT', 'this vault holds no account: restore a backup or delete it')
    const privateKey = privateKeyFromProtobuf(account.key)
    const identity = await identityFromEd25519Private(privateKey.raw)
    return { vault, records, account, privateKey, identity, stores: new VaultProtocolStores(vault, identity) }
  }

  changePassphrase(u: Unlocked, oldPassphrase: string, newPassphrase: string): Promise<void> {
    return u.vault.changePassphrase(oldPassphrase, newPassphrase)
  }

  exportBackup(u: Unlocked, passphrase: string, includeHistory: boolean): Promise<Uint8Array> {
    return u.vault.exportBackup(passphrase, { includeHistory, ...this.#kdf })
  }

  async destroy(u: Unlocked | undefined): Promise<void> {
    if (u !== undefined) await u.vault.destroy()
    else await Vault.wipe(this.#c.backend)
  }
}
