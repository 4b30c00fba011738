/**
 * Hostile content: messages built to run script (tags, handlers, javascript: links, SVG), to reorder text
 * (bidirectional overrides) or to exhaust the page (the longest message, a 60 KB one) render as text, with
 * no script run; and the Content Security Policy refuses a script injected into the page.
 */
import { chatting, expect, log, send, test } from './fixtures.ts'

const CORPUS = [
  '<script>window.__xss = (window.__xss ?? 0) + 1</script>',
  '<img src=x onerror="window.__xss = (window.__xss ?? 0) + 1">',
  '<svg onload="window.__xss = (window.__xss ?? 0) + 1"><circle r="5"/></svg>',
  '<a href="javascript:window.__xss=(window.__xss??0)+1">click me</a>',
  'javascript:window.__xss=(window.__xss??0)+1',
  '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
  '"><style>*{display:none}</style><b onmouseover=alert(1)>x</b>',
  '\u202Egnp.exe\u202C and \u2066isolated\u2069 \u200F',
  'see https://example.org/path?q=<b>1</b> and javascript:alert(1)',
  '{@html "<b>no</b>"} ${alert(1)} {{constructor.constructor("alert(1)")()}}',
]

test('an XSS corpus sent as messages renders as text, with zero script executions', async ({ paloma }) => {
  const { alice, bob } = await chatting(paloma, 'ready')
  for (const page of [alice.page, bob.page]) {
    page.on('dialog', () => {
      throw new Error('a dialog opened: script ran')
    })
  }
  for (const text of CORPUS) await send(alice.page, text)
  const longest = 'ẞ'.repeat(16 * 1024) // the longest text one message may carry (48 KB of UTF-8)
  await send(alice.page, longest)

  const incoming = log(bob.page).locator('li[data-direction="in"] .text')
  await expect(incoming).toHaveCount(CORPUS.length + 2)
  const shown = await incoming.evaluateAll((els) => els.map((e) => e.textContent))
  expect(shown).toEqual(['ready', ...CORPUS, longest])
  // Nothing became markup: the only elements inside messages are the links Paloma makes.
  const elements = await log(bob.page)
    .locator('li .text *')
    .evaluateAll((els) => els.map((e) => `${e.tagName}:${e.getAttribute('href')}:${e.getAttribute('rel')}`))
  expect(elements).toEqual(['A:https://example.org/path?q=:noopener noreferrer'])
  await log(bob.page).getByText('click me', { exact: false }).click()
  await log(bob.page).locator('li').filter({ hasText: 'gnp.exe' }).hover()
  expect(await bob.page.evaluate(() => (window as { __xss?: number }).__xss ?? 0)).toBe(0)
  expect(await alice.page.evaluate(() => (window as { __xss?: number }).__xss ?? 0)).toBe(0)
  // The chat list's preview is text too.
  await expect(bob.page.getByRole('list', { name: 'Chats' })).toContainText('ẞẞẞ')

  // A 60 KB message is refused in the composer, in words, and nothing is sent.
  await send(alice.page, 'x'.repeat(60 * 1024))
  await expect(alice.page.getByRole('alert').filter({ hasText: 'too long' })).toBeVisible()
  await expect(log(alice.page).locator('li[data-direction="out"]')).toHaveCount(CORPUS.length + 2)
})

test('the Content Security Policy blocks an injected inline script and reports it', async ({ paloma }) => {
  const alice = await paloma.person('alice')
  const response = await alice.page.request.get(paloma.web.url)
  const csp = response.headers()['content-security-policy']!
  expect(csp).toContain("script-src 'self'")
  expect(csp).toContain("frame-ancestors 'none'")
  expect(csp).not.toContain('unsafe-inline')
  expect(csp).not.toContain('unsafe-eval')
  expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${paloma.relay.port}`)
  expect(response.headers()['referrer-policy']).toBe('no-referrer')

  const violation = await alice.page.evaluate(
    () =>
      new Promise<{ directive: string; ran: boolean }>((resolve) => {
        document.addEventListener('securitypolicyviolation', (e) =>
          resolve({
            directive: e.effectiveDirective,
            ran: (window as { __inline?: boolean }).__inline === true,
          }),
        )
        const s = document.createElement('script')
        s.textContent = 'window.__inline = true'
        document.body.append(s)
      }),
  )
  expect(violation).toEqual({ directive: 'script-src-elem', ran: false })
})
