/**
 * The per-address session record: the current session state plus up to MAX_PREVIOUS_SESSIONS archived
 * ones kept for trial decryption (as libsignal's SessionRecord). Serialized as
 * CBOR {v: 1, cur: state | null, prev: [state...]} (newest archived first); see docs/protocol.md.
 * @module
 */
import {
  decodeRecord,
  encodeCbor,
  expectBool,
  expectBytes,
  expectMap,
  expectOptionalUint,
  expectUint,
} from './cbor.ts'
import {
  KEY_LENGTH,
  MAX_COUNTER,
  MAX_PREVIOUS_SESSIONS,
  MAX_SESSION_RECORD_BYTES,
  RECORD_VERSION,
} from './constants.ts'
import { InvalidRecordError } from './errors.ts'
import { ratchetStateFromCbor, ratchetStateToCbor, type RatchetState } from './ratchet.ts'

/** The prekeys an X3DH run used. */
export interface PreKeyIds {
  readonly signedPreKeyId: number
  readonly oneTimePreKeyId: number | null
}

/** One session (one X3DH run) with a peer. */
export interface SessionState {
  ratchet: RatchetState
  /** X3DH AD = IK_A || IK_B. */
  readonly associatedData: Uint8Array
  readonly localIdentityKey: Uint8Array
  readonly remoteIdentityKey: Uint8Array
  /** EK_A of the X3DH run that created this session (identifies it in prekey messages). */
  readonly baseKey: Uint8Array
  /** True when this side ran X3DH as the initiator (Alice). */
  readonly initiator: boolean
  /** Set while an initiator has not yet decrypted anything from the peer: outgoing messages carry X3DH. */
  pendingPreKey: PreKeyIds | null
  /** Responder only: the prekey ids the initiator's prekey messages must keep naming. */
  readonly receivedPreKey: PreKeyIds | null
  readonly createdAt: number
}

/** All sessions with one address. */
export class SessionRecord {
  current: SessionState | null
  /** Archived states, newest first. */
  previous: SessionState[]

  constructor(current: SessionState | null = null, previous: SessionState[] = []) {
    this.current = current
    this.previous = previous
  }

  /** Makes `state` current, archiving the previous current state. */
  promote(state: SessionState): void {
    if (this.current === state) return
    this.previous = this.previous.filter((s) => s !== state)
    if (this.current) this.previous.unshift(this.current)
    this.current = state
    this.previous.length = Math.min(this.previous.length, MAX_PREVIOUS_SESSIONS)
  }

  /** Adds `state` to the archive without making it current. */
  archive(state: SessionState): void {
    this.previous.unshift(state)
    this.previous.length = Math.min(this.previous.length, MAX_PREVIOUS_SESSIONS)
  }

  /** Every state, current first. */
  states(): SessionState[] {
    return this.current ? [this.current, ...this.previous] : [...this.previous]
  }

  /** Serializes the record (versioned CBOR). */
  serialize(): Uint8Array {
    return encodeCbor({
      v: RECORD_VERSION,
      cur: this.current && stateToCbor(this.current),
      prev: this.previous.map(stateToCbor),
    })
  }

  /** Parses a serialized record, validating every field. @throws InvalidRecordError */
  static deserialize(bytes: Uint8Array): SessionRecord {
    const m = decodeRecord(bytes, 'session record', MAX_SESSION_RECORD_BYTES)
    const prev = m.prev
    if (!Array.isArray(prev) || prev.length > MAX_PREVIOUS_SESSIONS) {
      throw new InvalidRecordError('session record.prev: expected a list of sessions')
    }
    return new SessionRecord(m.cur === null ? null : stateFromCbor(m.cur), prev.map(stateFromCbor))
  }
}

function stateToCbor(s: SessionState): Record<string, unknown> {
  return {
    r: ratchetStateToCbor(s.ratchet),
    ad: s.associatedData,
    lik: s.localIdentityKey,
    rik: s.remoteIdentityKey,
    bk: s.baseKey,
    ini: s.initiator,
    pspk: s.pendingPreKey ? s.pendingPreKey.signedPreKeyId : null,
    popk: s.pendingPreKey ? s.pendingPreKey.oneTimePreKeyId : null,
    rspk: s.receivedPreKey ? s.receivedPreKey.signedPreKeyId : null,
    ropk: s.receivedPreKey ? s.receivedPreKey.oneTimePreKeyId : null,
    t: s.createdAt,
  }
}

function stateFromCbor(value: unknown): SessionState {
  const w = 'session'
  const m = expectMap(value, w)
  const pspk = expectOptionalUint(m, 'pspk', MAX_COUNTER, w)
  const rspk = expectOptionalUint(m, 'rspk', MAX_COUNTER, w)
  return {
    ratchet: ratchetStateFromCbor(expectMap(m.r, `${w}.r`)),
    associatedData: expectBytes(m, 'ad', 2 * KEY_LENGTH, w),
    localIdentityKey: expectBytes(m, 'lik', KEY_LENGTH, w),
    remoteIdentityKey: expectBytes(m, 'rik', KEY_LENGTH, w),
    baseKey: expectBytes(m, 'bk', KEY_LENGTH, w),
    initiator: expectBool(m, 'ini', w),
    pendingPreKey:
      pspk === null
        ? null
        : { signedPreKeyId: pspk, oneTimePreKeyId: expectOptionalUint(m, 'popk', MAX_COUNTER, w) },
    receivedPreKey:
      rspk === null
        ? null
        : { signedPreKeyId: rspk, oneTimePreKeyId: expectOptionalUint(m, 'ropk', MAX_COUNTER, w) },
    createdAt: expectUint(m, 't', Number.MAX_SAFE_INTEGER, w),
  }
}
