/**
 * The shapes the UI sees: snapshots of the app's state and the actions it can ask for. The UI renders
 * snapshots and calls actions; it never reaches the network or storage itself.
 */
import type { ChatMessage, Direction, MessageStatus } from '@paloma/core/messages.ts'
import type { UserError, RelayRefusalCode } from './codes.ts'

export type { ChatMessage, Direction, MessageStatus }

export type Phase = 'starting' | 'create' | 'unlock' | 'other-tab' | 'ready' | 'failed'
export type ConnectionState = 'online' | 'connecting' | 'offline'

export interface ContactView {
  peerId: string
  name: string
  /** Short identity fingerprint, to tell apart people with the same name. */
  fingerprint: string
  unread: number
  online: boolean
  /** Last time anything was heard from them (ms), if presence is shared. */
  lastSeen?: number
  typing: boolean
  /** Their identity key differs from the one pinned when they were added. */
  keyChanged: boolean
  /** A direct WebRTC connection to them is open (always false while presence is off). */
  direct: boolean
  /** The last message with them, for the chat list. */
  last?: { text: string; ts: number; direction: Direction; status: MessageStatus }
  /** This person compared the safety number with them and marked it verified. */
  verified: boolean
  /**
   * A key other than the one verified under this name (a reinstall, or an impostor): the chat is held
   * behind a warning, its messages hidden and nothing sent, until the safety number is verified again.
   */
  held: boolean
}

/** Someone who is not a contact wrote first: their messages wait here until Accept, Block or Delete. */
export interface RequestView {
  peerId: string
  /** Their directory name, or the end of their PeerId. */
  name: string
  fingerprint: string
  /** Their messages, oldest first: shown as text, never acted on (no receipts, nothing sent). */
  messages: readonly ChatMessage[]
  /** When their first message arrived. */
  received: number
  /** A contact already has this name (it may be an impostor). */
  nameTaken: boolean
}

/** An invite link the app was opened with, waiting for one confirmation. */
export type PendingInvite =
  { peerId: string; name: string; fingerprint: string; known: boolean; own: boolean } | { error: UserError }

export interface Claimant {
  peerId: string
  name: string
  fingerprint: string
}

export interface Settings {
  readReceipts: boolean
  /** Presence, typing, last seen and the direct-connection label; off hides them both ways. */
  presence: boolean
  /** System notifications for messages that arrive while their chat is not on screen. */
  notifications: boolean
  /** Notifications show the message text (otherwise only who wrote). */
  notificationText: boolean
  /** Lock after this many minutes without activity (0: never). */
  autoLockMinutes: number
}

export const DEFAULT_SETTINGS: Settings = {
  readReceipts: true,
  presence: true,
  notifications: true,
  notificationText: false,
  autoLockMinutes: 0,
}

/** Why sending may not work, in a form the UI words. */
export type DiagnosticCode = RelayRefusalCode | 'RELAY_LOST' | 'NO_NETWORK' | 'NO_RELAY'

/** What a person needs when "it does not send" (the Connection details dialog). */
export interface ConnectionDetails {
  state: ConnectionState
  relays: ReadonlyArray<{
    addr: string
    peerId: string
    /** From config.json (else learned from a contact). */
    configured: boolean
    connected: boolean
    /** A reservation is held there: others reach this person through it. */
    reserved: boolean
    /** This person's mailbox subscription there is open. */
    mailbox: boolean
    /** Round trip, when the network measures it. */
    rttMs?: number
  }>
  /** Per contact: how messages go now and what waits (the route is hidden while presence is off). */
  chats: ReadonlyArray<{ peerId: string; name: string; route?: 'direct' | 'relays'; pending: number }>
  outbox: { pending: number; nextRetry?: number }
  lastError?: { code: DiagnosticCode; at: number; relay?: string }
}

/** A group in the chat list. */
export interface GroupView {
  /** Group id (hex); `openChat` takes it. */
  id: string
  name: string
  unread: number
  /** Current member count (this person included while a member). */
  members: number
  /** `member`, or read-only history once this person `left` or was `removed`. */
  status: 'member' | 'left' | 'removed'
}

/** Someone in the open group, as the member list shows them. */
export interface GroupMemberView {
  peerId: string
  /** A contact's name; for anyone else their directory username (never merged with a contact's). */
  name: string
  fingerprint: string
  role: 'creator' | 'admin' | 'member'
  me: boolean
  /**
   * `self`: this person; `contact`: one of this person's contacts (key pinned); `key-changed`: a contact
   * whose key changed; `not-contact`: known only through the group (username and fingerprint as the
   * directory gives them).
   */
  verification: 'self' | 'contact' | 'key-changed' | 'not-contact'
  /** This person may remove them (creator: anyone; admin: plain members). */
  canRemove: boolean
}

/** A message in a group conversation. */
export interface GroupMessageView extends ChatMessage {
  /** The sender's PeerId. */
  sender: string
  senderName: string
  /** Outgoing: members it was sent to, how many stored it, how many read it. */
  recipients: number
  deliveredTo: number
  readBy: number
}

/** The open group conversation. */
export interface GroupChatView {
  id: string
  name: string
  status: GroupView['status']
  /** This person's role, or null once no longer a member. */
  role: GroupMemberView['role'] | null
  /** May add and remove members (creator or admin, still a member). */
  canManage: boolean
  members: readonly GroupMemberView[]
  /** Oldest first (immutable: replaced, never changed). */
  messages: readonly GroupMessageView[]
  /** Names of the members typing now. */
  typing: readonly string[]
}

/** An invitation to a group from someone who is not a contact: joined only if accepted. */
export interface GroupInvitationView {
  id: string
  name: string
  from: Claimant
  members: number
}

export interface AppSnapshot {
  phase: Phase
  /** Why the app could not start (phase `failed`), as a code the UI words; absent when it has none. */
  error?: UserError
  /** Something the person should know that is not an error: the browser may evict the data. */
  notice?: 'not-persistent'
  me?: { peerId: string; name: string; fingerprint: string; inviteLink?: string }
  state: ConnectionState
  contacts: readonly ContactView[]
  active?: string
  /** The open conversation, oldest first (an immutable array: replaced, never changed). */
  messages: readonly ChatMessage[]
  settings: Settings
  /** Safety number with the active contact (60 digits). */
  safetyNumber?: string
  /** First messages from people who are not contacts, newest first. */
  requests: readonly RequestView[]
  /** PeerIds whose envelopes are dropped unread. */
  blocked: readonly string[]
  /** The invite link Paloma was opened with, until added or dismissed. */
  invite?: PendingInvite
  /** Groups in the chat list (most recent activity first). */
  groups?: readonly GroupView[]
  /** The open group conversation (`active` is its id). */
  group?: GroupChatView
  /** Invitations to groups from people who are not contacts. */
  groupInvitations?: readonly GroupInvitationView[]
}

export interface AppActions {
  createAccount(name: string, passphrase: string): Promise<void>
  unlock(passphrase: string): Promise<void>
  importBackup(file: Uint8Array, backupPassphrase: string, newPassphrase: string): Promise<void>
  lock(): Promise<void>
  /** An invite link adds the contact at once; a username returns every claimant to choose from. */
  addContact(text: string): Promise<Claimant[] | undefined>
  chooseClaimant(claimant: Claimant): Promise<void>
  openChat(peerId: string): Promise<void>
  /** No chat on screen (a phone's list view): nothing is marked read. */
  closeChat(): void
  send(text: string): Promise<void>
  setTyping(on: boolean): void
  updateSettings(s: Partial<Settings>): Promise<void>
  exportBackup(passphrase: string, includeHistory: boolean): Promise<Uint8Array>
  changePassphrase(oldPassphrase: string, newPassphrase: string): Promise<void>
  deleteAccount(): Promise<void>
  acceptKeyChange(peerId: string): Promise<void>
  /** Makes a request's sender a contact: receipts go now, and the chat opens. */
  acceptRequest(peerId: string): Promise<void>
  /** Drops the request and its messages; whatever they send later is dropped unread. */
  blockRequest(peerId: string): Promise<void>
  /** Drops the request and its messages; a later message makes a new request. */
  deleteRequest(peerId: string): Promise<void>
  unblock(peerId: string): Promise<void>
  /** Stores that the safety number with `peerId` was compared (or no longer is). */
  markVerified(peerId: string, verified: boolean): Promise<void>
  /** Adds the contact of the pending invite and opens the chat. */
  acceptInvite(): Promise<void>
  dismissInvite(): void
  /** Sends what waits in the outbox now instead of at the next retry. */
  retrySending(): void
  /** The state of every relay, route and queue, read now (poll it while shown). */
  connectionDetails(): ConnectionDetails | undefined
  /** Creates a group with these contacts (PeerIds) and opens it. @returns the group id */
  createGroup(name: string, members: readonly string[]): Promise<string>
  addMembers(groupId: string, members: readonly string[]): Promise<void>
  removeMember(groupId: string, peerId: string): Promise<void>
  leaveGroup(groupId: string): Promise<void>
  acceptGroupInvitation(groupId: string): Promise<void>
  declineGroupInvitation(groupId: string): Promise<void>
}
