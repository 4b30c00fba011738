/**
 * What the UI needs to know of the layers below without importing them (src/ui may import only src/app):
 * the code list of every error that can reach a person, {@link userError} to tell an error's area and
 * code, and the passphrase rules of the vault.
 *
 * The UI maps `(area, code)` to text in the person's language (src/ui/i18n.ts); codes are unique within an
 * area, and the same code in two areas (`RATE_LIMITED` from a mailbox or a prekey relay) may read
 * differently. Anything else (a bug, a library's own error) has no code: the UI shows a generic text.
 */
import { PalomaError } from '@paloma/core/errors.ts'
import { DirectoryError, DIRECTORY_ERROR_CODES } from '@paloma/core/protocol/directory.ts'
import { InviteError, INVITE_ERROR_CODES } from '@paloma/core/protocol/invite.ts'
import { VaultError, VAULT_ERROR_CODES } from '@paloma/core/vault/errors.ts'
import { MailboxError, MAILBOX_CLIENT_ERROR_CODES } from '@paloma/net/mailbox-client.ts'
import { PreKeysError, PREKEYS_CLIENT_ERROR_CODES } from '@paloma/net/prekeys-client.ts'
import { ConfigError, CONFIG_ERROR_CODES } from './config.ts'
import { AppError, APP_ERROR_CODES } from './errors.ts'
import { GroupAppError, GROUP_APP_ERROR_CODES } from './group-errors.ts'

export { MIN_PASSPHRASE_CHARS, passphraseProblem } from '@paloma/core/vault/passphrase.ts'
export type { PassphraseProblem } from '@paloma/core/vault/errors.ts'
export { RELAY_REFUSAL_CODES, type RelayRefusalCode } from '@paloma/net/mailbox-client.ts'

/** Every area whose errors can reach a person, with its codes. */
export const USER_ERROR_CODES = {
  vault: VAULT_ERROR_CODES,
  directory: DIRECTORY_ERROR_CODES,
  invite: INVITE_ERROR_CODES,
  mailbox: MAILBOX_CLIENT_ERROR_CODES,
  prekeys: PREKEYS_CLIENT_ERROR_CODES,
  config: CONFIG_ERROR_CODES,
  app: APP_ERROR_CODES,
  groups: GROUP_APP_ERROR_CODES,
} as const
export type UserErrorArea = keyof typeof USER_ERROR_CODES
export type UserErrorCode<A extends UserErrorArea> = (typeof USER_ERROR_CODES)[A][number]
/** An error a person may see: its area and its code there. */
export type UserError = { [A in UserErrorArea]: { area: A; code: UserErrorCode<A> } }[UserErrorArea]

const AREAS: ReadonlyArray<readonly [UserErrorArea, abstract new (...args: never[]) => PalomaError]> = [
  ['vault', VaultError],
  ['directory', DirectoryError],
  ['invite', InviteError],
  ['mailbox', MailboxError],
  ['prekeys', PreKeysError],
  ['config', ConfigError],
  ['app', AppError],
  ['groups', GroupAppError],
]

/**
 * The area and code of `err` when it is an error a person may see, else `undefined`.
 * @example
 * const e = userError(err) // { area: 'vault', code: 'WRONG_PASSPHRASE' }
 */
export function userError(err: unknown): UserError | undefined {
  if (!(err instanceof PalomaError)) return undefined
  for (const [area, type] of AREAS) {
    if (err instanceof type && (USER_ERROR_CODES[area] as readonly string[]).includes(err.code)) {
      return { area, code: err.code } as UserError
    }
  }
  return undefined
}
