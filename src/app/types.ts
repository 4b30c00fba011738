/**
 * The shapes the UI sees: snapshots of the app's state and the actions it can ask for. The UI renders
 * snapshots and calls actions; it never reaches the network or storage itself.
 */
import type { ChatMessage } from '@paloma/core/messages.ts'
import type { UserError } from './codes.ts'

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
  /** A direct WebRTC connection to them is open. */
  direct: boolean
}

export interface Claimant {
  peerId: string
  name: string
  fingerprint: string
}

export interface Settings {
  readReceipts: boolean
  presence: boolean
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
  send(text: string): Promise<void>
  setTyping(on: boolean): void
  updateSettings(s: Partial<Settings>): Promise<void>
  exportBackup(passphrase: string, includeHistory: boolean): Promise<Uint8Array>
  changePassphrase(oldPassphrase: string, newPassphrase: string): Promise<void>
  deleteAccount(): Promise<void>
  acceptKeyChange(peerId: string): Promise<void>
  /** Creates a group with these contacts (PeerIds) and opens it. @returns the group id */
  createGroup(name: string, members: readonly string[]): Promise<string>
  addMembers(groupId: string, members: readonly string[]): Promise<void>
  removeMember(groupId: string, peerId: string): Promise<void>
  leaveGroup(groupId: string): Promise<void>
  acceptGroupInvitation(groupId: string): Promise<void>
  declineGroupInvitation(groupId: string): Promise<void>
}
