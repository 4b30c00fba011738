/**
 * The rules a new passphrase must meet, in one place: the vault enforces them where a passphrase is
 * chosen (create, change, the new passphrase of an import, a backup's passphrase) and the UI checks them
 * as the person types, through src/app. Opening an existing vault or backup never applies them, so a
 * passphrase chosen under older rules still opens what it protects.
 *
 * Length is counted in Unicode code points of the NFC form, the string the KDF hashes (kdf.ts), so
 * "ñ" typed composed or decomposed counts once, and an emoji counts once.
 * @module
 */
import { InvalidPassphraseError, type PassphraseProblem } from './errors.ts'

/** Fewest characters (code points, NFC) of a new passphrase. */
export const MIN_PASSPHRASE_CHARS = 8

/** What is wrong with `passphrase` as a new passphrase, or `undefined` when it is acceptable. */
export function passphraseProblem(passphrase: string): PassphraseProblem | undefined {
  if (typeof passphrase !== 'string' || passphrase.length === 0) return 'EMPTY_PASSPHRASE'
  let chars = 0
  for (const _ of passphrase.normalize('NFC')) if (++chars >= MIN_PASSPHRASE_CHARS) return undefined
  return 'SHORT_PASSPHRASE'
}

/**
 * Checks a passphrase being chosen.
 * @throws InvalidPassphraseError with the code of {@link passphraseProblem}
 */
export function checkNewPassphrase(passphrase: string): void {
  const problem = passphraseProblem(passphrase)
  if (problem !== undefined) throw new InvalidPassphraseError(problem)
}
