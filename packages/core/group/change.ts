/**
 * One membership change: its signed record, its id, and its codec.
 *
 * ```
 * change = { "v": 1, "a": bytes(32) author (Ed25519 identity), "o": kind, "t": uint ms (author's clock),
 *            "p": [bytes(32), ...] parent ids, strictly ascending (none for create, 1..16 otherwise),
 *            "g": bytes(32) group id (absent in create), "m": bytes(32) member (add, remove, admin),
 *            "n": text name (create, rename), "x": bytes(16) nonce (create), "sig": bytes(64) }
 * id  = SHA-256("Paloma_Group_Change_Id_v1" || 0x00 || CBOR(change without "sig"))
 * sig = Ed25519(author, "Paloma_Group_Change_Signature_v1" || 0x00 || CBOR(change without "sig"))
 * ```
 * The group id is the id of the group's `create` change. Knows nothing of authority or of other changes:
 * that is the log's business (`log.ts`).
 * @module
 */
import { compareBytes, concatBytes, toHex } from '../crypto/bytes.ts'
import { ed25519Sign, ed25519Verify, sha256Hash } from '../crypto/primitives.ts'
import {
  CHANGE_ID_PREFIX_BYTES,
  CHANGE_SIGNATURE_PREFIX_BYTES,
  CREATE_NONCE_LENGTH,
  GROUP_VERSION,
  KEY_LENGTH,
  MAX_CHANGE_BYTES,
  MAX_CHANGE_PARENTS,
  MAX_GROUP_NAME_LENGTH,
  SIGNATURE_LENGTH,
} from './constants.ts'
import { _array, _bytes, _bytesList, _decodeMap, _encode, _text, _uint, type CborMap } from './codec.ts'
import { MalformedGroupRecordError } from './errors.ts'

/** The kinds of change, as they travel in `o`. */
export const CHANGE_KINDS = ['create', 'add', 'remove', 'leave', 'rename', 'admin'] as const
export type ChangeKind = (typeof CHANGE_KINDS)[number]

/** A person's identity in a group: their 32-byte Ed25519 public key (the key inside their PeerId). */
export type Identity = Uint8Array

/** The signing half of an identity (the shape of the crypto core's `IdentityKeyPair`). */
export interface GroupSigner {
  /** Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array
  /** Ed25519 seed (32 bytes). */
  readonly seed: Uint8Array
}

/** What a change does, as an author asks for it. */
export type ChangeRequest =
  | { readonly kind: 'add'; readonly member: Identity }
  | { readonly kind: 'remove'; readonly member: Identity }
  | { readonly kind: 'admin'; readonly member: Identity }
  | { readonly kind: 'leave' }
  | { readonly kind: 'rename'; readonly name: string }

/** A decoded change (structure checked, signature not yet). */
export interface GroupChange {
  /** SHA-256 of the prefixed unsigned encoding. */
  readonly id: Uint8Array
  /** Lower-case hex of `id`. */
  readonly idHex: string
  /** The signed encoding, exactly as it travels. */
  readonly bytes: Uint8Array
  /** The encoding without `sig`: what the id hashes and the signature covers (after their prefixes). */
  readonly unsigned: Uint8Array
  /** The group id (for `create`, its own id). */
  readonly group: Uint8Array
  readonly author: Identity
  /** Parent ids, strictly ascending. */
  readonly parents: readonly Uint8Array[]
  readonly kind: ChangeKind
  /** Target of add, remove and admin; null otherwise. */
  readonly member: Identity | null
  /** Name of create and rename; null otherwise. */
  readonly name: string | null
  /** The author's clock when it made the change (ms; shown, never used for ordering). */
  readonly time: number
  readonly signature: Uint8Array
}

const TARGETED: ReadonlySet<ChangeKind> = new Set(['add', 'remove', 'admin'])
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/**
 * Checks a group name: 1 to MAX_GROUP_NAME_LENGTH code points, no control characters.
 * @throws MalformedGroupRecordError
 */
export function checkGroupName(name: string): string {
  const length = [...name].length
  if (length < 1 || length > MAX_GROUP_NAME_LENGTH || CONTROL.test(name) || !name.isWellFormed()) {
    throw new MalformedGroupRecordError(
      `group name: expected 1 to ${MAX_GROUP_NAME_LENGTH} characters without control characters`,
    )
  }
  return name
}

function unsignedMap(
  c: Omit<GroupChange, 'id' | 'idHex' | 'bytes' | 'unsigned' | 'signature'>,
  nonce?: Uint8Array,
): CborMap {
  const m: CborMap = { v: GROUP_VERSION, a: c.author, o: c.kind, t: c.time, p: [...c.parents] }
  if (c.kind === 'create') {
    m.n = c.name
    m.x = nonce
  } else {
    m.g = c.group
    if (c.member) m.m = c.member
    if (c.kind === 'rename') m.n = c.name
  }
  return m
}

const idOf = (unsigned: Uint8Array): Uint8Array => sha256Hash(concatBytes(CHANGE_ID_PREFIX_BYTES, unsigned))

/** Fields of a change to sign (create carries its nonce, everything else its group); the author is the signer. */
export interface UnsignedChange {
  readonly group: Uint8Array | null
  readonly parents: readonly Uint8Array[]
  readonly kind: ChangeKind
  readonly member: Identity | null
  readonly name: string | null
  readonly time: number
  readonly nonce: Uint8Array | null
}

/**
 * Signs a change with the author's identity key and returns it decoded (its bytes, id and fields).
 * Parents are sorted here. Does not check authority.
 * @throws MalformedGroupRecordError when the fields do not form a valid change.
 */
export async function signChange(signer: GroupSigner, fields: UnsignedChange): Promise<GroupChange> {
  const parents = [...fields.parents].sort(compareBytes)
  const base = {
    group: fields.group ?? new Uint8Array(KEY_LENGTH),
    author: signer.publicKey,
    parents,
    kind: fields.kind,
    member: fields.member,
    name: fields.name,
    time: fields.time,
  }
  const unsigned = _encode(unsignedMap(base, fields.nonce ?? undefined))
  const signature = await ed25519Sign(signer.seed, concatBytes(CHANGE_SIGNATURE_PREFIX_BYTES, unsigned))
  const map = unsignedMap(base, fields.nonce ?? undefined)
  map.sig = signature
  return decodeChange(_encode(map))
}

/**
 * Decodes a change and checks its structure (fields, sizes, canonical form, parents ascending, kind-specific
 * fields). Does not verify the signature: see {@link verifyChangeSignature}.
 * @throws MalformedGroupRecordError
 */
export function decodeChange(bytes: Uint8Array): GroupChange {
  const w = 'change'
  const probe = _decodeMap(bytes, w, MAX_CHANGE_BYTES, ['v', 'a', 'o', 't', 'p', 'sig'], ['g', 'm', 'n', 'x'])
  const kind = _text(probe, 'o', w)
  if (!(CHANGE_KINDS as readonly string[]).includes(kind)) {
    throw new MalformedGroupRecordError(`change.o: unknown kind "${kind}"`)
  }
  const k = kind as ChangeKind
  const expected: Record<string, boolean> = {
    g: k !== 'create',
    m: TARGETED.has(k),
    n: k === 'create' || k === 'rename',
    x: k === 'create',
  }
  for (const [field, present] of Object.entries(expected)) {
    if (field in probe !== present) {
      throw new MalformedGroupRecordError(`change.${field}: ${present ? 'missing' : 'not allowed'} in ${k}`)
    }
  }
  const author = _bytes(probe, 'a', KEY_LENGTH, w)
  const parents = _bytesList(_array(probe, 'p', MAX_CHANGE_PARENTS, w), KEY_LENGTH, 'change.p')
  if (k === 'create' ? parents.length !== 0 : parents.length === 0) {
    throw new MalformedGroupRecordError(
      `change.p: ${k === 'create' ? 'a create has no' : 'expected'} parents`,
    )
  }
  for (let i = 1; i < parents.length; i++) {
    if (compareBytes(parents[i - 1] as Uint8Array, parents[i] as Uint8Array) >= 0) {
      throw new MalformedGroupRecordError('change.p: parents must be strictly ascending')
    }
  }
  const member = expected.m ? _bytes(probe, 'm', KEY_LENGTH, w) : null
  if (member && compareBytes(member, author) === 0) {
    throw new MalformedGroupRecordError(`change.m: a ${k} cannot name its own author`)
  }
  const name = expected.n ? checkGroupName(_text(probe, 'n', w)) : null
  if (expected.x) _bytes(probe, 'x', CREATE_NONCE_LENGTH, w)
  const time = _uint(probe, 't', Number.MAX_SAFE_INTEGER, w)
  const signature = _bytes(probe, 'sig', SIGNATURE_LENGTH, w)
  const { sig: _sig, ...unsignedFields } = probe
  const unsigned = _encode(unsignedFields)
  const id = idOf(unsigned)
  return {
    id,
    idHex: toHex(id),
    bytes: new Uint8Array(bytes),
    unsigned,
    group: k === 'create' ? id : _bytes(probe, 'g', KEY_LENGTH, w),
    author,
    parents,
    kind: k,
    member,
    name,
    time,
    signature,
  }
}

/** Whether the change's signature verifies under its author's identity key. */
export function verifyChangeSignature(change: GroupChange): Promise<boolean> {
  return ed25519Verify(
    change.author,
    change.signature,
    concatBytes(CHANGE_SIGNATURE_PREFIX_BYTES, change.unsigned),
  )
}
