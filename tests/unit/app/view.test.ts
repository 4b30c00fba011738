import { describe, expect, it } from 'vitest'
import type { ChatMessage } from '@paloma/core/messages.ts'
import type { ContactRecord } from '../../../src/app/records.ts'
import { View, type ViewSources } from '../../../src/app/view.ts'

const BOB = '12D3KooWL6Wrv1ZGz1uXiKLa9PdrvZMyvhBNRkbbd2yxcRKPfuj8'
const CAROL = '12D3KooWDq7sDqZHkAGDxMGcWcXzZtMRnSfsmDQSCTNEaAmTCkn4'

function sources() {
  const contacts = new Map<string, ContactRecord>([
    [BOB, { peer: BOB, name: 'bob', relays: [], added: 1, keyChanged: false }],
    [CAROL, { peer: CAROL, name: 'carol', relays: [], added: 2, keyChanged: false }],
  ])
  const history = new Map<string, readonly ChatMessage[]>()
  const reads = { live: 0 }
  const src: ViewSources & { active?: string } = {
    me: () => ({ peerId: 'me', name: 'alice', fingerprint: 'f', inviteLink: 'l' }),
    contacts: { all: () => contacts.values(), get: (p) => contacts.get(p) },
    conversations: {
      history: (p) => history.get(p) ?? [],
      unread: () => 0,
      lastActivity: (p) => history.get(p)?.at(-1)?.ts,
      get active() {
        return src.active
      },
    },
    presence: {
      live: () => {
        reads.live++
        return { online: false, typing: false }
      },
    },
    network: { isReachable: () => true, isDirect: () => false },
    settings: { current: { readReceipts: true, presence: true } },
    safetyNumber: () => undefined,
  }
  return { src, contacts, history, reads }
}

const msg = (peer: string, id: string, ts: number): ChatMessage => ({
  id,
  peer,
  direction: 'in',
  text: id,
  ts,
  status: 'delivered',
})

describe('view', () => {
  it('rebuilds only the rows that changed, and orders chats by last activity', async () => {
    const { src, contacts, history, reads } = sources()
    const view = new View()
    view.attach(src)
    const first = view.snapshot()
    expect(first.contacts.map((c) => c.name)).toEqual(['carol', 'bob'])
    expect(reads.live).toBe(2)

    contacts.set(BOB, { ...contacts.get(BOB)!, name: 'bobby' })
    history.set(BOB, [msg(BOB, 'm1', 10)])
    view.contact(BOB)
    const second = view.snapshot()
    expect(second.contacts.map((c) => c.name)).toEqual(['bobby', 'carol'])
    expect(reads.live).toBe(3) // carol's row was reused, not rebuilt
    expect(second.contacts[1]).toBe(first.contacts[0])
  })

  it('hands out the conversation’s own immutable array, and the same snapshot until something changes', () => {
    const { src, history } = sources()
    const list = [msg(BOB, 'm1', 10)]
    history.set(BOB, list)
    src.active = BOB
    const view = new View()
    view.attach(src)
    const s = view.snapshot()
    expect(s.messages).toBe(list)
    expect(view.snapshot()).toBe(s)
    view.conversation(CAROL) // not the open chat: its row may move, the messages stay
    expect(view.snapshot().messages).toBe(list)
  })

  it('tells subscribers once per burst of changes', async () => {
    const { src } = sources()
    const view = new View()
    view.attach(src)
    const seen: unknown[] = []
    view.subscribe((s) => seen.push(s))
    for (let i = 0; i < 10; i++) view.contact(BOB)
    await Promise.resolve()
    expect(seen).toHaveLength(2) // the current snapshot at subscribe, then one for the burst
  })

  it('shows the connection state and the phase without an account', () => {
    const view = new View({ isNetworkUp: () => false, persisted: false })
    view.setPhase('unlock')
    expect(view.snapshot()).toMatchObject({
      phase: 'unlock',
      state: 'offline',
      contacts: [],
      notice: 'not-persistent',
    })
  })
})
