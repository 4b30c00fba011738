/**
 * Presence and typing: "online" and "last seen" for each contact, and whether they are typing. Both go
 * only to contacts, only over an open connection (never through mailboxes: they are stale by the time a
 * mailbox delivers them), and only while the person shares presence.
 *
 * Presence is announced when a connection to a contact opens and repeated every `heartbeatMs`, so one
 * lost announcement heals; "offline" is announced on lock. A contact whose connections all closed is
 * shown offline after `settleMs` (a relayed connection closes as its WebRTC replacement opens). Typing is
 * sent when it starts or stops, and refreshed while it lasts, but never more than one typing payload per
 * `typingRefreshMs` per contact (each costs a ratchet step and a vault commit): changes in between are
 * folded into one payload at the end of the interval, and a message sent ends typing without one. A typing
 * indicator expires `typingTtlMs` after the last refresh.
 */
import { encodePayload, type Payload } from '@paloma/core/protocol/payload.ts'
import type { PeerNetwork } from '@paloma/net/network.ts'
import type { Contacts } from './contacts.ts'
import type { Delivery } from './delivery.ts'
import type { Scheduler } from './scheduler.ts'
import type { Settings } from './types.ts'
import type { Sessions } from './sessions.ts'
import type { Changes } from './view.ts'

export interface LiveState {
  online: boolean
  /** Last time anything arrived from them, or their last "offline" announcement. */
  lastSeen?: number
  typing: boolean
}

export interface Presence {
  live(peer: string): LiveState
  /** Something arrived from `peer`: they are around. */
  heard(peer: string): void
  apply(from: string, p: Extract<Payload, { k: 'presence' | 'typing' }>): Promise<void>
  /** A message from `peer` arrived: it ends their typing indicator. */
  stopTyping(peer: string): void
  /** The composer for `peer` has text in it (or no longer has). */
  setTyping(peer: string, on: boolean): void
  /** A message to `peer` was sent: it ends the typing indicator there by itself. */
  sentMessage(peer: string): void
  start(): void
  /** Announces "offline" to connected contacts (when shared), then stops. */
  stop(): Promise<void>
}

export interface PresenceInit {
  /** @default 20000 */
  heartbeatMs?: number
  /** @default 1000 */
  settleMs?: number
  /** @default 6000 */
  typingTtlMs?: number
  /** Least time between two typing payloads to one contact. @default 2500 */
  typingRefreshMs?: number
}

export interface PresenceComponents {
  network: Pick<PeerNetwork, 'on' | 'isConnected'>
  sessions: Pick<Sessions, 'has' | 'encrypt'>
  delivery: Pick<Delivery, 'post'>
  contacts: Pick<Contacts, 'get' | 'all' | 'onAdded' | 'update'>
  settings: { readonly current: Readonly<Pick<Settings, 'presence'>> }
  scheduler: Scheduler
  changes: Changes
  now(): number
}

interface Live {
  online: boolean
  lastSeen?: number
  typingUntil: number
  cancelTyping?: () => void
}

export function presence(init: PresenceInit = {}) {
  return (components: PresenceComponents): Presence => new PresenceTracker(components, init)
}

class PresenceTracker implements Presence {
  readonly #c: PresenceComponents
  readonly #heartbeatMs: number
  readonly #settleMs: number
  readonly #typingTtlMs: number
  readonly #typingRefreshMs: number
  readonly #live = new Map<string, Live>()
  /** What the composer wants each contact to see, what was last sent, when, and a pending send. */
  readonly #typingOut = new Map<string, { wanted: boolean; sent: boolean; at: number; cancel?: () => void }>()
  #offConnection: (() => void) | undefined

  constructor(components: PresenceComponents, init: PresenceInit) {
    this.#c = components
    this.#heartbeatMs = init.heartbeatMs ?? 20_000
    this.#settleMs = init.settleMs ?? 1000
    this.#typingTtlMs = init.typingTtlMs ?? 6000
    this.#typingRefreshMs = init.typingRefreshMs ?? 2500
    components.contacts.onAdded((c) => {
      // Already connected to someone just added (they wrote first): tell them we are here.
      if (this.#c.network.isConnected(c.peer)) this.#announce(c.peer)
    })
  }

  #of(peer: string): Live {
    let live = this.#live.get(peer)
    if (live === undefined) this.#live.set(peer, (live = { online: false, typingUntil: 0 }))
    return live
  }

  live(peer: string): LiveState {
    const live = this.#live.get(peer)
    const lastSeen = live?.lastSeen ?? this.#c.contacts.get(peer)?.lastSeen
    const state: LiveState = {
      online: live?.online === true,
      typing: (live?.typingUntil ?? 0) > this.#c.now(),
    }
    return lastSeen === undefined ? state : { ...state, lastSeen }
  }

  start(): void {
    this.#offConnection = this.#c.network.on('connection', ({ peer, open }) => this.#onConnection(peer, open))
    this.#c.scheduler.every(this.#heartbeatMs, () => void this.#broadcast(true))
  }

  async stop(): Promise<void> {
    this.#offConnection?.()
    await this.#broadcast(false)
  }

  heard(peer: string): void {
    this.#of(peer).lastSeen = this.#c.now()
  }

  async apply(from: string, p: Extract<Payload, { k: 'presence' | 'typing' }>): Promise<void> {
    const live = this.#of(from)
    if (p.k === 'typing') {
      this.#setTyping(from, live, p.on)
    } else {
      live.online = p.online
      live.lastSeen = p.ts
      if (!p.online) await this.#c.contacts.update(from, { lastSeen: p.ts })
    }
    this.#c.changes.contact(from)
  }

  /** A message (or a "not typing") from them ends their typing indicator. */
  #setTyping(peer: string, live: Live, on: boolean): void {
    live.cancelTyping?.()
    live.cancelTyping = undefined
    live.typingUntil = on ? this.#c.now() + this.#typingTtlMs : 0
    if (on)
      live.cancelTyping = this.#c.scheduler.after(this.#typingTtlMs, () => this.#c.changes.contact(peer))
  }

  stopTyping(peer: string): void {
    const live = this.#live.get(peer)
    if (live !== undefined && live.typingUntil > 0) {
      this.#setTyping(peer, live, false)
      this.#c.changes.contact(peer)
    }
  }

  setTyping(peer: string, on: boolean): void {
    let out = this.#typingOut.get(peer)
    if (out === undefined) this.#typingOut.set(peer, (out = { wanted: false, sent: false, at: -Infinity }))
    out.wanted = on
    this.#pumpTyping(peer, out)
  }

  sentMessage(peer: string): void {
    const out = this.#typingOut.get(peer)
    if (out === undefined) return
    out.cancel?.()
    out.cancel = undefined
    out.wanted = out.sent = false
  }

  #pumpTyping(peer: string, out: { wanted: boolean; sent: boolean; at: number; cancel?: () => void }): void {
    if (out.cancel !== undefined) return // a send is already due at the end of the interval
    const now = this.#c.now()
    const refresh = out.wanted && out.sent && now - out.at >= this.#typingRefreshMs
    if (out.wanted === out.sent && !refresh) return
    const wait = out.at + this.#typingRefreshMs - now
    if (wait > 0) {
      out.cancel = this.#c.scheduler.after(wait, () => {
        out.cancel = undefined
        this.#pumpTyping(peer, out)
      })
      return
    }
    out.sent = out.wanted
    out.at = now
    void this.#send(peer, { k: 'typing', on: out.wanted })
  }

  #onConnection(peer: string, open: boolean): void {
    if (this.#c.contacts.get(peer) === undefined) return
    this.#c.changes.contact(peer) // the direct-connection label
    if (open) return this.#announce(peer)
    // A relayed connection closes as its WebRTC replacement opens: judge after the switch.
    this.#c.scheduler.after(this.#settleMs, () => {
      const live = this.#live.get(peer)
      if (this.#c.network.isConnected(peer) || live?.online !== true) return
      live.online = false
      live.lastSeen = this.#c.now()
      this.#c.changes.contact(peer)
    })
  }

  #announce(peer: string): void {
    // Let a relayed connection finish upgrading to WebRTC before announcing on it.
    this.#c.scheduler.after(this.#settleMs, () => {
      void this.#send(peer, { k: 'presence', online: true, ts: this.#c.now() })
    })
  }

  async #broadcast(online: boolean): Promise<void> {
    const peers = [...this.#c.contacts.all()].map((c) => c.peer)
    await Promise.all(peers.map((peer) => this.#send(peer, { k: 'presence', online, ts: this.#c.now() })))
  }

  /** Encrypts and posts an ephemeral payload over an open connection; nothing when there is none. */
  async #send(peer: string, payload: Payload): Promise<void> {
    if (!this.#c.settings.current.presence) return
    if (!this.#c.network.isConnected(peer) || !(await this.#c.sessions.has(peer))) return
    try {
      const envelope = await this.#c.sessions.encrypt(peer, encodePayload(payload))
      await this.#c.delivery.post(peer, envelope)
    } catch {
      // best effort: the heartbeat repeats presence
    }
  }
}
