import { describe, expect, it } from 'vitest'
import { notificationOf, pickLang, stringsFor } from '../../../src/ui/i18n.ts'
import { linkify, safeHref } from '../../../src/ui/linkify.ts'
import { dayLabel, listTime } from '../../../src/ui/time.ts'
import { DEFAULT_SETTINGS } from '../../../src/app/types.ts'

describe('notifications', () => {
  const en = stringsFor('en')
  it('show only the sender by default, the text when chosen, nothing when off', () => {
    expect(notificationOf(en, DEFAULT_SETTINGS, 'alice', 'my secret')).toEqual({
      title: 'New message from alice',
      body: 'New message',
    })
    expect(notificationOf(en, { ...DEFAULT_SETTINGS, notificationText: true }, 'alice', 'hi')?.body).toBe(
      'hi',
    )
    expect(notificationOf(en, { ...DEFAULT_SETTINGS, notifications: false }, 'alice', 'hi')).toBeUndefined()
    expect(notificationOf(stringsFor('es'), DEFAULT_SETTINGS, 'alice', 'x')?.title).toBe(
      'Nuevo mensaje de alice',
    )
  })

  it('name a message request without its text, even when texts are shown', () => {
    const shown = { ...DEFAULT_SETTINGS, notificationText: true }
    expect(notificationOf(en, shown, 'mallory', 'click here', 'request')).toEqual({
      title: 'Message request from mallory',
      body: en.requestBody,
    })
    expect(
      notificationOf(en, { ...DEFAULT_SETTINGS, notifications: false }, 'm', 'x', 'request'),
    ).toBeUndefined()
  })
})

describe('links in messages', () => {
  it('become links only for http and https, with trailing punctuation left out', () => {
    expect(linkify('see https://example.org/a?b=1. ok')).toEqual([
      { text: 'see ' },
      { text: 'https://example.org/a?b=1', href: 'https://example.org/a?b=1' },
      { text: '. ok' },
    ])
    for (const hostile of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      'data:text/html,<script>',
      '<a href="x">',
    ])
      expect(linkify(hostile)).toEqual([{ text: hostile }])
    expect(safeHref('javascript:alert(1)')).toBeUndefined()
    expect(
      linkify('x')
        .map((s) => s.text)
        .join(''),
    ).toBe('x')
    const text = 'a http://h/‮x b https://q'
    expect(
      linkify(text)
        .map((s) => s.text)
        .join(''),
    ).toBe(text)
  })
})

describe('language and time', () => {
  it('follows the browser, Spanish or English', () => {
    expect(pickLang(['es-ES', 'en'])).toBe('es')
    expect(pickLang(['fr-FR', 'en-GB'])).toBe('en')
    expect(pickLang(['de'])).toBe('en')
  })
  it('words days and list times', () => {
    const now = new Date(2026, 5, 10, 15, 0).getTime()
    const words = { today: 'Today', yesterday: 'Yesterday' }
    expect(dayLabel('en', now - 3600_000, now, words)).toBe('Today')
    expect(dayLabel('en', now - 86_400_000, now, words)).toBe('Yesterday')
    expect(dayLabel('es', new Date(2025, 0, 2).getTime(), now, words)).toMatch(/2025/)
    expect(listTime('en', now - 60_000, now)).toMatch(/\d\d:\d\d|\d:\d\d/)
  })
})
