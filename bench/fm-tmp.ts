import type { Paloma } from '../src/app/paloma.ts'
import { lab, newPerson } from './browser.ts'
type Win = { paloma: Paloma }
const l = await lab()
try {
  for (let i = 0; i < 3; i++) {
    const [a, b] = await Promise.all([newPerson(l, `ann${i}`), newPerson(l, `ben${i}`)])
    const invite = await b.page.evaluate(() => (globalThis as unknown as Win).paloma.inviteLink()!)
    const aId = await a.page.evaluate(() => (globalThis as unknown as Win).paloma.peerId!)
    const shown = b.page.evaluate((peer) => new Promise<number>((resolve) => {
      const app = (globalThis as unknown as Win).paloma
      app.subscribe((s) => { if (s.contacts.some((c) => c.peerId === peer && c.unread > 0)) resolve(performance.timeOrigin + performance.now()) })
    }), aId)
    const r = await a.page.evaluate(async (link) => {
      const app = (globalThis as unknown as Win).paloma
      const T = () => performance.timeOrigin + performance.now()
      const t0 = T()
      await app.addContact(link)
      const t1 = T()
      await app.send('hello, first message')
      const t2 = T()
      await new Promise<void>((res) => app.subscribe((s) => { if (s.messages.some((m) => m.status !== 'pending')) res() }))
      const t3 = T()
      return { t0, add: t1 - t0, send: t2 - t0, acked: t3 - t0, st: app.snapshot().messages[0]?.status }
    }, invite)
    console.log(JSON.stringify({ ...r, shownAtBob: (await shown) - r.t0 }))
    await Promise.all([a.context.close(), b.context.close()])
  }
} finally { await l.close() }
