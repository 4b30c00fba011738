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
import { encodePayload, isGroupPayload } from '@paloma/core/protocol/payload.ts'
import type { EnvelopeHandler, PeerNetwork } from '@paloma/net/network.ts'
import type { Unlocked } from './account.ts'
import { contacts, type Contacts, type ContactsInit } from './contacts.ts'
import { conversations, type Conversations } from './conversations.ts'
import { delivery, type Delivery, type DeliveryInit } from './delivery.ts'
import { AppError } from './errors.ts'
import { GroupPeople } from './group-people.ts'
import { groups, type Groups, type GroupsInit } from './groups.ts'
import { inbox, type ApplyPayload, type Inbox, type InboxInit } from './inbox.ts'
import { outbox, type Outbox, type OutboxInit } from './outbox.ts'
import { prekeyUpkeep, type PrekeyUpkeep, type PrekeyUpkeepInit } from './prekey-upkeep.ts'
import { presence, type Presence, type PresenceInit } from './presence.ts'
import { receipts, type Receipts, type ReceiptsInit } from './receipts.ts'
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
  groups?: GroupsInit
}

/** What the host provides (the browser, a Node peer, a test). */
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
  readonly people: GroupPeople
  readonly groups: Groups
  readonly #view: View
  readonly #me: string
  readonly #identityKey: Uint8Array
  #safety: { peer: string; digits?: string } | undefined

  /** Builds every component of `components.unlocked`'s account and starts them. */
  static async start(components: MessengerComponents, init: MessengerInit = {}): Promise<Messenger> {
    const { records } = components.unlocked
    const [loaded, settings, learnedRelays] = await Promise.all([
      records.load(),
      records.settings(),
      records.learnedRelays(),
    ])
    let receive: EnvelopeHandler = async () => {
      throw new AppError('NOT_CONNECTED', 'still starting')
    }
    const network = await components.createNetwork({
      unlocked: components.unlocked,
      onEnvelope: (from, id, env) => receive(from, id, env),
    })
    const m = new Messenger(components, network, { ...loaded, settings, learnedRelays }, init)
    receive = (from, id, env) => m.inbox.receive(from, id, env, 'direct')
    await m.#start()
    return m
  }

  private constructor(
    c: MessengerComponents,
    network: PeerNetwork,
    state: Awaited<ReturnType<Unlocked['records']['load']>> & {
      settings: Awaited<ReturnType<Unlocked['records']['settings']>>
      learnedRelays: string[]
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
      notify: platform.notify,
      messages: state.messages,
    })
    // Group members who are not contacts are reached too (sessions, routes, resets), never added as contacts.
    this.people = new GroupPeople(
      { network, contacts: this.contacts, now, changed: (peer) => this.groups.personChanged(peer) },
      init.groups?.people,
    )
    const book = this.people.book()
    this.sessions = sessions(init.sessions)({ stores, network, contacts: book, now, rng })
    this.delivery = delivery(init.delivery)({ network, contacts: book, now, rng })
    const conversationList = this.conversations
    this.outbox = outbox(init.outbox)({
      records,
      sessions: this.sessions,
      delivery: this.delivery,
      // A group message copy's outcome goes to the groups (delivered to that member), not to a 1:1 chat.
      conversations: {
        setStatus: (peer, id, status) =>
          this.groups.copyStatus(peer, id, status)
            ? Promise.resolve()
            : conversationList.setStatus(peer, id, status),
        setProblem: (peer, id, problem) => conversationList.setProblem(peer, id, problem),
        shown: (message) => conversationList.shown(message),
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
      contacts: book,
      now,
    })
    this.inbox = inbox(init.inbox)({
      network,
      sessions: this.sessions,
      conversations: this.conversations,
      resets: this.resets,
      apply: this.#apply,
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
      notify: platform.notify,
      loaded: state.groups ?? [],
    })
    this.conversations.onRead((peer, ids) => this.receipts.queue(peer, 'read', ids))
    network.on('connection', ({ peer, open }) => {
      if (open && this.contacts.get(peer) !== undefined) void this.outbox.flush()
      changes.state()
    })
    network.on('addresses', () => changes.state())
    changes.attach({
      me: {
        peerId: this.#me,
        name: account.name,
        fingerprint: fingerprint(identity.publicKey),
        inviteLink: inviteUrl(platform.inviteBase ?? 'https://paloma.invalid/', {
          peer: this.#me,
          name: account.name,
          relays: network.ownCircuits(),
        }),
      },
      contacts: this.contacts,
      conversations: this.conversations,
      presence: this.presence,
      network,
      settings,
      groups: this.groups,
      safetyNumber: () =>
        this.#safety?.peer === this.conversations.active ? this.#safety?.digits : undefined,
    })
  }

  async #start(): Promise<void> {
    await this.network.start()
    await this.groups.start()
    this.contacts.start()
    this.presence.start()
    this.upkeep.start()
    this.inbox.start()
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

  // ------------------------------------------------------------------------------ actions

  async openChat(peer: string): Promise<void> {
    if (this.groups.has(peer)) {
      this.#safety = undefined
      this.conversations.open(peer)
      await this.groups.open(peer)
      this.#view.state()
      return
    }
    if (this.contacts.get(peer) === undefined)
      throw new AppError('UNKNOWN_CONTACT', `${peer} is not a contact`)
    this.#safety = { peer }
    this.conversations.open(peer)
    void this.delivery.connectDirect(peer)
    await this.conversations.markRead()
    const digits = (await safetyNumber(this.#identityKey, publicKeyFromPeerIdString(peer))).digits
    if (this.#safety?.peer === peer) this.#safety = { peer, digits }
    this.#view.state()
  }

  async send(text: string): Promise<void> {
    const peer = this.conversations.active
    if (peer === undefined) throw new AppError('NO_CHAT_OPEN', 'open a chat first')
    if (this.groups.has(peer)) return this.groups.send(peer, text)
    if (text.trim() === '') return
    await this.receipts.flush(peer) // receipts for what they wrote go before the reply
    const message = this.conversations.compose(peer, text)
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

  /** Marks the open conversation read (1:1 or group), when the person can see it. */
  async markRead(): Promise<void> {
    await this.conversations.markRead()
    await this.groups.markRead()
  }

  /** The device's network came back (or went away): redial relays now and retry the outbox. */
  networkChanged(): void {
    this.network.redialRelays()
    this.outbox.resetBackoff()
    void this.outbox.flush()
    this.#view.state()
  }
}
