/**
 * One unlocked account at work: its network and every component of the app, wired together, started in
 * order and stopped together on lock.
 *
 * Each component gets only what it declares in its `…Components`; this file is the one place that knows
 * them all. The order of `start()`: the network, the learned relays, presence, the profile and prekeys,
 * the mailboxes, then whatever waits in the outbox. `stop()` announces "offline", stops every timer,
 * closes the mailboxes, then the network.
 */
import { safetyNumber } from '@paloma/core/crypto/index.ts'
import { fingerprint, publicKeyFromPeerIdString } from '@paloma/core/protocol/directory.ts'
import { inviteUrl } from '@paloma/core/protocol/invite.ts'
import { encodePayload, isGroupPayload, MAX_TEXT_CHARS } from '@paloma/core/protocol/payload.ts'
import type { EnvelopeHandler, PeerNetwork } from '@paloma/net/network.ts'
import type { Unlocked } from './account.ts'
import { contacts, type Contacts, type ContactsInit } from './contacts.ts'
import { conversations, type Conversations } from './conversations.ts'
import { delivery, type Delivery, type DeliveryInit } from './delivery.ts'
import { diagnostics, type Diagnostics } from './diagnostics.ts'
import { AppError } from './errors.ts'
import { inviteProofId, newInviteSecret, withInviteSecret } from './invite-proof.ts'
import { GroupPeople } from './group-people.ts'
import { groups, type Groups, type GroupsInit } from './groups.ts'
import { inbox, type ApplyPayload, type Inbox, type InboxInit } from './inbox.ts'
import { outbox, type Outbox, type OutboxInit } from './outbox.ts'
import { prekeyUpkeep, type PrekeyUpkeep, type PrekeyUpkeepInit } from './prekey-upkeep.ts'
import { presence, type Presence, type PresenceInit } from './presence.ts'
import { receipts, type Receipts, type ReceiptsInit } from './receipts.ts'
import { RELAY_REFUSAL_CODES, type RelayRefusalCode } from './codes.ts'
import { requests, type Requests, type RequestsInit } from './requests.ts'
import { createScheduler, type Scheduler } from './scheduler.ts'
import { sessionReset, type SessionReset, type SessionResetInit } from './session-reset.ts'
import { sessions, type Sessions, type SessionsInit } from './sessions.ts'
import { settingsStore, type SettingsStore } from './settings.ts'
import type { View } from './view.ts'

/** Options of every component (tests shorten timers; production uses the defaults). */
export interface MessengerInit {
  contacts?: ContactsInit
  sessions?: SessionsInit
  delivery?: DeliveryInit
  outbox?: OutboxInit
  inbox?: InboxInit
  receipts?: ReceiptsInit
  presence?: PresenceInit
  resets?: SessionResetInit
  prekeys?: PrekeyUpkeepInit
  requests?: RequestsInit
  groups?: GroupsInit
}

/** What the host provides (the browser, a Node peer, a test). */
export interface Platform {
  /** Whether the device has a network (navigator.onLine). */
  isNetworkUp?(): boolean
  /** Whether the person is looking at the app (document.visibilityState === 'visible'). */
  isVisible?(): boolean
  /**
   * Raise a system notification: who wrote, and the text (the host shows it only if the person chose so);
   * `request`: the first message of someone who is not a contact (its text is never shown).
   */
  notify?(title: string, body: string, kind?: 'message' | 'request'): void
  /** Base URL for invite links (the app's own address). */
  inviteBase?: string
  /** Whether the browser granted persistent storage (undefined: not asked / not supported). */
  persisted?: boolean
}

/** Makes the network of an unlocked account; every envelope that arrives on it goes to `onEnvelope`. */
export type NetworkFactory = (init: {
  unlocked: Unlocked
  onEnvelope: EnvelopeHandler
}) => Promise<PeerNetwork>

export interface MessengerComponents {
  unlocked: Unlocked
  createNetwork: NetworkFactory
  view: View
  platform: Platform
  now(): number
  rng(n: number): Uint8Array
}

/** How long after a chat opens its safety number is computed. */
const SAFETY_NUMBER_DELAY_MS = 300

export class Messenger {
  readonly network: PeerNetwork
  readonly scheduler: Scheduler
  readonly settings: SettingsStore
  readonly contacts: Contacts
  readonly conversations: Conversations
  readonly sessions: Sessions
  readonly delivery: Delivery
  readonly outbox: Outbox
  readonly receipts: Receipts
  readonly presence: Presence
  readonly resets: SessionReset
  readonly inbox: Inbox
  readonly upkeep: PrekeyUpkeep
  readonly requests: Requests
  readonly diagnostics: Diagnostics
  readonly people: GroupPeople
  readonly groups: Groups
  readonly #view: View
  readonly #me: string
  readonly #identityKey: Uint8Array
  readonly #rng: (n: number) => Uint8Array
  /** Safety numbers computed so far, by contact. */
  readonly #safety = new Map<string, string>()

  /** Builds every component of `components.unlocked`'s account and starts them. */
  static async start(components: MessengerComponents, init: MessengerInit = {}): Promise<Messenger> {
    const { records } = components.unlocked
    const [loaded, settings, learnedRelays, blocked, inviteSecret, restoredAt] = await Promise.all([
      records.load(),
      records.settings(),
      records.learnedRelays(),
      records.blocked(),
      records.inviteSecret(() => newInviteSecret(components.rng)),
      records.restoredAt(),
    ])
    let receive: EnvelopeHandler = async () => {
      throw new AppError('NOT_CONNECTED', 'still starting')
    }
    const network = await components.createNetwork({
      unlocked: components.unlocked,
      onEnvelope: (from, id, env) => receive(from, id, env),
    })
    const state = { ...loaded, settings, learnedRelays, blocked, inviteSecret, restoredAt }
    const m = new Messenger(components, network, state, init)
    // Blocked peers (and strangers beyond the request limits) are acknowledged unread.
    receive = (from, id, env) =>
      m.#admits(from) ? m.inbox.receive(from, id, env, 'direct') : Promise.resolve()
    await m.#start()
    return m
  }

  private constructor(
    c: MessengerComponents,
    network: PeerNetwork,
    state: Awaited<ReturnType<Unlocked['records']['load']>> & {
      settings: Awaited<ReturnType<Unlocked['records']['settings']>>
      learnedRelays: string[]
      blocked: string[]
      inviteSecret: string
      restoredAt: number | undefined
    },
    init: MessengerInit,
  ) {
    const { records, stores, identity, account } = c.unlocked
    const { now, rng, platform } = c
    const changes = c.view
    this.#view = c.view
    this.network = network
    this.#me = network.peerId
    this.#identityKey = identity.publicKey
    this.#rng = rng
    const scheduler = (this.scheduler = createScheduler())
    this.settings = settingsStore(state.settings)({ records, changes })
    const settings = this.settings
    this.contacts = contacts(init.contacts)({
      records,
      network,
      changes,
      scheduler,
      now,
      contacts: state.contacts,
      learnedRelays: state.learnedRelays,
    })
    this.conversations = conversations()({
      records,
      changes,
      now,
      rng,
      isVisible: platform.isVisible,
      notify: (sender, text) => {
        if (settings.current.notifications) platform.notify?.(sender, text)
      },
      readable: (peer) => this.contacts.get(peer)?.held !== true,
      messages: state.messages,
    })
    this.requests = requests(init.requests)({
      records,
      network,
      contacts: this.contacts,
      conversations: this.conversations,
      changes,
      now,
      requests: state.requests ?? [],
      blocked: state.blocked,
      inviteSecret: state.inviteSecret,
      restoredAt: state.restoredAt,
      notify: (name) => {
        if (settings.current.notifications) platform.notify?.(name, '', 'request')
      },
    })
    // Group members who are not contacts are reached too (sessions, routes, resets), never added as contacts.
    this.people = new GroupPeople(
      { network, contacts: this.contacts, now, changed: (peer) => this.groups.personChanged(peer) },
      init.groups?.people,
    )
    const book = this.people.book()
    this.sessions = sessions(init.sessions)({ stores, network, contacts: book, now, rng })
    // A request's sender is reached only by a session reset (see Requests.mayReset): by their relays.
    const reachable = {
      get: (peer: string) => book.get(peer) ?? this.requests.asContact(peer),
      refresh: (peer: string) => book.refresh(peer),
    }
    this.delivery = delivery(init.delivery)({
      network,
      contacts: reachable,
      now,
      rng,
      scheduler,
      isOpen: (peer) => this.conversations.active === peer,
    })
    this.outbox = outbox(init.outbox)({
      records,
      sessions: this.sessions,
      delivery: this.delivery,
      // A group message copy's outcome goes to the groups (delivered to that member), not to a 1:1 chat.
      conversations: {
        setStatus: (peer, id, status, custody) =>
          this.groups.copyStatus(peer, id, status)
            ? Promise.resolve()
            : this.conversations.setStatus(peer, id, status, custody),
        shown: (message) => this.conversations.shown(message),
        setProblem: (peer, id, problem) => {
          if (RELAY_REFUSAL_CODES.includes(problem as RelayRefusalCode))
            this.diagnostics.refused(problem as RelayRefusalCode)
          this.conversations.setProblem(peer, id, problem)
        },
      },
      scheduler,
      now,
      rng,
      entries: state.outbox,
    })
    this.receipts = receipts(init.receipts)({
      outbox: this.outbox,
      conversations: this.conversations,
      settings,
      scheduler,
    })
    this.presence = presence(init.presence)({
      network,
      sessions: this.sessions,
      delivery: this.delivery,
      contacts: this.contacts,
      settings,
      scheduler,
      changes,
      now,
    })
    this.resets = sessionReset(init.resets)({
      sessions: this.sessions,
      outbox: this.outbox,
      conversations: this.conversations,
      contacts: {
        ensure: async (peer) => reachable.get(peer) ?? (await book.ensure(peer)),
      },
      now,
    })
    this.inbox = inbox(init.inbox)({
      network: {
        relays: network.relays,
        openMailbox: (relay, onEnvelope, options) =>
          network.openMailbox(
            relay,
            (e) => (this.#admits(e.from) ? onEnvelope(e) : Promise.resolve()),
            options,
          ),
      },
      sessions: this.sessions,
      conversations: this.conversations,
      // Nothing goes to a stranger before Accept, but for a session reset when their message could not
      // be decrypted (this device was restored: they may hold the invite), rate-limited.
      resets: {
        request: async (peer) => {
          if (this.contacts.get(peer) !== undefined || (await this.requests.mayReset(peer)))
            await this.resets.request(peer)
        },
      },
      apply: this.#apply,
      // A direct acknowledgement says "delivered": nothing like it goes to a stranger before Accept
      // (refused, the envelope is left in the mailbox, whose relay acknowledges it instead).
      acknowledges: (peer) => this.contacts.get(peer) !== undefined || this.people.isMember(peer),
      keep: (from, payload, via) => this.groups.keep(from, payload, via),
      scheduler,
    })
    this.upkeep = prekeyUpkeep(init.prekeys)({
      records,
      stores,
      identity,
      network,
      scheduler,
      name: account.name,
      now,
      rng,
      onBundle: () => changes.state(), // the invite link carries it
    })
    this.diagnostics = diagnostics()({
      network,
      inbox: this.inbox,
      outbox: this.outbox,
      contacts: this.contacts,
      settings,
      learnedRelays: () => this.contacts.learned(),
      isNetworkUp: platform.isNetworkUp,
      now,
    })
    this.groups = groups(init.groups)({
      records,
      identity,
      name: account.name,
      network,
      sessions: this.sessions,
      outbox: this.outbox,
      delivery: this.delivery,
      contacts: this.contacts,
      people: this.people,
      conversations: this.conversations,
      settings,
      scheduler,
      changes,
      now,
      rng,
      isVisible: platform.isVisible,
      notify: (title, text) => {
        if (settings.current.notifications) platform.notify?.(title, text)
      },
      loaded: state.groups ?? [],
    })
    this.conversations.onRead((peer, ids) => this.receipts.queue(peer, 'read', ids))
    network.on('connection', ({ peer, open }) => {
      if (open) this.#refuseDirect(peer)
      if (open && this.contacts.get(peer) !== undefined) void this.outbox.flush()
      changes.state()
    })
    network.on('addresses', () => changes.state())
    // A reservation made again after a relay restart can change reachability without an event this
    // node sees (measured: the app said "Connecting" while reserved, until something else changed).
    let wasReachable = network.isReachable()
    scheduler.every(1000, () => {
      if (network.isReachable() === wasReachable) return
      wasReachable = !wasReachable
      changes.state()
    })
    const myFingerprint = fingerprint(identity.publicKey)
    changes.attach({
      me: () => {
        const bundle = this.upkeep.bundle()
        return {
          peerId: this.#me,
          name: account.name,
          fingerprint: myFingerprint,
          inviteLink: withInviteSecret(
            inviteUrl(platform.inviteBase ?? 'https://paloma.invalid/', {
              peer: this.#me,
              name: account.name,
              relays: network.ownCircuits(),
              ...(bundle === undefined ? {} : { bundle }),
            }),
            state.inviteSecret,
          ),
        }
      },
      contacts: this.contacts,
      conversations: this.conversations,
      presence: this.presence,
      network,
      settings,
      requests: this.requests,
      groups: this.groups,
      safetyNumber: () => {
        const active = this.conversations.active
        return active === undefined ? undefined : this.#safety.get(active)
      },
    })
  }

  async #start(): Promise<void> {
    await this.network.start()
    await this.groups.start()
    this.contacts.start()
    this.presence.start()
    this.upkeep.start()
    this.inbox.start()
    this.diagnostics.start()
    void this.outbox.flush()
  }

  async stop(): Promise<void> {
    await this.presence.stop().catch(() => {})
    this.scheduler.stop()
    await this.groups.stop()
    await this.inbox.stop()
    await this.network.stop()
  }

  /** What a decrypted payload does, once its envelope was acknowledged. */
  readonly #apply: ApplyPayload = async (from, p, shown, via) => {
    if (isGroupPayload(p)) return this.groups.apply(from, p, via)
    // A group member who is not a contact is not made one by the 1:1 traffic groups cause.
    if (p.k !== 'text' && this.contacts.get(from) === undefined && this.groups.isMember(from)) {
      if (p.k === 'reset') await this.resets.accept(from)
      return
    }
    const sorted = await this.requests.sort(from, p)
    if (sorted === 'request') this.#refuseDirect(from)
    if (sorted !== 'contact') return
    const contact = await this.contacts.ensure(from)
    this.presence.heard(from)
    switch (p.k) {
      case 'text':
        this.presence.stopTyping(from)
        if (shown === undefined) break
        // A direct sender saw its acknowledgement (delivered); a mailbox's sender hears it from us.
        if (via === 'mailbox') this.receipts.queue(from, 'delivered', [shown.id])
        await this.conversations.received(shown, contact.name)
        break
      case 'receipt':
        await this.receipts.apply(from, p)
        break
      case 'presence':
      case 'typing':
        await this.presence.apply(from, p)
        break
      case 'reset':
        await this.resets.accept(from)
        break
    }
    this.#view.contact(from)
  }

  /**
   * A direct connection tells the other side this person is online: someone waiting in Requests (or
   * blocked) keeps none, and writes through the relays until Accept.
   */
  #refuseDirect(peer: string): void {
    if (this.contacts.get(peer) !== undefined || this.people.isMember(peer)) return
    const stranger = this.requests.get(peer) !== undefined || this.requests.blocked().includes(peer)
    if (stranger && this.network.isDirect(peer)) void this.network.closeDirect(peer)
  }

  /** Whether an envelope from `peer` is decrypted: contacts, group members and (within limits) strangers. */
  #admits(peer: string): boolean {
    return (
      this.requests.admits(peer) || (this.people.isMember(peer) && !this.requests.blocked().includes(peer))
    )
  }

  // ------------------------------------------------------------------------------ actions

  async openChat(peer: string): Promise<void> {
    if (this.groups.has(peer)) {
      this.conversations.open(peer)
      await this.groups.open(peer)
      this.#view.state()
      return
    }
    if (this.contacts.get(peer) === undefined)
      throw new AppError('UNKNOWN_CONTACT', `${peer} is not a contact`)
    this.conversations.open(peer)
    void this.delivery.connectDirect(peer)
    await this.conversations.markRead()
    this.#computeSafetyNumber(peer)
  }

  /**
   * The safety number (thousands of SHA-512 rounds, on the main thread in a browser) is computed once per
   * contact and a moment after the chat opened, so it never delays a first message.
   */
  #computeSafetyNumber(peer: string): void {
    if (this.#safety.has(peer)) return this.#view.state()
    this.scheduler.after(SAFETY_NUMBER_DELAY_MS, () => {
      this.#safety.set(peer, safetyNumber(this.#identityKey, publicKeyFromPeerIdString(peer)).digits)
      this.#view.state()
    })
  }

  async send(text: string): Promise<void> {
    const peer = this.conversations.active
    if (peer === undefined) throw new AppError('NO_CHAT_OPEN', 'open a chat first')
    if (this.groups.has(peer)) return this.groups.send(peer, text)
    if (text.trim() === '') return
    const contact = this.contacts.get(peer)
    if (contact?.held === true) throw new AppError('CONTACT_HELD', 'verify the safety number first')
    if (text.length > MAX_TEXT_CHARS) throw new AppError('MESSAGE_TOO_LONG', 'longer than one message')
    this.presence.sentMessage(peer)
    await this.receipts.flush(peer) // receipts for what they wrote go before the reply
    // Until they answer, messages to someone added from their invite prove it (they skip Requests).
    const proof =
      contact?.inviteToken !== undefined &&
      !this.conversations.history(peer).some((m) => m.direction === 'in')
        ? inviteProofId(contact.inviteToken, this.#me, this.#rng)
        : undefined
    const message = this.conversations.compose(peer, text, proof)
    const payload = encodePayload({ k: 'text', id: message.id, ts: message.ts, text })
    // The message and its outbox entry are durable before any network step.
    await this.outbox.enqueue(peer, payload, { shown: message })
    void this.outbox.flush()
  }

  setTyping(on: boolean): void {
    const peer = this.conversations.active
    if (peer !== undefined && this.groups.has(peer)) return this.groups.setTyping(peer, on)
    if (peer !== undefined) this.presence.setTyping(peer, on)
  }

  async acceptRequest(peer: string): Promise<void> {
    await this.requests.accept(peer)
    const theirs = this.conversations.history(peer).filter((m) => m.direction === 'in')
    this.receipts.queue(
      peer,
      'delivered',
      theirs.map((m) => m.id),
    )
    await this.openChat(peer)
  }

  async markVerified(peer: string, verified: boolean): Promise<void> {
    await this.contacts.update(peer, verified ? { verified, held: false, keyChanged: false } : { verified })
    await this.conversations.markRead()
    this.#view.conversation(peer)
  }

  /** Marks the open conversation read (1:1 or group), when the person can see it. */
  async markRead(): Promise<void> {
    await this.conversations.markRead()
    await this.groups.markRead()
  }

  /**
   * The device's network changed, came back or went away (the browser says `offline` and `online` when
   * its address changes too), or the person asked to retry: the outbox is retried at once, and again once
   * connections that no longer answer are closed and relays redialled; the open chat dials its contact
   * directly again.
   */
  networkChanged(): void {
    const retry = () => {
      this.outbox.resetBackoff()
      void this.outbox.flush()
      this.#view.state()
    }
    retry()
    void this.network.checkConnections().then(() => {
      this.delivery.networkChanged()
      const open = this.conversations.active
      if (open !== undefined && this.contacts.get(open) !== undefined) void this.delivery.connectDirect(open)
      retry()
    })
  }
}
