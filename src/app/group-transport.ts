/**
 * How group traffic moves: a group message is published once on the group's gossipsub topic and, for
 * every member not reached live, copied into the 1:1 outbox (durable, retried, direct or to the member's
 * mailbox). Receipts and typing ride the 1:1 path too.
 *
 * "Reached live" means acknowledged: gossipsub gives no acknowledgement, so a member counts as reached only
 * once it said so (a `group-receipt` "delivered", or the direct acknowledgement of a copy). After a publish
 * that reached at least one peer, members get `liveAckMs` to acknowledge; whoever has not by then gets a
 * copy. With nobody subscribed (the publish reached no one), every member gets its copy at once; in a group
 * small enough that this node dials every member, so do the members that are not among the topic's peers
 * (they are offline, or not connected yet). Delivery is therefore correct without gossipsub, and faster
 * with it: members online in the mesh get the message in one hop and no copy is made for them.
 *
 * A copy's outbox entry has the id `gcopy/<gid>/<message id>/<member>`: the same copy queued twice (after
 * a restart) is one entry, and the outbox's outcome for it (stored by the member, or by a relay) comes back
 * through {@link GroupTransport.copyStatus}. Knows group messages as bytes only; owns no group state.
 */
import { encodePayload, MAX_RECEIPT_IDS } from '@paloma/core/protocol/payload.ts'
import type { PeerNetwork, TopicMessage, TopicOptions } from '@paloma/net/network.ts'
import type { Delivery } from './delivery.ts'
import { groupEntry, groupNames, type FanoutRecord } from './group-records.ts'
import type { Outbox } from './outbox.ts'
import type { AppRecords } from './records.ts'
import type { Scheduler } from './scheduler.ts'
import type { Sessions } from './sessions.ts'
import type { SettingsStore } from './settings.ts'

export interface GroupTransportInit {
  /** How long members reached by gossip have to acknowledge before they get a copy. @default 3000 */
  liveAckMs?: number
  /** How long receipts for one member are gathered before they are sent. @default 30 */
  receiptBatchMs?: number
  /** How often a typing indicator is refreshed while it lasts. @default 3000 */
  typingRefreshMs?: number
  /**
   * Publish group messages on the topic. Off, every member gets a copy over 1:1 at once (what delivery
   * costs without gossipsub; messages from others still arrive by gossip). @default true
   */
  publish?: boolean
}

export interface GroupTransportComponents {
  network: Pick<PeerNetwork, 'subscribe' | 'publish' | 'topicPeers' | 'isConnected'>
  outbox: Pick<Outbox, 'enqueue' | 'flush'>
  delivery: Pick<Delivery, 'post' | 'connectDirect'>
  sessions: Pick<Sessions, 'has' | 'encrypt'>
  settings: Pick<SettingsStore, 'current'>
  records: Pick<AppRecords, 'write' | 'update'>
  scheduler: Scheduler
  now(): number
  log(message: string, err: unknown): void
}

/** Counters for benchmarks and tests: what group traffic cost this device. */
export interface GroupTrafficStats {
  /** Group messages published on a topic that reached at least one peer. */
  published: number
  /** Group messages published while no peer was subscribed. */
  publishedToNobody: number
  /** Copies of group messages queued for members (1:1 envelopes). */
  copies: number
  /** Sender key distributions queued (1:1 envelopes). */
  keys: number
  /** Membership changes queued for members (1:1 envelopes). */
  changes: number
  /** Group receipts queued (1:1 envelopes). */
  receipts: number
  /** Other group payloads queued: welcome parts, key requests, wants (1:1 envelopes). */
  control: number
  /** Group messages received, stored and shown. */
  received: number
  /** Group messages received again (by gossip and as a copy, or twice) and dropped. */
  duplicates: number
  /** Other members' sender keys taken in (distributions that changed what this device holds). */
  keysTaken: number
}

interface Fanout {
  record: FanoutRecord
  pending: Set<string>
  cancel?: () => void
}

const COPY_PREFIX = 'gcopy/'

export class GroupTransport {
  readonly stats: GroupTrafficStats = {
    published: 0,
    publishedToNobody: 0,
    copies: 0,
    keys: 0,
    changes: 0,
    receipts: 0,
    control: 0,
    received: 0,
    duplicates: 0,
    keysTaken: 0,
  }
  readonly #c: GroupTransportComponents
  readonly #liveAckMs: number
  readonly #receiptBatchMs: number
  readonly #typingRefreshMs: number
  readonly #publish: boolean
  readonly #fanouts = new Map<string, Fanout>()
  readonly #receipts = new Map<
    string,
    { peer: string; g: Uint8Array; ids: Record<'delivered' | 'read', Set<string>>; cancel(): void }
  >()
  readonly #typingSent = new Map<string, number>()

  constructor(components: GroupTransportComponents, init: GroupTransportInit = {}) {
    this.#c = components
    this.#liveAckMs = init.liveAckMs ?? 3000
    this.#receiptBatchMs = init.receiptBatchMs ?? 30
    this.#typingRefreshMs = init.typingRefreshMs ?? 3000
    this.#publish = init.publish ?? true
  }

  get liveAckMs(): number {
    return this.#liveAckMs
  }

  subscribe(topic: string, onMessage: (m: TopicMessage) => void, options: TopicOptions): () => void {
    return this.#c.network.subscribe(topic, onMessage, options)
  }

  /** Queues a group payload for each of `peers` over 1:1, durably. */
  async tell(peers: readonly string[], payload: Parameters<typeof encodePayload>[0]): Promise<void> {
    if (peers.length === 0) return
    const bytes = encodePayload(payload)
    for (const peer of peers) {
      await this.#c.outbox.enqueue(peer, bytes)
      if (payload.k === 'group-key') this.stats.keys++
      else if (payload.k === 'group-change') this.stats.changes++
      else if (payload.k === 'group-receipt') this.stats.receipts++
      else this.stats.control++
    }
    void this.#c.outbox.flush()
  }

  /**
   * Sends a message already stored with its fan-out record (every recipient pending): publishes it on
   * `topic`, copies it at once to whoever cannot have been reached, and to the others after `liveAckMs`
   * unless they acknowledge first. `dialsAll`: this node dials every member (small group). Calls `left`
   * once the message left this device (published to someone, or a copy stored by a relay or member).
   */
  async dispatch(record: FanoutRecord, topic: string, dialsAll: boolean, left: () => void): Promise<void> {
    const fan: Fanout = { record, pending: new Set(record.pending) }
    this.#fanouts.set(this.#key(record.group, record.id), fan)
    let reached = 0
    try {
      if (this.#publish) reached = await this.#c.network.publish(topic, record.message)
    } catch (err) {
      this.#c.log('Could not publish a group message', err)
    }
    if (reached > 0) {
      this.stats.published++
      left()
    } else this.stats.publishedToNobody++
    const live = new Set(this.#c.network.topicPeers(topic))
    const now = [...fan.pending].filter((p) => reached === 0 || (dialsAll && !live.has(p)))
    await this.#copy(fan, now)
    if (fan.pending.size > 0) this.#schedule(fan)
  }

  /** Picks up a fan-out left by an earlier session: copies to whoever is pending, at its due time. */
  resume(record: FanoutRecord): void {
    const fan: Fanout = { record, pending: new Set(record.pending) }
    this.#fanouts.set(this.#key(record.group, record.id), fan)
    if (fan.pending.size === 0) void this.#copy(fan, [])
    else this.#schedule(fan)
  }

  /** `peer` has message `id` of group `gid`: it needs no copy. */
  acknowledged(gid: string, id: string, peer: string): void {
    const fan = this.#fanouts.get(this.#key(gid, id))
    if (fan === undefined || !fan.pending.delete(peer) || fan.pending.size > 0) return
    this.#finish(fan)
  }

  /** No more copies of group `gid` to `peers` (they left or were removed), or to anyone (`undefined`). */
  forget(gid: string, peers?: readonly string[]): void {
    for (const fan of this.#fanouts.values()) {
      if (fan.record.group !== gid) continue
      for (const p of peers ?? [...fan.pending]) fan.pending.delete(p)
      if (fan.pending.size === 0) this.#finish(fan)
    }
  }

  /** The outbox entry id of the copy of message `id` of group `gid` for `member`. */
  static copyId(gid: string, id: string, member: string): string {
    return `${COPY_PREFIX}${gid}/${id}/${member}`
  }

  /** The group, message and member of a copy's outbox entry id; undefined for any other entry. */
  static parseCopyId(entryId: string): { gid: string; id: string; member: string } | undefined {
    if (!entryId.startsWith(COPY_PREFIX)) return undefined
    const [gid, id, member] = entryId.slice(COPY_PREFIX.length).split('/')
    return gid && id && member ? { gid, id, member } : undefined
  }

  /** Gathers a receipt for `peer`'s messages `ids` in a group; sent together a few ms later. */
  queueReceipt(
    peer: string,
    g: Uint8Array,
    gid: string,
    status: 'delivered' | 'read',
    ids: readonly string[],
  ) {
    if (ids.length === 0 || (status === 'read' && !this.#c.settings.current.readReceipts)) return
    const key = `${peer}|${gid}`
    let pending = this.#receipts.get(key)
    if (pending === undefined) {
      const cancel = this.#c.scheduler.after(this.#receiptBatchMs, () => void this.#sendReceipts(key))
      pending = { peer, g, ids: { delivered: new Set(), read: new Set() }, cancel }
      this.#receipts.set(key, pending)
    }
    for (const id of ids) pending.ids[status].add(id)
  }

  /** Queues every receipt still being gathered now (the session is ending). */
  async flushReceipts(): Promise<void> {
    for (const key of [...this.#receipts.keys()]) await this.#sendReceipts(key)
  }

  async #sendReceipts(key: string): Promise<void> {
    const pending = this.#receipts.get(key)
    this.#receipts.delete(key)
    if (pending === undefined) return
    pending.cancel()
    // "Read" implies "delivered": one receipt per message is enough.
    for (const id of pending.ids.read) pending.ids.delivered.delete(id)
    for (const status of ['delivered', 'read'] as const) {
      const ids = [...pending.ids[status]]
      for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
        const payload = { k: 'group-receipt', g: pending.g, status, ids: ids.slice(i, i + MAX_RECEIPT_IDS) }
        await this.tell([pending.peer], payload as Parameters<typeof encodePayload>[0])
      }
    }
  }

  /** Tells the members connected now that this person is (or stopped) typing in group `gid`. */
  typing(gid: string, g: Uint8Array, members: readonly string[], on: boolean): void {
    const since = this.#typingSent.get(gid) ?? 0
    const now = this.#c.now()
    if (on && since > 0 && now - since < this.#typingRefreshMs) return
    if (!on && since === 0) return
    this.#typingSent.set(gid, on ? now : 0)
    if (!this.#c.settings.current.presence) return
    const bytes = encodePayload({ k: 'group-typing', g, on })
    for (const peer of members) void this.#post(peer, bytes)
  }

  /** Opens direct connections to `peers` (rate-limited per peer by the routes). */
  connect(peers: readonly string[]): void {
    for (const p of peers) void this.#c.delivery.connectDirect(p)
  }

  async #post(peer: string, payload: Uint8Array): Promise<void> {
    if (!this.#c.network.isConnected(peer) || !(await this.#c.sessions.has(peer))) return
    try {
      await this.#c.delivery.post(peer, await this.#c.sessions.encrypt(peer, payload))
    } catch {
      // best effort, like 1:1 typing
    }
  }

  #key(gid: string, id: string): string {
    return `${gid}/${id}`
  }

  #schedule(fan: Fanout): void {
    fan.cancel?.()
    const wait = Math.max(0, fan.record.due - this.#c.now())
    fan.cancel = this.#c.scheduler.after(wait, () => void this.#copy(fan, [...fan.pending]))
  }

  /** Queues copies for `peers`, then keeps the fan-out record with who is still pending (or drops it). */
  async #copy(fan: Fanout, peers: readonly string[]): Promise<void> {
    const { group, id, message } = fan.record
    const payload = encodePayload({ k: 'group-message', m: message })
    for (const peer of peers) {
      if (!fan.pending.has(peer)) continue // acknowledged meanwhile
      await this.#c.outbox.enqueue(peer, payload, { id: GroupTransport.copyId(group, id, peer) })
      fan.pending.delete(peer)
      this.stats.copies++
    }
    if (peers.length > 0) void this.#c.outbox.flush()
    if (fan.pending.size === 0) this.#finish(fan)
    else if (peers.length > 0)
      await this.#c.records.write([groupEntry.fanout({ ...fan.record, pending: [...fan.pending] })])
  }

  #finish(fan: Fanout): void {
    fan.cancel?.()
    const key = this.#key(fan.record.group, fan.record.id)
    if (this.#fanouts.get(key) !== fan) return
    this.#fanouts.delete(key)
    void this.#c.records.update([], [groupNames.fanout(fan.record.group, fan.record.id)])
  }
}
