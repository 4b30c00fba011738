/**
 * The vault records of groups: their names, shapes and versions, decoded strictly field by field (the
 * group part of the schema whose table is in records.ts). A damaged record, or one written by a newer
 * Paloma, is an `AppError('BAD_RECORD')` naming it.
 *
 * | name                                   | record                                                  | backup     |
 * | -------------------------------------- | ------------------------------------------------------- | ---------- |
 * | `identity/group/<gid>`                 | GroupRecord: log, group secret, status, members' names   | always     |
 * | `history/group/<gid>/<sender>/<id>`    | GroupMessageRecord                                      | on request |
 * | `group/key/<gid>`                      | own sender key (chain key, signing key)                 | never      |
 * | `group/peers/<gid>`                    | receiver state: every other member's chain              | never      |
 * | `group/fanout/<gid>/<id>`              | a sent message whose copies may still be due            | never      |
 * | `group/held/<gid>/<key>`               | a message, key or change that cannot be used yet        | never      |
 * | `group/invite/<gid>`                   | an invitation waiting for an answer                      | never      |
 * | `group/welcome/<gid>/<from>`           | the parts of a welcome received so far                  | never      |
 * | `group/inbox/<seq>`                    | a group payload stored with its 1:1 ratchet step        | never      |
 *
 * `<gid>` is the group id in hex. Sender keys follow the rule of 1:1 ratchet sessions: never in a backup
 * (a restored chain would encrypt again under message keys already used: docs/protocol.md).
 */
import {
  decodeStrictMap,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectInteger,
  expectKeys,
  expectString,
  isCborMap,
  type CborFail,
  type CborMap,
} from '@paloma/core/cbor.ts'
import { MESSAGE_STATUSES, type MessageStatus } from '@paloma/core/messages.ts'
import { AppError } from './errors.ts'
import {
  GROUP_HISTORY_PREFIX,
  GROUP_RECORD_PREFIX,
  GROUP_STATE_PREFIX,
  SCHEMA_VERSION,
  type RecordEntry,
} from './records.ts'

/** `member`: in the group. `left`: this person left. `removed`: an admin removed this person. */
export type GroupStatus = 'member' | 'left' | 'removed'
export const GROUP_STATUSES: readonly GroupStatus[] = ['member', 'left', 'removed']

/** What this device knows of someone named in a group's log (who may not be a contact). */
export interface GroupPerson {
  peer: string
  /** Their username from the directory (or a contact's name); their short id until it is known. */
  name: string
  /** Their relay circuit addresses (where their mail is left). */
  relays: string[]
}

export interface GroupRecord {
  /** Group id, hex. */
  id: string
  /** The membership log (`encodeGroupLog`). */
  log: Uint8Array
  /** The group secret (names the topic; travels in welcomes). */
  secret: Uint8Array
  status: GroupStatus
  people: GroupPerson[]
  joined: number
}

export interface GroupMessageRecord {
  group: string
  id: string
  /** The sender's PeerId (this person's own for outgoing messages). */
  sender: string
  direction: 'in' | 'out'
  text: string
  ts: number
  /** Outgoing: pending, sent, delivered (to all), read (by all). Incoming: delivered, or read once seen. */
  status: MessageStatus
  /** Outgoing: the members it was sent to. */
  to: string[]
  /** Outgoing: those who stored it. */
  delivered: string[]
  /** Outgoing: those who read it. */
  read: string[]
}

/** A message this device sent whose copies to members not reached live may still have to be sent. */
export interface FanoutRecord {
  group: string
  id: string
  /** The group message, as published. */
  message: Uint8Array
  /** Members without a copy and without an acknowledgement. */
  pending: string[]
  /** When copies go to those still pending (ms). */
  due: number
}

export type HeldKind = 'message' | 'key' | 'change'
/** Something from a member that cannot be used yet (its sender key or change has not arrived). */
export interface HeldRecord {
  group: string
  key: string
  kind: HeldKind
  from: string
  bytes: Uint8Array
  at: number
}

/** An invitation (a whole welcome) from someone who is not a contact, until accepted or declined. */
export interface InvitationRecord {
  group: string
  from: string
  parts: Uint8Array[]
  at: number
}

/** The parts of a welcome received so far, from one sender. */
export interface WelcomePartsRecord {
  group: string
  from: string
  parts: Uint8Array[]
}

/** A group payload committed with the ratchet step that decrypted it, until it is applied. */
export interface KeptRecord {
  seq: string
  from: string
  via: 'direct' | 'mailbox'
  payload: Uint8Array
}

/** Every group record of a vault, decoded. */
export interface GroupsLoaded {
  groups: GroupRecord[]
  messages: GroupMessageRecord[]
  ownKeys: Map<string, Uint8Array>
  receivers: Map<string, Uint8Array>
  fanouts: FanoutRecord[]
  held: HeldRecord[]
  invitations: InvitationRecord[]
  welcomes: WelcomePartsRecord[]
  kept: KeptRecord[]
}

export const groupNames = {
  group: (gid: string) => `${GROUP_RECORD_PREFIX}${gid}`,
  message: (gid: string, sender: string, id: string) => `${GROUP_HISTORY_PREFIX}${gid}/${sender}/${id}`,
  ownKey: (gid: string) => `${GROUP_STATE_PREFIX}key/${gid}`,
  receiver: (gid: string) => `${GROUP_STATE_PREFIX}peers/${gid}`,
  fanout: (gid: string, id: string) => `${GROUP_STATE_PREFIX}fanout/${gid}/${id}`,
  held: (gid: string, key: string) => `${GROUP_STATE_PREFIX}held/${gid}/${key}`,
  invitation: (gid: string) => `${GROUP_STATE_PREFIX}invite/${gid}`,
  welcome: (gid: string, from: string) => `${GROUP_STATE_PREFIX}welcome/${gid}/${from}`,
  kept: (seq: string) => `${GROUP_STATE_PREFIX}inbox/${seq}`,
}

// ------------------------------------------------------------------------------------------ encoding

const encodeRecord = (fields: object): Uint8Array => encodeCanonical({ v: SCHEMA_VERSION, ...fields })

/** The vault entries of each record (only the record's own fields are written). */
export const groupEntry = {
  group: (g: GroupRecord): RecordEntry => [
    groupNames.group(g.id),
    encodeRecord({
      id: g.id,
      log: g.log,
      secret: g.secret,
      status: g.status,
      people: g.people.map((p) => ({ peer: p.peer, name: p.name, relays: p.relays })),
      joined: g.joined,
    }),
  ],
  message: (m: GroupMessageRecord): RecordEntry => [
    groupNames.message(m.group, m.sender, m.id),
    encodeRecord({
      group: m.group,
      id: m.id,
      sender: m.sender,
      direction: m.direction,
      text: m.text,
      ts: m.ts,
      status: m.status,
      to: m.to,
      delivered: m.delivered,
      read: m.read,
    }),
  ],
  ownKey: (gid: string, state: Uint8Array): RecordEntry => [groupNames.ownKey(gid), encodeRecord({ state })],
  receiver: (gid: string, state: Uint8Array): RecordEntry => [
    groupNames.receiver(gid),
    encodeRecord({ state }),
  ],
  fanout: (f: FanoutRecord): RecordEntry => [
    groupNames.fanout(f.group, f.id),
    encodeRecord({ group: f.group, id: f.id, message: f.message, pending: f.pending, due: f.due }),
  ],
  held: (h: HeldRecord): RecordEntry => [
    groupNames.held(h.group, h.key),
    encodeRecord({ group: h.group, key: h.key, kind: h.kind, from: h.from, bytes: h.bytes, at: h.at }),
  ],
  invitation: (i: InvitationRecord): RecordEntry => [
    groupNames.invitation(i.group),
    encodeRecord({ group: i.group, from: i.from, parts: i.parts, at: i.at }),
  ],
  welcome: (w: WelcomePartsRecord): RecordEntry => [
    groupNames.welcome(w.group, w.from),
    encodeRecord({ group: w.group, from: w.from, parts: w.parts }),
  ],
  kept: (k: KeptRecord): RecordEntry => [
    groupNames.kept(k.seq),
    encodeRecord({ seq: k.seq, from: k.from, via: k.via, payload: k.payload }),
  ],
}

// ------------------------------------------------------------------------------------------ decoding

function reader(name: string, bytes: Uint8Array, fields: readonly string[]) {
  const fail: CborFail = (message, failure) => {
    throw new AppError('BAD_RECORD', `vault record ${name}: ${message}`, { cause: failure?.cause })
  }
  const m = decodeStrictMap(bytes, fail, 'record')
  if (typeof m.v !== 'number' || !Number.isSafeInteger(m.v) || m.v < 1) fail('bad version')
  if (m.v > SCHEMA_VERSION) fail(`written by a newer version of Paloma (v${m.v})`)
  expectKeys(m, 'record', fail, ['v', ...fields])
  const str = (v: unknown, f: string, max = 1024) => expectString(v, f, fail, { min: 0, max })
  const strs = (v: unknown, f: string) => expectArray(v, f, fail, { max: 4096 }).map((x) => str(x, f))
  const blobs = (v: unknown, f: string) =>
    expectArray(v, f, fail, { max: 4096 }).map((x) => expectBytes(x, f, fail))
  return {
    m,
    fail,
    str,
    strs,
    blobs,
    bytes: (v: unknown, f: string) => expectBytes(v, f, fail),
    int: (v: unknown, f: string) => expectInteger(v, f, fail),
    oneOf: <T extends string>(v: unknown, f: string, values: readonly T[]): T =>
      values.find((x) => x === v) ?? fail(`${f}: unexpected value`),
  }
}

export function decodeGroupRecord(name: string, b: Uint8Array): GroupRecord {
  const r = reader(name, b, ['id', 'log', 'secret', 'status', 'people', 'joined'])
  const people = expectArray(r.m.people, 'people', r.fail, { max: 65536 }).map((p) => {
    if (!isCborMap(p)) r.fail('people: expected maps')
    const person = p as CborMap
    expectKeys(person, 'people', r.fail, ['peer', 'name', 'relays'])
    return {
      peer: r.str(person.peer, 'people.peer'),
      name: r.str(person.name, 'people.name'),
      relays: r.strs(person.relays, 'people.relays'),
    }
  })
  return {
    id: r.str(r.m.id, 'id'),
    log: r.bytes(r.m.log, 'log'),
    secret: r.bytes(r.m.secret, 'secret'),
    status: r.oneOf(r.m.status, 'status', GROUP_STATUSES),
    people,
    joined: r.int(r.m.joined, 'joined'),
  }
}

export function decodeGroupMessageRecord(name: string, b: Uint8Array): GroupMessageRecord {
  const r = reader(name, b, [
    'group',
    'id',
    'sender',
    'direction',
    'text',
    'ts',
    'status',
    'to',
    'delivered',
    'read',
  ])
  return {
    group: r.str(r.m.group, 'group'),
    id: r.str(r.m.id, 'id'),
    sender: r.str(r.m.sender, 'sender'),
    direction: r.oneOf(r.m.direction, 'direction', ['in', 'out'] as const),
    text: r.str(r.m.text, 'text', 1 << 20),
    ts: r.int(r.m.ts, 'ts'),
    status: r.oneOf(r.m.status, 'status', MESSAGE_STATUSES),
    to: r.strs(r.m.to, 'to'),
    delivered: r.strs(r.m.delivered, 'delivered'),
    read: r.strs(r.m.read, 'read'),
  }
}

function decodeState(name: string, b: Uint8Array): Uint8Array {
  const r = reader(name, b, ['state'])
  return r.bytes(r.m.state, 'state')
}

export function decodeFanoutRecord(name: string, b: Uint8Array): FanoutRecord {
  const r = reader(name, b, ['group', 'id', 'message', 'pending', 'due'])
  return {
    group: r.str(r.m.group, 'group'),
    id: r.str(r.m.id, 'id'),
    message: r.bytes(r.m.message, 'message'),
    pending: r.strs(r.m.pending, 'pending'),
    due: r.int(r.m.due, 'due'),
  }
}

export function decodeHeldRecord(name: string, b: Uint8Array): HeldRecord {
  const r = reader(name, b, ['group', 'key', 'kind', 'from', 'bytes', 'at'])
  return {
    group: r.str(r.m.group, 'group'),
    key: r.str(r.m.key, 'key'),
    kind: r.oneOf(r.m.kind, 'kind', ['message', 'key', 'change'] as const),
    from: r.str(r.m.from, 'from'),
    bytes: r.bytes(r.m.bytes, 'bytes'),
    at: r.int(r.m.at, 'at'),
  }
}

export function decodeInvitationRecord(name: string, b: Uint8Array): InvitationRecord {
  const r = reader(name, b, ['group', 'from', 'parts', 'at'])
  return {
    group: r.str(r.m.group, 'group'),
    from: r.str(r.m.from, 'from'),
    parts: r.blobs(r.m.parts, 'parts'),
    at: r.int(r.m.at, 'at'),
  }
}

export function decodeWelcomePartsRecord(name: string, b: Uint8Array): WelcomePartsRecord {
  const r = reader(name, b, ['group', 'from', 'parts'])
  return {
    group: r.str(r.m.group, 'group'),
    from: r.str(r.m.from, 'from'),
    parts: r.blobs(r.m.parts, 'parts'),
  }
}

export function decodeKeptRecord(name: string, b: Uint8Array): KeptRecord {
  const r = reader(name, b, ['seq', 'from', 'via', 'payload'])
  return {
    seq: r.str(r.m.seq, 'seq'),
    from: r.str(r.m.from, 'from'),
    via: r.oneOf(r.m.via, 'via', ['direct', 'mailbox'] as const),
    payload: r.bytes(r.m.payload, 'payload'),
  }
}

/** Sorts the group records of one vault pass (records.ts's `load()`) into their kinds, decoding each. */
export function decodeGroupEntries(entries: readonly RecordEntry[]): GroupsLoaded {
  const out: GroupsLoaded = {
    groups: [],
    messages: [],
    ownKeys: new Map(),
    receivers: new Map(),
    fanouts: [],
    held: [],
    invitations: [],
    welcomes: [],
    kept: [],
  }
  const state = (kind: string) => `${GROUP_STATE_PREFIX}${kind}/`
  for (const [name, b] of entries) {
    const tail = (prefix: string) => name.slice(prefix.length)
    if (name.startsWith(GROUP_RECORD_PREFIX)) out.groups.push(decodeGroupRecord(name, b))
    else if (name.startsWith(GROUP_HISTORY_PREFIX)) out.messages.push(decodeGroupMessageRecord(name, b))
    else if (name.startsWith(state('key'))) out.ownKeys.set(tail(state('key')), decodeState(name, b))
    else if (name.startsWith(state('peers'))) out.receivers.set(tail(state('peers')), decodeState(name, b))
    else if (name.startsWith(state('fanout'))) out.fanouts.push(decodeFanoutRecord(name, b))
    else if (name.startsWith(state('held'))) out.held.push(decodeHeldRecord(name, b))
    else if (name.startsWith(state('invite'))) out.invitations.push(decodeInvitationRecord(name, b))
    else if (name.startsWith(state('welcome'))) out.welcomes.push(decodeWelcomePartsRecord(name, b))
    else if (name.startsWith(state('inbox'))) out.kept.push(decodeKeptRecord(name, b))
  }
  out.kept.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0))
  return out
}
