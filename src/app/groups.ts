/**
 * Group conversations: the app's side of the group core (packages/core/group). Each group this person is
 * in has its membership log, the group secret, this person's sender key and every other member's chain,
 * and its history, all in vault records (group-records.ts). Control traffic (welcome parts, changes,
 * sender key distributions, receipts, key requests, wants) rides the 1:1 Double Ratchet sessions through
 * the outbox, to members whether or not they are contacts (sessions come from the directory); group
 * messages are encrypted once with the sender key and published on the group's topic, with copies through
 * the outbox for members not reached live (group-transport.ts). Dedupe by (sender, message id): a message
 * that arrives by gossip and as a copy, or twice, is stored and shown once.
 *
 * After a removal or a leave every remaining member rotates its sender key and hands the new one to the
 * others before it sends again (at once, not lazily); keys are also rotated by age and count. An
 * invitation from someone who is not a contact waits as a request the person accepts or declines.
 *
 * Owns the group records. Knows nothing about how envelopes travel, or about the UI beyond the views it
 * builds (group-view.ts).
 */
import { toHex } from '@paloma/core/crypto/bytes.ts'
import { sha256Hash } from '@paloma/core/crypto/primitives.ts'
import type { IdentityKeyPair } from '@paloma/core/crypto/index.ts'
import {
  DuplicateGroupMessageError,
  GROUP_RATE_LIMIT_BURST,
  GROUP_RATE_LIMIT_PER_SECOND,
  GroupError,
  MAX_CHANGE_PARENTS,
  MAX_GROUP_MEMBERS,
  NotAGroupMemberError,
  SENDER_KEY_GRACE_MS,
  UnauthorizedChangeError,
  UnknownSenderKeyError,
  applyChange,
  applyChanges,
  checkGroupName,
  createGroup,
  decodeChange,
  decodeGroupLog,
  decodeGroupMessage,
  decodeGroupReceiverState,
  decodeSenderKeyDistribution,
  decodeSenderKeyState,
  decodeWelcomePart,
  distributeSenderKey,
  encodeGroupLog,
  encodeGroupReceiverState,
  encodeSenderKeyState,
  encodeWelcome,
  forgetFormerMembers,
  groupDecrypt,
  groupEncrypt,
  groupState,
  groupTopic,
  hasChange,
  heads,
  isMember,
  logChanges,
  makeChange,
  memberList,
  missingChanges,
  newGroupReceiverState,
  newSenderKey,
  openWelcome,
  processSenderKeyDistribution,
  rotateSenderKey,
  senderKeyNeedsRotation,
  type GroupChange,
  type GroupLog,
  type GroupReceiverState,
  type Identity,
  type SenderKeyState,
} from '@paloma/core/group/index.ts'
import { newMessageId, type MessageStatus } from '@paloma/core/messages.ts'
import { peerIdStringFromPublicKey, publicKeyFromPeerIdString } from '@paloma/core/protocol/directory.ts'
import {
  decodePayload,
  encodePayload,
  MAX_TEXT_CHARS,
  MAX_WANTED_CHANGES,
  type GroupPayload,
  type Payload,
} from '@paloma/core/protocol/payload.ts'
import type { PeerNetwork, TopicMessage } from '@paloma/net/network.ts'
import type { Contacts } from './contacts.ts'
import type { Conversations } from './conversations.ts'
import type { Delivery } from './delivery.ts'
import { AppError } from './errors.ts'
import { GroupAppError } from './group-errors.ts'
import type { GroupPeople, GroupPeopleInit } from './group-people.ts'
import {
  decodeGroupEntries,
  groupEntry,
  groupNames,
  type FanoutRecord,
  type GroupMessageRecord,
  type GroupStatus,
  type HeldKind,
  type HeldRecord,
  type InvitationRecord,
  type WelcomePartsRecord,
} from './group-records.ts'
import { GroupTransport, type GroupTrafficStats, type GroupTransportInit } from './group-transport.ts'
import { buildGroupViews, type GroupViews } from './group-view.ts'
import type { Arrival } from './inbox.ts'
import { KeyedLock } from './keyed-lock.ts'
import type { Outbox } from './outbox.ts'
import type { AppRecords, RecordEntry } from './records.ts'
import type { Scheduler } from './scheduler.ts'
import type { Sessions } from './sessions.ts'
import type { SettingsStore } from './settings.ts'
import type { Changes } from './view.ts'

export interface Groups {
  /** Whether `id` names a group on this device (member or not any more). */
  has(id: string): boolean
  /** Whether `peer` is a member of one of this person's groups now. */
  isMember(peer: string): boolean
  create(name: string, members: readonly string[]): Promise<string>
  addMembers(id: string, members: readonly string[]): Promise<void>
  removeMember(id: string, peer: string): Promise<void>
  leave(id: string): Promise<void>
  acceptInvitation(id: string): Promise<void>
  declineInvitation(id: string): Promise<void>
  /** The group's conversation was opened: mark it read, connect to members. */
  open(id: string): Promise<void>
  send(id: string, text: string): Promise<void>
  setTyping(id: string, on: boolean): void
  /** Marks the open group conversation read (when visible), with read receipts if they are on. */
  markRead(): Promise<void>
  /**
   * The records to commit with the 1:1 ratchet step that decrypted `payload` (the inbox asks), so a
   * group payload is durable once its envelope is acknowledged, even if applying it is cut short.
   */
  keep(from: string, payload: Payload, via: Arrival): RecordEntry[]
  /** What a group payload from `from` does (after its envelope was acknowledged). */
  apply(from: string, payload: GroupPayload, via: Arrival): Promise<void>
  /** The outbox's outcome for one of its entries: true when it was a group message copy (handled). */
  copyStatus(peer: string, entryId: string, status: MessageStatus): boolean
  /** Someone's name or relays changed: the records of their groups are written again. */
  personChanged(peer: string): void
  views(active: string | undefined): GroupViews
  stats(): GroupTrafficStats
  /** The connected peers subscribed to the group's topic now (diagnostics: is the mesh up?). */
  livePeers(id: string): string[]
  start(): Promise<void>
  /** Stops taking gossip and queues the receipts still being gathered (before the network stops). */
  stop(): Promise<void>
}

export interface GroupsInit {
  transport?: GroupTransportInit
  /** Options of the member directory (messenger.ts builds it). @default its defaults */
  people?: GroupPeopleInit
  /**
   * Members this node keeps direct connections to in each group: all of them while the group has at most
   * this many others, else this many ring neighbours (half after this node in PeerId order, half before,
   * who dial it). @default 6
   */
  directPeers?: number
  /** How long a member's typing indicator lasts without a refresh. @default 6000 */
  typingTtlMs?: number
  /** How often sender keys are checked for rotation by age. @default 3600000 */
  rotationCheckMs?: number
  /** Most messages, keys and changes held per group until what they need arrives. @default 256 */
  maxHeld?: number
  /** Sending rate limit per group: burst. @default GROUP_RATE_LIMIT_BURST (30) */
  rateBurst?: number
  /** Sending rate limit per group: sustained messages per second. @default GROUP_RATE_LIMIT_PER_SECOND (5) */
  ratePerSecond?: number
}

export interface GroupsComponents {
  records: AppRecords
  identity: Pick<IdentityKeyPair, 'publicKey' | 'seed'>
  /** This person's username (shown for their own messages and in member lists). */
  name: string
  network: Pick<PeerNetwork, 'peerId' | 'subscribe' | 'publish' | 'topicPeers' | 'isConnected' | 'on'>
  sessions: Pick<Sessions, 'has' | 'encrypt'>
  outbox: Pick<Outbox, 'enqueue' | 'flush'>
  delivery: Pick<Delivery, 'post' | 'connectDirect'>
  contacts: Pick<Contacts, 'get'>
  people: GroupPeople
  conversations: Pick<Conversations, 'active'>
  settings: Pick<SettingsStore, 'current'>
  scheduler: Scheduler
  changes: Changes
  now(): number
  rng(n: number): Uint8Array
  isVisible?(): boolean
  notify?(title: string, body: string): void
  /** @default console.warn */
  log?(message: string, err: unknown): void
  /** The group records read at unlock (records.ts `load()`). */
  loaded: readonly RecordEntry[]
}

export function groups(init: GroupsInit = {}) {
  return (components: GroupsComponents): Groups => new GroupKeeper(components, init)
}

/** One group in memory. */
export interface Group {
  id: string
  gid: Uint8Array
  log: GroupLog
  secret: Uint8Array
  topic: string
  status: GroupStatus
  joined: number
  own: SenderKeyState | undefined
  receiver: GroupReceiverState
  /** Oldest first; replaced, never changed. */
  history: readonly GroupMessageRecord[]
  /** `<sender>/<id>` → message. */
  byKey: Map<string, GroupMessageRecord>
  typing: Map<string, number>
  unsubscribe?: () => void
  sendTokens: { tokens: number; at: number }
  gossipTokens: Map<string, { tokens: number; at: number }>
}

const byTime = (a: GroupMessageRecord, b: GroupMessageRecord) =>
  a.ts - b.ts || (a.sender < b.sender ? -1 : a.sender > b.sender ? 1 : 0) || (a.id < b.id ? -1 : 1)
const keyOf = (m: Pick<GroupMessageRecord, 'sender' | 'id'>) => `${m.sender}/${m.id}`

function outStatus(m: GroupMessageRecord): MessageStatus {
  if (m.to.length > 0 && m.to.every((p) => m.read.includes(p))) return 'read'
  if (m.to.length > 0 && m.to.every((p) => m.delivered.includes(p))) return 'delivered'
  return m.status === 'pending' ? 'pending' : 'sent'
}

/** Where a group message came from. */
type Source = { via: 'gossip' | Arrival; from: string }

class GroupKeeper implements Groups {
  readonly #c: GroupsComponents
  readonly #init: Required<Omit<GroupsInit, 'transport' | 'people'>>
  readonly #transport: GroupTransport
  readonly #lock = new KeyedLock()
  readonly #groups = new Map<string, Group>()
  readonly #held = new Map<string, Map<string, HeldRecord>>()
  readonly #welcomes = new Map<string, WelcomePartsRecord>()
  readonly #invitations = new Map<string, InvitationRecord & { log: GroupLog }>()
  readonly #kept = new WeakMap<Payload, string>()
  readonly #peerOf = new Map<string, string>()
  readonly #me: string
  readonly #myId: Identity
  #keptSeq = 0
  #views: GroupViews | undefined
  #viewsFor: string | undefined
  #ready: Promise<void>
  #markReady: () => void = () => {}

  constructor(components: GroupsComponents, init: GroupsInit) {
    this.#c = components
    this.#init = {
      directPeers: init.directPeers ?? 6,
      typingTtlMs: init.typingTtlMs ?? 6000,
      rotationCheckMs: init.rotationCheckMs ?? 3_600_000,
      maxHeld: init.maxHeld ?? 256,
      rateBurst: init.rateBurst ?? GROUP_RATE_LIMIT_BURST,
      ratePerSecond: init.ratePerSecond ?? GROUP_RATE_LIMIT_PER_SECOND,
    }
    this.#me = components.network.peerId
    this.#myId = components.identity.publicKey
    this.#transport = new GroupTransport({ ...components, log: (m, e) => this.#log(m, e) }, init.transport)
    this.#ready = new Promise((resolve) => (this.#markReady = resolve))
  }

  // ------------------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    const loaded = decodeGroupEntries(this.#c.loaded)
    for (const r of loaded.groups) {
      const log = await decodeGroupLog(r.log)
      const own = loaded.ownKeys.get(r.id)
      const receiver = loaded.receivers.get(r.id)
      const history = loaded.messages.filter((m) => m.group === r.id).sort(byTime)
      for (const p of r.people) this.#c.people.add(p)
      this.#groups.set(r.id, {
        id: r.id,
        gid: log.group,
        log,
        secret: r.secret,
        topic: groupTopic(r.secret),
        status: r.status,
        joined: r.joined,
        own: own === undefined ? undefined : decodeSenderKeyState(own),
        receiver:
          receiver === undefined ? newGroupReceiverState(log.group) : decodeGroupReceiverState(receiver),
        history,
        byKey: new Map(history.map((m) => [keyOf(m), m])),
        typing: new Map(),
        sendTokens: { tokens: this.#init.rateBurst, at: this.#c.now() },
        gossipTokens: new Map(),
      })
    }
    for (const h of loaded.held) this.#heldOf(h.group).set(h.key, h)
    for (const w of loaded.welcomes) this.#welcomes.set(`${w.group}/${w.from}`, w)
    for (const inv of loaded.invitations) {
      try {
        this.#invitations.set(inv.group, {
          ...inv,
          log: (await openWelcome(inv.parts, { me: this.#myId })).log,
        })
      } catch (err) {
        this.#log('Dropped a stored group invitation', err)
      }
    }
    this.#refreshMembers()
    this.#markReady()
    for (const f of loaded.fanouts)
      if (this.#groups.get(f.group)?.status === 'member') this.#transport.resume(f)
    this.#c.network.on('connection', ({ peer, open }) => {
      if (open && this.#c.contacts.get(peer) === undefined && this.isMember(peer)) void this.#c.outbox.flush()
    })
    for (const g of this.#groups.values()) {
      if (g.status !== 'member') continue
      this.#subscribe(g)
      for (const p of this.#others(g)) this.#c.people.learn(p)
      // No sender key (restored from a backup, which never holds them): a new one, and ask for theirs.
      if (g.own === undefined) void this.#lock.run(g.id, () => this.#restartKeys(g))
      this.#transport.connect(this.#neighbours(g))
    }
    for (const k of loaded.kept) {
      try {
        const payload = decodePayload(k.payload)
        this.#kept.set(payload, k.seq)
        await this.apply(k.from, payload as GroupPayload, k.via)
      } catch (err) {
        this.#log('Dropped a stored group payload', err)
        await this.#c.records.update([], [groupNames.kept(k.seq)])
      }
    }
    this.#c.scheduler.every(this.#init.rotationCheckMs, () => void this.#rotateOld())
    this.#dirty()
  }

  async stop(): Promise<void> {
    for (const g of this.#groups.values()) g.unsubscribe?.()
    await this.#transport.flushReceipts().catch((err) => this.#log('Could not queue group receipts', err))
  }

  // ------------------------------------------------------------------------------ reading

  has(id: string): boolean {
    return this.#groups.has(id)
  }

  isMember(peer: string): boolean {
    return this.#c.people.isMember(peer)
  }

  stats(): GroupTrafficStats {
    return { ...this.#transport.stats }
  }

  livePeers(id: string): string[] {
    const g = this.#groups.get(id)
    return g?.status === 'member' ? this.#c.network.topicPeers(g.topic) : []
  }

  views(active: string | undefined): GroupViews {
    if (this.#views === undefined || this.#viewsFor !== active) {
      this.#viewsFor = active
      this.#views = buildGroupViews({
        groups: this.#groups.values(),
        invitations: this.#invitations.values(),
        active,
        me: this.#me,
        myName: this.#c.name,
        now: this.#c.now(),
        name: (p) => this.#c.people.name(p),
        contact: (p) => this.#c.contacts.get(p),
        peerOf: (id) => this.#peer(id),
      })
    }
    return this.#views
  }

  // ------------------------------------------------------------------------------ actions

  async create(name: string, members: readonly string[]): Promise<string> {
    const peers = this.#checkNewMembers(name, members, 0)
    const created = await createGroup(this.#c.identity, { name, now: this.#c.now(), rng: this.#c.rng })
    let log = created.log
    for (const p of peers)
      log = (await makeChange(log, this.#c.identity, { kind: 'add', member: this.#id(p) }, this.#opts())).log
    const g = await this.#install(log, created.groupSecret, undefined)
    await this.#lock.run(g.id, async () => {
      for (const part of encodeWelcome(g.log, g.secret))
        await this.#transport.tell(peers, { k: 'group-welcome', w: part })
      await this.#distribute(g, peers)
    })
    return g.id
  }

  async addMembers(id: string, members: readonly string[]): Promise<void> {
    const g = this.#member(id)
    await this.#lock.run(id, async () => {
      const current = new Set(this.#others(g))
      const peers = this.#checkNewMembers(groupState(g.log).name, members, current.size).filter(
        (p) => !current.has(p),
      )
      if (peers.length === 0) throw new GroupAppError('NO_MEMBERS', 'everyone chosen is a member already')
      const before = memberList(g.log)
      const made: GroupChange[] = []
      for (const p of peers) {
        const r = await this.#authorize(() =>
          makeChange(g.log, this.#c.identity, { kind: 'add', member: this.#id(p) }, this.#opts()),
        )
        g.log = r.log
        made.push(r.change)
      }
      await this.#save(g)
      for (const c of made) await this.#transport.tell([...current], { k: 'group-change', c: c.bytes })
      for (const part of encodeWelcome(g.log, g.secret))
        await this.#transport.tell(peers, { k: 'group-welcome', w: part })
      await this.#afterLogChange(g, before, made)
    })
  }

  async removeMember(id: string, peer: string): Promise<void> {
    const g = this.#member(id)
    await this.#lock.run(id, async () => {
      const before = memberList(g.log)
      const r = await this.#authorize(() =>
        makeChange(g.log, this.#c.identity, { kind: 'remove', member: this.#id(peer) }, this.#opts()),
      )
      g.log = r.log
      await this.#save(g)
      // The removed member hears of it too (and stops), then the others; each of them rotates on it.
      await this.#transport.tell(
        before.map((m) => this.#peer(m)).filter((p) => p !== this.#me),
        { k: 'group-change', c: r.change.bytes },
      )
      await this.#afterLogChange(g, before, [r.change])
    })
  }

  async leave(id: string): Promise<void> {
    const g = this.#member(id)
    await this.#lock.run(id, async () => {
      const others = this.#others(g)
      const r = await makeChange(g.log, this.#c.identity, { kind: 'leave' }, this.#opts())
      g.log = r.log
      await this.#transport.tell(others, { k: 'group-change', c: r.change.bytes })
      await this.#lost(g, 'left')
    })
  }

  async acceptInvitation(id: string): Promise<void> {
    const inv = this.#invitation(id)
    await this.#lock.run(id, async () => {
      const opened = await openWelcome(inv.parts, { me: this.#myId })
      this.#invitations.delete(id)
      await this.#c.records.update([], [groupNames.invitation(id)])
      await this.#join(opened.log, opened.groupSecret, inv.from)
    })
  }

  async declineInvitation(id: string): Promise<void> {
    const inv = this.#invitation(id)
    await this.#lock.run(id, async () => {
      // Declining is leaving: the members stop sending keys and copies to this person.
      const r = await makeChange(inv.log, this.#c.identity, { kind: 'leave' }, this.#opts())
      const others = memberList(inv.log)
        .map((m) => this.#peer(m))
        .filter((p) => p !== this.#me)
      await this.#transport.tell(others, { k: 'group-change', c: r.change.bytes })
      this.#invitations.delete(id)
      const held = [...(this.#held.get(id)?.keys() ?? [])].map((k) => groupNames.held(id, k))
      this.#held.delete(id)
      await this.#c.records.update([], [groupNames.invitation(id), ...held])
      this.#dirty()
    })
  }

  async open(id: string): Promise<void> {
    const g = this.#groups.get(id)
    if (g === undefined) throw new GroupAppError('UNKNOWN_GROUP', `no group ${id}`)
    if (g.status === 'member') this.#transport.connect(this.#neighbours(g))
    this.#dirty()
    await this.markRead()
  }

  async send(id: string, text: string): Promise<void> {
    const g = this.#member(id)
    if (text.trim() === '') return
    if (text.length > MAX_TEXT_CHARS) throw new AppError('MESSAGE_TOO_LONG', 'the message is too long')
    this.#take(g.sendTokens, 'RATE_LIMITED')
    let record: FanoutRecord | undefined
    await this.#lock.run(id, async () => {
      if (g.status !== 'member' || g.own === undefined) throw new GroupAppError('NOT_A_MEMBER', 'left')
      const members = memberList(g.log)
      if (senderKeyNeedsRotation(g.own, { now: this.#c.now(), members }) !== null) await this.#rotate(g)
      const last = g.history.findLast((m) => m.direction === 'out')
      const now = this.#c.now()
      const message: GroupMessageRecord = {
        group: id,
        id: newMessageId(this.#c.rng),
        sender: this.#me,
        direction: 'out',
        text,
        ts: Math.max(now, (last?.ts ?? 0) + 1),
        status: 'pending',
        to: this.#others(g),
        delivered: [],
        read: [],
      }
      const plaintext = encodePayload({ k: 'text', id: message.id, ts: message.ts, text })
      const sealed = await groupEncrypt(g.own!, plaintext, { now, members })
      g.own = sealed.state
      record = {
        group: id,
        id: message.id,
        message: sealed.message,
        pending: message.to,
        due: now + this.#transport.liveAckMs,
      }
      // The message, the advanced chain and its copies still due: durable before anything leaves.
      await this.#c.records.write([
        groupEntry.message(message),
        groupEntry.ownKey(id, encodeSenderKeyState(sealed.state)),
        groupEntry.fanout(record),
      ])
      this.#show(g, message)
    })
    const fan = record!
    if (fan.pending.length === 0) return this.#update(g, fan.id, (m) => ({ ...m, status: 'sent' }))
    this.#transport.connect(this.#neighbours(g))
    await this.#transport.dispatch(fan, g.topic, this.#dialsAll(g), () =>
      this.#update(g, fan.id, (m) => ({ ...m, status: m.status === 'pending' ? 'sent' : m.status })),
    )
  }

  setTyping(id: string, on: boolean): void {
    const g = this.#groups.get(id)
    if (g?.status === 'member') this.#transport.typing(id, g.gid, this.#others(g), on)
  }

  async markRead(): Promise<void> {
    const g = this.#groups.get(this.#c.conversations.active ?? '')
    if (g === undefined || this.#c.isVisible?.() === false) return
    const unread = g.history.filter((m) => m.direction === 'in' && m.status !== 'read')
    if (unread.length === 0) return
    const read = unread.map((m) => ({ ...m, status: 'read' as const }))
    await this.#c.records.write(read.map(groupEntry.message))
    for (const m of read) this.#replace(g, m)
    for (const [sender, list] of Map.groupBy(read, (m) => m.sender)) {
      this.#transport.queueReceipt(
        sender,
        g.gid,
        g.id,
        'read',
        list.map((m) => m.id),
      )
    }
  }

  // ------------------------------------------------------------------------------ receiving

  keep(from: string, payload: Payload, via: Arrival): RecordEntry[] {
    if (!(payload.k.startsWith('group-') && payload.k !== 'group-typing')) return []
    const seq = `${this.#c.now().toString().padStart(15, '0')}-${(this.#keptSeq++).toString().padStart(6, '0')}`
    this.#kept.set(payload, seq)
    return [groupEntry.kept({ seq, from, via, payload: encodePayload(payload) })]
  }

  async apply(from: string, p: GroupPayload, via: Arrival): Promise<void> {
    await this.#ready
    try {
      await this.#applyOne(from, p, via)
    } catch (err) {
      if (!(err instanceof GroupError)) throw err
      this.#log(`Dropped a ${p.k} from ${from}`, err)
    } finally {
      const seq = this.#kept.get(p)
      if (seq !== undefined) await this.#c.records.update([], [groupNames.kept(seq)])
    }
  }

  async #applyOne(from: string, p: GroupPayload, via: Arrival): Promise<void> {
    switch (p.k) {
      case 'group-welcome': {
        const part = decodeWelcomePart(p.w)
        const id = toHex(part.group)
        return this.#lock.run(id, () => this.#welcomePart(id, from, p.w, part.count))
      }
      case 'group-change': {
        const change = decodeChange(p.c)
        const id = toHex(change.group)
        return this.#lock.run(id, async () => {
          const g = this.#groups.get(id)
          if (g?.status !== 'member') return this.#hold(id, 'change', from, p.c)
          await this.#change(g, from, p.c)
        })
      }
      case 'group-key': {
        const id = toHex(decodeSenderKeyDistribution(p.d).group)
        return this.#lock.run(id, async () => {
          const g = this.#groups.get(id)
          if (g?.status !== 'member') return this.#hold(id, 'key', from, p.d)
          const missing = p.h.filter((h) => !hasChange(g.log, h))
          if (missing.length > 0)
            await this.#transport.tell([from], { k: 'group-want', g: g.gid, ids: missing })
          if (await this.#key(g, from, p.d)) await this.#retryHeld(g)
        })
      }
      case 'group-key-request': {
        const g = this.#groups.get(toHex(p.g))
        if (g?.status !== 'member' || !isMember(g.log, this.#id(from))) return
        return this.#lock.run(g.id, () => this.#distribute(g, [from]))
      }
      case 'group-message':
        return this.#message(p.m, { via, from })
      case 'group-receipt':
        return this.#receipt(from, p)
      case 'group-typing': {
        const g = this.#groups.get(toHex(p.g))
        if (g?.status !== 'member' || !isMember(g.log, this.#id(from))) return
        if (p.on) {
          g.typing.set(from, this.#c.now() + this.#init.typingTtlMs)
          this.#c.scheduler.after(this.#init.typingTtlMs, () => this.#dirty())
        } else g.typing.delete(from)
        return this.#dirty()
      }
      case 'group-want': {
        const g = this.#groups.get(toHex(p.g))
        if (g?.status !== 'member' || !isMember(g.log, this.#id(from))) return
        const wanted = new Set(p.ids.slice(0, MAX_WANTED_CHANGES).map(toHex))
        const found = logChanges(g.log).filter((c) => wanted.has(c.idHex))
        for (const c of found) await this.#transport.tell([from], { k: 'group-change', c: c.bytes })
        return
      }
    }
  }

  copyStatus(peer: string, entryId: string, status: MessageStatus): boolean {
    const copy = GroupTransport.parseCopyId(entryId)
    if (copy === undefined) return false
    const g = this.#groups.get(copy.gid)
    if (g === undefined) return true
    // A relay stored it: it left this device. The member itself stored it: delivered to them.
    if (status === 'delivered') this.#delivered(g, copy.id, [peer], 'delivered')
    else this.#update(g, copy.id, (m) => ({ ...m, status: m.status === 'pending' ? 'sent' : m.status }))
    return true
  }

  personChanged(peer: string): void {
    for (const g of this.#groups.values()) {
      if (!isMember(g.log, this.#id(peer))) continue
      void this.#lock.run(g.id, () => this.#save(g))
      // A neighbour whose address just became known is dialled now, not at the next send.
      if (g.status === 'member' && this.#neighbours(g).includes(peer)) this.#transport.connect([peer])
    }
    this.#dirty()
  }

  // ------------------------------------------------------------------------------ group messages

  #onGossip(g: Group, m: TopicMessage): void {
    // Gossip is live traffic only (a flood is dropped; copies still come through the outbox).
    let bucket = g.gossipTokens.get(m.from)
    if (bucket === undefined)
      g.gossipTokens.set(m.from, (bucket = { tokens: this.#init.rateBurst, at: this.#c.now() }))
    if (!this.#refill(bucket)) return
    bucket.tokens -= 1
    void this.#message(m.data, { via: 'gossip', from: m.from }).catch((err) =>
      this.#log('Could not take a group message', err),
    )
  }

  async #message(bytes: Uint8Array, source: Source): Promise<void> {
    const id = toHex(decodeGroupMessage(bytes).group)
    await this.#lock.run(id, async () => {
      const g = this.#groups.get(id)
      if (g?.status !== 'member') return this.#hold(id, 'message', source.from, bytes)
      if ((await this.#decrypt(g, bytes, source)) === 'held')
        await this.#hold(id, 'message', source.from, bytes)
    })
  }

  /** Decrypts and stores one group message (under the group's lock). */
  async #decrypt(g: Group, bytes: Uint8Array, source: Source): Promise<'ok' | 'held' | 'refused'> {
    let r: Awaited<ReturnType<typeof groupDecrypt>>
    try {
      r = await groupDecrypt(g.receiver, bytes, this.#opts(g))
    } catch (err) {
      if (err instanceof UnknownSenderKeyError || err instanceof NotAGroupMemberError) return 'held'
      if (err instanceof DuplicateGroupMessageError) this.#transport.stats.duplicates++
      else this.#log(`Refused a group message`, err)
      return 'refused' // a duplicate was stored the first time
    }
    g.receiver = r.state
    const receiverEntry = groupEntry.receiver(g.id, encodeGroupReceiverState(r.state))
    const sender = this.#peer(r.sender)
    let p: Payload
    try {
      p = decodePayload(r.plaintext)
    } catch (err) {
      this.#log('Dropped a group message of an unknown kind', err)
      await this.#c.records.write([receiverEntry])
      return 'refused'
    }
    if (p.k !== 'text' || g.byKey.has(`${sender}/${p.id}`)) {
      if (p.k === 'text') this.#transport.stats.duplicates++
      await this.#c.records.write([receiverEntry])
      return 'refused'
    }
    const message: GroupMessageRecord = {
      group: g.id,
      id: p.id,
      sender,
      direction: 'in',
      text: p.text,
      ts: p.ts,
      status: 'delivered',
      to: [],
      delivered: [],
      read: [],
    }
    await this.#c.records.write([groupEntry.message(message), receiverEntry])
    this.#transport.stats.received++
    g.typing.delete(sender)
    this.#show(g, message)
    // A copy acknowledged directly told the sender already; anything else gets a receipt.
    if (source.via !== 'direct' || source.from !== sender)
      this.#transport.queueReceipt(sender, g.gid, g.id, 'delivered', [p.id])
    if (this.#c.conversations.active === g.id && this.#c.isVisible?.() !== false) void this.markRead()
    else this.#c.notify?.(groupState(g.log).name, `${this.#c.people.name(sender)}: ${p.text}`)
    return 'ok'
  }

  async #receipt(from: string, p: Extract<GroupPayload, { k: 'group-receipt' }>): Promise<void> {
    const g = this.#groups.get(toHex(p.g))
    if (g === undefined) return
    for (const id of p.ids) this.#delivered(g, id, [from], p.status)
  }

  /** Members `peers` stored (or read) this person's message `id`. */
  #delivered(g: Group, id: string, peers: readonly string[], status: 'delivered' | 'read'): void {
    for (const p of peers) this.#transport.acknowledged(g.id, id, p)
    this.#update(g, id, (m) => {
      const to = peers.filter((p) => m.to.includes(p))
      const delivered = [...new Set([...m.delivered, ...to])]
      const read = status === 'read' ? [...new Set([...m.read, ...to])] : m.read
      if (delivered.length === m.delivered.length && read.length === m.read.length) return m
      return { ...m, delivered, read }
    })
  }

  /** Changes one of this person's messages (its status follows its delivered and read sets). */
  #update(g: Group, id: string, change: (m: GroupMessageRecord) => GroupMessageRecord): void {
    const m = g.byKey.get(`${this.#me}/${id}`)
    if (m === undefined) return
    const changed = change(m)
    const next = { ...changed, status: outStatus(changed) }
    if (next === m || (next.status === m.status && changed === m)) return
    this.#replace(g, next)
    void this.#c.records.write([groupEntry.message(next)])
  }

  #show(g: Group, m: GroupMessageRecord): void {
    const list = g.history
    let i = list.length
    while (i > 0 && byTime(list[i - 1]!, m) > 0) i--
    g.history = [...list.slice(0, i), m, ...list.slice(i)]
    g.byKey.set(keyOf(m), m)
    this.#dirty()
  }

  #replace(g: Group, m: GroupMessageRecord): void {
    const at = g.history.findIndex((x) => x.id === m.id && x.sender === m.sender)
    if (at < 0) return
    g.history = g.history.with(at, m)
    g.byKey.set(keyOf(m), m)
    this.#dirty()
  }

  // ------------------------------------------------------------------------------ membership

  /** Collects a welcome part; a complete welcome joins (from a contact) or waits as an invitation. */
  async #welcomePart(id: string, from: string, part: Uint8Array, count: number): Promise<void> {
    const key = `${id}/${from}`
    const w = this.#welcomes.get(key) ?? { group: id, from, parts: [] }
    const index = decodeWelcomePart(part).index
    if (!w.parts.some((x) => decodeWelcomePart(x).index === index)) w.parts = [...w.parts, part]
    if (w.parts.length < count) {
      this.#welcomes.set(key, w)
      return this.#c.records.write([groupEntry.welcome(w)])
    }
    this.#welcomes.delete(key)
    await this.#c.records.update([], [groupNames.welcome(id, from)])
    const opened = await openWelcome(w.parts, { me: this.#myId })
    const g = this.#groups.get(id)
    if (g?.status === 'member') {
      // Already in: the welcome is one more source of changes.
      const before = memberList(g.log)
      const r = await applyChanges(g.log, logChanges(opened.log))
      g.log = r.log
      return r.applied.length > 0 ? this.#afterLogChange(g, before, r.applied) : undefined
    }
    if (this.#c.contacts.get(from) !== undefined)
      return void (await this.#join(opened.log, opened.groupSecret, from))
    const inv = { group: id, from, parts: w.parts, at: this.#c.now(), log: opened.log }
    this.#invitations.set(id, inv)
    this.#c.people.learn(from)
    await this.#c.records.write([groupEntry.invitation(inv)])
    this.#dirty()
  }

  /** Becomes a member of the group a welcome opened: a new sender key, handed to every member. */
  async #join(log: GroupLog, secret: Uint8Array, inviter: string): Promise<void> {
    this.#c.people.learn(inviter)
    const g = await this.#install(log, secret, this.#groups.get(toHex(log.group)))
    await this.#distribute(g, this.#others(g))
    await this.#retryHeld(g)
  }

  /** Stores and starts a group this person is now a member of (created, or joined). */
  async #install(log: GroupLog, secret: Uint8Array, previous: Group | undefined): Promise<Group> {
    const id = toHex(log.group)
    const now = this.#c.now()
    const g: Group = {
      id,
      gid: log.group,
      log,
      secret,
      topic: groupTopic(secret),
      status: 'member',
      joined: now,
      own: await newSenderKey(this.#c.rng, { group: log.group, owner: this.#myId, now }),
      receiver: newGroupReceiverState(log.group),
      history: previous?.history ?? [],
      byKey: previous?.byKey ?? new Map(),
      typing: new Map(),
      sendTokens: { tokens: this.#init.rateBurst, at: now },
      gossipTokens: new Map(),
    }
    this.#groups.set(id, g)
    for (const p of this.#others(g)) this.#c.people.learn(p)
    this.#refreshMembers()
    await this.#save(g, [
      groupEntry.ownKey(id, encodeSenderKeyState(g.own!)),
      groupEntry.receiver(id, encodeGroupReceiverState(g.receiver)),
    ])
    this.#subscribe(g)
    this.#transport.connect(this.#neighbours(g))
    this.#dirty()
    return g
  }

  /** Applies a change from `from` (under the lock); asks `from` for the parents it named that are missing. */
  async #change(g: Group, from: string, bytes: Uint8Array): Promise<void> {
    const before = memberList(g.log)
    const r = await applyChange(g.log, bytes)
    g.log = r.log
    for (const x of r.rejected) this.#log(`Refused a group change ${x.id}`, x.error)
    if (r.applied.length > 0) await this.#afterLogChange(g, before, r.applied)
    else await this.#save(g)
    const missing = missingChanges(g.log)
    if (missing.length > 0 && g.status === 'member')
      await this.#transport.tell([from], {
        k: 'group-want',
        g: g.gid,
        ids: missing.slice(0, MAX_WANTED_CHANGES),
      })
  }

  /** The log changed: newcomers get this person's key; after a removal, a new key goes to everyone. */
  async #afterLogChange(
    g: Group,
    before: readonly Identity[],
    applied: readonly GroupChange[],
  ): Promise<void> {
    if (!isMember(g.log, this.#myId)) {
      const left = applied.some((c) => c.kind === 'leave' && toHex(c.author) === toHex(this.#myId))
      return this.#lost(g, left ? 'left' : 'removed')
    }
    const after = memberList(g.log)
    const was = new Set(before.map(toHex))
    const now = new Set(after.map(toHex))
    const added = after.filter((m) => !was.has(toHex(m))).map((m) => this.#peer(m))
    const removed = before.filter((m) => !now.has(toHex(m))).map((m) => this.#peer(m))
    for (const p of added) this.#c.people.learn(p)
    g.receiver = forgetFormerMembers(g.receiver, after)
    this.#refreshMembers()
    await this.#save(g, [groupEntry.receiver(g.id, encodeGroupReceiverState(g.receiver))])
    if (removed.length > 0) this.#transport.forget(g.id, removed)
    if (g.own !== undefined && senderKeyNeedsRotation(g.own, this.#opts(g)) === 'removal')
      await this.#rotate(g)
    else
      await this.#distribute(
        g,
        added.filter((p) => p !== this.#me),
      )
    await this.#retryHeld(g)
    this.#dirty()
  }

  /** This person is no longer a member: stop, forget the keys, keep the history (read-only). */
  async #lost(g: Group, status: 'left' | 'removed'): Promise<void> {
    g.status = status
    g.unsubscribe?.()
    g.unsubscribe = undefined
    g.own = undefined
    g.receiver = newGroupReceiverState(g.gid)
    g.typing.clear()
    this.#transport.forget(g.id)
    const held = [...(this.#held.get(g.id)?.keys() ?? [])].map((k) => groupNames.held(g.id, k))
    this.#held.delete(g.id)
    this.#refreshMembers()
    await this.#save(g, [], [groupNames.ownKey(g.id), groupNames.receiver(g.id), ...held])
    this.#dirty()
  }

  // ------------------------------------------------------------------------------ sender keys

  /** Hands this person's current sender key to `peers` over 1:1 (the holders are stored first). */
  async #distribute(g: Group, peers: readonly string[]): Promise<void> {
    if (g.own === undefined || peers.length === 0) return
    const { state, distribution } = distributeSenderKey(
      g.own,
      peers.map((p) => this.#id(p)),
    )
    g.own = state
    await this.#c.records.write([groupEntry.ownKey(g.id, encodeSenderKeyState(state))])
    const h = heads(g.log).slice(0, MAX_CHANGE_PARENTS)
    await this.#transport.tell(peers, { k: 'group-key', d: distribution, h: [...h] })
  }

  /** A new sender key for this person, handed to every other member before anything is sent on it. */
  async #rotate(g: Group): Promise<void> {
    const now = this.#c.now()
    g.own =
      g.own === undefined
        ? await newSenderKey(this.#c.rng, { group: g.gid, owner: this.#myId, now })
        : await rotateSenderKey(g.own, this.#c.rng, { now })
    await this.#distribute(g, this.#others(g))
  }

  /** After a restore: a new key for this person, and a request for everyone else's. */
  async #restartKeys(g: Group): Promise<void> {
    if (g.status !== 'member' || g.own !== undefined) return
    await this.#rotate(g)
    await this.#transport.tell(this.#others(g), { k: 'group-key-request', g: g.gid })
  }

  async #rotateOld(): Promise<void> {
    for (const g of this.#groups.values()) {
      if (g.status !== 'member' || g.own === undefined) continue
      await this.#lock.run(g.id, async () => {
        if (g.own !== undefined && senderKeyNeedsRotation(g.own, this.#opts(g)) !== null)
          await this.#rotate(g)
      })
    }
  }

  /** Takes a member's sender key (under the lock). @returns whether it was taken */
  async #key(g: Group, from: string, d: Uint8Array): Promise<boolean> {
    try {
      const next = await processSenderKeyDistribution(g.receiver, this.#id(from), d, this.#opts(g))
      if (next !== g.receiver) this.#transport.stats.keysTaken++
      g.receiver = next
    } catch (err) {
      if (err instanceof NotAGroupMemberError)
        await this.#hold(g.id, 'key', from, d) // their add is on its way
      else if (err instanceof GroupError) this.#log(`Refused a sender key from ${from}`, err)
      else throw err
      return false
    }
    await this.#c.records.write([groupEntry.receiver(g.id, encodeGroupReceiverState(g.receiver))])
    return true
  }

  // ------------------------------------------------------------------------------ held

  #heldOf(id: string): Map<string, HeldRecord> {
    let held = this.#held.get(id)
    if (held === undefined) this.#held.set(id, (held = new Map()))
    return held
  }

  /** Keeps what cannot be used yet (no key, no add, no group yet), bounded; the oldest goes first. */
  async #hold(id: string, kind: HeldKind, from: string, bytes: Uint8Array): Promise<void> {
    const g = this.#groups.get(id)
    if (g !== undefined && g.status !== 'member') return // left or removed: nothing more is taken
    if (g === undefined && !this.#held.has(id) && this.#held.size >= 64) return
    const held = this.#heldOf(id)
    const key = toHex(sha256Hash(bytes)).slice(0, 32)
    if (held.has(key)) return
    const h: HeldRecord = { group: id, key, kind, from, bytes, at: this.#c.now() }
    held.set(key, h)
    const deletes: string[] = []
    while (held.size > this.#init.maxHeld) {
      const oldest = held.keys().next().value!
      held.delete(oldest)
      deletes.push(groupNames.held(id, oldest))
    }
    await this.#c.records.update([groupEntry.held(h)], deletes)
  }

  /** Tries again what was held for `g` (under its lock) until nothing more can be taken. */
  async #retryHeld(g: Group): Promise<void> {
    const held = this.#held.get(g.id)
    for (let progress = true; progress && held !== undefined && held.size > 0;) {
      progress = false
      for (const h of [...held.values()].sort((a, b) => a.at - b.at)) {
        if (g.status !== 'member') return
        if (!held.has(h.key)) continue // taken by a nested retry
        let done = true
        if (this.#c.now() - h.at < SENDER_KEY_GRACE_MS) {
          if (h.kind === 'change') {
            held.delete(h.key)
            await this.#change(g, h.from, h.bytes).catch((err) => this.#log('Refused a held change', err))
          } else if (h.kind === 'key') {
            done = await this.#keyQuiet(g, h.from, h.bytes)
          } else done = (await this.#decrypt(g, h.bytes, { via: 'mailbox', from: h.from })) !== 'held'
        }
        if (!done) continue
        held.delete(h.key)
        progress = true
        await this.#c.records.update([], [groupNames.held(g.id, h.key)])
      }
    }
  }

  /** {@link GroupKeeper.key} without holding again: false while its sender is still not a member. */
  async #keyQuiet(g: Group, from: string, d: Uint8Array): Promise<boolean> {
    try {
      const next = await processSenderKeyDistribution(g.receiver, this.#id(from), d, this.#opts(g))
      if (next !== g.receiver) this.#transport.stats.keysTaken++
      g.receiver = next
    } catch (err) {
      if (err instanceof NotAGroupMemberError) return false
      this.#log(`Refused a held sender key from ${from}`, err)
      return true
    }
    await this.#c.records.write([groupEntry.receiver(g.id, encodeGroupReceiverState(g.receiver))])
    return true
  }

  // ------------------------------------------------------------------------------ helpers

  #subscribe(g: Group): void {
    g.unsubscribe?.()
    g.unsubscribe = this.#transport.subscribe(g.topic, (m) => this.#onGossip(g, m), {
      accept: (data) => {
        try {
          return toHex(decodeGroupMessage(data).group) === g.id
        } catch {
          return false
        }
      },
    })
  }

  /** Writes the group's record (log, status, people) with `extra` records, atomically. */
  #save(g: Group, extra: RecordEntry[] = [], deletes: string[] = []): Promise<void> {
    const people = this.#others(g).map(
      (p) => this.#c.people.get(p) ?? { peer: p, name: this.#c.people.name(p), relays: [] },
    )
    const record = groupEntry.group({
      id: g.id,
      log: encodeGroupLog(g.log),
      secret: g.secret,
      status: g.status,
      people,
      joined: g.joined,
    })
    return this.#c.records.update([record, ...extra], deletes)
  }

  #refreshMembers(): void {
    const peers = new Set<string>()
    for (const g of this.#groups.values())
      if (g.status === 'member') for (const p of this.#others(g)) peers.add(p)
    this.#c.people.setMembers(peers)
  }

  #others(g: Group): string[] {
    return memberList(g.log)
      .map((m) => this.#peer(m))
      .filter((p) => p !== this.#me)
  }

  #dialsAll(g: Group): boolean {
    return memberList(g.log).length - 1 <= this.#init.directPeers
  }

  /** The members this node dials: all of a small group, else the next few after it in PeerId order. */
  #neighbours(g: Group): string[] {
    const others = this.#others(g)
    if (others.length <= this.#init.directPeers) return others
    const ring = [...others, this.#me].sort()
    const at = ring.indexOf(this.#me)
    const half = Math.ceil(this.#init.directPeers / 2)
    return Array.from({ length: half }, (_, k) => ring[(at + 1 + k) % ring.length]!)
  }

  #peer(id: Identity): string {
    const hex = toHex(id)
    let peer = this.#peerOf.get(hex)
    if (peer === undefined) this.#peerOf.set(hex, (peer = peerIdStringFromPublicKey(id)))
    return peer
  }

  #id(peer: string): Identity {
    return publicKeyFromPeerIdString(peer)
  }

  #opts(g?: Group) {
    return { now: this.#c.now(), members: g === undefined ? [] : memberList(g.log) }
  }

  #member(id: string): Group {
    const g = this.#groups.get(id)
    if (g === undefined) throw new GroupAppError('UNKNOWN_GROUP', `no group ${id}`)
    if (g.status !== 'member') throw new GroupAppError('NOT_A_MEMBER', `not a member of ${id} any more`)
    return g
  }

  #invitation(id: string): InvitationRecord & { log: GroupLog } {
    const inv = this.#invitations.get(id)
    if (inv === undefined) throw new GroupAppError('UNKNOWN_GROUP', `no invitation to ${id}`)
    return inv
  }

  /** Checks a name and the contacts to add to a group of `current` others. @returns the PeerIds */
  #checkNewMembers(name: string, members: readonly string[], current: number): string[] {
    try {
      checkGroupName(name)
    } catch {
      throw new GroupAppError('BAD_GROUP_NAME', 'bad group name')
    }
    const peers = [...new Set(members)].filter((p) => p !== this.#me)
    for (const p of peers)
      if (this.#c.contacts.get(p) === undefined)
        throw new AppError('UNKNOWN_CONTACT', `${p} is not a contact`)
    if (current + peers.length + 1 > MAX_GROUP_MEMBERS)
      throw new GroupAppError('GROUP_FULL', `at most ${MAX_GROUP_MEMBERS} members`)
    for (const p of peers) {
      const c = this.#c.contacts.get(p)!
      this.#c.people.add({ peer: p, name: c.name, relays: c.relays })
    }
    return peers
  }

  /** Runs a change the author may not be allowed to make, as an error the UI can word. */
  async #authorize<T>(make: () => Promise<T>): Promise<T> {
    try {
      return await make()
    } catch (err) {
      if (err instanceof UnauthorizedChangeError)
        throw new GroupAppError('NOT_ALLOWED', 'not allowed in this group', { cause: err })
      if (err instanceof GroupError && err.code === 'GROUP_FULL')
        throw new GroupAppError('GROUP_FULL', 'the group is full', { cause: err })
      throw err
    }
  }

  #refill(bucket: { tokens: number; at: number }): boolean {
    const now = this.#c.now()
    bucket.tokens = Math.min(
      this.#init.rateBurst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.#init.ratePerSecond,
    )
    bucket.at = now
    return bucket.tokens >= 1
  }

  #take(bucket: { tokens: number; at: number }, code: 'RATE_LIMITED'): void {
    if (!this.#refill(bucket)) throw new GroupAppError(code, 'sending too fast in this group')
    bucket.tokens -= 1
  }

  #dirty(): void {
    this.#views = undefined
    this.#c.changes.state()
  }

  #log(message: string, err: unknown): void {
    ;(this.#c.log ?? console.warn)(message, err)
  }
}
