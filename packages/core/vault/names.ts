/**
 * Record naming conventions that decide what goes into a backup.
 *
 * `identity/…` records (identity key, signed and one-time prekeys, profile) are what makes a person the
 * same person elsewhere: always backed up. `history/…` records are backed up on request. Everything else
 * (notably `session/…` ratchet states) stays on the device: restoring an old ratchet state would reuse
 * message keys, so a restored account starts fresh sessions.
 * @module
 */

/** Prefix of records that carry the identity: always in a backup. */
export const IDENTITY_PREFIX = 'identity/'
/** Prefix of conversation history: in a backup only with `includeHistory`. */
export const HISTORY_PREFIX = 'history/'
/** Prefix of ratchet sessions: never in a backup. */
export const SESSION_PREFIX = 'session/'

/** Whether record `name` belongs in a backup. */
export function inBackupScope(name: string, includeHistory: boolean): boolean {
  return name.startsWith(IDENTITY_PREFIX) || (includeHistory && name.startsWith(HISTORY_PREFIX))
}
