import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { advanceStatus, MESSAGE_STATUSES, newMessageId, type MessageStatus } from '@paloma/core/messages.ts'

describe('message status', () => {
  it('moves forward only', () => {
    expect(advanceStatus('pending', 'sent')).toBe('sent')
    expect(advanceStatus('sent', 'delivered')).toBe('delivered')
    expect(advanceStatus('delivered', 'sent')).toBe('delivered')
    expect(advanceStatus('read', 'delivered')).toBe('read')
    expect(advanceStatus('pending', 'read')).toBe('read')
  })

  it('ends at the furthest status whatever order events arrive in', () => {
    const status = fc.constantFrom(...MESSAGE_STATUSES)
    fc.assert(
      fc.property(fc.array(status, { minLength: 1, maxLength: 10 }), (events) => {
        const final = events.reduce<MessageStatus>((s, e) => advanceStatus(s, e), 'pending')
        const furthest = Math.max(...events.map((e) => MESSAGE_STATUSES.indexOf(e)))
        expect(final).toBe(MESSAGE_STATUSES[furthest])
      }),
    )
  })
})

describe('message ids', () => {
  it('are 32 hex characters drawn from the random source', () => {
    expect(newMessageId((n) => new Uint8Array(n).fill(0xab))).toBe('ab'.repeat(16))
    const a = newMessageId((n) => crypto.getRandomValues(new Uint8Array(n)))
    expect(a).toMatch(/^[0-9a-f]{32}$/)
  })
})
