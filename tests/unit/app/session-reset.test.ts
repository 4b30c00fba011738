import { describe, expect, it } from 'vitest'
import { decodePayload } from '@paloma/core/protocol/payload.ts'
import type { ChatMessage } from '@paloma/core/messages.ts'
import { sessionReset } from '../../../src/app/session-reset.ts'

function make() {
  const log: string[] = []
  const clock = { t: 1_000_000 }
  const queued = new Set(['m2'])
  const unconfirmed: ChatMessage[] = ['m1', 'm2'].map((id) => ({
    id,
    peer: 'bob',
    direction: 'out',
    text: `text ${id}`,
    ts: 1,
    status: 'sent',
  }))
  let profileKnown = true
  const r = sessionReset({ minIntervalMs: 60_000 })({
    sessions: {
      ensure: async (peer, o) => (log.push(`ensure ${peer} force=${o?.force === true}`), profileKnown),
      adoptTheirs: async (peer) => void log.push(`adopt ${peer}`),
    },
    outbox: {
      enqueue: async (peer, payload, o) => {
        const p = decodePayload(payload)
        log.push(`enqueue ${peer} ${p.k}${p.k === 'text' ? ` ${p.id}=${o?.id}` : ''}`)
      },
      flush: async () => void log.push('flush'),
      reencrypt: (peer) => void log.push(`reencrypt ${peer}`),
      has: (id) => queued.has(id),
    },
    conversations: { unconfirmed: () => unconfirmed },
    contacts: { ensure: async (peer) => (log.push(`contact ${peer}`), { peer }) as never },
    now: () => clock.t,
  })
  return { r, log, clock, setProfileKnown: (k: boolean) => (profileKnown = k) }
}

describe('session reset', () => {
  it('asks for a reset on a new session, at most once a minute per contact', async () => {
    const { r, log, clock } = make()
    await r.request('bob')
    expect(log).toEqual(['contact bob', 'ensure bob force=true', 'enqueue bob reset', 'flush'])
    await r.request('bob')
    clock.t += 59_999
    await r.request('bob')
    expect(log.filter((l) => l.includes('reset'))).toHaveLength(1)
    clock.t += 1
    await r.request('bob')
    expect(log.filter((l) => l.includes('reset'))).toHaveLength(2)
  })

  it('sends nothing when the contact’s profile cannot be had, and waits the interval before trying again', async () => {
    const { r, log, setProfileKnown } = make()
    setProfileKnown(false)
    await r.request('bob')
    expect(log).toEqual(['contact bob', 'ensure bob force=true'])
  })

  it('on a reset from them: adopts their session, re-encrypts what waits, and sends again only what is not queued', async () => {
    const { r, log } = make()
    await r.accept('bob')
    expect(log).toEqual(['adopt bob', 'reencrypt bob', 'enqueue bob text m1=m1', 'flush'])
  })
})
