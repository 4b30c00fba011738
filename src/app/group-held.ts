/**
 * What a member sent that cannot be used yet, held (durably, bounded) until what it needs arrives: a
 * group message whose sender key is still on its way, a sender key from someone whose add has not
 * arrived, anything for a group whose welcome is not complete. Tried again after every key, change and
 * join; dropped after SENDER_KEY_GRACE_MS (the mailbox's retention: nothing older can still be in flight).
 *
 * Gossip is held too, but only in memory and briefly (anyone who knows the topic can publish, so it must
 * not cost vault writes): what cannot be read by then was not acknowledged, and its sender's copy comes
 * through the 1:1 path, from an authenticated member.
 */
import { toHex } from '@paloma/core/crypto/bytes.ts'
import { sha256Hash } from '@paloma/core/crypto/primitives.ts'
import { groupEntry, groupNames, type HeldKind, type HeldRecord } from './group-records.ts'
import type { AppRecords } from './records.ts'

export interface HeldBufferInit {
  /** Most items held per group; beyond, the oldest goes. @default 256 */
  maxHeld?: number
  /** Most groups this device is not in (yet) that it holds anything for. @default 64 */
  maxUnknownGroups?: number
  /** Most gossip messages held in memory per group. @default 64 */
  maxGossip?: number
  /** How long gossip is held in memory. @default 60000 */
  gossipMs?: number
}

export class HeldBuffer {
  readonly #records: Pick<AppRecords, 'update'>
  readonly #now: () => number
  readonly #maxHeld: number
  readonly #maxUnknown: number
  readonly #maxGossip: number
  readonly #gossipMs: number
  readonly #held = new Map<string, Map<string, HeldRecord>>()
  readonly #gossip = new Map<string, Map<string, HeldRecord>>()

  constructor(records: Pick<AppRecords, 'update'>, now: () => number, init: HeldBufferInit = {}) {
    this.#records = records
    this.#now = now
    this.#maxHeld = init.maxHeld ?? 256
    this.#maxUnknown = init.maxUnknownGroups ?? 64
    this.#maxGossip = init.maxGossip ?? 64
    this.#gossipMs = init.gossipMs ?? 60_000
  }

  /** Holds a gossip message in memory only (bounded, the oldest goes first). */
  holdGossip(id: string, from: string, bytes: Uint8Array): void {
    let held = this.#gossip.get(id)
    if (held === undefined) this.#gossip.set(id, (held = new Map()))
    const key = toHex(sha256Hash(bytes)).slice(0, 32)
    held.set(key, { group: id, key, kind: 'message', from, bytes, at: this.#now() })
    while (held.size > this.#maxGossip) held.delete(held.keys().next().value!)
  }

  /** Gossip held for group `id`, oldest first (expired messages dropped). */
  gossip(id: string): HeldRecord[] {
    const held = this.#gossip.get(id)
    if (held === undefined) return []
    for (const [k, h] of held) if (this.#now() - h.at >= this.#gossipMs) held.delete(k)
    return [...held.values()]
  }

  dropGossip(id: string, key: string): void {
    this.#gossip.get(id)?.delete(key)
  }

  /** Takes back an item stored by an earlier session. */
  load(h: HeldRecord): void {
    this.#of(h.group).set(h.key, h)
  }

  /**
   * Holds `bytes` for group `id` (once: the same bytes twice are one item). `known`: the group is on
   * this device (else it counts against the few unknown groups held for).
   */
  async hold(id: string, kind: HeldKind, from: string, bytes: Uint8Array, known: boolean): Promise<void> {
    if (!known && !this.#held.has(id) && this.#held.size >= this.#maxUnknown) return
    const held = this.#of(id)
    const key = toHex(sha256Hash(bytes)).slice(0, 32)
    if (held.has(key)) return
    const h: HeldRecord = { group: id, key, kind, from, bytes, at: this.#now() }
    held.set(key, h)
    const deletes: string[] = []
    while (held.size > this.#maxHeld) {
      const oldest = held.keys().next().value!
      held.delete(oldest)
      deletes.push(groupNames.held(id, oldest))
    }
    await this.#records.update([groupEntry.held(h)], deletes)
  }

  /** What is held for group `id`, oldest first. */
  items(id: string): HeldRecord[] {
    return [...(this.#held.get(id)?.values() ?? [])].sort((a, b) => a.at - b.at)
  }

  has(id: string, key: string): boolean {
    return this.#held.get(id)?.has(key) === true
  }

  /** Whether an item is too old to be waited for any longer. */
  expired(h: HeldRecord, graceMs: number): boolean {
    return this.#now() - h.at >= graceMs
  }

  /** Drops one item (used, refused or expired). */
  async drop(id: string, key: string): Promise<void> {
    if (this.#held.get(id)?.delete(key) !== true) return
    await this.#records.update([], [groupNames.held(id, key)])
  }

  /** Drops everything held for group `id`. @returns the record names to delete (with the caller's write) */
  forget(id: string): string[] {
    const keys = [...(this.#held.get(id)?.keys() ?? [])]
    this.#held.delete(id)
    this.#gossip.delete(id)
    return keys.map((k) => groupNames.held(id, k))
  }

  #of(id: string): Map<string, HeldRecord> {
    let held = this.#held.get(id)
    if (held === undefined) this.#held.set(id, (held = new Map()))
    return held
  }
}
