/**
 * Tabs closed and reopened at random moments: the receiving one while messages arrive, the sending one
 * while its outbox drains (Node people: a full app stopped and started again on the same storage). What
 * must hold: every message arrives once, in order, and the sessions stay in step (both can still write).
 *
 * `npm test`: 10 reopens of the receiver and 5 of the sender over 300 messages; `npm run soak:faults`
 * (PALOMA_SOAK=1): 200 and 50 over 5,000.
 */
import { describe, expect, it } from 'vitest'
import type { Paloma } from '../../src/app/paloma.ts'
import { seededRng } from '../support/rng.ts'
import { aliceAndBob, PASSPHRASE, until, useScene } from '../support/people.ts'

const SOAK = process.env.PALOMA_SOAK === '1'
const MESSAGES = SOAK ? 5000 : 300
const RECEIVER_REOPENS = SOAK ? 200 : 10
const SENDER_REOPENS = SOAK ? 50 : 5

const scene = useScene()

describe('tabs closed and reopened while messages flow', () => {
  it(
    `${RECEIVER_REOPENS} receiver and ${SENDER_REOPENS} sender reopens over ${MESSAGES} messages: once each, in order, in step`,
    { timeout: SOAK ? 3_600_000 : 300_000 },
    async () => {
      const rng = seededRng('reopen')
      const rand = (n: number) => rng(4).reduce((a, b) => a * 256 + b, 0) % n
      const { alice, bob, invite } = await aliceAndBob(scene)
      await alice.app.addContact(invite)
      await alice.app.send('hello')
      const aliceId = alice.app.peerId!
      const bobId = bob.app.peerId!
      await until(bob.app, (s) => s.contacts.find((c) => c.peerId === aliceId))

      // Reopen points spread over the run, each message index at most once.
      const receiverAt = new Set(Array.from({ length: RECEIVER_REOPENS }, () => rand(MESSAGES)))
      const senderAt = new Set(Array.from({ length: SENDER_REOPENS }, () => rand(MESSAGES)))
      const reopen = async (p: typeof alice): Promise<Paloma> => {
        const app = await p.reopen()
        await app.unlock(PASSPHRASE)
        return app
      }
      for (let i = 0; i < MESSAGES; i++) {
        await alice.app.send(`m${i}`)
        if (receiverAt.has(i)) await reopen(bob)
        if (senderAt.has(i)) {
          await reopen(alice)
          await alice.app.openChat(bobId)
        }
      }
      await until(alice.app, (s) => s.messages.every((m) => m.status !== 'pending'), SOAK ? 600_000 : 120_000)
      await until(
        bob.app,
        (s) => (s.contacts.find((c) => c.peerId === aliceId)?.unread ?? 0) > MESSAGES,
        120_000,
      )
      await bob.app.openChat(aliceId)
      const texts = bob.app
        .snapshot()
        .messages.filter((m) => m.direction === 'in')
        .map((m) => m.text)
      const expected = ['hello', ...Array.from({ length: MESSAGES }, (_, i) => `m${i}`)]
      console.log(
        JSON.stringify({
          suite: 'reopen',
          sent: MESSAGES,
          acknowledged: alice.app
            .snapshot()
            .messages.filter((m) => m.status !== 'pending' && m.text !== 'hello').length,
          receiver_reopens: receiverAt.size,
          sender_reopens: senderAt.size,
          delivered: new Set(texts.filter((t) => t !== 'hello')).size,
          duplicated: texts.length - new Set(texts).size,
          lost: expected.filter((t) => !texts.includes(t)).length,
        }),
      )
      expect(texts).toEqual(expected)

      // The sessions are still in step: both ways.
      await bob.app.send('still in step')
      await until(alice.app, (s) => s.messages.find((m) => m.text === 'still in step'))
      await alice.app.send('and back')
      await until(bob.app, (s) => s.messages.find((m) => m.text === 'and back'))
    },
  )
})
