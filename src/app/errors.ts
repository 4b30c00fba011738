/**
 * The app layer's failures: what an action the UI called could not do, with a stable code the UI turns
 * into text in the person's language (src/ui/i18n.ts). Errors of the layers below (vault, directory,
 * invites, relays) reach the UI as they are: each has its own code.
 */
import { PalomaError } from '@paloma/core/errors.ts'

export const APP_ERROR_CODES = [
  /** The vault is locked (or was locked while the action ran): unlock first. */
  'LOCKED',
  /** The network is not started yet (still unlocking, or stopped). */
  'NOT_CONNECTED',
  /** Create or import on a device that already has an account. */
  'ACCOUNT_EXISTS',
  /** The vault opened but holds no account record (a damaged or foreign vault). */
  'NO_ACCOUNT',
  /** The invite (or claimant) is this person's own. */
  'OWN_INVITE',
  /** The action names someone who is not a contact. */
  'UNKNOWN_CONTACT',
  /** Sending or typing with no conversation open. */
  'NO_CHAT_OPEN',
  /** "Add contact" got text that is neither an invite link nor a valid username. */
  'NOT_INVITE_OR_NAME',
  /** The message is longer than one message may be. */
  'MESSAGE_TOO_LONG',
  /** A record in the vault failed its schema check (damaged, or written by a newer version). */
  'BAD_RECORD',
  /** Writing to a contact whose chat is held: their key changed from a verified one. */
  'CONTACT_HELD',
  /** The pending invite link was handled already, or there is none. */
  'NO_INVITE',
] as const
export type AppErrorCode = (typeof APP_ERROR_CODES)[number]

export class AppError extends PalomaError<AppErrorCode> {
  override name = 'AppError'
}
