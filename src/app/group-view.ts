/**
 * What the UI sees of groups: the chat-list rows, the open group conversation (members with their
 * fingerprints and roles, messages with their sender and per-message "delivered to n of m" / "read by n
 * of m"), and the invitations waiting for an answer. Built from the groups component's state on demand;
 * message views are cached per (immutable) record.
 */
import { fingerprint } from '@paloma/core/protocol/directory.ts'
import { groupState, memberList, roleOf, type GroupLog, type Identity } from '@paloma/core/group/index.ts'
import type { GroupMessageRecord } from './group-records.ts'
import type { Group } from './group-state.ts'
import type { ContactRecord } from './records.ts'
import type {
  GroupChatView,
  GroupInvitationView,
  GroupMemberView,
  GroupMessageView,
  GroupView,
} from './types.ts'

export interface GroupViews {
  list: readonly GroupView[]
  chat: GroupChatView | undefined
  invitations: readonly GroupInvitationView[]
}

export interface GroupViewSources {
  groups: Iterable<Group>
  invitations: Iterable<{ group: string; from: string; log: GroupLog }>
  active: string | undefined
  me: string
  myName: string
  now: number
  name(peer: string): string
  contact(peer: string): ContactRecord | undefined
  peerOf(id: Identity): string
}

const messageViews = new WeakMap<GroupMessageRecord, GroupMessageView>()

export function buildGroupViews(src: GroupViewSources): GroupViews {
  const rows: Array<{ row: GroupView; last: number }> = []
  let chat: GroupChatView | undefined
  for (const g of src.groups) {
    const state = groupState(g.log)
    const row: GroupView = {
      id: g.id,
      name: state.name,
      unread: g.history.filter((m) => m.direction === 'in' && m.status !== 'read').length,
      members: state.members.length,
      status: g.status,
    }
    rows.push({ row, last: g.history.at(-1)?.ts ?? g.joined })
    if (g.id === src.active) chat = chatView(g, row, src)
  }
  rows.sort((a, b) => b.last - a.last || a.row.name.localeCompare(b.row.name))
  const invitations = [...src.invitations].map((inv): GroupInvitationView => ({
    id: inv.group,
    name: groupState(inv.log).name,
    from: { peerId: inv.from, name: src.name(inv.from), fingerprint: fingerprintOf(inv.from, src) },
    members: memberList(inv.log).length,
  }))
  return { list: rows.map((r) => r.row), chat, invitations }
}

function fingerprintOf(peer: string, src: GroupViewSources): string {
  for (const g of src.groups)
    for (const m of memberList(g.log)) if (src.peerOf(m) === peer) return fingerprint(m)
  for (const inv of src.invitations)
    for (const m of memberList(inv.log)) if (src.peerOf(m) === peer) return fingerprint(m)
  return ''
}

function chatView(g: Group, row: GroupView, src: GroupViewSources): GroupChatView {
  const member = g.status === 'member'
  const myRole = member ? roleOf(g.log, g.own?.owner ?? myIdentity(g, src)) : null
  const members = memberList(g.log).map((id): GroupMemberView => {
    const peer = src.peerOf(id)
    const me = peer === src.me
    const role = roleOf(g.log, id) ?? 'member'
    const contact = src.contact(peer)
    return {
      peerId: peer,
      name: me ? src.myName : src.name(peer),
      fingerprint: fingerprint(id),
      role,
      me,
      verification: me
        ? 'self'
        : contact === undefined
          ? 'not-contact'
          : contact.keyChanged
            ? 'key-changed'
            : 'contact',
      canRemove: !me && (myRole === 'creator' || (myRole === 'admin' && role === 'member')),
    }
  })
  members.sort((a, b) => Number(b.me) - Number(a.me) || a.name.localeCompare(b.name))
  const typing = [...g.typing]
    .filter(([, until]) => until > src.now)
    .map(([peer]) => src.name(peer))
    .sort()
  return {
    id: g.id,
    name: row.name,
    status: g.status,
    role: myRole,
    canManage: myRole === 'creator' || myRole === 'admin',
    members,
    messages: g.history.map((m) => messageView(m, src)),
    typing,
  }
}

function myIdentity(g: Group, src: GroupViewSources): Identity {
  return memberList(g.log).find((m) => src.peerOf(m) === src.me) ?? new Uint8Array(32)
}

function messageView(m: GroupMessageRecord, src: GroupViewSources): GroupMessageView {
  const senderName = m.direction === 'out' ? src.myName : src.name(m.sender)
  const cached = messageViews.get(m)
  if (cached !== undefined && cached.senderName === senderName) return cached
  const view: GroupMessageView = {
    id: m.id,
    peer: m.group,
    direction: m.direction,
    text: m.text,
    ts: m.ts,
    status: m.status,
    sender: m.sender,
    senderName,
    recipients: m.to.length,
    deliveredTo: m.delivered.length,
    readBy: m.read.length,
  }
  messageViews.set(m, view)
  return view
}
