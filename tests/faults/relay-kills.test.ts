/**
 * Relays killed (`kill -9`) at random moments while one person writes to another who is away, each
 * relay restarted after a moment on its port and data directory. Three relay processes, two Node people
 * (full apps on in-memory vaults). What must hold: every message acknowledged by the app reaches the
 * recipient exactly once (lost = 0, duplicated = 0), and the app reconnects to each restarted relay by
 * itself (the time it takes is reported).
 *
 * `npm test` runs the short version (500 messages, 5 kills); `npm run soak:faults` the long one
 * (PALOMA_SOAK=1: 10,000 messages, 50 kills). Either prints its counts as one JSON line (`npm run soak` keeps it).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { seededRng } from '../support/rng.ts'
import { startRelay, startRelayMesh, type RelayProcess } from '../support/relays.ts'
import { PASSPHRASE, until, useScene } from '../support/people.ts'
import { waitFor } from '../support/wait.ts'

const SOAK = process.env.PALOMA_SOAK === '1'
const MESSAGES = SOAK ? 10_000 : 500
const KILLS = SOAK ? 50 : 5
/**
 * The relays take any rate and count from one sender: the test is about crashes, not the anti-spam limits
 * (with the default 2,000 envelopes per sender per relay, three relays hold 3,000 messages at two copies).
 */
const RELAY_ARGS = [
  '--mailbox-rate',
  '1000000',
  '--mailbox-rate-burst',
  '1000000',
  '--mailbox-recipient-count',
  '100000',
  '--mailbox-sender-count',
  '100000',
]

const scene = useScene()
let relays: RelayProcess[] = []
afterEach(async () => {
  for (const r of relays.splice(0)) await r.stop()
})

describe('relays killed at random while messages wait for an absent person', () => {
  it(
    `${MESSAGES} messages, ${KILLS} kill -9 of random relays: none lost, none twice`,
    { timeout: SOAK ? 3_600_000 : 300_000 },
    async () => {
      const rng = seededRng('relay-kills')
      const rand = (n: number) => rng(4).reduce((a, b) => a * 256 + b, 0) % n
      relays = await startRelayMesh(3, RELAY_ARGS)
      const addrs = relays.map((r) => r.multiaddr)
      const alice = await scene.online('alice', addrs)
      const bob = await scene.online('bob', addrs)
      await alice.app.addContact(bob.app.snapshot().me!.inviteLink!)
      await alice.app.send('hello')
      await until(alice.app, (s) => s.messages.find((m) => m.status === 'delivered'))
      const aliceId = alice.app.peerId!
      await until(bob.app, (s) => s.contacts.find((c) => c.peerId === aliceId))
      await bob.app.stop() // Bob is away: everything waits in his mailboxes

      const recoveries: number[] = []
      let kills = 0
      const killer = (async () => {
        for (; kills < KILLS; kills++) {
          await new Promise((r) => setTimeout(r, 200 + rand(SOAK ? 2000 : 800)))
          const i = rand(relays.length)
          const victim = relays[i]!
          await victim.stop('SIGKILL')
          await new Promise((r) => setTimeout(r, 100 + rand(400)))
          relays[i] = await startRelay({ port: victim.port, dataDir: victim.dataDir, args: victim.args })
          const restarted = Date.now()
          await waitFor(
            () => alice.app.network!.isConnected(victim.peerId),
            'alice back on the restarted relay',
            60_000,
          )
          recoveries.push(Date.now() - restarted)
        }
      })()

      for (let i = 0; i < MESSAGES; i++) {
        await alice.app.send(`m${i}`)
        if (i % 50 === 49) await new Promise((r) => setTimeout(r, 10)) // some air for the killer
      }
      await killer
      alice.app.networkChanged() // retry at once, not after the backoff reached during the kills
      await until(alice.app, (s) => s.messages.every((m) => m.status !== 'pending'), SOAK ? 600_000 : 120_000)

      // Bob comes back and reads every relay's mailbox.
      const reopened = await bob.reopen()
      await reopened.unlock(PASSPHRASE)
      await until(
        reopened,
        (s) => (s.contacts.find((c) => c.peerId === aliceId)?.unread ?? 0) > MESSAGES, // (and "hello")
        SOAK ? 600_000 : 120_000,
      )
      await reopened.openChat(aliceId)
      const texts = reopened
        .snapshot()
        .messages.filter((m) => m.direction === 'in')
        .map((m) => m.text)
      const unique = new Set(texts)
      const expected = Array.from({ length: MESSAGES }, (_, i) => `m${i}`)
      const report = {
        suite: 'relay-kills',
        sent: MESSAGES,
        kills,
        acknowledged: alice.app.snapshot().messages.filter((m) => m.status !== 'pending').length - 1,
        delivered: unique.size - 1,
        lost: expected.filter((t) => !unique.has(t)).length,
        duplicated: texts.length - unique.size,
        recoveries: recoveries.length,
        recovery_ms: {
          median: [...recoveries].sort((a, b) => a - b)[recoveries.length >> 1],
          max: Math.max(...recoveries),
          each: recoveries,
        },
      }
      console.log(JSON.stringify(report))
      expect(report.lost).toBe(0)
      expect(report.duplicated).toBe(0)
      // Each sender's messages in the order written.
      expect(texts.filter((t) => t !== 'hello')).toEqual(expected)
    },
  )
})
