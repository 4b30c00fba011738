/**
 * The Paloma app service: accounts (vault), contacts (invites, directory), and end-to-end encrypted
 * messaging with an outbox, store-and-forward, receipts and presence. It composes the pure core, the
 * libp2p node and storage; the UI renders its snapshots and calls its actions, and the tests drive it
 * the same way in Node (no DOM here).
 *
 * Delivery: every outgoing message is written to the vault outbox (with the ratchet step that encrypted
 * it, in one transaction) before any network step. The outbox sends over the direct chat stream when a
 * connection to the contact is open, otherwise deposits on the contact's home relays (mailbox), and
 * retries with backoff until a path acknowledges. Incoming envelopes are decrypted and committed with
 * the ratchet state in one transaction, deduplicated by (sender, id), then acknowledged.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { decode, encode } from 'cborg'
import {
  createPreKeyBundle,
  decryptMessage,
  DecryptionFailedError,
  generateOneTimePreKeys,
  NoSessionError,
  UnknownPreKeyError,
  verifyPreKeyBundle,
  encryptMessage,
  hasSession,
  identityFromEd25519Private,
  processPreKeyBundle,
  rotateSignedPreKey,
  safetyNumber,
  DuplicateMessageError,
  type EncryptedMessage,
  type IdentityKeyPair,
} from '../core/crypto/index.ts'
import { advanceStatus, newMessageId, type ChatMessage, type MessageStatus } from '../core/messages.ts'
import { fingerprint, normalizeName } from '../core/protocol/directory.ts'
import { inviteUrl, InviteError, parseInvite } from '../core/protocol/invite.ts'
import { decodePayload, encodePayload, type Payload } from '../core/protocol/payload.ts'
import { ChatService } from '../net/chat.ts'
import { Directory } from '../net/directory.ts'
import { deposit, openMailbox, type MailboxSubscription } from '../net/mailbox-client.ts'
import { countOneTimePreKeys, takeOneTimePreKey, uploadOneTimePreKeys } from '../net/prekeys-client.ts'
import { signOneTimePreKey } from '../core/protocol/prekeys.ts'
import { createPalomaNode, isDirectWebRTC, type PalomaNode } from '../net/node.ts'
import { VaultProtocolStores } from '../storage/protocol-stores.ts'
import { Vault, type VaultBackend } from '../storage/vault.ts'
import type { KdfOptions } from '../core/vault/header.ts'
import type { AppConfig } from './config.ts'
import type {
  AppActions,
  AppSnapshot,
  Claimant,
  ConnectionState,
  ContactView,
  Phase,
  Settings,
} from './types.ts'

/** Outbox retry delays: 1 s doubling to 60 s. */
const RETRY_MIN_MS = 1000
const RETRY_MAX_MS = 60_000
/** How long a direct send waits for the other side's acknowledgement before trying the relays. */
const DIRECT_ACK_TIMEOUT_MS = 5000
/** Gap between two attempts to open a direct connection to the same contact. */
const DIRECT_REDIAL_MS = 30_000
/** A typing indicator expires if not refreshed. */
const TYPING_TTL_MS = 6000
/** Home relays an envelope is deposited on, when the contact has that many. */
const MAILBOX_COPIES = 2
const RECEIPT_BATCH_MS = 30
/** One-time prekeys: top up a relay holding fewer than LOW_WATER with a batch of BATCH. */
const OPK_LOW_WATER = 20
const OPK_BATCH = 50
const OPK_CHECK_MS = 10 * 60_000
/** Contacts whose outbox is worked on at once (each may open streams to a relay). */
const OUTBOX_CONCURRENCY = 4
const PRESENCE_SETTLE_MS = 1000
const PRESENCE_HEARTBEAT_MS = 20_000
/** Least time between two session resets asked of the same contact. */
const RESET_INTERVAL_MS = 60_000
/** Relay answers that mean "not now" for a reason the sender should see (docs/mailbox.md). */
const RELAY_REFUSALS = new Set(['TOO_LARGE', 'RECIPIENT_QUOTA', 'SENDER_QUOTA', 'RATE_LIMITED'])

const ACCOUNT = 'identity/account'
const SETTINGS = 'identity/settings'
const CONTACT = 'identity/contact/'
const HISTORY = 'history/msg/'
const OUTBOX = 'outbox/'
const OPK_NEXT = 'identity/opk-next'
/** Set after a restore: the next upload replaces every one-time prekey the relays hold. */
const OPK_RESET = 'state/opk-reset'
const LEARNED_RELAYS = 'identity/relays-learned'
/** Relays learned from contacts (their home relays), remembered for the DHT. */
const MAX_LEARNED_RELAYS = 16

export class AppError extends Error {
  override name = 'AppError'
}

export interface Platform {
  /** Whether the device has a network (navigator.onLine). */
  isNetworkUp?(): boolean
  /** Whether the person is looking at the app (document.visibilityState === 'visible'). */
  isVisible?(): boolean
  /** Raise a system notification. */
  notify?(title: string, body: string): void
  /** Base URL for invite links (the app's own address). */
  inviteBase?: string
  /** Whether the browser granted persistent storage (undefined: not asked / not supported). */
  persisted?: boolean
}

export interface PalomaInit {
  config: AppConfig
  backend: VaultBackend
  platform?: Platform
  /** Vault KDF options (tests lower the cost). */
  kdf?: KdfOptions
  rng?: (n: number) => Uint8Array
  now?: () => number
}

interface AccountRecord {
  v: 1
  name: string
  key: Uint8Array
  created: number
}

interface ContactRecord {
  peer: string
  name: string
  relays: string[]
  added: number
  keyChanged: boolean
  lastSeen?: number
}

interface OutboxEntry {
  /** The message's id (its status follows this entry). */
  id: string
  to: string
  /** Plaintext payload (encrypted at rest in the vault), kept to re-encrypt after a session reset. */
  payload: Uint8Array
  /** The end-to-end encrypted envelope, once encrypted. */
  env?: Uint8Array
  /**
   * The envelope's id on the wire (direct acks, mailbox deposits): new for every envelope made, so a
   * message encrypted again after a session reset is not taken by a relay for a retry of the first
   * envelope, which it remembers as delivered. Entries written before this field use `id`.
   */
  envId?: string
  created: number
}

interface ContactLive {
  online: boolean
  /** Last time anything arrived from them (kept in memory; saved with presence changes). */
  lastSeen?: number
  typingUntil: number
  lastDirectAttempt: number
  lastReset: number
  connecting?: Promise<void>
}

type Listener = (s: AppSnapshot) => void

export class Paloma implements AppActions {
  readonly #init: PalomaInit
  readonly #rng: (n: number) => Uint8Array
  readonly #now: () => number
  readonly #platform: Platform
  readonly #listeners = new Set<Listener>()

  #phase: Phase = 'starting'
  #error: string | undefined
  #vault: Vault | undefined
  #account: AccountRecord | undefined
  #identity: IdentityKeyPair | undefined
  #privateKey: PrivateKey | undefined
  #stores: VaultProtocolStores | undefined
  #node: PalomaNode | undefined
  #chat: ChatService | undefined
  #directory: Directory | undefined
  #settings: Settings = { readReceipts: true, presence: true }
  #contacts = new Map<string, ContactRecord>()
  #live = new Map<string, ContactLive>()
  #history = new Map<string, ChatMessage[]>()
  #unread = new Map<string, number>()
  #outbox = new Map<string, OutboxEntry>()
  #active: string | undefined
  #locks = new Map<string, Promise<unknown>>()
  #mailboxes = new Map<string, MailboxSubscription>()
  #timers = new Set<ReturnType<typeof setTimeout>>()
  #sleepers = new Set<() => void>()
  #pendingAcks = new Map<string, (ok: boolean) => void>()
  #receipts = new Map<string, { delivered: Set<string>; read: Set<string> }>()
  #running = false
  #flushing = false
  #flushAgain = false
  #relayIds = new Set<string>()
  #learned = new Set<string>()
  /** The session a publish loop runs for, if one runs. */
  #publishing: number | undefined
  #publishAgain = false
  /** Counts sessions (unlocks), so loops of an ended session stop even if a new one started. */
  #session = 0
  #lostRelays = new Set<string>()
  #retryDelay = RETRY_MIN_MS
  #emitQueued = false

  constructor(init: PalomaInit) {
    this.#init = init
    this.#rng = init.rng ?? ((n) => crypto.getRandomValues(new Uint8Array(n)))
    this.#now = init.now ?? Date.now
    this.#platform = init.platform ?? {}
  }

  // ---------------------------------------------------------------- lifecycle

  /** Decides the first screen: create an account, or unlock the existing one. */
  async open(): Promise<void> {
    this.#phase = (await Vault.exists(this.#init.backend)) ? 'unlock' : 'create'
    this.#emit()
  }

  fail(phase: 'failed' | 'other-tab', error?: string): void {
    this.#phase = phase
    this.#error = error
    this.#emit()
  }

  async createAccount(name: string, passphrase: string): Promise<void> {
    const display = name.trim()
    normalizeName(display) // throws InvalidNameError with the rules
    if (await Vault.exists(this.#init.backend))
      throw new AppError('An account already exists on this device.')
    const vault = await Vault.create(this.#init.backend, passphrase, this.#init.kdf)
    const key = await generateKeyPair('Ed25519')
    const account: AccountRecord = {
      v: 1,
      name: display,
      key: privateKeyToProtobuf(key),
      created: this.#now(),
    }
    await vault.put(ACCOUNT, encode(account))
    await this.#startSession(vault, account)
  }

  async unlock(passphrase: string): Promise<void> {
    const vault = await Vault.unlock(this.#init.backend, passphrase, this.#init.kdf)
    const bytes = await vault.get(ACCOUNT)
    if (bytes === undefined) throw new AppError('This vault holds no account. Restore a backup or delete it.')
    await this.#startSession(vault, decode(bytes) as AccountRecord)
  }

  async importBackup(file: Uint8Array, backupPassphrase: string, newPassphrase: string): Promise<void> {
    const vault = await Vault.importBackup(
      this.#init.backend,
      file,
      backupPassphrase,
      newPassphrase,
      this.#init.kdf,
    )
    const bytes = await vault.get(ACCOUNT)
    if (bytes === undefined) throw new AppError('This backup holds no account.')
    // The relays may hold one-time prekeys made after the backup: their private halves are gone.
    await vault.put(OPK_RESET, encode(true))
    await this.#startSession(vault, decode(bytes) as AccountRecord)
  }

  async lock(): Promise<void> {
    await this.#stopSession(true)
    this.#phase = 'unlock'
    this.#emit()
  }

  /** Stops the node (e.g. the tab is closing); the vault stays unlocked in memory until dropped. */
  async stop(): Promise<void> {
    await this.#stopSession(false)
  }

  async deleteAccount(): Promise<void> {
    await this.#directory?.withdraw({ signal: AbortSignal.timeout(10_000) }).catch(() => {})
    const vault = this.#vault
    await this.#stopSession(false)
    if (vault !== undefined) await vault.destroy()
    else await Vault.wipe(this.#init.backend)
    this.#phase = 'create'
    this.#emit()
  }

  async changePassphrase(oldPassphrase: string, newPassphrase: string): Promise<void> {
    await this.#requireVault().changePassphrase(oldPassphrase, newPassphrase)
  }

  async exportBackup(passphrase: string, includeHistory: boolean): Promise<Uint8Array> {
    return this.#requireVault().exportBackup(passphrase, { includeHistory, ...this.#init.kdf })
  }

  async updateSettings(s: Partial<Settings>): Promise<void> {
    this.#settings = { ...this.#settings, ...s }
    await this.#requireVault().put(SETTINGS, encode(this.#settings))
    this.#emit()
  }

  async #startSession(vault: Vault, account: AccountRecord): Promise<void> {
    this.#vault = vault
    this.#account = account
    this.#privateKey = privateKeyFromProtobuf(account.key)
    this.#identity = await identityFromEd25519Private(this.#privateKey.raw)
    this.#stores = new VaultProtocolStores(vault, this.#identity)
    await this.#loadState(vault)
    const { config } = this.#init
    this.#node = await createPalomaNode({
      privateKey: this.#privateKey,
      relays: config.relays,
      iceServers: config.iceServers,
      allowPrivateAddresses: config.allowPrivateAddresses,
    })
    const libp2p = this.#node.libp2p
    this.#chat = new ChatService(libp2p)
    this.#chat.on('frame', ({ peer, frame }) => {
      if (frame.t === 'ack') this.#pendingAcks.get(`${peer.toString()}/${frame.id}`)?.(true)
      else void this.#receive(peer.toString(), frame.id, frame.env, 'direct')
    })
    this.#directory = new Directory(libp2p, this.#privateKey, { now: this.#now })
    this.#relayIds = new Set(config.relays.map((r) => r.slice(r.lastIndexOf('/p2p/') + 5)))
    this.#lostRelays.clear()
    libp2p.addEventListener('connection:open', (e) => this.#onConnection(e.detail.remotePeer, true))
    libp2p.addEventListener('connection:close', (e) => this.#onConnection(e.detail.remotePeer, false))
    libp2p.addEventListener('self:peer:update', () => this.#emit())
    await this.#chat.start()
    await libp2p.start()
    this.#running = true
    this.#session++
    this.#phase = 'ready'
    this.#directory.start()
    this.#every(1000, () => this.#tick())
    this.#emit()
    for (const relay of this.#learned) this.#dialRelay(relay)
    void this.#publishProfile()
    for (const relay of config.relays) void this.#keepMailbox(relay)
    this.#after(2000, () => void this.#replenishPreKeys())
    // Presence is best effort over direct connections: repeat it so one lost announcement heals.
    this.#every(PRESENCE_HEARTBEAT_MS, () => {
      if (this.#settings.presence) void this.#broadcastPresence(true)
    })
    this.#every(OPK_CHECK_MS, () => void this.#replenishPreKeys())
    void this.#flushOutbox()
  }

  async #stopSession(lockVault: boolean): Promise<void> {
    if (this.#running && this.#settings.presence) await this.#broadcastPresence(false).catch(() => {})
    this.#running = false
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    for (const wake of [...this.#sleepers]) wake()
    this.#directory?.stop()
    await Promise.all([...this.#mailboxes.values()].map((m) => m.close().catch(() => {})))
    this.#mailboxes.clear()
    await this.#chat?.stop().catch(() => {})
    await this.#node?.libp2p.stop()
    for (const settle of this.#pendingAcks.values()) settle(false)
    this.#node = this.#chat = this.#directory = undefined
    if (lockVault) {
      this.#vault?.lock()
      this.#vault = this.#account = this.#identity = this.#privateKey = this.#stores = undefined
      this.#contacts.clear()
      this.#history.clear()
      this.#outbox.clear()
      this.#unread.clear()
      this.#live.clear()
      this.#active = undefined
    }
  }

  async #loadState(vault: Vault): Promise<void> {
    const learned = await vault.get(LEARNED_RELAYS)
    this.#learned = new Set(learned === undefined ? [] : (decode(learned) as string[]))
    const settings = await vault.get(SETTINGS)
    this.#settings = { readReceipts: true, presence: true }
    if (settings !== undefined) this.#settings = { ...this.#settings, ...(decode(settings) as Settings) }
    // One decrypting pass over the vault: contacts, history and the outbox.
    for (const [name, bytes] of await vault.entries()) {
      if (name.startsWith(CONTACT)) {
        const c = decode(bytes) as ContactRecord
        this.#contacts.set(c.peer, c)
      } else if (name.startsWith(HISTORY)) {
        const m = decode(bytes) as ChatMessage
        this.#historyOf(m.peer).push(m)
      } else if (name.startsWith(OUTBOX)) {
        const e = decode(bytes) as OutboxEntry
        this.#outbox.set(e.id, e)
      }
    }
    for (const list of this.#history.values()) list.sort(byTime)
    for (const [peer, list] of this.#history) {
      this.#unread.set(peer, list.filter((m) => m.direction === 'in' && m.status !== 'read').length)
    }
  }

  // ---------------------------------------------------------------- snapshot

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener)
    listener(this.snapshot())
    return () => this.#listeners.delete(listener)
  }

  snapshot(): AppSnapshot {
    const me = this.#account
    const libp2p = this.#node?.libp2p
    const contacts: ContactView[] = [...this.#contacts.values()]
      .map((c) => {
        const live = this.#live.get(c.peer)
        return {
          peerId: c.peer,
          name: c.name,
          fingerprint: fingerprint(peerIdFromString(c.peer).publicKey!.raw),
          unread: this.#unread.get(c.peer) ?? 0,
          online: live?.online === true,
          lastSeen: live?.lastSeen ?? c.lastSeen,
          typing: (live?.typingUntil ?? 0) > this.#now(),
          keyChanged: c.keyChanged,
          direct: libp2p?.getConnections(peerIdFromString(c.peer)).some((x) => isDirectWebRTC(x)) === true,
        }
      })
      .sort(
        (a, b) => this.#lastActivity(b.peerId) - this.#lastActivity(a.peerId) || a.name.localeCompare(b.name),
      )
    const active = this.#active
    return {
      phase: this.#phase,
      error: this.#error,
      notice: this.#platform.persisted === false ? 'not-persistent' : undefined,
      me:
        me === undefined || libp2p === undefined
          ? undefined
          : {
              peerId: libp2p.peerId.toString(),
              name: me.name,
              fingerprint: fingerprint(this.#identity!.publicKey),
              inviteLink: this.inviteLink(),
            },
      state: this.#connectionState(),
      contacts,
      active,
      messages: active === undefined ? [] : (this.#history.get(active) ?? []).map((m) => ({ ...m })),
      settings: { ...this.#settings },
      safetyNumber: this.#safety,
    }
  }

  #safety: string | undefined

  #connectionState(): ConnectionState {
    const libp2p = this.#node?.libp2p
    if (libp2p === undefined || libp2p.status !== 'started') return 'connecting'
    if (libp2p.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit'))) return 'online'
    return this.#platform.isNetworkUp?.() === false ? 'offline' : 'connecting'
  }

  #emit(): void {
    if (this.#emitQueued) return
    this.#emitQueued = true
    queueMicrotask(() => {
      this.#emitQueued = false
      if (this.#listeners.size === 0) return
      const s = this.snapshot()
      for (const l of this.#listeners) l(s)
    })
  }

  get peerId(): string | undefined {
    return this.#node?.libp2p.peerId.toString()
  }

  get node(): PalomaNode | undefined {
    return this.#node
  }

  // ---------------------------------------------------------------- contacts

  /** This person's relay circuit addresses: where others reach them and deposit their mail. */
  #myRelays(): string[] {
    const me = this.#node!.libp2p.peerId.toString()
    return this.#init.config.relays.map((r) => `${r}/p2p-circuit/p2p/${me}`)
  }

  inviteLink(): string | undefined {
    if (this.#node === undefined || this.#account === undefined) return undefined
    return inviteUrl(this.#platform.inviteBase ?? 'https://paloma.invalid/', {
      peer: this.#node.libp2p.peerId.toString(),
      name: this.#account.name,
      relays: this.#myRelays(),
    })
  }

  async addContact(text: string): Promise<Claimant[] | undefined> {
    const trimmed = text.trim()
    if (trimmed.includes('invite=') || trimmed.length > 40) {
      const invite = parseInvite(trimmed)
      await this.#addContact(invite.peer, invite.name ?? invite.peer.slice(-8), invite.relays)
      await this.openChat(invite.peer)
      return undefined
    }
    let name: string
    try {
      name = normalizeName(trimmed)
    } catch (err) {
      throw new InviteError(`That is neither an invite link nor a username. ${(err as Error).message}`)
    }
    const claimants = await this.#requireDirectory().lookupName(name)
    const me = this.peerId
    return claimants
      .filter((c) => c.peerId !== me)
      .map((c) => ({ peerId: c.peerId, name: c.name, fingerprint: c.fingerprint }))
  }

  async chooseClaimant(claimant: Claimant): Promise<void> {
    const profile = await this.#requireDirectory().resolvePeer(claimant.peerId)
    await this.#addContact(claimant.peerId, profile.name ?? claimant.name, profile.relays)
    await this.openChat(claimant.peerId)
  }

  async #addContact(peer: string, name: string, relays: string[]): Promise<ContactRecord> {
    if (peer === this.peerId) throw new AppError('That is your own invite.')
    peerIdFromString(peer)
    const existing = this.#contacts.get(peer)
    const contact: ContactRecord = existing
      ? { ...existing, relays: relays.length > 0 ? relays : existing.relays }
      : {
          peer,
          name,
          relays,
          added: this.#now(),
          // Same name as someone already pinned, but another key: warn loudly (possible impersonation).
          keyChanged: [...this.#contacts.values()].some((c) => c.name.toLowerCase() === name.toLowerCase()),
        }
    await this.#saveContact(contact)
    // Already connected to someone just added (they wrote first): tell them we are here.
    if (existing === undefined && this.#hasDirect(peer)) this.#announcePresence(peer)
    return contact
  }

  #announcePresence(peer: string): void {
    if (!this.#settings.presence) return
    // Let a relayed connection finish upgrading to WebRTC before announcing on it.
    this.#after(PRESENCE_SETTLE_MS, () => {
      void this.#sendEphemeral(peer, { k: 'presence', online: true, ts: this.#now() }).catch(() => {})
    })
  }

  async #saveContact(c: ContactRecord): Promise<void> {
    this.#contacts.set(c.peer, c)
    await this.#requireVault().put(CONTACT + c.peer, encode(stripUndefined(c)))
    await this.#learnRelays(homeRelays(c.relays))
    this.#emit()
  }

  /**
   * Remembers contacts' home relays and connects to them: they join this node's view of the DHT (so
   * their profiles resolve even when the relay networks are not joined) and they take deposits.
   */
  async #learnRelays(relays: string[]): Promise<void> {
    const fresh = relays.filter((r) => !this.#learned.has(r) && !this.#init.config.relays.includes(r))
    if (fresh.length === 0) return
    for (const r of fresh) this.#learned.add(r)
    while (this.#learned.size > MAX_LEARNED_RELAYS) this.#learned.delete(this.#learned.values().next().value!)
    await this.#requireVault().put(LEARNED_RELAYS, encode([...this.#learned]))
    for (const r of fresh) this.#dialRelay(r)
  }

  #dialRelay(relay: string): void {
    try {
      void this.#node?.libp2p.dial(multiaddr(relay), { signal: AbortSignal.timeout(10_000) }).catch(() => {})
    } catch {
      // not a multiaddr: ignore
    }
  }

  async acceptKeyChange(peerId: string): Promise<void> {
    const c = this.#contacts.get(peerId)
    if (c !== undefined) await this.#saveContact({ ...c, keyChanged: false })
  }

  async openChat(peerId: string): Promise<void> {
    if (!this.#contacts.has(peerId)) throw new AppError('Unknown contact.')
    this.#active = peerId
    this.#safety = undefined
    this.#emit()
    void this.#connectDirect(peerId)
    await this.markRead()
    const theirs = peerIdFromString(peerId).publicKey!.raw
    this.#safety = (await safetyNumber(this.#identity!.publicKey, theirs)).digits
    this.#emit()
  }

  /** Marks the open conversation read (when visible) and tells the contact, if read receipts are on. */
  async markRead(): Promise<void> {
    const peer = this.#active
    if (peer === undefined || this.#platform.isVisible?.() === false) return
    const unread = (this.#history.get(peer) ?? []).filter((m) => m.direction === 'in' && m.status !== 'read')
    if (unread.length === 0) return
    for (const m of unread) m.status = 'read'
    this.#unread.set(peer, 0)
    await this.#requireVault().putMany(unread.map((m) => [historyName(m), encode(m)] as const))
    if (this.#settings.readReceipts)
      this.#queueReceipt(
        peer,
        'read',
        unread.map((m) => m.id),
      )
    this.#emit()
  }

  // ---------------------------------------------------------------- sending

  async send(text: string): Promise<void> {
    const peer = this.#active
    if (peer === undefined) throw new AppError('Open a chat first.')
    if (text.trim() === '') return
    const history = this.#historyOf(peer)
    const last = history.findLast((m) => m.direction === 'out')
    const message: ChatMessage = {
      id: newMessageId(this.#rng),
      peer,
      direction: 'out',
      text,
      ts: Math.max(this.#now(), (last?.ts ?? 0) + 1),
      status: 'pending',
    }
    const payload = encodePayload({ k: 'text', id: message.id, ts: message.ts, text })
    // The message and its outbox entry are durable before any network step.
    await this.#enqueue(peer, message.id, payload, message)
    void this.#flushOutbox()
  }

  setTyping(on: boolean): void {
    const peer = this.#active
    if (peer === undefined || !this.#settings.presence) return
    void this.#sendEphemeral(peer, { k: 'typing', on })
  }

  /**
   * Writes the outbox entry (and the shown message) before any network step. With a session already
   * there, the envelope is encrypted now and committed in the same transaction as the ratchet step;
   * otherwise the payload waits (encrypted at rest in the vault) until a session can be made.
   */
  async #enqueue(peer: string, id: string, payload: Uint8Array, shown?: ChatMessage): Promise<void> {
    const entry: OutboxEntry = { id, to: peer, payload, created: this.#now() }
    const records = (): Array<readonly [string, Uint8Array]> => [
      ...(shown ? [[historyName(shown), encode(shown)] as const] : []),
      [OUTBOX + id, encode(stripUndefined(entry))],
    ]
    const stores = this.#requireStores()
    if (await hasSession(peer, stores.direct)) {
      await this.#withPeerLock(peer, () =>
        stores.transaction(
          (s) => encryptMessage(peer, payload, s, this.#opts()),
          (msg) => {
            this.#setEnvelope(entry, msg)
            return records()
          },
        ),
      )
    } else {
      await this.#requireVault().putMany(records())
    }
    this.#outbox.set(id, entry)
    if (shown) {
      this.#historyOf(peer).push(shown)
      this.#emit()
    }
  }

  async #flushOutbox(): Promise<void> {
    if (!this.#running) return
    if (this.#flushing) {
      // Entries added during a flush are taken by another pass of the running one.
      this.#flushAgain = true
      return
    }
    this.#flushing = true
    let failed: boolean
    try {
      do {
        this.#flushAgain = false
        const entries = [...this.#outbox.values()].sort((a, b) => a.created - b.created)
        // Per contact in order (so a conversation keeps the sender's order), contacts in parallel.
        const queues = [...Map.groupBy(entries, (e) => e.to).values()]
        const results: boolean[] = []
        const worker = async () => {
          for (let list = queues.shift(); list !== undefined; list = queues.shift()) {
            let ok = true
            for (const entry of list) {
              if (!this.#running || !(await this.#deliver(entry).catch(() => false))) {
                ok = false
                break
              }
            }
            results.push(ok)
          }
        }
        await Promise.all(Array.from({ length: OUTBOX_CONCURRENCY }, worker))
        failed = results.includes(false)
      } while (this.#flushAgain && this.#running)
    } finally {
      this.#flushing = false
    }
    if (failed && this.#running) {
      this.#after(this.#retryDelay, () => void this.#flushOutbox())
      this.#retryDelay = Math.min(RETRY_MAX_MS, this.#retryDelay * 2)
    } else {
      this.#retryDelay = RETRY_MIN_MS
    }
  }

  /** Encrypts (once) and sends one outbox entry; true when a path acknowledged it. */
  async #deliver(entry: OutboxEntry): Promise<boolean> {
    const peer = entry.to
    if (entry.env === undefined) {
      const env = await this.#encryptForOutbox(entry)
      if (env === undefined) return false
    }
    const env = entry.env!
    const envId = entry.envId ?? entry.id
    let ok = false
    if (this.#hasDirect(peer)) ok = await this.#sendDirect(peer, envId, env)
    if (!ok) ok = await this.#depositToMailbox(peer, envId, env)
    if (!ok) {
      void this.#connectDirect(peer)
      return false
    }
    this.#outbox.delete(entry.id)
    this.#setProblem(peer, entry.id, undefined)
    await Promise.all([
      this.#setStatus(peer, entry.id, 'sent'),
      this.#requireVault().delete(OUTBOX + entry.id),
    ])
    return true
  }

  /** Gives `entry` a freshly encrypted envelope, with a wire id of its own. */
  #setEnvelope(entry: OutboxEntry, message: EncryptedMessage): void {
    entry.env = encodeEnvelope(message)
    entry.envId = newMessageId(this.#rng)
  }

  /** Starts a session if needed, encrypts, and stores the envelope with the ratchet step atomically. */
  async #encryptForOutbox(entry: OutboxEntry): Promise<Uint8Array | undefined> {
    const peer = entry.to
    if (!(await this.#ensureSession(peer))) return undefined
    return this.#withPeerLock(peer, async () => {
      if (entry.env !== undefined) return entry.env
      const stores = this.#requireStores()
      const sealed = await stores.transaction(
        (s) => encryptMessage(peer, entry.payload, s, this.#opts()),
        (msg) => {
          this.#setEnvelope(entry, msg)
          return [[OUTBOX + entry.id, encode(stripUndefined(entry))]]
        },
      )
      return encodeEnvelope(sealed)
    })
  }

  /**
   * Makes a session with `peer` from its directory profile (X3DH), with a one-time prekey taken from one
   * of its home relays when any is left (otherwise the signed prekey alone: the last-resort path).
   * With `force`, makes a new one even if a session exists (session reset).
   */
  async #ensureSession(peer: string, force = false): Promise<boolean> {
    const stores = this.#requireStores()
    if (!force && (await hasSession(peer, stores.direct))) return true
    const peerKey = peerIdFromString(peer).publicKey!.raw
    let bundle: Awaited<ReturnType<typeof verifyPreKeyBundle>>
    try {
      const profile = await this.#requireDirectory().resolvePeer(peer, {
        signal: AbortSignal.timeout(20_000),
      })
      bundle = await verifyPreKeyBundle(profile.bundle, peerKey)
      const c = this.#contacts.get(peer)
      if (c !== undefined && profile.relays.length > 0)
        await this.#saveContact({ ...c, relays: profile.relays })
    } catch {
      return false
    }
    for (const relay of homeRelays(this.#contacts.get(peer)?.relays ?? []).slice(0, MAILBOX_COPIES)) {
      const opk = await takeOneTimePreKey(this.#node!.libp2p, relay, peer, { timeoutMs: 5000 }).catch(
        () => undefined,
      )
      if (opk !== undefined) {
        bundle = { ...bundle, oneTimePreKeys: [opk] }
        break
      }
    }
    await this.#withPeerLock(peer, () =>
      stores.transaction((s) => processPreKeyBundle(peer, peerKey, bundle, s, this.#opts())),
    )
    return true
  }

  /** Keeps a stock of signed one-time prekeys on each of this person's relays. */
  async #replenishPreKeys(): Promise<void> {
    const libp2p = this.#node?.libp2p
    const identity = this.#identity
    if (libp2p === undefined || identity === undefined) return
    const reset = (await this.#vault?.get(OPK_RESET)) !== undefined
    let replaced = 0
    for (const relay of this.#init.config.relays) {
      try {
        if (!reset && (await countOneTimePreKeys(libp2p, relay, { timeoutMs: 10_000 })) >= OPK_LOW_WATER)
          continue
        // Ids are never reused, across relays too: the same key served by two relays could be used twice.
        const vault = this.#requireVault()
        const stored = await vault.get(OPK_NEXT)
        const first = stored === undefined ? 1 : (decode(stored) as number)
        await vault.put(OPK_NEXT, encode(first + OPK_BATCH))
        const keys = await generateOneTimePreKeys(first, OPK_BATCH, this.#rng)
        // The private halves are durable before anyone can take the public ones.
        await this.#requireStores().transaction(async (s) => {
          for (const k of keys) await s.preKeys.storePreKey(k)
        })
        const records = await Promise.all(
          keys.map((k) => signOneTimePreKey(identity.seed, identity.publicKey, k.id, k.keyPair.publicKey)),
        )
        await uploadOneTimePreKeys(libp2p, relay, records, { timeoutMs: 15_000, replace: reset })
        replaced++
      } catch {
        // The relay is unreachable or refused: the signed prekey still works; try again later.
      }
    }
    if (reset && replaced === this.#init.config.relays.length) await this.#vault?.delete(OPK_RESET)
  }

  /** Asks `peer` to start over: a new session from its bundle, carrying a `reset` payload. */
  async #requestReset(peer: string): Promise<void> {
    const live = this.#liveOf(peer)
    if (this.#now() - live.lastReset < RESET_INTERVAL_MS) return
    live.lastReset = this.#now()
    if (!this.#contacts.has(peer)) await this.#contactFromStranger(peer)
    if (!(await this.#ensureSession(peer, true))) return
    await this.#enqueue(peer, newMessageId(this.#rng), encodePayload({ k: 'reset' }))
    void this.#flushOutbox()
  }

  /** `peer` lost our session: re-encrypt what waits for them and send again what they have not confirmed. */
  async #resendAfterReset(peer: string): Promise<void> {
    // The session the reset came on (the newest one they started) becomes ours too, whatever the
    // simultaneous-initiation tie-break chose: any other one is what they could not decrypt.
    const stores = this.#requireStores()
    await this.#withPeerLock(peer, () =>
      stores.transaction(async (s) => {
        const record = await s.sessions.loadSession(peer)
        const theirs = record?.states().filter((st) => !st.initiator)
        const newest = theirs?.reduce((a, b) => (b.createdAt > a.createdAt ? b : a), theirs[0]!)
        if (record === undefined || newest === undefined || record.current === newest) return
        record.promote(newest)
        await s.sessions.storeSession(peer, record)
      }),
    )
    for (const entry of this.#outbox.values()) {
      if (entry.to !== peer) continue
      delete entry.env
      delete entry.envId
    }
    const unconfirmed = (this.#history.get(peer) ?? []).filter(
      (m) => m.direction === 'out' && m.status === 'sent',
    )
    for (const m of unconfirmed) {
      if (this.#outbox.has(m.id)) continue
      await this.#enqueue(peer, m.id, encodePayload({ k: 'text', id: m.id, ts: m.ts, text: m.text }))
    }
    void this.#flushOutbox()
  }

  #hasDirect(peer: string): boolean {
    return (this.#node?.libp2p.getConnections(peerIdFromString(peer)) ?? []).some((c) => c.status === 'open')
  }

  async #sendDirect(peer: string, id: string, env: Uint8Array): Promise<boolean> {
    const key = `${peer}/${id}`
    const acked = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), DIRECT_ACK_TIMEOUT_MS)
      this.#pendingAcks.set(key, (ok) => {
        clearTimeout(timer)
        resolve(ok)
      })
    })
    try {
      await this.#chat!.send(peerIdFromString(peer), { t: 'env', id, env })
      return await acked
    } catch {
      return false
    } finally {
      this.#pendingAcks.delete(key)
    }
  }

  async #depositToMailbox(peer: string, id: string, env: Uint8Array): Promise<boolean> {
    const relays = homeRelays(this.#contacts.get(peer)?.relays ?? []).slice(0, MAILBOX_COPIES)
    if (relays.length === 0) return false
    const libp2p = this.#node!.libp2p
    const results = await Promise.allSettled(
      relays.map((r) => deposit(libp2p, r, { to: peer, id, envelope: env }, { timeoutMs: 10_000 })),
    )
    if (results.some((r) => r.status === 'fulfilled')) return true
    // Every relay refused: show why (quota, size, rate) on the message while the outbox keeps retrying.
    const refusal = results
      .map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : undefined))
      .find((code) => code !== undefined && RELAY_REFUSALS.has(code))
    if (refusal !== undefined) this.#setProblem(peer, id, refusal)
    return false
  }

  #setProblem(peer: string, id: string, problem: string | undefined): void {
    const m = this.#history.get(peer)?.find((x) => x.id === id && x.direction === 'out')
    if (m === undefined || m.problem === problem) return
    if (problem === undefined) delete m.problem
    else m.problem = problem
    this.#emit()
  }

  /** Tries to open a direct WebRTC connection through one of the contact's relays (rate-limited). */
  async #connectDirect(peer: string): Promise<void> {
    const live = this.#liveOf(peer)
    if (live.connecting !== undefined || this.#hasDirect(peer) || !this.#running) return live.connecting
    if (this.#now() - live.lastDirectAttempt < DIRECT_REDIAL_MS) return
    live.lastDirectAttempt = this.#now()
    const targets = (this.#contacts.get(peer)?.relays ?? []).map((r) =>
      multiaddr(`${homeRelay(r)}/p2p-circuit/webrtc/p2p/${peer}`),
    )
    live.connecting = (async () => {
      for (const target of targets) {
        try {
          await this.#node!.libp2p.dial(target, { signal: AbortSignal.timeout(15_000) })
          return
        } catch {
          // try the next relay
        }
      }
    })().finally(() => {
      live.connecting = undefined
      this.#emit()
    })
    return live.connecting
  }

  async #sendEphemeral(peer: string, payload: Payload): Promise<void> {
    if (!this.#hasDirect(peer) || !(await hasSession(peer, this.#requireStores().direct))) return
    const stores = this.#requireStores()
    const msg = await this.#withPeerLock(peer, () =>
      stores.transaction((s) => encryptMessage(peer, encodePayload(payload), s, this.#opts())),
    )
    const id = newMessageId(this.#rng)
    await this.#chat!.send(peerIdFromString(peer), { t: 'env', id, env: encodeEnvelope(msg) }).catch(() => {})
  }

  #queueReceipt(peer: string, status: 'delivered' | 'read', ids: string[]): void {
    let pending = this.#receipts.get(peer)
    if (pending === undefined) {
      pending = { delivered: new Set(), read: new Set() }
      this.#receipts.set(peer, pending)
      this.#after(RECEIPT_BATCH_MS, () => void this.#sendReceipts(peer))
    }
    for (const id of ids) pending[status].add(id)
  }

  async #sendReceipts(peer: string): Promise<void> {
    const pending = this.#receipts.get(peer)
    this.#receipts.delete(peer)
    if (pending === undefined) return
    for (const status of ['delivered', 'read'] as const) {
      const ids = [...pending[status]]
      for (let i = 0; i < ids.length; i += 256) {
        const payload = encodePayload({ k: 'receipt', status, ids: ids.slice(i, i + 256) })
        await this.#enqueue(peer, newMessageId(this.#rng), payload)
      }
    }
    void this.#flushOutbox()
  }

  async #broadcastPresence(online: boolean): Promise<void> {
    await Promise.all(
      [...this.#contacts.keys()].map((peer) =>
        this.#sendEphemeral(peer, { k: 'presence', online, ts: this.#now() }).catch(() => {}),
      ),
    )
  }

  // ---------------------------------------------------------------- receiving

  /**
   * Handles one envelope from `from` (authenticated by Noise on the carrying connection). Resolves once
   * the outcome is durable, so the caller may acknowledge it; undecryptable envelopes are dropped
   * (acknowledged) rather than retried forever.
   */
  async #receive(from: string, id: string, envBytes: Uint8Array, via: 'direct' | 'mailbox'): Promise<void> {
    let received: { payload: Payload; shown?: ChatMessage } | undefined
    try {
      received = await this.#withPeerLock(from, () => this.#decryptAndStore(from, envBytes))
    } catch (err) {
      // Nothing to decrypt it with (restored from a backup, or a one-time prekey made after the backup):
      // ask the sender to start over and send again what we have not confirmed.
      if (
        err instanceof NoSessionError ||
        err instanceof DecryptionFailedError ||
        err instanceof UnknownPreKeyError
      ) {
        void this.#requestReset(from)
      } else if (!(err instanceof DuplicateMessageError))
        console.warn(`Dropped an envelope from ${from}:`, err)
    }
    // Durable (or deliberately dropped): acknowledge first, then update contacts, receipts and the UI.
    if (via === 'direct') void this.#chat?.send(peerIdFromString(from), { t: 'ack', id }).catch(() => {})
    if (received !== undefined) {
      const { payload, shown } = received
      void this.#withPeerLock(`apply/${from}`, () => this.#apply(from, payload, shown)).catch((err) =>
        console.warn('Could not apply a message:', err),
      )
    }
  }

  /** Decrypts and commits the message with the ratchet step in one transaction (under the peer lock). */
  async #decryptAndStore(
    from: string,
    envBytes: Uint8Array,
  ): Promise<{ payload: Payload; shown?: ChatMessage }> {
    const stores = this.#requireStores()
    const message = decodeEnvelope(envBytes)
    const peerKey = peerIdFromString(from).publicKey!.raw
    let shown: ChatMessage | undefined
    const payload = await stores.transaction(
      async (s) => {
        // The sender's identity is its PeerId's key: pin it so a prekey message carrying any other
        // identity key is refused (UntrustedIdentityError).
        await s.identity.saveIdentity(from, peerKey)
        const p = decodePayload(await decryptMessage(from, message, s, this.#opts()))
        if (p.k === 'text' && !this.#history.get(from)?.some((m) => m.id === p.id && m.direction === 'in')) {
          shown = { id: p.id, peer: from, direction: 'in', text: p.text, ts: p.ts, status: 'delivered' }
        }
        return p
      },
      () => (shown ? [[historyName(shown), encode(shown)] as const] : []),
    )
    if (shown !== undefined) {
      insertByTime(this.#historyOf(from), shown)
      this.#emit() // on screen as soon as it is durable
    }
    return { payload, shown }
  }

  async #apply(from: string, p: Payload, shown: ChatMessage | undefined): Promise<void> {
    const contact = this.#contacts.get(from) ?? (await this.#contactFromStranger(from))
    const live = this.#liveOf(from)
    live.lastSeen = this.#now()
    switch (p.k) {
      case 'text':
        live.typingUntil = 0
        if (shown === undefined) break
        this.#queueReceipt(from, 'delivered', [shown.id])
        this.#unread.set(from, (this.#unread.get(from) ?? 0) + 1)
        if (this.#active === from && this.#platform.isVisible?.() !== false) await this.markRead()
        else this.#platform.notify?.(contact.name, shown.text)
        break
      case 'receipt':
        for (const id of p.ids) await this.#setStatus(from, id, p.status)
        break
      case 'presence':
        live.online = p.online
        live.lastSeen = p.ts
        if (!p.online) await this.#saveContact({ ...contact, lastSeen: p.ts })
        break
      case 'typing':
        live.typingUntil = p.on ? this.#now() + TYPING_TTL_MS : 0
        break
      case 'reset':
        await this.#resendAfterReset(from)
        break
    }
    this.#emit()
  }

  /** Someone not yet in the contacts wrote: add them, named by their directory profile if any. */
  async #contactFromStranger(peer: string): Promise<ContactRecord> {
    let name = peer.slice(-8)
    let relays: string[] = []
    try {
      const profile = await this.#requireDirectory().resolvePeer(peer, {
        signal: AbortSignal.timeout(10_000),
      })
      name = profile.name ?? name
      relays = profile.relays
    } catch {
      // Unknown to the directory: keep the short id as the name.
    }
    return this.#addContact(peer, name, relays)
  }

  async #setStatus(peer: string, id: string, status: MessageStatus): Promise<void> {
    const m = this.#history.get(peer)?.find((x) => x.id === id && x.direction === 'out')
    if (m === undefined) return
    const next = advanceStatus(m.status, status)
    if (next === m.status) return
    m.status = next
    this.#emit()
    await this.#vault?.put(historyName(m), encode(m))
  }

  // ---------------------------------------------------------------- network upkeep

  #onConnection(remote: PeerId, open: boolean): void {
    const peer = remote.toString()
    if (this.#relayIds.has(peer)) {
      // A relay came back (restart, network change): its DHT may have lost our records, so publish again.
      if (!open && !this.#hasDirect(peer)) this.#lostRelays.add(peer)
      else if (open && this.#lostRelays.delete(peer)) void this.#publishProfile()
    }
    if (this.#contacts.has(peer)) {
      const live = this.#liveOf(peer)
      if (open) {
        this.#announcePresence(peer)
        void this.#flushOutbox()
      } else {
        // A relayed connection closes as its WebRTC replacement opens: judge after the switch.
        this.#after(PRESENCE_SETTLE_MS, () => {
          if (this.#hasDirect(peer) || !live.online) return
          live.online = false
          live.lastSeen = this.#now()
          this.#emit()
        })
      }
    }
    this.#emit()
  }

  /** Holds a subscription to this person's mailbox on `relay`, reopening it whenever it ends. */
  async #keepMailbox(relay: string): Promise<void> {
    const session = this.#session
    const live = () => this.#running && session === this.#session
    let delay = RETRY_MIN_MS
    while (live()) {
      try {
        const sub = await openMailbox(this.#node!.libp2p, relay, (e) =>
          this.#receive(e.from, e.id, e.envelope, 'mailbox'),
        )
        this.#mailboxes.set(relay, sub)
        delay = RETRY_MIN_MS
        await sub.closed
      } catch {
        // relay unreachable: retry below
      }
      this.#mailboxes.delete(relay)
      if (!live()) return
      await this.#sleep(delay)
      delay = Math.min(RETRY_MAX_MS, delay * 2)
    }
  }

  /**
   * Publishes the profile (prekey bundle with a current signed prekey, name, relays), retrying until a
   * relay stores it. A request during a running publish makes it publish once more afterwards.
   */
  async #publishProfile(): Promise<void> {
    const session = this.#session
    const live = () => this.#running && session === this.#session
    if (this.#publishing === session) {
      this.#publishAgain = true
      return
    }
    this.#publishing = session
    try {
      do {
        this.#publishAgain = false
        let delay = 2000
        while (live()) {
          try {
            const spk = await rotateSignedPreKey(this.#requireStores().direct.signedPreKeys, this.#opts())
            const bundle = await createPreKeyBundle(this.#identity!, spk, [])
            await this.#directory!.publish({ name: this.#account!.name, bundle, relays: this.#myRelays() })
            break
          } catch {
            // No relay reachable yet, or locked meanwhile (then the loop ends).
            await this.#sleep(delay)
            delay = Math.min(RETRY_MAX_MS, delay * 2)
          }
        }
      } while (this.#publishAgain && live())
    } finally {
      if (this.#publishing === session) this.#publishing = undefined
    }
  }

  #tick(): void {
    const now = this.#now()
    for (const live of this.#live.values())
      if (live.typingUntil > 0 && live.typingUntil < now) live.typingUntil = 0
    this.#emit()
  }

  /** The browser's network came back (or went away): redial relays now and retry the outbox. */
  networkChanged(): void {
    this.#node?.relays.retryNow()
    this.#retryDelay = RETRY_MIN_MS
    void this.#flushOutbox()
    this.#emit()
  }

  /** The tab became visible again: mark the open chat read. */
  visibilityChanged(): void {
    void this.markRead().catch(() => {})
  }

  // ---------------------------------------------------------------- helpers

  /** Time, randomness, and header encryption for every session this app starts (relays see no ratchet keys). */
  #opts() {
    return { now: this.#now(), rng: this.#rng, headerEncryption: true }
  }

  #historyOf(peer: string): ChatMessage[] {
    let list = this.#history.get(peer)
    if (list === undefined) this.#history.set(peer, (list = []))
    return list
  }

  #liveOf(peer: string): ContactLive {
    let live = this.#live.get(peer)
    if (live === undefined)
      this.#live.set(peer, (live = { online: false, typingUntil: 0, lastDirectAttempt: 0, lastReset: 0 }))
    return live
  }

  #lastActivity(peer: string): number {
    return this.#history.get(peer)?.at(-1)?.ts ?? this.#contacts.get(peer)?.added ?? 0
  }

  #withPeerLock<T>(peer: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(peer) ?? Promise.resolve()
    const run = previous.then(fn, fn)
    const tail = run.catch(() => undefined)
    this.#locks.set(peer, tail)
    void tail.then(() => {
      if (this.#locks.get(peer) === tail) this.#locks.delete(peer)
    })
    return run
  }

  /** Waits `ms`, or less if the session stops meanwhile (so retry loops end with it). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.#sleepers.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.#sleepers.add(wake)
    })
  }

  #after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t)
      fn()
    }, ms)
    this.#timers.add(t)
  }

  #every(ms: number, fn: () => void): void {
    this.#after(ms, () => {
      fn()
      if (this.#running) this.#every(ms, fn)
    })
  }

  #requireVault(): Vault {
    if (this.#vault === undefined) throw new AppError('Paloma is locked: unlock it first.')
    return this.#vault
  }

  #requireStores(): VaultProtocolStores {
    if (this.#stores === undefined) throw new AppError('Paloma is locked: unlock it first.')
    return this.#stores
  }

  #requireDirectory(): Directory {
    if (this.#directory === undefined) throw new AppError('Paloma is not connected yet.')
    return this.#directory
  }
}

function byTime(a: ChatMessage, b: ChatMessage): number {
  return a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

function insertByTime(list: ChatMessage[], m: ChatMessage): void {
  let i = list.length
  while (i > 0 && byTime(list[i - 1]!, m) > 0) i--
  list.splice(i, 0, m)
}

function historyName(m: ChatMessage): string {
  return `${HISTORY}${m.peer}/${m.direction}/${m.id}`
}

/** `/…/p2p/<relay>/p2p-circuit/…` → `/…/p2p/<relay>` (the relay itself). */
function homeRelay(circuit: string): string {
  const at = circuit.indexOf('/p2p-circuit')
  return at >= 0 ? circuit.slice(0, at) : circuit
}

function homeRelays(circuits: string[]): string[] {
  return [...new Set(circuits.map(homeRelay))]
}

function encodeEnvelope(m: EncryptedMessage): Uint8Array {
  return encode({ v: 1, t: m.type === 'prekey' ? 1 : 2, b: m.body })
}

function decodeEnvelope(bytes: Uint8Array): EncryptedMessage {
  const raw = decode(bytes) as { v?: unknown; t?: unknown; b?: unknown }
  if (raw.v !== 1 || (raw.t !== 1 && raw.t !== 2) || !(raw.b instanceof Uint8Array)) {
    throw new AppError('Malformed envelope')
  }
  return { type: raw.t === 1 ? 'prekey' : 'message', body: raw.b }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}
