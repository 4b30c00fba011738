/**
 * The Paloma app service, as the UI and the tests drive it: a thin facade over the app's components.
 *
 * It owns the phase (which screen: create, unlock, ready…), the account (`account.ts`) and, while the
 * account is unlocked, one {@link Messenger}: the network and every component of a session, wired in
 * `messenger.ts`. Each action the UI calls is a line or two forwarding to a component. The same service
 * runs in the browser and in Node (tests, load tools): it has no DOM, and what it needs of its host comes
 * in as {@link PalomaComponents}.
 */
import { parseInvite } from '@paloma/core/protocol/invite.ts'
import type { KdfOptions } from '@paloma/core/vault/header.ts'
import { createPeerNetwork, type PeerNetwork, type PeerNetworkInit } from '@paloma/net/network.ts'
import type { VaultBackend } from '../storage/vault.ts'
import { account, type Account, type Unlocked } from './account.ts'
import type { AppConfig } from './config.ts'
import { userError } from './codes.ts'
import { AppError } from './errors.ts'
import type { GroupTrafficStats } from './group-transport.ts'
import { Messenger, type MessengerInit, type NetworkFactory, type Platform } from './messenger.ts'
import type { AppActions, AppSnapshot, Claimant, ConnectionDetails, Settings } from './types.ts'
import { View } from './view.ts'

export type { Platform } from './messenger.ts'

export interface PalomaInit {
  config: AppConfig
  /** Vault KDF cost (tests lower it). @default Argon2id at the vault's production cost */
  kdf?: KdfOptions
  /** Options of the session's components (tests shorten timers). @default each component's defaults */
  messenger?: MessengerInit
  /** Options of the libp2p network (tests shorten timers). @default its defaults */
  network?: Pick<PeerNetworkInit, 'relayGoneMs' | 'ackTimeoutMs'>
}

export interface PalomaComponents {
  backend: VaultBackend
  /** What the host offers: visibility, notifications, network state. @default none */
  platform?: Platform
  /** @default a libp2p node on `config`'s relays (packages/net/network.ts) */
  createNetwork?: NetworkFactory
  /** @default Date.now */
  now?(): number
  /** @default crypto.getRandomValues */
  rng?(n: number): Uint8Array
}

export function paloma(init: PalomaInit) {
  return (components: PalomaComponents): Paloma => new Paloma(init, components)
}

/** The libp2p network of an unlocked account, on the configured relays. */
export function libp2pNetwork(config: AppConfig, init: PalomaInit['network'] = {}): NetworkFactory {
  return ({ unlocked, onEnvelope }) =>
    createPeerNetwork({
      ...init,
      privateKey: unlocked.privateKey,
      relays: config.relays,
      iceServers: config.iceServers,
      allowPrivateAddresses: config.allowPrivateAddresses,
      onEnvelope,
    })
}

/** How long deleting an account waits for the directory to take the withdrawal. */
const WITHDRAW_TIMEOUT_MS = 10_000

export class Paloma implements AppActions {
  readonly #init: PalomaInit
  readonly #platform: Platform
  readonly #now: () => number
  readonly #rng: (n: number) => Uint8Array
  readonly #createNetwork: NetworkFactory
  readonly #account: Account
  readonly #view: View
  #unlocked: Unlocked | undefined
  #messenger: Messenger | undefined
  /** The invite link the app was opened with, until added or dismissed. */
  #invite: string | undefined

  constructor(init: PalomaInit, components: PalomaComponents) {
    this.#init = init
    this.#platform = components.platform ?? {}
    this.#now = components.now ?? Date.now
    this.#rng = components.rng ?? ((n) => crypto.getRandomValues(new Uint8Array(n)))
    this.#createNetwork = components.createNetwork ?? libp2pNetwork(init.config, init.network)
    this.#account = account({ kdf: init.kdf })({ backend: components.backend, now: this.#now })
    this.#view = new View({ isNetworkUp: this.#platform.isNetworkUp, persisted: this.#platform.persisted })
  }

  // ------------------------------------------------------------------------------ lifecycle

  /** Decides the first screen: create an account, or unlock the existing one. */
  async open(): Promise<void> {
    this.#view.setPhase((await this.#account.exists()) ? 'unlock' : 'create')
  }

  /** Shows a screen that is not the app: it could not start (why, when `error` has a code), or runs in another tab. */
  fail(phase: 'failed' | 'other-tab', error?: unknown): void {
    this.#view.setPhase(phase, userError(error))
  }

  async createAccount(name: string, passphrase: string): Promise<void> {
    await this.#begin(await this.#account.create(name, passphrase))
  }

  async unlock(passphrase: string): Promise<void> {
    await this.#begin(await this.#account.unlock(passphrase))
  }

  async importBackup(file: Uint8Array, backupPassphrase: string, newPassphrase: string): Promise<void> {
    await this.#begin(await this.#account.restore(file, backupPassphrase, newPassphrase))
  }

  async #begin(unlocked: Unlocked): Promise<void> {
    this.#unlocked = unlocked
    try {
      this.#messenger = await Messenger.start(
        {
          unlocked,
          createNetwork: this.#createNetwork,
          view: this.#view,
          platform: this.#platform,
          now: this.#now,
          rng: this.#rng,
        },
        this.#init.messenger,
      )
    } catch (err) {
      this.#unlocked = undefined
      unlocked.vault.lock()
      throw err
    }
    this.#view.setPhase('ready')
  }

  async lock(): Promise<void> {
    await this.#end(true)
    this.#view.setPhase('unlock')
  }

  /** Stops the network (the tab is closing); the vault stays unlocked in memory until dropped. */
  async stop(): Promise<void> {
    await this.#end(false)
  }

  async #end(lockVault: boolean): Promise<void> {
    const messenger = this.#messenger
    this.#messenger = undefined
    await messenger?.stop()
    if (lockVault) {
      this.#unlocked?.vault.lock()
      this.#unlocked = undefined
      this.#view.attach(undefined)
    }
  }

  async deleteAccount(): Promise<void> {
    await this.#messenger?.network.directory
      .withdraw({ signal: AbortSignal.timeout(WITHDRAW_TIMEOUT_MS) })
      .catch(() => {})
    const unlocked = this.#unlocked
    await this.#end(true)
    await this.#account.destroy(unlocked)
    this.#view.setPhase('create')
  }

  changePassphrase(oldPassphrase: string, newPassphrase: string): Promise<void> {
    return this.#account.changePassphrase(this.#requireUnlocked(), oldPassphrase, newPassphrase)
  }

  exportBackup(passphrase: string, includeHistory: boolean): Promise<Uint8Array> {
    return this.#account.exportBackup(this.#requireUnlocked(), passphrase, includeHistory)
  }

  // ------------------------------------------------------------------------------ what the UI reads

  subscribe(listener: (s: AppSnapshot) => void): () => void {
    return this.#view.subscribe(listener)
  }

  snapshot(): AppSnapshot {
    return this.#view.snapshot()
  }

  get peerId(): string | undefined {
    return this.#messenger?.network.peerId
  }

  /** The running network, for diagnostics and tests. */
  get network(): PeerNetwork | undefined {
    return this.#messenger?.network
  }

  inviteLink(): string | undefined {
    return this.#view.snapshot().me?.inviteLink
  }

  // ------------------------------------------------------------------------------ actions

  async updateSettings(patch: Partial<Settings>): Promise<void> {
    await this.#require().settings.update(patch)
  }

  /** An invite link adds the contact and opens the chat; a username returns every claimant. */
  async addContact(text: string): Promise<Claimant[] | undefined> {
    const m = this.#require()
    const trimmed = text.trim()
    if (!trimmed.includes('invite=') && trimmed.length <= 40) return m.contacts.lookup(trimmed)
    const contact = await m.contacts.addFromInvite(trimmed)
    await m.openChat(contact.peer)
    return undefined
  }

  async chooseClaimant(claimant: Claimant): Promise<void> {
    const m = this.#require()
    const contact = await m.contacts.addClaimant(claimant)
    await m.openChat(contact.peer)
  }

  /** The app was opened with an invite link: it is shown (after unlock or create) for one confirmation. */
  openInvite(link: string): void {
    try {
      const invite = parseInvite(link)
      this.#invite = link
      this.#view.setInvite({ peerId: invite.peer, name: invite.name ?? invite.peer.slice(-8) })
    } catch (err) {
      this.#invite = undefined
      this.#view.setInvite({ error: userError(err) ?? { area: 'invite', code: 'BAD_INVITE' } })
    }
  }

  async acceptInvite(): Promise<void> {
    const link = this.#invite
    if (link === undefined) throw new AppError('NO_INVITE', 'no invite link is pending')
    await this.addContact(link)
    this.dismissInvite()
  }

  dismissInvite(): void {
    this.#invite = undefined
    this.#view.setInvite(undefined)
  }

  acceptRequest(peerId: string): Promise<void> {
    return this.#require().acceptRequest(peerId)
  }

  blockRequest(peerId: string): Promise<void> {
    return this.#require().requests.block(peerId)
  }

  deleteRequest(peerId: string): Promise<void> {
    return this.#require().requests.remove(peerId)
  }

  unblock(peerId: string): Promise<void> {
    return this.#require().requests.unblock(peerId)
  }

  markVerified(peerId: string, verified: boolean): Promise<void> {
    return this.#require().markVerified(peerId, verified)
  }

  retrySending(): void {
    this.#messenger?.networkChanged()
  }

  connectionDetails(): ConnectionDetails | undefined {
    return this.#messenger?.diagnostics.details(this.#view.snapshot().state)
  }

  async acceptKeyChange(peerId: string): Promise<void> {
    await this.#require().contacts.update(peerId, { keyChanged: false })
  }

  openChat(peerId: string): Promise<void> {
    return this.#require().openChat(peerId)
  }

  closeChat(): void {
    this.#messenger?.conversations.open(undefined)
  }

  /** Marks the open conversation read (when visible) and tells the contact, if read receipts are on. */
  markRead(): Promise<void> {
    return this.#require().markRead()
  }

  send(text: string): Promise<void> {
    return this.#require().send(text)
  }

  setTyping(on: boolean): void {
    this.#messenger?.setTyping(on)
  }

  /** The browser's network came back (or went away). */
  networkChanged(): void {
    this.#messenger?.networkChanged()
  }

  /** The tab became visible again: mark the open chat read. */
  visibilityChanged(): void {
    void this.#messenger?.markRead().catch(() => {})
  }

  // ------------------------------------------------------------------------------ groups

  /** Creates a group with these contacts and opens it. @returns the group id */
  async createGroup(name: string, members: readonly string[]): Promise<string> {
    const m = this.#require()
    const id = await m.groups.create(name, members)
    await m.openChat(id)
    return id
  }

  addMembers(groupId: string, members: readonly string[]): Promise<void> {
    return this.#require().groups.addMembers(groupId, members)
  }

  removeMember(groupId: string, peerId: string): Promise<void> {
    return this.#require().groups.removeMember(groupId, peerId)
  }

  leaveGroup(groupId: string): Promise<void> {
    return this.#require().groups.leave(groupId)
  }

  acceptGroupInvitation(groupId: string): Promise<void> {
    return this.#require().groups.acceptInvitation(groupId)
  }

  declineGroupInvitation(groupId: string): Promise<void> {
    return this.#require().groups.declineInvitation(groupId)
  }

  /** The peers this node reaches live on the group's topic now (diagnostics, tests). */
  groupLivePeers(groupId: string): string[] {
    return this.#messenger?.groups.livePeers(groupId) ?? []
  }

  /** What group traffic cost this device so far (benchmarks, tests). */
  groupStats(): GroupTrafficStats | undefined {
    return this.#messenger?.groups.stats()
  }

  #require(): Messenger {
    if (this.#messenger === undefined) throw new AppError('LOCKED', 'Paloma is locked: unlock it first')
    return this.#messenger
  }

  #requireUnlocked(): Unlocked {
    if (this.#unlocked === undefined) throw new AppError('LOCKED', 'Paloma is locked: unlock it first')
    return this.#unlocked
  }
}
