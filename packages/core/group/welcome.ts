/**
 * The welcome: what the member who adds someone sends the new member over their 1:1 session, so it can
 * join: the group secret (which names the topic) and the whole log, split into parts that each fit one 1:1
 * message.
 *
 * ```
 * part = { "v": 1, "g": bytes(32) group id, "s": bytes(32) group secret, "i": uint part index,
 *          "of": uint part count, "c": [bytes change, ...] }       (at most MAX_WELCOME_PART_BYTES)
 * ```
 * Changes travel in an order where parents come first (the sender's log order); the first change of part 0
 * is the create. Sender keys are not in the welcome: every member sends its own distribution to the new
 * member when it sees the add.
 * @module
 */
import { equalBytes } from '../crypto/bytes.ts'
import type { Identity } from './change.ts'
import {
  GROUP_VERSION,
  KEY_LENGTH,
  MAX_CHANGE_BYTES,
  MAX_LOG_CHANGES,
  MAX_WELCOME_PART_BYTES,
  MAX_WELCOME_PARTS,
} from './constants.ts'
import { _array, _blobList, _bytes, _decodeMap, _encode, _uint } from './codec.ts'
import { IncompleteWelcomeError, NotAGroupMemberError } from './errors.ts'
import { applyChanges, isMember, logChanges, openLog, type GroupLog } from './log.ts'

/** One decoded welcome part. */
export interface WelcomePart {
  readonly group: Uint8Array
  readonly groupSecret: Uint8Array
  readonly index: number
  readonly count: number
  readonly changes: readonly Uint8Array[]
}

/** Upper bound on a part's bytes other than its changes (map head, v, g, s, i, of, the array's head). */
const PART_FRAMING_BYTES = 96

/**
 * The welcome for a new member: the group secret and every change of `log`, in parts of at most
 * MAX_WELCOME_PART_BYTES bytes each.
 */
export function encodeWelcome(log: GroupLog, groupSecret: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[][] = [[]]
  let size = PART_FRAMING_BYTES
  for (const c of logChanges(log)) {
    const cost = c.bytes.length + 3
    if (size + cost > MAX_WELCOME_PART_BYTES) {
      chunks.push([])
      size = PART_FRAMING_BYTES
    }
    ;(chunks[chunks.length - 1] as Uint8Array[]).push(c.bytes)
    size += cost
  }
  return chunks.map((c, i) =>
    _encode({ v: GROUP_VERSION, g: log.group, s: groupSecret, i, of: chunks.length, c }),
  )
}

/** Decodes one welcome part (structure only). @throws MalformedGroupRecordError */
export function decodeWelcomePart(bytes: Uint8Array): WelcomePart {
  const w = 'welcome'
  const m = _decodeMap(bytes, w, MAX_WELCOME_PART_BYTES, ['v', 'g', 's', 'i', 'of', 'c'])
  const count = _uint(m, 'of', MAX_WELCOME_PARTS, w)
  return {
    group: _bytes(m, 'g', KEY_LENGTH, w),
    groupSecret: _bytes(m, 's', KEY_LENGTH, w),
    index: _uint(m, 'i', count - 1, w),
    count,
    changes: _blobList(_array(m, 'c', MAX_LOG_CHANGES, w), MAX_CHANGE_BYTES, 'welcome.c'),
  }
}

/**
 * Joins a group from all the parts of its welcome (in any order): verifies every change, rebuilds the log
 * and checks that `me` is a member of it.
 * @returns the log and the group secret.
 * @throws MalformedGroupRecordError, IncompleteWelcomeError (parts missing, repeated or disagreeing, or a
 * change that does not apply), NotAGroupMemberError, and the errors of `openLog`
 */
export async function openWelcome(
  parts: readonly Uint8Array[],
  opts: { readonly me: Identity },
): Promise<{ log: GroupLog; groupSecret: Uint8Array }> {
  const decoded = parts.map(decodeWelcomePart)
  const first = decoded[0]
  if (!first) throw new IncompleteWelcomeError('the welcome has no parts')
  const byIndex: WelcomePart[] = []
  for (const p of decoded) {
    if (
      p.count !== first.count ||
      !equalBytes(p.group, first.group) ||
      !equalBytes(p.groupSecret, first.groupSecret) ||
      byIndex[p.index]
    ) {
      throw new IncompleteWelcomeError('welcome parts disagree or repeat')
    }
    byIndex[p.index] = p
  }
  if (decoded.length !== first.count)
    throw new IncompleteWelcomeError(`welcome has ${decoded.length} of ${first.count} parts`)
  const [create, ...rest] = byIndex.flatMap((p) => p.changes)
  if (!create) throw new IncompleteWelcomeError('the welcome carries no changes')
  const r = await applyChanges(await openLog(create, first.group), rest)
  if (r.rejected.length > 0 || r.log._pending.size > 0) {
    throw new IncompleteWelcomeError('a change of the welcome does not apply')
  }
  if (!isMember(r.log, opts.me))
    throw new NotAGroupMemberError('the welcome does not make this person a member')
  return { log: r.log, groupSecret: first.groupSecret }
}
