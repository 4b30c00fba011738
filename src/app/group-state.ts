/**
 * One group as the groups component holds it in memory, and the small pieces of state logic around it:
 * the order of its history, the status of this person's messages ("delivered to all", "read by all"),
 * its history list (immutable arrays, replaced on change), token buckets for rate limits, and which
 * members this node dials.
 */
import type { GroupLog, GroupReceiverState, SenderKeyState } from '@paloma/core/group/index.ts'
import type { MessageStatus } from '@paloma/core/messages.ts'
import { groupEntry, type GroupMessageRecord, type GroupStatus } from './group-records.ts'
import type { Arrival } from './inbox.ts'
import type { AppRecords } from './records.ts'

/** A token bucket: `tokens` left at time `at`. */
export interface TokenBucket {
  tokens: number
  at: number
}

/** One group in memory. */
export interface Group {
  /** Group id, hex. */
  id: string
  gid: Uint8Array
  log: GroupLog
  secret: Uint8Array
  topic: string
  status: GroupStatus
  joined: number
  /** This person's sender key (none once no longer a member, or until made after a restore). */
  own: SenderKeyState | undefined
  receiver: GroupReceiverState
  /** Oldest first; replaced, never changed. */
  history: readonly GroupMessageRecord[]
  /** `<sender>/<id>` → message. */
  byKey: Map<string, GroupMessageRecord>
  /** Member → until when they are shown typing (ms). */
  typing: Map<string, number>
  unsubscribe?: () => void
  sendTokens: TokenBucket
  /** Per publishing node: gossip is rate-limited before anything is decrypted. */
  gossipTokens: Map<string, TokenBucket>
}

/** Where a group message came from: gossip, or a copy over the 1:1 path (directly or from a mailbox). */
export type GroupSource = { via: 'gossip' | Arrival; from: string }

/** History order: the sender's clock, then sender, then id (each sender's own order is kept). */
export const byTime = (a: GroupMessageRecord, b: GroupMessageRecord): number =>
  a.ts - b.ts || (a.sender < b.sender ? -1 : a.sender > b.sender ? 1 : 0) || (a.id < b.id ? -1 : 1)

export const keyOf = (m: Pick<GroupMessageRecord, 'sender' | 'id'>): string => `${m.sender}/${m.id}`

/** An outgoing message's status: read (by everyone), delivered (to everyone), else sent or pending. */
export function outStatus(m: GroupMessageRecord): MessageStatus {
  if (m.to.length > 0 && m.to.every((p) => m.read.includes(p))) return 'read'
  if (m.to.length > 0 && m.to.every((p) => m.delivered.includes(p))) return 'delivered'
  return m.status === 'pending' ? 'pending' : 'sent'
}

/** Takes one token from `bucket` (refilled at `perSecond` up to `burst`); false when none is left. */
export function takeToken(bucket: TokenBucket, now: number, burst: number, perSecond: number): boolean {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond)
  bucket.at = now
  if (bucket.tokens < 1) return false
  bucket.tokens -= 1
  return true
}

/**
 * The members this node dials: all of them while there are at most `directPeers`, else the next
 * ⌈directPeers / 2⌉ after `me` in PeerId order (the ones before dial it): a ring lattice, connected, of
 * degree about `directPeers`, over which gossipsub forms its mesh.
 */
export function ringNeighbours(others: readonly string[], me: string, directPeers: number): string[] {
  if (others.length <= directPeers) return [...others]
  const ring = [...others, me].sort()
  const at = ring.indexOf(me)
  return Array.from({ length: Math.ceil(directPeers / 2) }, (_, k) => ring[(at + 1 + k) % ring.length]!)
}

/** A group's history: messages shown in order, this person's messages updated as receipts arrive. */
export class GroupHistory {
  readonly #c: { records: Pick<AppRecords, 'write'>; me: string; changed(): void }

  constructor(components: { records: Pick<AppRecords, 'write'>; me: string; changed(): void }) {
    this.#c = components
  }

  /** Shows a message once it is durable (its record written by the caller). */
  show(g: Group, m: GroupMessageRecord): void {
    const list = g.history
    let i = list.length
    while (i > 0 && byTime(list[i - 1]!, m) > 0) i--
    g.history = [...list.slice(0, i), m, ...list.slice(i)]
    g.byKey.set(keyOf(m), m)
    this.#c.changed()
  }

  replace(g: Group, m: GroupMessageRecord): void {
    const at = g.history.findIndex((x) => x.id === m.id && x.sender === m.sender)
    if (at < 0) return
    g.history = g.history.with(at, m)
    g.byKey.set(keyOf(m), m)
    this.#c.changed()
  }

  /** Changes one of this person's messages and stores it (its status follows who stored and read it). */
  update(g: Group, id: string, change: (m: GroupMessageRecord) => GroupMessageRecord): void {
    const m = g.byKey.get(`${this.#c.me}/${id}`)
    if (m === undefined) return
    const changed = change(m)
    const next = { ...changed, status: outStatus(changed) }
    if (changed === m && next.status === m.status) return
    this.replace(g, next)
    void this.#c.records.write([groupEntry.message(next)])
  }

  /** `peers` stored (or read) this person's message `id`. */
  acknowledged(g: Group, id: string, peers: readonly string[], status: 'delivered' | 'read'): void {
    this.update(g, id, (m) => {
      const to = peers.filter((p) => m.to.includes(p))
      const delivered = [...new Set([...m.delivered, ...to])]
      const read = status === 'read' ? [...new Set([...m.read, ...to])] : m.read
      if (delivered.length === m.delivered.length && read.length === m.read.length) return m
      return { ...m, delivered, read }
    })
  }

  /** This person's message `id` left the device (published to someone, or a copy stored). */
  left(g: Group, id: string): void {
    this.update(g, id, (m) => (m.status === 'pending' ? { ...m, status: 'sent' } : m))
  }

  /** Marks every unread incoming message read. @returns them (for read receipts), stored */
  async markRead(g: Group): Promise<GroupMessageRecord[]> {
    const unread = g.history.filter((m) => m.direction === 'in' && m.status !== 'read')
    if (unread.length === 0) return []
    const read = unread.map((m) => ({ ...m, status: 'read' as const }))
    await this.#c.records.write(read.map(groupEntry.message))
    for (const m of read) this.replace(g, m)
    return read
  }
}
