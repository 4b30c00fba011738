/**
 * What a group action the UI called could not do, with a stable code the UI turns into text
 * (src/ui/i18n.ts, `errors.groups`). The group core's own errors (a malformed or refused change, a
 * message that does not decrypt) never reach the UI: the groups component handles them.
 */
import { PalomaError } from '@paloma/core/errors.ts'

export const GROUP_APP_ERROR_CODES = [
  /** No group with that id on this device. */
  'UNKNOWN_GROUP',
  /** This person is no longer a member (left or removed): the group is read-only. */
  'NOT_A_MEMBER',
  /** Only the group's creator or an admin may do that (to that member). */
  'NOT_ALLOWED',
  /** The group would have more than MAX_GROUP_MEMBERS members. */
  'GROUP_FULL',
  /** The name is empty, longer than 64 characters or has control characters. */
  'BAD_GROUP_NAME',
  /** Nobody to add (no one chosen, or everyone chosen is already a member). */
  'NO_MEMBERS',
  /** More messages than the group's rate limit allows (a burst of 30, then 5 per second). */
  'RATE_LIMITED',
] as const
export type GroupAppErrorCode = (typeof GROUP_APP_ERROR_CODES)[number]

export class GroupAppError extends PalomaError<GroupAppErrorCode> {
  override name = 'GroupAppError'
}
