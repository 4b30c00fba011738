/**
 * Foundation benchmark (issue 2): two real Chromium contexts and a relay process. One JSON line:
 *   account_to_online_ms  "Create account" clicked -> relay reservation held (status Online): key and vault
 *                         creation (Argon2id), node start, WebSocket + Noise to the relay, reservation
 *   direct_dial_ms      invite added -> direct WebRTC connection open (signalled through the relay)
 *   rtt_ms_p50/p99      app-level round trip over the direct connection: send -> the other's app decrypts,
 *                       stores and acknowledges it (status "sent"), 100 messages of 100 bytes
 *   js_gzip_bytes       gzipped size of the built JavaScript
 * Needs `npm run build` first (npm run bench does it).
 */
import { readdir, readFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { join, resolve } from 'node:path'
import type { Paloma } from '../src/app/paloma.ts'
import { lab, newPerson, percentile, round } from './browser.ts'

const ROUNDS = 100
type Win = { paloma: Paloma }

const l = await lab()
try {
  const alice = await newPerson(l, 'alice')
  const bob = await newPerson(l, 'bob')
  const bobInvite = await bob.page.evaluate(() => (globalThis as unknown as Win).paloma.inviteLink()!)
  const bobId = await bob.page.evaluate(() => (globalThis as unknown as Win).paloma.peerId!)

  // Adding the contact opens the chat, and the app dials the direct WebRTC connection through the relay.
  const result = await alice.page.evaluate(
    async ({ link, peer, rounds, DIRECT_MS }) => {
      const app = (globalThis as unknown as Win).paloma
      const t0 = performance.now()
      await app.addContact(link)
      // A dial through the relay that fails twice is tried again every 30 s while the chat is open.
      await new Promise<void>((res, rej) => {
        const timeout = setTimeout(
          () => rej(new Error(`no direct connection within ${DIRECT_MS} ms`)),
          DIRECT_MS,
        )
        const off = app.subscribe((s) => {
          if (s.contacts.find((c) => c.peerId === peer)?.direct) {
            clearTimeout(timeout)
            queueMicrotask(() => off())
            res()
          }
        })
      })
      const dialMs = performance.now() - t0
      const rtts: number[] = []
      const text = 'x'.repeat(100)
      for (let i = 0; i < rounds; i++) {
        const start = performance.now()
        await app.send(text)
        const id = app.snapshot().messages.at(-1)!.id
        await new Promise<void>((res) => {
          const off = app.subscribe((s) => {
            if (s.messages.some((m) => m.id === id && m.status !== 'pending')) {
              queueMicrotask(() => off())
              res()
            }
          })
        })
        rtts.push(performance.now() - start)
      }
      return { dialMs, rtts }
    },
    { link: bobInvite, peer: bobId, rounds: ROUNDS, DIRECT_MS: 120_000 },
  )

  const assets = resolve(import.meta.dirname, '../dist/assets')
  let raw = 0
  let gz = 0
  for (const f of await readdir(assets)) {
    if (!f.endsWith('.js')) continue
    const bytes = await readFile(join(assets, f))
    raw += bytes.byteLength
    gz += gzipSync(bytes, { level: 9 }).byteLength
  }
  console.log(
    JSON.stringify({
      bench: 'foundation',
      account_to_online_ms: Math.round(percentile([alice.reservationMs, bob.reservationMs], 50)),
      direct_dial_ms: Math.round(result.dialMs),
      rtt_ms_p50: round(percentile(result.rtts, 50), 2),
      rtt_ms_p99: round(percentile(result.rtts, 99), 2),
      rounds: ROUNDS,
      js_bytes: raw,
      js_gzip_bytes: gz,
    }),
  )
} finally {
  await l.close()
}
