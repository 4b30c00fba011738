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
import type { IdentityKeyPair } from '@paloma/core/crypto/index.ts'
import {
  DuplicateGroupMessageError,
  GROUP_RATE_LIMIT_BURST,
  GROUP_RATE_LIMIT_PER_SECOND,
  GroupError,
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
  isMember,
  logChanges,
  makeChange,
  memberList,
  missingChanges,
  newGroupReceiverState,
  newSenderKey,
  openWelcome,
  type GroupChange,
  type GroupLog,
  type Identity,
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
import { HeldBuffer } from './group-held.ts'
import { SenderKeys } from './group-keys.ts'
import type { GroupPeople, GroupPeopleInit } from './group-people.ts'
import {
  decodeGroupEntries,
  groupEntry,
  groupNames,
  type FanoutRecord,
  type GroupMessageRecord,
  type HeldKind,
  type InvitationRecord,
  type WelcomePartsRecord,
} from './group-records.ts'
import {
  GroupHistory,
  byTime,
  keyOf,
  ringNeighbours,
  takeToken,
  type Group,
  type GroupSource,
} from './group-state.ts'
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
  /** How often the members this node dials are dialled again when not connected (the mesh). @default 30000 */
  meshCheckMs?: number
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

class GroupKeeper implements Groups {
  readonly #c: GroupsComponents
  readonly #init: Required<Omit<GroupsInit, 'transport' | 'people'>>
  readonly #transport: GroupTransport
  readonly #lock = new KeyedLock()
  readonly #groups = new Map<string, Group>()
  readonly #held: HeldBuffer
  readonly #keys: SenderKeys
  readonly #history: GroupHistory
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
      meshCheckMs: init.meshCheckMs ?? 30_000,
      maxHeld: init.maxHeld ?? 256,
      rateBurst: init.rateBurst ?? GROUP_RATE_LIMIT_BURST,
      ratePerSecond: init.ratePerSecond ?? GROUP_RATE_LIMIT_PER_SECOND,
    }
    this.#me = components.network.peerId
    this.#myId = components.identity.publicKey
    const log = (m: string, e: unknown) => this.#log(m, e)
    this.#transport = new GroupTransport({ ...components, log }, init.transport)
    this.#held = new HeldBuffer(components.records, components.now, { maxHeld: this.#init.maxHeld })
    this.#keys = new SenderKeys({
      ...components,
      transport: this.#transport,
      me: this.#myId,
      identityOf: (p) => this.#id(p),
      others: (g) => this.#others(g),
      log,
    })
    this.#history = new GroupHistory({
      records: components.records,
      me: this.#me,
      changed: () => this.#dirty(),
    })
    this.#ready = new Promise((resolve) => (this.#markReady = resolve))
  }

  // ------------------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    const loaded = decodeGroupEntries(this.#c.loaded)
    for (const r of loaded.groups) {
      let log: GroupLog
      try {
        log = await decodeGroupLog(r.log)
      } catch (err) {
        // Verified again on every load: a stored log that no longer verifies is a damaged record.
        throw new AppError('BAD_RECORD', `vault record ${groupNames.group(r.id)}: its log does not verify`, {
          cause: err,
        })
      }
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
    for (const h of loaded.held) this.#held.load(h)
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
      if (g.own === undefined) void this.#lock.run(g.id, () => this.#keys.restart(g))
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
    // Dials that failed are tried again (the routes rate-limit each member to one attempt per 30 s).
    this.#c.scheduler.every(this.#init.meshCheckMs, () => {
      for (const g of this.#groups.values()) {
        if (g.status !== 'member') continue
        this.#transport.connect(this.#neighbours(g).filter((p) => !this.#c.network.isConnected(p)))
      }
    })
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
      await this.#keys.distribute(g, peers)
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
      await this.#c.records.update([], [groupNames.invitation(id), ...this.#held.forget(id)])
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
    if (!takeToken(g.sendTokens, this.#c.now(), this.#init.rateBurst, this.#init.ratePerSecond))
      throw new GroupAppError('RATE_LIMITED', 'sending too fast in this group')
    let record: FanoutRecord | undefined
    await this.#lock.run(id, async () => {
      if (g.status !== 'member' || g.own === undefined) throw new GroupAppError('NOT_A_MEMBER', 'left')
      const members = memberList(g.log)
      await this.#keys.rotateIfDue(g)
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
      this.#history.show(g, message)
    })
    const fan = record!
    if (fan.pending.length === 0) return this.#history.left(g, fan.id)
    this.#transport.connect(this.#neighbours(g))
    await this.#transport.dispatch(fan, g.topic, this.#dialsAll(g), () => this.#history.left(g, fan.id))
  }

  setTyping(id: string, on: boolean): void {
    const g = this.#groups.get(id)
    if (g?.status === 'member') this.#transport.typing(id, g.gid, this.#others(g), on)
  }

  async markRead(): Promise<void> {
    const g = this.#groups.get(this.#c.conversations.active ?? '')
    if (g === undefined || this.#c.isVisible?.() === false) return
    const read = await this.#history.markRead(g)
    for (const [sender, list] of Map.groupBy(read, (m) => m.sender)) {
      const ids = list.map((m) => m.id)
      this.#transport.queueReceipt(sender, g.gid, g.id, 'read', ids)
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
          if (g?.status !== 'member') return this.#hold(g, id, 'change', from, p.c)
          await this.#change(g, from, p.c)
        })
      }
      case 'group-key': {
        const id = toHex(decodeSenderKeyDistribution(p.d).group)
        return this.#lock.run(id, async () => {
          const g = this.#groups.get(id)
          if (g?.status !== 'member') return this.#hold(g, id, 'key', from, p.d)
          const missing = p.h.filter((h) => !hasChange(g.log, h))
          if (missing.length > 0)
            await this.#transport.tell([from], { k: 'group-want', g: g.gid, ids: missing })
          const taken = await this.#keys.take(g, from, p.d)
          if (taken === 'later') await this.#hold(g, id, 'key', from, p.d) // their add is on its way
          if (taken === 'taken') await this.#retryHeld(g)
        })
      }
      case 'group-key-request': {
        const g = this.#groups.get(toHex(p.g))
        if (g?.status !== 'member' || !isMember(g.log, this.#id(from))) return
        return this.#lock.run(g.id, () => this.#keys.distribute(g, [from]))
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
    if (status === 'delivered') this.#acknowledged(g, copy.id, [peer], 'delivered')
    else this.#history.left(g, copy.id)
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
    if (!takeToken(bucket, this.#c.now(), this.#init.rateBurst, this.#init.ratePerSecond)) return
    void this.#message(m.data, { via: 'gossip', from: m.from }).catch((err) =>
      this.#log('Could not take a group message', err),
    )
  }

  async #message(bytes: Uint8Array, source: GroupSource): Promise<void> {
    const id = toHex(decodeGroupMessage(bytes).group)
    await this.#lock.run(id, async () => {
      const g = this.#groups.get(id)
      const later = g?.status !== 'member' || (await this.#decrypt(g, bytes, source)) === 'later'
      if (!later) return
      // Gossip that cannot be read yet is held in memory only (anyone who knows the topic can publish).
      if (source.via === 'gossip') this.#held.holdGossip(id, source.from, bytes)
      else await this.#hold(g, id, 'message', source.from, bytes)
    })
  }

  /** Decrypts and stores one group message (under the group's lock). */
  async #decrypt(g: Group, bytes: Uint8Array, source: GroupSource): Promise<'ok' | 'later' | 'refused'> {
    let r: Awaited<ReturnType<typeof groupDecrypt>>
    try {
      r = await groupDecrypt(g.receiver, bytes, this.#opts(g))
    } catch (err) {
      if (err instanceof UnknownSenderKeyError || err instanceof NotAGroupMemberError) return 'later'
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
    this.#history.show(g, message)
    const seen = this.#c.conversations.active === g.id && this.#c.isVisible?.() !== false
    // A copy acknowledged directly told the sender already; a message read at once is acknowledged by
    // its read receipt (which stands for delivered too); anything else gets a delivered receipt.
    const readNow = seen && this.#c.settings.current.readReceipts
    if ((source.via !== 'direct' || source.from !== sender) && !readNow)
      this.#transport.queueReceipt(sender, g.gid, g.id, 'delivered', [p.id])
    if (seen) void this.markRead()
    else this.#c.notify?.(groupState(g.log).name, `${this.#c.people.name(sender)}: ${p.text}`)
    return 'ok'
  }

  async #receipt(from: string, p: Extract<GroupPayload, { k: 'group-receipt' }>): Promise<void> {
    const g = this.#groups.get(toHex(p.g))
    if (g === undefined) return
    for (const id of p.ids) this.#acknowledged(g, id, [from], p.status)
  }

  /** Members `peers` stored (or read) this person's message `id`: no copy for them, and it shows. */
  #acknowledged(g: Group, id: string, peers: readonly string[], status: 'delivered' | 'read'): void {
    for (const p of peers) this.#transport.acknowledged(g.id, id, p)
    this.#history.acknowledged(g, id, peers, status)
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
    await this.#keys.distribute(g, this.#others(g))
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
    // After a removal or a leave: a new key for everyone left (newcomers included). Else newcomers get ours.
    if (!(removed.length > 0 && (await this.#keys.rotateIfDue(g))))
      await this.#keys.distribute(
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
    const held = this.#held.forget(g.id)
    this.#refreshMembers()
    await this.#save(g, [], [groupNames.ownKey(g.id), groupNames.receiver(g.id), ...held])
    this.#dirty()
  }

  /** Rotates every key that is due (by age and count: keys rotate periodically, not only on removals). */
  async #rotateOld(): Promise<void> {
    for (const g of this.#groups.values())
      if (g.status === 'member') await this.#lock.run(g.id, () => this.#keys.rotateIfDue(g))
  }

  // ------------------------------------------------------------------------------ held

  /** Keeps what cannot be used yet (no key, no add, no group yet); nothing once this person left. */
  async #hold(g: Group | undefined, id: string, kind: HeldKind, from: string, bytes: Uint8Array) {
    if (g !== undefined && g.status !== 'member') return
    await this.#held.hold(id, kind, from, bytes, g !== undefined)
  }

  /** Tries again what was held for `g` (under its lock) until nothing more can be taken. */
  async #retryHeld(g: Group): Promise<void> {
    for (const h of this.#held.gossip(g.id)) {
      if (g.status !== 'member') return
      if ((await this.#decrypt(g, h.bytes, { via: 'gossip', from: h.from })) !== 'later')
        this.#held.dropGossip(g.id, h.key)
    }
    for (let progress = true; progress;) {
      progress = false
      for (const h of this.#held.items(g.id)) {
        if (g.status !== 'member') return
        if (!this.#held.has(g.id, h.key)) continue // taken by a nested retry
        if (!this.#held.expired(h, SENDER_KEY_GRACE_MS)) {
          if (h.kind === 'change') {
            await this.#held.drop(g.id, h.key)
            await this.#change(g, h.from, h.bytes).catch((err) => this.#log('Refused a held change', err))
          } else if (h.kind === 'key') {
            if ((await this.#keys.take(g, h.from, h.bytes)) === 'later') continue
          } else if ((await this.#decrypt(g, h.bytes, { via: 'mailbox', from: h.from })) === 'later') continue
        }
        await this.#held.drop(g.id, h.key)
        progress = true
      }
    }
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

  #neighbours(g: Group): string[] {
    return ringNeighbours(this.#others(g), this.#me, this.#init.directPeers)
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

  #dirty(): void {
    this.#views = undefined
    this.#c.changes.state()
  }

  #log(message: string, err: unknown): void {
    ;(this.#c.log ?? console.warn)(message, err)
  }
}
