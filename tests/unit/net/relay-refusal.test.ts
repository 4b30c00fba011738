import { describe, expect, it } from 'vitest'
import {
  MAILBOX_CLIENT_ERROR_CODES,
  MailboxError,
  RELAY_REFUSAL_CODES,
  relayRefusal,
} from '@paloma/net/mailbox-client.ts'
import { PREKEYS_CLIENT_ERROR_CODES, PreKeysError } from '@paloma/net/prekeys-client.ts'
import { MAILBOX_ERROR_CODES } from '@paloma/core/protocol/mailbox.ts'
import { PalomaError } from '@paloma/core/errors.ts'

describe('relay refusals', () => {
  it('are told apart by type and code, not by the shape of the rejection', () => {
    for (const code of RELAY_REFUSAL_CODES) expect(relayRefusal(new MailboxError(code, 'refused'))).toBe(code)
    for (const code of ['BAD_FRAME', 'BAD_RECIPIENT', 'INTERNAL', 'UNREACHABLE', 'TIMEOUT'] as const) {
      expect(relayRefusal(new MailboxError(code, 'no'))).toBeUndefined()
    }
    // The same code on another error is not a mailbox refusal.
    expect(relayRefusal(new PreKeysError('RATE_LIMITED', 'slow down'))).toBeUndefined()
    expect(relayRefusal({ code: 'TOO_LARGE' })).toBeUndefined()
    expect(relayRefusal(undefined)).toBeUndefined()
  })

  it('are relay codes, and the client errors are PalomaErrors with the relay codes as on the wire', () => {
    for (const code of RELAY_REFUSAL_CODES) expect(MAILBOX_ERROR_CODES).toContain(code)
    const err = new MailboxError('SENDER_QUOTA', 'too many stored')
    expect(err).toBeInstanceOf(PalomaError)
    expect(err.name).toBe('MailboxError')
    expect(err.retryable).toBe(true)
    expect(new MailboxError('TOO_LARGE', 'x').retryable).toBe(false)
    expect(MAILBOX_CLIENT_ERROR_CODES).toEqual([
      ...MAILBOX_ERROR_CODES,
      'UNREACHABLE',
      'NO_RESPONSE',
      'TIMEOUT',
      'PROTOCOL',
    ])
    expect(PREKEYS_CLIENT_ERROR_CODES).toContain('OWNER_QUOTA')
  })
})
