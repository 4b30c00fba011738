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
import type { Requests } from './requests.ts'
import type { UserError } from './codes.ts'
import {
  DEFAULT_SETTINGS,
  type AppSnapshot,
  type ConnectionState,
  type ContactView,
  type PendingInvite,
  type Phase,
  type RequestView,
  type Settings,
} from './types.ts'

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
  /** This person, with the invite link as it is now (it carries the current prekey bundle once there is one). */
  me(): { peerId: string; name: string; fingerprint: string; inviteLink: string }
  contacts: Pick<Contacts, 'all' | 'get'>
  conversations: Pick<Conversations, 'history' | 'unread' | 'lastActivity' | 'active'>
  presence: Pick<Presence, 'live'>
  network: Pick<PeerNetwork, 'isReachable' | 'isDirect'>
  /** The settings (those added later than read receipts and presence default when absent). */
  settings: { readonly current: Readonly<Pick<Settings, 'readReceipts' | 'presence'> & Partial<Settings>> }
  /** Groups: their rows, the open group, invitations. @default none */
  groups?: Pick<Groups, 'views'>
  /** The safety number with the open chat's contact, once computed. */
  safetyNumber(): string | undefined
  /** Message requests and the blocked list. @default none */
  requests?: Pick<Requests, 'all' | 'blocked'>
}

/** An invite the app was opened with, as parsed (the view adds whether it is known or this person's). */
export type InviteSource = { peerId: string; name: string } | { error: UserError }

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
  #invite: InviteSource | undefined
  #settingsSeen: object | undefined
  #settings: Settings = DEFAULT_SETTINGS

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

  /** The invite link the app was opened with (undefined: none, or it was handled). */
  setInvite(invite: InviteSource | undefined): void {
    this.#invite = invite
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
    this.#readSettings()
    const invite = this.#pendingInvite()
    const snapshot: AppSnapshot = {
      phase: this.#phase,
      ...(this.#error === undefined ? {} : { error: this.#error }),
      ...(this.#c.persisted === false ? { notice: 'not-persistent' as const } : {}),
      ...(src === undefined ? {} : { me: src.me() }),
      state: this.#connectionState(),
      contacts: this.#contacts(),
      ...(active === undefined ? {} : { active }),
      // A held chat's messages stay out of the snapshot until its key is verified.
      messages:
        active === undefined || src === undefined || src.contacts.get(active)?.held === true
          ? []
          : src.conversations.history(active),
      settings: this.#settings,
      ...(src?.safetyNumber() === undefined ? {} : { safetyNumber: src.safetyNumber() }),
      requests: this.#requests(),
      blocked: this.#blocked(),
      ...(invite === undefined ? {} : { invite }),
      ...this.#groups(active),
    }
    this.#previous = snapshot
    return snapshot
  }

  /** Settings with defaults filled; a change of presence rebuilds every row (it hides what they show). */
  #readSettings(): void {
    const current = this.#sources?.settings.current
    if (current === this.#settingsSeen) return
    this.#settingsSeen = current
    const next = { ...DEFAULT_SETTINGS, ...current }
    if (next.presence !== this.#settings.presence) {
      this.#rows.clear()
      this.#contactsDirty = true
    }
    this.#settings = next
  }

  #pendingInvite(): PendingInvite | undefined {
    const invite = this.#invite
    if (invite === undefined || 'error' in invite) return invite
    return {
      peerId: invite.peerId,
      name: invite.name,
      fingerprint: this.#fingerprint(invite.peerId),
      known: this.#sources?.contacts.get(invite.peerId) !== undefined,
      own: this.#sources?.me().peerId === invite.peerId,
    }
  }

  #requests(): readonly RequestView[] {
    const src = this.#sources
    const previous = this.#previous?.requests ?? []
    if (src?.requests === undefined) return previous.length === 0 ? previous : []
    const names = new Set([...src.contacts.all()].map((c) => c.name.toLowerCase()))
    const rows: RequestView[] = []
    for (const r of src.requests.all()) {
      const messages = src.conversations.history(r.peer)
      if (messages.length === 0) continue // made for a session reset: shown once something is readable
      const old = previous.find((p) => p.peerId === r.peer)
      const nameTaken = names.has(r.name.toLowerCase())
      rows.push(
        old !== undefined && old.messages === messages && old.name === r.name && old.nameTaken === nameTaken
          ? old
          : {
              peerId: r.peer,
              name: r.name,
              fingerprint: this.#fingerprint(r.peer),
              messages,
              received: r.received,
              nameTaken,
            },
      )
    }
    rows.sort((a, b) => b.received - a.received)
    const same = rows.length === previous.length && rows.every((r, i) => r === previous[i])
    return same ? previous : rows
  }

  #blocked(): readonly string[] {
    const previous = this.#previous?.blocked ?? []
    const now = this.#sources?.requests?.blocked() ?? []
    return now.length === previous.length && now.every((p, i) => p === previous[i]) ? previous : now
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

  /** The device says it has no network: offline, even while a connection has not noticed yet. */
  #connectionState(): ConnectionState {
    if (this.#c.isNetworkUp?.() === false) return 'offline'
    return this.#sources?.network.isReachable() === true ? 'online' : 'connecting'
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
        // Presence off hides it both ways: no online dot, typing, last seen, or direct-connection label.
        const shared = this.#settings.presence
        const live = shared ? src.presence.live(c.peer) : { online: false, typing: false }
        const last = c.held === true ? undefined : src.conversations.history(c.peer).at(-1)
        row = {
          peerId: c.peer,
          name: c.name,
          fingerprint: this.#fingerprint(c.peer),
          unread: src.conversations.unread(c.peer),
          online: live.online,
          ...(live.lastSeen === undefined ? {} : { lastSeen: live.lastSeen }),
          typing: live.typing,
          keyChanged: c.keyChanged,
          direct: shared && src.network.isDirect(c.peer),
          ...(last === undefined
            ? {}
            : { last: { text: last.text, ts: last.ts, direction: last.direction, status: last.status } }),
          verified: c.verified === true,
          held: c.held === true,
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
