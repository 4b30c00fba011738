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
}
