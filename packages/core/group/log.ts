/**
 * The membership log: a signed, causally ordered DAG of changes, and the deterministic rule that turns any
 * set of changes into one member list, whatever order they arrived in.
 *
 * Roles: the **creator** (author of `create`) may add, remove anyone but itself, make admins and rename;
 * **admins** (named by the creator only) may add, remove members who are not admins, and rename; every
 * member may leave. Nobody may remove the creator, nor re-add it after it left.
 *
 * A change is **valid** when its author holds the role its kind needs in the change's own causal view (the
 * state this module computes from the change's ancestors alone); that depends only on the change and its
 * ancestors, so every replica accepts and refuses the same changes. Invalid changes are refused.
 *
 * Among valid changes, one is **void** (kept, without effect) when (rule V1) it is not a leave and a leave
 * by its author, or an effective removal of its author by the creator, is concurrent with it; (rule V2) it
 * is an admin's removal of X concurrent with an effective add or make-admin of X by the creator; (rule V3)
 * it is the creator's and concurrent with a leave by the creator. Concurrent = neither is an ancestor of
 * the other. Then X is a **member** when every causally maximal effective event about X (create, add X,
 * remove X, X's leave) is a create or an add — remove wins over a concurrent add; X is an **admin** when X
 * is a member and every maximal effective event among "make X admin", "remove X" and X's leaves is a
 * make-admin; the **name** is that of the maximal effective create or rename with the greatest id.
 *
 * The result is a function of the set of changes alone (computed as a fold over the canonical order:
 * topological, ties broken by the smaller id), so replicas that hold the same changes agree.
 * Changes whose parents are unknown wait (at most MAX_PENDING_CHANGES) until the parents arrive.
 *
 * Values are immutable: every operation returns a new log. Pure: time, keys and randomness come in.
 * @module
 */
import { compareBytes, equalBytes, toHex } from '../crypto/bytes.ts'
import type { Rng } from '../crypto/primitives.ts'
import {
  decodeChange,
  signChange,
  verifyChangeSignature,
  type ChangeRequest,
  type GroupChange,
  type GroupSigner,
  type Identity,
} from './change.ts'
import {
  CREATE_NONCE_LENGTH,
  GROUP_VERSION,
  KEY_LENGTH,
  MAX_CHANGE_BYTES,
  MAX_CHANGE_PARENTS,
  MAX_GROUP_MEMBERS,
  MAX_LOG_CHANGES,
  MAX_PENDING_CHANGES,
} from './constants.ts'
import { _array, _blobList, _bytes, _decodeMap, _encode } from './codec.ts'
import {
  GroupError,
  GroupFullError,
  GroupLogFullError,
  GroupSignatureError,
  MalformedGroupRecordError,
  PendingChangesFullError,
  UnauthorizedChangeError,
  WrongGroupError,
} from './errors.ts'

/** A role in a group. */
export type GroupRole = 'creator' | 'admin' | 'member'

/** The membership a log resolves to. Lists are sorted bytewise. */
export interface GroupState {
  readonly group: Uint8Array
  readonly name: string
  readonly creator: Identity
  /** Current members (the creator included until it leaves). */
  readonly members: readonly Identity[]
  /** Current admins (members named admin by the creator; the creator is not listed). */
  readonly admins: readonly Identity[]
}

/** One change of {@link history}, with whether it took effect. */
export interface HistoryEntry {
  readonly change: GroupChange
  /** False when the change is void (rules V1 to V3). */
  readonly effective: boolean
}

/** What {@link applyChange} and {@link applyChanges} did. */
export interface ApplyResult {
  readonly log: GroupLog
  /** Changes added to the log, in the order added (the given one and any pending ones it released). */
  readonly applied: readonly GroupChange[]
  /** Changes refused (given in a batch, or released from the pending buffer and found invalid). */
  readonly rejected: readonly { readonly id: string; readonly error: GroupError }[]
}

interface Entry {
  readonly change: GroupChange
  readonly index: number
  /** Bit j is set when entry j is a strict ancestor of this one. */
  readonly ancestors: Uint32Array
}

const hasBit = (bits: Uint32Array, j: number): boolean => ((bits[j >>> 5] ?? 0) & (1 << (j & 31))) !== 0
const ALL = (): boolean => true

/**
 * A group's membership log (immutable). Build one with {@link createGroup}, {@link openLog} or
 * {@link decodeGroupLog}; change it with {@link makeChange}, {@link applyChange}, {@link applyChanges}.
 */
export class GroupLog {
  /** The group id: the id of the create change. */
  readonly group: Uint8Array
  /** The creator's identity. */
  readonly creator: Identity
  /** @internal Changes in the order this replica accepted them (a topological order). */
  readonly _entries: readonly Entry[]
  /** @internal Entry index by change id (hex). */
  readonly _byId: ReadonlyMap<string, number>
  /** @internal Per identity (hex): entries of create, add/remove/admin naming it, and its leaves. */
  readonly _events: ReadonlyMap<string, readonly number[]>
  /** @internal Entries of leaves by the creator. */
  readonly _creatorLeaves: readonly number[]
  /** @internal Entries without children. */
  readonly _heads: ReadonlySet<number>
  /** @internal Verified changes waiting for unknown parents, by id (hex). */
  readonly _pending: ReadonlyMap<string, GroupChange>
  #state: GroupState | undefined

  /** @internal Use the module's functions. */
  constructor(b: LogBuilder) {
    this.group = b.group
    this.creator = b.creator
    this._entries = b.entries
    this._byId = b.byId
    this._events = b.events
    this._creatorLeaves = b.creatorLeaves
    this._heads = b.heads
    this._pending = b.pending
  }

  /** Number of changes in the log (pending ones not counted). */
  get size(): number {
    return this._entries.length
  }

  /** The resolved membership (computed once per log value). */
  get state(): GroupState {
    this.#state ??= foldState(this)
    return this.#state
  }
}

/** Mutable working copy of a log, used inside one operation only. */
class LogBuilder {
  readonly group: Uint8Array
  readonly creator: Identity
  entries: Entry[]
  byId: Map<string, number>
  events: Map<string, number[]>
  creatorLeaves: number[]
  heads: Set<number>
  pending: Map<string, GroupChange>

  constructor(create: GroupChange, from?: GroupLog, share = false) {
    this.group = create.id
    this.creator = create.author
    if (from && share) {
      // Read-only use: the frozen log's structures, never written to.
      this.entries = from._entries as Entry[]
      this.byId = from._byId as Map<string, number>
      this.events = from._events as Map<string, number[]>
      this.creatorLeaves = from._creatorLeaves as number[]
      this.heads = from._heads as Set<number>
      this.pending = from._pending as Map<string, GroupChange>
    } else if (from) {
      this.entries = [...from._entries]
      this.byId = new Map(from._byId)
      this.events = new Map([...from._events].map(([k, v]) => [k, [...v]]))
      this.creatorLeaves = [...from._creatorLeaves]
      this.heads = new Set(from._heads)
      this.pending = new Map(from._pending)
    } else {
      this.entries = []
      this.byId = new Map()
      this.events = new Map()
      this.creatorLeaves = []
      this.heads = new Set()
      this.pending = new Map()
      this.append(create, new Uint32Array(0))
    }
  }

  /** A working copy of `log` to change. */
  static of(log: GroupLog): LogBuilder {
    return new LogBuilder((log._entries[0] as Entry).change, log)
  }

  /** A read-only view of `log` (shares its structures: never change it). */
  static view(log: GroupLog): LogBuilder {
    return new LogBuilder((log._entries[0] as Entry).change, log, true)
  }

  freeze(): GroupLog {
    return new GroupLog(this)
  }

  entry(i: number): Entry {
    return this.entries[i] as Entry
  }

  isAncestor(j: number, i: number): boolean {
    return j < i && hasBit(this.entry(i).ancestors, j)
  }

  concurrent(i: number, j: number): boolean {
    return i !== j && !this.isAncestor(i, j) && !this.isAncestor(j, i)
  }

  isCreator(id: Identity): boolean {
    return equalBytes(id, this.creator)
  }

  eventsOf(id: Identity): readonly number[] {
    return this.events.get(toHex(id)) ?? []
  }

  /** The ancestor set (as bits over entry indices) of a change with these parents (all present). */
  ancestorsOf(parents: readonly Uint8Array[]): Uint32Array {
    const bits = new Uint32Array(Math.ceil(this.entries.length / 32))
    for (const p of parents) {
      const j = this.byId.get(toHex(p)) as number
      const a = this.entry(j).ancestors
      for (let w = 0; w < a.length; w++) bits[w] = (bits[w] as number) | (a[w] as number)
      bits[j >>> 5] = (bits[j >>> 5] as number) | (1 << (j & 31))
    }
    return bits
  }

  append(change: GroupChange, ancestors: Uint32Array): void {
    const index = this.entries.length
    this.entries.push({ change, index, ancestors })
    this.byId.set(change.idHex, index)
    const note = (id: Identity) => {
      const k = toHex(id)
      const list = this.events.get(k)
      if (list) list.push(index)
      else this.events.set(k, [index])
    }
    if (change.kind === 'create' || change.kind === 'leave') note(change.author)
    else if (change.member) note(change.member)
    if (change.kind === 'leave' && this.isCreator(change.author)) this.creatorLeaves.push(index)
    for (const p of change.parents) this.heads.delete(this.byId.get(toHex(p)) as number)
    this.heads.add(index)
  }

  // ------------------------------------------------------------------------------ the resolution rule

  /** Whether valid entry i takes effect among the entries of `inD` (a down-closed set holding i). */
  effective(i: number, inD: (j: number) => boolean): boolean {
    const c = this.entry(i).change
    if (c.kind === 'leave' || c.kind === 'create') return true
    if (this.isCreator(c.author)) return this.creatorEffective(i, inD)
    // V1: an admin's change concurrent with its author's leave, or with its author's removal by the creator.
    for (const j of this.eventsOf(c.author)) {
      if (!inD(j) || !this.concurrent(i, j)) continue
      const e = this.entry(j).change
      if (e.kind === 'leave') return false
      if (e.kind === 'remove' && this.isCreator(e.author) && this.creatorEffective(j, inD)) return false
    }
    // V2: the creator's add or make-admin of X wins over an admin's concurrent removal of X.
    if (c.kind === 'remove' && c.member) {
      for (const j of this.eventsOf(c.member)) {
        if (!inD(j) || !this.concurrent(i, j)) continue
        const e = this.entry(j).change
        if (
          (e.kind === 'add' || e.kind === 'admin') &&
          this.isCreator(e.author) &&
          this.creatorEffective(j, inD)
        )
          return false
      }
    }
    return true
  }

  /** V3: a change of the creator (not a leave) is void when concurrent with a leave by the creator. */
  creatorEffective(i: number, inD: (j: number) => boolean): boolean {
    return !this.creatorLeaves.some((l) => inD(l) && this.concurrent(l, i))
  }

  /**
   * Whether the maximal effective entries of `events` (of the kinds in `kinds`, within `inD`) are all of a
   * kind in `good`, and there is at least one. Walks from the newest entry down: an entry that an effective
   * maximal one already covers (holds as an ancestor) cannot be maximal, so neither its effect nor its own
   * ancestors need computing; on a linear history this is one ancestor-set copy and a bit test per entry.
   */
  frontierIs(
    events: readonly number[],
    inD: (j: number) => boolean,
    kinds: ReadonlySet<string>,
    good: ReadonlySet<string>,
  ): boolean {
    let covered: Uint32Array | null = null
    for (let x = events.length - 1; x >= 0; x--) {
      const j = events[x] as number
      const kind = this.entry(j).change.kind
      if (!kinds.has(kind) || !inD(j) || (covered && hasBit(covered, j)) || !this.effective(j, inD)) continue
      if (!good.has(kind)) return false
      const a = this.entry(j).ancestors
      if (!covered) covered = new Uint32Array(a)
      else for (let w = 0; w < a.length; w++) covered[w] = (covered[w] as number) | (a[w] as number)
    }
    return covered !== null
  }

  isMember(id: Identity, inD: (j: number) => boolean): boolean {
    return this.frontierIs(this.eventsOf(id), inD, MEMBERSHIP_EVENTS, MEMBERSHIP_ADDS)
  }

  isAdmin(id: Identity, inD: (j: number) => boolean): boolean {
    if (this.isCreator(id) || !this.isMember(id, inD)) return false
    return this.frontierIs(this.eventsOf(id), inD, ROLE_EVENTS, ADMIN_GRANTS)
  }

  role(id: Identity, inD: (j: number) => boolean): GroupRole | null {
    if (!this.isMember(id, inD)) return null
    if (this.isCreator(id)) return 'creator'
    return this.isAdmin(id, inD) ? 'admin' : 'member'
  }

  memberCount(inD: (j: number) => boolean): number {
    let n = 0
    for (const key of this.events.keys()) {
      const list = this.events.get(key) as number[]
      const id = this.entry(list[0] as number).change
      const who = id.kind === 'create' || id.kind === 'leave' ? id.author : (id.member as Identity)
      if (this.isMember(who, inD)) n++
    }
    return n
  }

  /**
   * Checks that a change with these fields is valid in the view `inD` (its ancestors).
   * @throws UnauthorizedChangeError or GroupFullError
   */
  checkAuthority(c: Pick<GroupChange, 'author' | 'kind' | 'member'>, inD: (j: number) => boolean): void {
    const role = this.role(c.author, inD)
    const refuse = (why: string): never => {
      throw new UnauthorizedChangeError(`${c.kind} refused: ${why}`)
    }
    if (role === null) refuse('its author is not a member')
    const target = c.member
    switch (c.kind) {
      case 'create':
        refuse('a group has one create')
        break
      case 'leave':
        break
      case 'rename':
        if (role === 'member') refuse('only the creator and admins rename')
        break
      case 'add':
        if (role === 'member') refuse('only the creator and admins add')
        if (this.isCreator(target as Identity)) refuse('the creator cannot be re-added')
        if (this.isMember(target as Identity, inD)) refuse('already a member')
        if (this.events.size >= MAX_GROUP_MEMBERS && this.memberCount(inD) >= MAX_GROUP_MEMBERS)
          throw new GroupFullError()
        break
      case 'remove':
        if (role === 'member') refuse('only the creator and admins remove')
        if (this.isCreator(target as Identity)) refuse('nobody removes the creator')
        if (!this.isMember(target as Identity, inD)) refuse('not a member')
        if (role === 'admin' && this.isAdmin(target as Identity, inD))
          refuse('only the creator removes admins')
        break
      case 'admin':
        if (role !== 'creator') refuse('only the creator makes admins')
        if (!this.isMember(target as Identity, inD)) refuse('not a member')
        if (this.isAdmin(target as Identity, inD)) refuse('already an admin')
        break
    }
  }

  /**
   * Adds a verified change whose parents are all present, after checking its authority.
   * @throws GroupLogFullError, UnauthorizedChangeError, GroupFullError
   */
  insert(change: GroupChange): void {
    if (this.entries.length >= MAX_LOG_CHANGES) throw new GroupLogFullError()
    const ancestors = this.ancestorsOf(change.parents)
    this.checkAuthority(change, (j) => hasBit(ancestors, j))
    this.append(change, ancestors)
  }

  /**
   * Keeps a verified change until its parents arrive. When the buffer is full, a change by a current member
   * (of `members`, hex) takes the place of the oldest one by someone who is not, so outsiders (a removed
   * member still on the topic) cannot crowd members' changes out; otherwise it is refused.
   * @throws PendingChangesFullError
   */
  bufferPending(change: GroupChange, members: () => ReadonlySet<string>): void {
    if (this.pending.size >= MAX_PENDING_CHANGES) {
      const current = members()
      const evict = current.has(toHex(change.author))
        ? [...this.pending].find(([, c]) => !current.has(toHex(c.author)))
        : undefined
      if (!evict) throw new PendingChangesFullError()
      this.pending.delete(evict[0])
    }
    this.pending.set(change.idHex, change)
  }

  hasAllParents(change: GroupChange): boolean {
    return change.parents.every((p) => this.byId.has(toHex(p)))
  }

  /** Inserts every pending change whose parents are now present; returns what it did. */
  drainPending(applied: GroupChange[], rejected: { id: string; error: GroupError }[]): void {
    for (let progress = true; progress;) {
      progress = false
      for (const [id, c] of [...this.pending].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (!this.hasAllParents(c)) continue
        this.pending.delete(id)
        progress = true
        try {
          this.insert(c)
          applied.push(c)
        } catch (error) {
          if (!(error instanceof GroupError)) throw error
          rejected.push({ id, error })
        }
      }
    }
  }

  /** Canonical order: Kahn's algorithm over the log, always taking the ready change with the smallest id. */
  canonicalOrder(): number[] {
    const n = this.entries.length
    const children: number[][] = Array.from({ length: n }, () => [])
    const waiting = new Array<number>(n).fill(0)
    for (const e of this.entries) {
      waiting[e.index] = e.change.parents.length
      for (const p of e.change.parents) children[this.byId.get(toHex(p)) as number]?.push(e.index)
    }
    const ready = new MinHeap((a, b) => compareBytes(this.entry(a).change.id, this.entry(b).change.id))
    ready.push(0)
    const order: number[] = []
    for (let i = ready.pop(); i !== undefined; i = ready.pop()) {
      order.push(i)
      for (const k of children[i] as number[]) {
        waiting[k] = (waiting[k] as number) - 1
        if (waiting[k] === 0) ready.push(k)
      }
    }
    return order
  }
}

const MEMBERSHIP_EVENTS: ReadonlySet<string> = new Set(['create', 'add', 'remove', 'leave'])
const MEMBERSHIP_ADDS: ReadonlySet<string> = new Set(['create', 'add'])
const ROLE_EVENTS: ReadonlySet<string> = new Set(['admin', 'remove', 'leave'])
const ADMIN_GRANTS: ReadonlySet<string> = new Set(['admin'])

/** A small binary min-heap of numbers under a comparator. */
class MinHeap {
  readonly #items: number[] = []
  readonly #less: (a: number, b: number) => number
  constructor(less: (a: number, b: number) => number) {
    this.#less = less
  }
  push(v: number): void {
    const a = this.#items
    a.push(v)
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1
      if (this.#less(a[i] as number, a[p] as number) >= 0) break
      ;[a[i], a[p]] = [a[p] as number, a[i] as number]
      i = p
    }
  }
  pop(): number | undefined {
    const a = this.#items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      for (let i = 0; ;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && this.#less(a[l] as number, a[m] as number) < 0) m = l
        if (r < a.length && this.#less(a[r] as number, a[m] as number) < 0) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m] as number, a[i] as number]
        i = m
      }
    }
    return top
  }
}

// ------------------------------------------------------------------------------------------ the fold

interface FoldAcc {
  /** Per identity: maximal effective membership events so far. */
  membership: Map<string, { id: Identity; top: number[] }>
  /** Per identity: maximal effective events among make-admin, remove and leave. */
  roles: Map<string, number[]>
  /** Maximal effective create/rename entries. */
  names: number[]
}

/** One step of the fold: entry i (in canonical order, so every ancestor came before) joins the frontiers. */
function foldStep(b: LogBuilder, acc: FoldAcc, i: number): FoldAcc {
  const c = b.entry(i).change
  if (!b.effective(i, ALL)) return acc
  const join = (top: number[]): number[] => [...top.filter((j) => !b.isAncestor(j, i)), i]
  if (c.kind === 'create' || c.kind === 'rename') acc.names = join(acc.names)
  if (c.kind === 'rename') return acc
  const who = c.kind === 'create' || c.kind === 'leave' ? c.author : (c.member as Identity)
  const key = toHex(who)
  if (c.kind !== 'admin') {
    const m = acc.membership.get(key)
    acc.membership.set(key, { id: who, top: join(m?.top ?? []) })
  }
  if (ROLE_EVENTS.has(c.kind)) acc.roles.set(key, join(acc.roles.get(key) ?? []))
  return acc
}

function foldState(log: GroupLog): GroupState {
  const b = LogBuilder.view(log)
  const acc = b
    .canonicalOrder()
    .reduce<FoldAcc>((a, i) => foldStep(b, a, i), { membership: new Map(), roles: new Map(), names: [] })
  const kindOf = (j: number) => b.entry(j).change.kind
  const members: Identity[] = []
  const admins: Identity[] = []
  for (const [key, { id, top }] of acc.membership) {
    if (!top.every((j) => MEMBERSHIP_ADDS.has(kindOf(j)))) continue
    members.push(id)
    const roles = acc.roles.get(key) ?? []
    if (!b.isCreator(id) && roles.length > 0 && roles.every((j) => kindOf(j) === 'admin')) admins.push(id)
  }
  const nameEntry = acc.names.reduce((best, j) =>
    compareBytes(b.entry(j).change.id, b.entry(best).change.id) > 0 ? j : best,
  )
  return {
    group: log.group,
    name: b.entry(nameEntry).change.name as string,
    creator: log.creator,
    members: members.sort(compareBytes),
    admins: admins.sort(compareBytes),
  }
}

// -------------------------------------------------------------------------------------------- the API

const memberSets = new WeakMap<GroupLog, ReadonlySet<string>>()

/** The current members of `log` as hex (computed once per log value). */
function memberSet(log: GroupLog): ReadonlySet<string> {
  let set = memberSets.get(log)
  if (!set) {
    set = new Set(log.state.members.map(toHex))
    memberSets.set(log, set)
  }
  return set
}

/** The change decoded from its bytes (a decoded value given in is decoded again: only its bytes count). */
function decoded(change: GroupChange | Uint8Array): GroupChange {
  return decodeChange(change instanceof Uint8Array ? change : change.bytes)
}

/** `c` once its group and signature are checked. */
async function verified(c: GroupChange, group: Uint8Array | null): Promise<GroupChange> {
  if (group && !equalBytes(c.group, group)) throw new WrongGroupError()
  if (!(await verifyChangeSignature(c))) throw new GroupSignatureError('change signature does not verify')
  return c
}

/**
 * Starts a group: signs its `create` change and draws the group secret (shared with members in the
 * welcome; it names the gossipsub topic, see `groupTopic`).
 * @param signer the creator's identity key.
 * @param opts `name` (1 to MAX_GROUP_NAME_LENGTH characters), `now` (ms), `rng`.
 * @returns the log holding just the create, the group secret (32 bytes) and the create change.
 * @throws MalformedGroupRecordError for a bad name.
 * @example
 * const { log, groupSecret } = await createGroup(me, { name: 'Climbing', now: Date.now(), rng: secureRandom })
 */
export async function createGroup(
  signer: GroupSigner,
  opts: { readonly name: string; readonly now: number; readonly rng: Rng },
): Promise<{ log: GroupLog; groupSecret: Uint8Array; change: GroupChange }> {
  const change = await signChange(signer, {
    group: null,
    parents: [],
    kind: 'create',
    member: null,
    name: opts.name,
    time: opts.now,
    nonce: opts.rng(CREATE_NONCE_LENGTH),
  })
  const groupSecret = opts.rng(KEY_LENGTH)
  return { log: new LogBuilder(change).freeze(), groupSecret, change }
}

/**
 * A log holding only a group's create change (what a new member starts from before applying the rest).
 * @throws MalformedGroupRecordError, WrongGroupError (not a create, or not of group `group`),
 * GroupSignatureError
 */
export async function openLog(create: GroupChange | Uint8Array, group?: Uint8Array): Promise<GroupLog> {
  const c = await verified(decoded(create), group ?? null)
  if (c.kind !== 'create') throw new WrongGroupError('a log starts with its create change')
  return new LogBuilder(c).freeze()
}

/**
 * Authors a change: checks the author's authority in the current log, names the current heads as parents
 * (at most MAX_CHANGE_PARENTS of them), signs it and applies it.
 * @param request what to do: add, remove or make admin a member, leave, or rename.
 * @returns the new log and the change to send to the group.
 * @throws UnauthorizedChangeError, GroupFullError, GroupLogFullError, MalformedGroupRecordError (bad name)
 * @example
 * const { log: next, change } = await makeChange(log, me, { kind: 'add', member: bob }, { now: Date.now() })
 */
export async function makeChange(
  log: GroupLog,
  signer: GroupSigner,
  request: ChangeRequest,
  opts: { readonly now: number },
): Promise<{ log: GroupLog; change: GroupChange }> {
  const b = LogBuilder.of(log)
  if (b.entries.length >= MAX_LOG_CHANGES) throw new GroupLogFullError()
  const parents = [...b.heads]
    .map((i) => b.entry(i).change.id)
    .sort(compareBytes)
    .slice(0, MAX_CHANGE_PARENTS)
  const member = 'member' in request ? request.member : null
  const ancestors = b.ancestorsOf(parents)
  b.checkAuthority({ author: signer.publicKey, kind: request.kind, member }, (j) => hasBit(ancestors, j))
  const change = await signChange(signer, {
    group: log.group,
    parents,
    kind: request.kind,
    member,
    name: request.kind === 'rename' ? request.name : null,
    time: opts.now,
    nonce: null,
  })
  b.insert(change)
  return { log: b.freeze(), change }
}

/**
 * Applies one received change: verifies it, then adds it (if its parents are known) or keeps it pending
 * (if not); adding it may release pending changes. A change already held is ignored.
 * @returns the new log, what was added, and released pending changes that were refused.
 * @throws MalformedGroupRecordError, WrongGroupError, GroupSignatureError, UnauthorizedChangeError,
 * GroupFullError, GroupLogFullError, PendingChangesFullError (the log is then unchanged)
 */
export async function applyChange(log: GroupLog, change: GroupChange | Uint8Array): Promise<ApplyResult> {
  const d = decoded(change)
  // A change already held is ignored before its signature is checked: its id covers all it says.
  if (hasChange(log, d.id)) return { log, applied: [], rejected: [] }
  const c = await verified(d, log.group)
  const b = LogBuilder.of(log)
  const applied: GroupChange[] = []
  const rejected: { id: string; error: GroupError }[] = []
  if (b.hasAllParents(c)) {
    b.insert(c)
    applied.push(c)
    b.drainPending(applied, rejected)
  } else {
    b.bufferPending(c, () => memberSet(log))
  }
  return { log: b.freeze(), applied, rejected }
}

/**
 * Applies many changes in any order (a welcome, a sync): like {@link applyChange} for each, but never
 * throws for one change: refused ones are listed in `rejected`.
 */
export async function applyChanges(
  log: GroupLog,
  changes: readonly (GroupChange | Uint8Array)[],
): Promise<ApplyResult> {
  const b = LogBuilder.of(log)
  const applied: GroupChange[] = []
  const rejected: { id: string; error: GroupError }[] = []
  for (const change of changes) {
    let c: GroupChange
    try {
      const d = decoded(change)
      if (b.byId.has(d.idHex) || b.pending.has(d.idHex)) continue
      c = await verified(d, log.group)
    } catch (error) {
      if (!(error instanceof GroupError)) throw error
      rejected.push({ id: change instanceof Uint8Array ? '' : change.idHex, error })
      continue
    }
    if (b.hasAllParents(c)) {
      try {
        b.insert(c)
        applied.push(c)
      } catch (error) {
        if (!(error instanceof GroupError)) throw error
        rejected.push({ id: c.idHex, error })
        continue
      }
      b.drainPending(applied, rejected)
    } else {
      try {
        b.bufferPending(c, () => memberSet(log))
      } catch (error) {
        if (!(error instanceof GroupError)) throw error
        rejected.push({ id: c.idHex, error })
      }
    }
  }
  return { log: b.freeze(), applied, rejected }
}

/** The resolved membership of a log: members, admins, name, creator. */
export function groupState(log: GroupLog): GroupState {
  return log.state
}

/** The current members of a log, sorted bytewise. */
export function memberList(log: GroupLog): readonly Identity[] {
  return log.state.members
}

/** Whether `id` is a current member. */
export function isMember(log: GroupLog, id: Identity): boolean {
  return log.state.members.some((m) => equalBytes(m, id))
}

/** The role of `id` now, or null when it is not a member. */
export function roleOf(log: GroupLog, id: Identity): GroupRole | null {
  if (!isMember(log, id)) return null
  if (equalBytes(id, log.creator)) return 'creator'
  return log.state.admins.some((a) => equalBytes(a, id)) ? 'admin' : 'member'
}

/** Every change of the log in canonical order (topological, ties by the smaller id), with its effect. */
export function history(log: GroupLog): readonly HistoryEntry[] {
  const b = LogBuilder.view(log)
  return b.canonicalOrder().map((i) => ({ change: b.entry(i).change, effective: b.effective(i, ALL) }))
}

/** The changes of the log in the order this replica added them (parents always before children). */
export function logChanges(log: GroupLog): readonly GroupChange[] {
  return log._entries.map((e) => e.change)
}

/** Ids of the log's heads (changes no other change names as a parent), ascending. */
export function heads(log: GroupLog): readonly Uint8Array[] {
  return [...log._heads].map((i) => (log._entries[i] as Entry).change.id).sort(compareBytes)
}

/** Whether the log holds (or has pending) the change with this id. */
export function hasChange(log: GroupLog, id: Uint8Array): boolean {
  const k = toHex(id)
  return log._byId.has(k) || log._pending.has(k)
}

/** Ids named as parents by pending changes but held nowhere: what to fetch from other members. */
export function missingChanges(log: GroupLog): readonly Uint8Array[] {
  const out = new Map<string, Uint8Array>()
  for (const c of log._pending.values())
    for (const p of c.parents) {
      const k = toHex(p)
      if (!log._byId.has(k) && !log._pending.has(k)) out.set(k, p)
    }
  return [...out.values()].sort(compareBytes)
}

/** Number of changes waiting for their parents. */
export function pendingCount(log: GroupLog): number {
  return log._pending.size
}

const LOG_FIELDS = ['v', 'g', 'c', 'q'] as const

/** Serializes a log for local storage: `{v: 1, g: group id, c: [change, ...], q: [pending change, ...]}`. */
export function encodeGroupLog(log: GroupLog): Uint8Array {
  return _encode({
    v: GROUP_VERSION,
    g: log.group,
    c: log._entries.map((e) => e.change.bytes),
    q: [...log._pending.values()].map((c) => c.bytes),
  })
}

/**
 * Loads a stored log, verifying every change again.
 * @throws MalformedGroupRecordError (also when a stored change no longer applies), WrongGroupError,
 * GroupSignatureError
 */
export async function decodeGroupLog(bytes: Uint8Array): Promise<GroupLog> {
  const w = 'group log'
  const max = (MAX_LOG_CHANGES + MAX_PENDING_CHANGES) * (MAX_CHANGE_BYTES + 3) + 64
  const m = _decodeMap(bytes, w, max, LOG_FIELDS)
  const group = _bytes(m, 'g', KEY_LENGTH, w)
  const changes = _blobList(_array(m, 'c', MAX_LOG_CHANGES, w), MAX_CHANGE_BYTES, 'group log.c')
  const pending = _blobList(_array(m, 'q', MAX_PENDING_CHANGES, w), MAX_CHANGE_BYTES, 'group log.q')
  const [first, ...rest] = changes
  if (!first) throw new MalformedGroupRecordError('group log: no create change')
  const r = await applyChanges(await openLog(first, group), [...rest, ...pending])
  if (r.rejected.length > 0 || r.log.size !== changes.length) {
    throw new MalformedGroupRecordError('group log: a stored change no longer applies')
  }
  return r.log
}

/**
 * @internal The members and admins computed the other way: for every identity, from the frontier of its
 * events over the whole log (the per-view rule used for validity) instead of the fold. Tests check that
 * both agree.
 */
export function _resolveByViews(log: GroupLog): { members: Identity[]; admins: Identity[] } {
  const b = LogBuilder.view(log)
  const ids = [...b.events.values()].map((list) => {
    const c = b.entry(list[0] as number).change
    return c.kind === 'create' || c.kind === 'leave' ? c.author : (c.member as Identity)
  })
  return {
    members: ids.filter((id) => b.isMember(id, ALL)).sort(compareBytes),
    admins: ids.filter((id) => b.isAdmin(id, ALL)).sort(compareBytes),
  }
}
