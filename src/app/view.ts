/**
 * The view: the snapshot the UI renders, kept up to date incrementally.
 *
 * Components say what changed (a contact, a conversation, the general state) through {@link Changes};
 * the view marks just that dirty and, once per microtask, builds the next snapshot from the previous
 * one: a contact's row is rebuilt only when that contact changed, a conversation's messages are the
 * conversation's own immutable array (never copied), and fingerprints are computed once per contact.
 * Snapshots are immutable values: the UI may keep one as long as it likes.
 */
import { fingerprint, publicKeyFromPeerIdString } from '@paloma/core/protocol/directory.ts'
import type { PeerNetwork } from '@paloma/net/network.ts'
import type { Contacts } from './contacts.ts'
import type { Groups } from './groups.ts'
import type { Conversations } from './conversations.ts'
import type { Presence } from './presence.ts'
import { DEFAULT_SETTINGS } from './records.ts'
import type { SettingsStore } from './settings.ts'
import type { UserError } from './codes.ts'
import type { AppSnapshot, ConnectionState, ContactView, Phase } from './types.ts'

/** What components tell the view. Each call is cheap: it only marks something dirty. */
export interface Changes {
  /** A contact's row changed (record, unread count, presence, connection). */
  contact(peer: string): void
  /** A conversation's messages changed. */
  conversation(peer: string): void
  /** Anything else shown: phase, connection state, settings, the open chat, this person. */
  state(): void
}

/** What the view reads while an account is unlocked. */
export interface ViewSources {
  me: { peerId: string; name: string; fingerprint: string; inviteLink: string }
  contacts: Pick<Contacts, 'all' | 'get'>
  conversations: Pick<Conversations, 'history' | 'unread' | 'lastActivity' | 'active'>
  presence: Pick<Presence, 'live'>
  network: Pick<PeerNetwork, 'isReachable' | 'isDirect'>
  settings: Pick<SettingsStore, 'current'>
  /** Groups: their rows, the open group, invitations. @default none */
  groups?: Pick<Groups, 'views'>
  /** The safety number with the open chat's contact, once computed. */
  safetyNumber(): string | undefined
}

export interface ViewComponents {
  /** Whether the device has a network. @default always */
  isNetworkUp?(): boolean
  /** Whether the browser granted persistent storage (undefined: not asked or not supported). */
  persisted?: boolean
}

type Listener = (s: AppSnapshot) => void

export class View implements Changes {
  readonly #c: ViewComponents
  readonly #listeners = new Set<Listener>()
  readonly #rows = new Map<string, ContactView>()
  readonly #fingerprints = new Map<string, string>()
  readonly #dirtyContacts = new Set<string>()
  #sources: ViewSources | undefined
  #phase: Phase = 'starting'
  #error: UserError | undefined
  #snapshot: AppSnapshot | undefined
  /** The last snapshot built: unchanged parts are taken from it. */
  #previous: AppSnapshot | undefined
  #contactsDirty = true
  #queued = false

  constructor(components: ViewComponents = {}) {
    this.#c = components
  }

  /** An account was unlocked (or locked: `undefined`). */
  attach(sources: ViewSources | undefined): void {
    this.#sources = sources
    this.#rows.clear()
    this.#contactsDirty = true
    this.state()
  }

  setPhase(phase: Phase, error?: UserError): void {
    this.#phase = phase
    this.#error = error
    this.state()
  }

  get phase(): Phase {
    return this.#phase
  }

  contact(peer: string): void {
    this.#dirtyContacts.add(peer)
    this.#contactsDirty = true
    this.#changed()
  }

  conversation(peer: string): void {
    if (this.#sources?.conversations.active === peer) this.#changed()
    // The chat list shows the last activity: its order may change.
    this.contact(peer)
  }

  state(): void {
    this.#changed()
  }

  #changed(): void {
    this.#snapshot = undefined
    if (this.#queued) return
    this.#queued = true
    queueMicrotask(() => {
      this.#queued = false
      if (this.#listeners.size === 0) return
      const s = this.snapshot()
      for (const l of this.#listeners) l(s)
    })
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener)
    listener(this.snapshot())
    return () => this.#listeners.delete(listener)
  }

  snapshot(): AppSnapshot {
    this.#snapshot ??= this.#build()
    return this.#snapshot
  }

  #build(): AppSnapshot {
    const src = this.#sources
    const active = src?.conversations.active
    const snapshot: AppSnapshot = {
      phase: this.#phase,
      ...(this.#error === undefined ? {} : { error: this.#error }),
      ...(this.#c.persisted === false ? { notice: 'not-persistent' as const } : {}),
      ...(src === undefined ? {} : { me: src.me }),
      state: this.#connectionState(),
      contacts: this.#contacts(),
      ...(active === undefined ? {} : { active }),
      messages: active === undefined || src === undefined ? [] : src.conversations.history(active),
      settings: src?.settings.current ?? DEFAULT_SETTINGS,
      ...(src?.safetyNumber() === undefined ? {} : { safetyNumber: src.safetyNumber() }),
      ...this.#groups(active),
    }
    this.#previous = snapshot
    return snapshot
  }

  #groups(active: string | undefined): Pick<AppSnapshot, 'groups' | 'group' | 'groupInvitations'> {
    const views = this.#sources?.groups?.views(active)
    if (views === undefined) return {}
    return {
      groups: views.list,
      groupInvitations: views.invitations,
      ...(views.chat === undefined ? {} : { group: views.chat }),
    }
  }

  #connectionState(): ConnectionState {
    if (this.#sources?.network.isReachable() === true) return 'online'
    return this.#c.isNetworkUp?.() === false ? 'offline' : 'connecting'
  }

  #contacts(): readonly ContactView[] {
    const src = this.#sources
    if (src === undefined) return []
    if (!this.#contactsDirty && this.#previous !== undefined) return this.#previous.contacts
    for (const peer of this.#dirtyContacts) this.#rows.delete(peer)
    this.#dirtyContacts.clear()
    this.#contactsDirty = false
    const rows: Array<{ row: ContactView; last: number }> = []
    for (const c of src.contacts.all()) {
      let row = this.#rows.get(c.peer)
      if (row === undefined) {
        const live = src.presence.live(c.peer)
        row = {
          peerId: c.peer,
          name: c.name,
          fingerprint: this.#fingerprint(c.peer),
          unread: src.conversations.unread(c.peer),
          online: live.online,
          ...(live.lastSeen === undefined ? {} : { lastSeen: live.lastSeen }),
          typing: live.typing,
          keyChanged: c.keyChanged,
          direct: src.network.isDirect(c.peer),
        }
        this.#rows.set(c.peer, row)
      }
      rows.push({ row, last: src.conversations.lastActivity(c.peer) ?? c.added })
    }
    rows.sort((a, b) => b.last - a.last || a.row.name.localeCompare(b.row.name))
    return rows.map((r) => r.row)
  }

  #fingerprint(peer: string): string {
    let fp = this.#fingerprints.get(peer)
    if (fp === undefined) this.#fingerprints.set(peer, (fp = fingerprint(publicKeyFromPeerIdString(peer))))
    return fp
  }
}
