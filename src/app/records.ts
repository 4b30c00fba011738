/**
 * The schema of everything the app keeps in the vault: record names, their shapes, their versions and
 * the migrations between versions, in one place. Every record is decoded with the strict CBOR rules and
 * checked field by field: a damaged record or one written by a newer Paloma is an `AppError('BAD_RECORD')`
 * naming the record, never a value of the wrong shape.
 *
 * | name                                  | record            | backup    |
 * | ------------------------------------- | ----------------- | --------- |
 * | `identity/account`                    | AccountRecord     | always    |
 * | `identity/settings`                   | Settings          | always    |
 * | `identity/contact/<peer>`             | ContactRecord     | always    |
 * | `identity/relays-learned`             | string[]          | always    |
 * | `identity/opk-next`                   | number            | always    |
 * | `identity/request/<peer>`             | RequestRecord     | always    |
 * | `identity/blocked`                    | string[]          | always    |
 * | `identity/invite-secret`              | string            | always    |
 * | `history/msg/<peer>/<in|out>/<id>`    | ChatMessage       | on request|
 * | `outbox/<id>`                         | OutboxEntry       | never     |
 * | `state/opk-reset`                     | true              | never     |
 * | `state/restored`                      | number (ms)       | never     |
 * | `state/schema`                        | number            | never     |
 * | `identity/group/<gid>`                | GroupRecord       | always    |
 * | `history/group/<gid>/<sender>/<id>`   | GroupMessageRecord| on request|
 * | `group/…` (sender keys, copies due…)  | group-records.ts  | never     |
 *
 * The crypto stores' records (`identity/spk|opk|basekey|trust/…`, `session/…`) are named by
 * `src/storage/protocol-stores.ts`. Backups follow the prefixes (packages/core/vault/names.ts). The
 * group records' shapes are in `group-records.ts`.
 */
import { decode, encode } from 'cborg'
import { STRICT_CBOR_DECODE_OPTIONS, isIntegerIn } from '@paloma/core/cbor.ts'
import { MESSAGE_STATUSES, type ChatMessage } from '@paloma/core/messages.ts'
import type { Vault } from '../storage/vault.ts'
import { AppError } from './errors.ts'
import { DEFAULT_SETTINGS, type Settings } from './types.ts'

export { DEFAULT_SETTINGS }

/**
 * Version of the record layout this code writes; `state/schema` holds the version a vault is at.
 * 2: contacts may carry `verified`, `held` and `inviteToken`, settings `notifications`,
 * `notificationText` and `autoLockMinutes`; message requests, the blocked list and the invite secret.
 * A Paloma that reads only version 1 refuses these records instead of dropping a verification.
 */
export const SCHEMA_VERSION = 2

export const ACCOUNT = 'identity/account'
export const SETTINGS = 'identity/settings'
export const CONTACT_PREFIX = 'identity/contact/'
export const LEARNED_RELAYS = 'identity/relays-learned'
export const OPK_NEXT = 'identity/opk-next'
export const HISTORY_PREFIX = 'history/msg/'
export const OUTBOX_PREFIX = 'outbox/'
export const OPK_RESET = 'state/opk-reset'
/** When this device's vault was made from a backup (absent: made here). */
export const RESTORED = 'state/restored'
export const SCHEMA = 'state/schema'
/** A group's log, secret and status (group-records.ts). */
export const GROUP_RECORD_PREFIX = 'identity/group/'
/** A group's history (group-records.ts). */
export const GROUP_HISTORY_PREFIX = 'history/group/'
/** A group's device-only state: sender keys, copies due, held messages (group-records.ts). */
export const GROUP_STATE_PREFIX = 'group/'

export const REQUEST_PREFIX = 'identity/request/'
export const BLOCKED = 'identity/blocked'
export const INVITE_SECRET = 'identity/invite-secret'

export interface AccountRecord {
  name: string
  /** The Ed25519 private key (libp2p protobuf): the PeerId and the messaging identity. */
  key: Uint8Array
  created: number
}

export interface ContactRecord {
  peer: string
  name: string
  /** Their relay circuit addresses (where they are reached and their mail is left). */
  relays: string[]
  added: number
  /** Added under a name an earlier contact had, with another key: shown with a warning until accepted. */
  keyChanged: boolean
  lastSeen?: number
  /** Their prekey bundle from the invite link, until a session is made (spares the directory lookup). */
  bundle?: Uint8Array
  /** The safety number was compared and marked verified. */
  verified?: boolean
  /** A new key under a verified contact's name: the chat is held until verified (see types.ts). */
  held?: boolean
  /** The secret of their invite link, proven in the first messages to them (invite-proof.ts). */
  inviteToken?: string
}

/** Someone who is not a contact wrote first. Their messages are history records like any other. */
export interface RequestRecord {
  peer: string
  name: string
  relays: string[]
  received: number
}

export interface OutboxEntry {
  /** The message's id (its status follows this entry); for receipts and resets, an id of its own. */
  id: string
  to: string
  /** Plaintext payload (encrypted at rest in the vault), kept to re-encrypt after a session reset. */
  payload: Uint8Array
  /** The end-to-end encrypted envelope, once encrypted. */
  env?: Uint8Array
  /**
   * The envelope's id on the wire (direct acks, mailbox deposits): new for every envelope made, so a
   * message encrypted again after a session reset is not taken by a relay for a retry of the first
   * envelope, which it remembers as delivered. Entries written before this field use `id`.
   */
  envId?: string
  /** Relays that hold the envelope already, while custody is incomplete (fewer than k of them). */
  held?: string[]
  created: number
}

export type RecordEntry = readonly [name: string, bytes: Uint8Array]

// ------------------------------------------------------------------------------------------ checks

type Fields = Record<string, unknown>

function bad(name: string, what: string): never {
  throw new AppError('BAD_RECORD', `vault record ${name}: ${what}`)
}

/** One strict CBOR item; anything else is `BAD_RECORD` (never cborg's own error). */
function decodeItem(name: string, bytes: Uint8Array): unknown {
  try {
    return decode(bytes, STRICT_CBOR_DECODE_OPTIONS)
  } catch (err) {
    throw new AppError('BAD_RECORD', `vault record ${name}: not valid CBOR`, { cause: err })
  }
}

function decodeMap(name: string, bytes: Uint8Array): Fields {
  const raw = decodeItem(name, bytes)
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array)
    bad(name, 'expected a map')
  return raw as Fields
}

const str = (name: string, v: unknown, field: string): string =>
  typeof v === 'string' ? v : bad(name, `${field}: expected a string`)
const time = (name: string, v: unknown, field: string): number =>
  isIntegerIn(v, 0) ? v : bad(name, `${field}: expected a time`)
const bytes = (name: string, v: unknown, field: string): Uint8Array =>
  v instanceof Uint8Array ? v : bad(name, `${field}: expected bytes`)
const strings = (name: string, v: unknown, field: string): string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : bad(name, `${field}: expected strings`)
const flag = (name: string, v: unknown, field: string): boolean =>
  typeof v === 'boolean' ? v : bad(name, `${field}: expected a boolean`)

/** Records of this version or older are read; a newer one was written by a newer Paloma. */
function version(name: string, m: Fields): number {
  const v = m.v ?? 1 // records of the first release carry no version
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(name, 'bad version')
  if (v > SCHEMA_VERSION) bad(name, `written by a newer version of Paloma (v${v})`)
  return v
}

/** Encodes a record with its version, leaving out absent optional fields (CBOR has no undefined). */
function encodeRecord(fields: object): Uint8Array {
  const out: Fields = { v: SCHEMA_VERSION }
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v
  return encode(out)
}

/** libp2p's protobuf of an Ed25519 private key: type 1, then the 64 bytes `seed || public key`. */
const ED25519_PRIVATE_KEY_PROTOBUF = Uint8Array.of(0x08, 0x01, 0x12, 0x40)

/** The identity key as libp2p stores it: anything else (another key type, a truncated key) is refused here. */
function identityKey(name: string, v: unknown): Uint8Array {
  const key = bytes(name, v, 'key')
  const prefix = ED25519_PRIVATE_KEY_PROTOBUF
  if (key.length !== prefix.length + 64 || !prefix.every((b, i) => key[i] === b))
    bad(name, 'key: expected an Ed25519 private key')
  return key
}

// ------------------------------------------------------------------------------------------ codecs

export function decodeAccount(b: Uint8Array): AccountRecord {
  const m = decodeMap(ACCOUNT, b)
  version(ACCOUNT, m)
  return {
    name: str(ACCOUNT, m.name, 'name'),
    key: identityKey(ACCOUNT, m.key),
    created: time(ACCOUNT, m.created, 'created'),
  }
}

/** `identity/relays-learned`: relay addresses learned from contacts. */
export function decodeLearnedRelays(b: Uint8Array): string[] {
  return strings(LEARNED_RELAYS, decodeItem(LEARNED_RELAYS, b), 'relays')
}

/** `identity/opk-next`: the next one-time prekey id to hand out. */
export function decodeOpkNext(b: Uint8Array): number {
  return time(OPK_NEXT, decodeItem(OPK_NEXT, b), 'next id')
}

/** `state/schema`: the schema version the vault is at. */
export function decodeSchema(b: Uint8Array): number {
  const at = decodeItem(SCHEMA, b)
  if (!isIntegerIn(at, 0)) bad(SCHEMA, 'bad schema version')
  return at
}

export function decodeSettings(b: Uint8Array): Settings {
  const m = decodeMap(SETTINGS, b)
  version(SETTINGS, m)
  const s: Settings = { ...DEFAULT_SETTINGS }
  // Settings added later default when absent, so older vaults keep working.
  for (const key of ['readReceipts', 'presence', 'notifications', 'notificationText'] as const) {
    if (m[key] !== undefined) s[key] = flag(SETTINGS, m[key], key)
  }
  if (m.autoLockMinutes !== undefined)
    s.autoLockMinutes = time(SETTINGS, m.autoLockMinutes, 'autoLockMinutes')
  return s
}

export function decodeContact(name: string, b: Uint8Array): ContactRecord {
  const m = decodeMap(name, b)
  version(name, m)
  return {
    peer: str(name, m.peer, 'peer'),
    name: str(name, m.name, 'name'),
    relays: strings(name, m.relays, 'relays'),
    added: time(name, m.added, 'added'),
    keyChanged: flag(name, m.keyChanged, 'keyChanged'),
    ...(m.lastSeen === undefined ? {} : { lastSeen: time(name, m.lastSeen, 'lastSeen') }),
    ...(m.bundle === undefined ? {} : { bundle: bytes(name, m.bundle, 'bundle') }),
    ...(m.verified === undefined ? {} : { verified: flag(name, m.verified, 'verified') }),
    ...(m.held === undefined ? {} : { held: flag(name, m.held, 'held') }),
    ...(m.inviteToken === undefined ? {} : { inviteToken: str(name, m.inviteToken, 'inviteToken') }),
  }
}

export function decodeRequest(name: string, b: Uint8Array): RequestRecord {
  const m = decodeMap(name, b)
  version(name, m)
  return {
    peer: str(name, m.peer, 'peer'),
    name: str(name, m.name, 'name'),
    relays: strings(name, m.relays, 'relays'),
    received: time(name, m.received, 'received'),
  }
}

export function decodeMessage(name: string, b: Uint8Array): ChatMessage {
  const m = decodeMap(name, b)
  version(name, m)
  const direction = m.direction === 'in' || m.direction === 'out' ? m.direction : bad(name, 'direction')
  const status = MESSAGE_STATUSES.find((s) => s === m.status) ?? bad(name, 'status')
  return {
    id: str(name, m.id, 'id'),
    peer: str(name, m.peer, 'peer'),
    direction,
    text: str(name, m.text, 'text'),
    ts: time(name, m.ts, 'ts'),
    status,
    ...(m.custody === undefined ? {} : { custody: strings(name, m.custody, 'custody') }),
  }
}

export function decodeOutboxEntry(name: string, b: Uint8Array): OutboxEntry {
  const m = decodeMap(name, b)
  version(name, m)
  return {
    id: str(name, m.id, 'id'),
    to: str(name, m.to, 'to'),
    payload: bytes(name, m.payload, 'payload'),
    ...(m.env === undefined ? {} : { env: bytes(name, m.env, 'env') }),
    ...(m.envId === undefined ? {} : { envId: str(name, m.envId, 'envId') }),
    ...(m.held === undefined ? {} : { held: strings(name, m.held, 'held') }),
    created: time(name, m.created, 'created'),
  }
}

/** The vault entries of each record, for one atomic write with other records. */
export const entry = {
  account: (a: AccountRecord): RecordEntry => [ACCOUNT, encodeRecord(a)],
  settings: (s: Settings): RecordEntry => [SETTINGS, encodeRecord(s)],
  contact: (c: ContactRecord): RecordEntry => [CONTACT_PREFIX + c.peer, encodeRecord(c)],
  /** A message as history keeps it: its delivery problem is shown, not stored. */
  message: (m: ChatMessage): RecordEntry => [
    `${HISTORY_PREFIX}${m.peer}/${m.direction}/${m.id}`,
    encodeRecord({
      id: m.id,
      peer: m.peer,
      direction: m.direction,
      text: m.text,
      ts: m.ts,
      status: m.status,
      custody: m.custody,
    }),
  ],
  outbox: (e: OutboxEntry): RecordEntry => [OUTBOX_PREFIX + e.id, encodeRecord(e)],
  request: (r: RequestRecord): RecordEntry => [REQUEST_PREFIX + r.peer, encodeRecord(r)],
}

/** What an unlock reads in one decrypting pass over the vault. */
export interface LoadedState {
  contacts: ContactRecord[]
  messages: ChatMessage[]
  outbox: OutboxEntry[]
  /** Pending message requests (absent when there are none). */
  requests?: RequestRecord[]
  /** The group records, undecoded (group-records.ts decodes them), when there are any. */
  groups?: RecordEntry[]
}

/**
 * Migrations, oldest first: `MIGRATIONS[n]` takes a vault from schema n to n + 1. Schema 0 is a vault of
 * the first release (no `state/schema` record, records without `v`): its records already have the
 * version-1 shape, so the step only records the version.
 */
const MIGRATIONS: ReadonlyArray<(vault: Vault) => Promise<void>> = [
  async () => {},
  // 1 -> 2: only new optional fields and new records; every version-1 record reads as version 2.
  async () => {},
]

interface Waiter {
  resolve(): void
  reject(err: unknown): void
}

/** The app's records in one vault: typed reads and writes, and the schema version kept current. */
export class AppRecords {
  readonly vault: Vault
  /** The writes waiting for the commit after the running one (by name: the last write of a name wins). */
  #next:
    | { ops: Map<string, Uint8Array | null>; waiters: Array<{ resolve(): void; reject(e: unknown): void }> }
    | undefined
  #committing = false

  constructor(vault: Vault) {
    this.vault = vault
  }

  /** Brings the vault to {@link SCHEMA_VERSION}. @throws AppError `BAD_RECORD` for a newer vault. */
  async migrate(): Promise<void> {
    const stored = await this.vault.get(SCHEMA)
    let at = stored === undefined ? 0 : decodeSchema(stored)
    if (at > SCHEMA_VERSION) bad(SCHEMA, `written by a newer version of Paloma (schema ${at})`)
    for (; at < SCHEMA_VERSION; at++) {
      await MIGRATIONS[at]!(this.vault)
      await this.vault.put(SCHEMA, encode(at + 1))
    }
  }

  async account(): Promise<AccountRecord | undefined> {
    const b = await this.vault.get(ACCOUNT)
    return b === undefined ? undefined : decodeAccount(b)
  }

  async settings(): Promise<Settings> {
    const b = await this.vault.get(SETTINGS)
    return b === undefined ? { ...DEFAULT_SETTINGS } : decodeSettings(b)
  }

  async learnedRelays(): Promise<string[]> {
    const b = await this.vault.get(LEARNED_RELAYS)
    return b === undefined ? [] : decodeLearnedRelays(b)
  }

  putLearnedRelays(relays: readonly string[]): Promise<void> {
    return this.vault.put(LEARNED_RELAYS, encode([...relays]))
  }

  /** Reserves `count` one-time prekey ids never handed out before (across relays and restarts). */
  async reservePreKeyIds(count: number): Promise<number> {
    const b = await this.vault.get(OPK_NEXT)
    const first = b === undefined ? 1 : decodeOpkNext(b)
    await this.vault.put(OPK_NEXT, encode(first + count))
    return first
  }

  /** Whether the relays' one-time prekeys must all be replaced (set after a restore). */
  async preKeyResetPending(): Promise<boolean> {
    return (await this.vault.get(OPK_RESET)) !== undefined
  }

  /** When this vault was restored from a backup, or undefined when it was created on this device. */
  async restoredAt(): Promise<number | undefined> {
    const b = await this.vault.get(RESTORED)
    return b === undefined ? undefined : time(RESTORED, decode(b, STRICT_CBOR_DECODE_OPTIONS), 'restored')
  }

  setRestoredAt(at: number): Promise<void> {
    return this.vault.put(RESTORED, encode(at))
  }

  setPreKeyReset(pending: boolean): Promise<void> {
    return pending ? this.vault.put(OPK_RESET, encode(true)) : this.vault.delete(OPK_RESET)
  }

  /** Contacts, history and the outbox, in one decrypting pass. */
  async load(): Promise<LoadedState> {
    const state: LoadedState = { contacts: [], messages: [], outbox: [] }
    for (const [name, b] of await this.vault.entries()) {
      if (name.startsWith(CONTACT_PREFIX)) state.contacts.push(decodeContact(name, b))
      else if (name.startsWith(HISTORY_PREFIX)) state.messages.push(decodeMessage(name, b))
      else if (name.startsWith(OUTBOX_PREFIX)) state.outbox.push(decodeOutboxEntry(name, b))
      else if (name.startsWith(REQUEST_PREFIX)) (state.requests ??= []).push(decodeRequest(name, b))
      else if (
        name.startsWith(GROUP_RECORD_PREFIX) ||
        name.startsWith(GROUP_HISTORY_PREFIX) ||
        name.startsWith(GROUP_STATE_PREFIX)
      )
        (state.groups ??= []).push([name, b])
    }
    return state
  }

  /**
   * Writes `entries` atomically. Group commit: writes asked for while a commit runs are made together in
   * the next one (one IndexedDB transaction for a burst of status changes), each call resolving once its
   * records are stored.
   */
  write(entries: readonly RecordEntry[]): Promise<void> {
    return this.#commit(entries, [])
  }

  /** PeerIds whose envelopes are dropped unread. */
  async blocked(): Promise<string[]> {
    const b = await this.vault.get(BLOCKED)
    return b === undefined ? [] : strings(BLOCKED, decode(b, STRICT_CBOR_DECODE_OPTIONS), 'blocked')
  }

  putBlocked(peers: readonly string[]): Promise<void> {
    return this.vault.put(BLOCKED, encode([...peers]))
  }

  deleteRequest(peer: string): Promise<void> {
    return this.#commit([], [REQUEST_PREFIX + peer])
  }

  /** The secret of this person's invite link, made on first use. */
  async inviteSecret(make: () => string): Promise<string> {
    const b = await this.vault.get(INVITE_SECRET)
    if (b !== undefined) return str(INVITE_SECRET, decode(b, STRICT_CBOR_DECODE_OPTIONS), 'secret')
    const secret = make()
    await this.vault.put(INVITE_SECRET, encode(secret))
    return secret
  }

  /** Removes records by name (e.g. a conversation's messages, named by `entry.message`). */
  deleteNames(names: readonly string[]): Promise<void> {
    return this.#commit([], names)
  }

  deleteOutbox(id: string): Promise<void> {
    return this.#commit([], [OUTBOX_PREFIX + id])
  }

  /** Writes `puts` and deletes `deletes` atomically (group-committed as {@link write}). */
  update(puts: readonly RecordEntry[], deletes: readonly string[]): Promise<void> {
    return this.#commit(puts, deletes)
  }

  #commit(puts: readonly RecordEntry[], deletes: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const batch = (this.#next ??= { ops: new Map<string, Uint8Array | null>(), waiters: [] as Waiter[] })
      for (const [name, bytes] of puts) batch.ops.set(name, bytes)
      for (const name of deletes) batch.ops.set(name, null)
      batch.waiters.push({ resolve, reject })
      if (!this.#committing) void this.#drain()
    })
  }

  async #drain(): Promise<void> {
    this.#committing = true
    for (let batch = this.#next; batch !== undefined; batch = this.#next) {
      this.#next = undefined
      const puts: RecordEntry[] = []
      const deletes: string[] = []
      for (const [name, bytes] of batch.ops) {
        if (bytes === null) deletes.push(name)
        else puts.push([name, bytes])
      }
      try {
        await this.vault.commit(puts, deletes)
        for (const w of batch.waiters) w.resolve()
      } catch (err) {
        for (const w of batch.waiters) w.reject(err)
      }
    }
    this.#committing = false
  }
}
