/**
 * Splits a message's text into plain text and web links, so links render as `<a>` elements made by the
 * UI (never markup from the sender): only `http:` and `https:` URLs become links, checked with the URL
 * parser; everything else (a `javascript:` URL, markup, bidirectional controls) stays text, which Svelte
 * escapes. Trailing punctuation is left outside the link.
 */
export type Segment = { text: string } | { text: string; href: string }

const URL_LIKE = /\bhttps?:\/\/[^\s<>"'`]+/gi
const TRAILING = /[.,;:!?)\]}'"»”’]+$/

export function linkify(text: string): Segment[] {
  const out: Segment[] = []
  let last = 0
  for (const match of text.matchAll(URL_LIKE)) {
    let candidate = match[0]
    const trail = TRAILING.exec(candidate)?.[0] ?? ''
    candidate = candidate.slice(0, candidate.length - trail.length)
    const href = safeHref(candidate)
    if (href === undefined) continue
    if (match.index > last) out.push({ text: text.slice(last, match.index) })
    out.push({ text: candidate, href })
    last = match.index + candidate.length
  }
  if (last < text.length) out.push({ text: text.slice(last) })
  return out
}

/** The URL when it parses as http(s), else undefined. */
export function safeHref(candidate: string): string | undefined {
  try {
    const url = new URL(candidate)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined
  } catch {
    return undefined
  }
}
