import { describe, expect, it } from 'vitest'
import { errorText, pickStrings, userErrorText } from '../../../src/ui/i18n.ts'
import {
  RELAY_REFUSAL_CODES,
  USER_ERROR_CODES,
  userError,
  type UserErrorArea,
} from '../../../src/app/codes.ts'
import { AppError } from '../../../src/app/errors.ts'
import { ConfigError } from '../../../src/app/config.ts'
import { InvalidPassphraseError, WrongPassphraseError } from '@paloma/core/vault/index.ts'
import { InvalidNameError } from '@paloma/core/protocol/directory.ts'
import { InviteError } from '@paloma/core/protocol/invite.ts'
import { FrameError } from '@paloma/core/protocol/frames.ts'
import { DirectoryUnavailableError } from '@paloma/net/directory.ts'
import { MailboxError } from '@paloma/net/mailbox-client.ts'
import { PreKeysError } from '@paloma/net/prekeys-client.ts'

const en = pickStrings(['en-US']).t
const es = pickStrings(['es-ES']).t
const areas = Object.keys(USER_ERROR_CODES) as UserErrorArea[]

describe('error texts', () => {
  it.each(areas)('exist in English and Spanish for every %s code, and for nothing else', (area) => {
    const codes: readonly string[] = USER_ERROR_CODES[area]
    expect(codes.length).toBeGreaterThan(0)
    for (const t of [en, es]) {
      const table = t.errors[area] as Record<string, string>
      expect(Object.keys(table).sort()).toEqual([...codes].sort())
      for (const code of codes) expect(table[code]?.trim().length, `${area}.${code}`).toBeGreaterThan(0)
    }
    // Spanish is translated, not a copy of the English text.
    for (const code of codes) {
      expect((es.errors[area] as Record<string, string>)[code], `${area}.${code}`).not.toBe(
        (en.errors[area] as Record<string, string>)[code],
      )
    }
  })

  it('map errors by area and code, in the person’s language', () => {
    expect(errorText(en, new WrongPassphraseError())).toMatch(/passphrase/i)
    expect(errorText(es, new WrongPassphraseError())).toBe(es.errors.vault.WRONG_PASSPHRASE)
    expect(errorText(es, new InvalidPassphraseError('SHORT_PASSPHRASE'))).toBe('Usa al menos 8 caracteres.')
    expect(errorText(en, new InviteError('BAD_INVITE'))).toContain('not a valid Paloma invite')
    expect(errorText(es, new InviteError('UNSUPPORTED_INVITE'))).toBe(es.errors.invite.UNSUPPORTED_INVITE)
    expect(errorText(en, new InvalidNameError())).toContain('3 to 32 characters')
    expect(errorText(es, new DirectoryUnavailableError())).toBe(es.errors.directory.DIRECTORY_UNAVAILABLE)
    expect(errorText(es, new MailboxError('RECIPIENT_QUOTA', 'full'))).toBe(es.errors.mailbox.RECIPIENT_QUOTA)
    // The same code reads according to its area.
    expect(errorText(en, new PreKeysError('TOO_LARGE', 'x'))).toBe(en.errors.prekeys.TOO_LARGE)
    expect(errorText(en, new MailboxError('TOO_LARGE', 'x'))).toBe(en.errors.mailbox.TOO_LARGE)
    expect(errorText(es, new ConfigError('INVALID_RELAYS', 'relays'))).toBe(es.errors.config.INVALID_RELAYS)
    expect(errorText(es, new AppError('OWN_INVITE', 'own'))).toBe('Esa es tu propia invitación.')
    // An error kept as its area and code (plain data, e.g. in a snapshot) reads the same.
    const kept = userError(new ConfigError('INVALID_CONFIG', 'config.json'))
    expect(kept).toEqual({ area: 'config', code: 'INVALID_CONFIG' })
    expect(userErrorText(es, kept)).toBe(es.errors.config.INVALID_CONFIG)
  })

  it('never show an error’s own (English) message: anything without a user-facing code is generic', () => {
    for (const err of [new Error('ECONNRESET'), new FrameError('BAD_FRAME', 'frame: x'), 'text', undefined]) {
      expect(userError(err)).toBeUndefined()
      expect(errorText(en, err)).toBe(en.errors.unknown)
      expect(errorText(es, err)).toBe(es.errors.unknown)
    }
  })

  it('keep the message problems of every relay refusal, in both languages', () => {
    for (const code of RELAY_REFUSAL_CODES) {
      expect(en.problems[code]).toBeTruthy()
      expect(es.problems[code]).toBeTruthy()
      expect(es.problems[code]).not.toBe(en.problems[code])
    }
  })
})
