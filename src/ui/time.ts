/**
 * Times as the conversation shows them: a message's short time, its full date (on hover or focus), day
 * separators ("Today", "Yesterday", a date) and "last seen". Pure functions of the time, the language and now.
 */
import type { Lang } from './i18n.ts'

const formats = new Map<string, Intl.DateTimeFormat>()
function format(lang: Lang, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = lang + JSON.stringify(options)
  let f = formats.get(key)
  if (f === undefined) formats.set(key, (f = new Intl.DateTimeFormat(lang, options)))
  return f
}

/** The local calendar day of `ms` (for grouping). */
export function dayKey(ms: number): string {
  const d = new Date(ms)
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`
}

export function shortTime(lang: Lang, ms: number): string {
  return format(lang, { hour: '2-digit', minute: '2-digit' }).format(ms)
}

export function fullDate(lang: Lang, ms: number): string {
  return format(lang, { dateStyle: 'full', timeStyle: 'short' }).format(ms)
}

/** "Today", "Yesterday", or the date (with the year when it is not this year's). */
export function dayLabel(
  lang: Lang,
  ms: number,
  now: number,
  words: { today: string; yesterday: string },
): string {
  if (dayKey(ms) === dayKey(now)) return words.today
  if (dayKey(ms) === dayKey(now - 86_400_000)) return words.yesterday
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear()
  return format(lang, {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    ...(sameYear ? {} : { year: 'numeric' }),
  }).format(ms)
}

/** The chat list's time: the hour today, the weekday this week, else the date. */
export function listTime(lang: Lang, ms: number, now: number): string {
  if (dayKey(ms) === dayKey(now)) return shortTime(lang, ms)
  if (now - ms < 6 * 86_400_000) return format(lang, { weekday: 'short' }).format(ms)
  return format(lang, { day: 'numeric', month: 'short' }).format(ms)
}

/** "last seen" wording: the hour today, else day and hour. */
export function seenTime(lang: Lang, ms: number, now: number): string {
  if (dayKey(ms) === dayKey(now)) return shortTime(lang, ms)
  return format(lang, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }).format(ms)
}
