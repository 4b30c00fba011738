import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from 'cborg'
import { toString } from 'uint8arrays'
import {
  encodeInvite,
  InviteError,
  inviteUrl,
  parseInvite,
  type Invite,
} from '@paloma/core/protocol/invite.ts'

const PEER = '12D3KooWCcaXMjm8LxcusnsZLY4JnnMbaJBh5pZJj43KUBca6znG'
const RELAY = `/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooWP7E49tpmLujjWQPwRVAUCwbvEXPN2h7nwNDF2eZtZ7kP/p2p-circuit/p2p/${PEER}`

describe('invites with a prekey bundle', () => {
  it('carry the bundle bytes through the link, and refuse an oversized one', () => {
    const bundle = new Uint8Array([1, 2, 3, 4])
    const url = inviteUrl('https://paloma.example/', { peer: PEER, relays: [], bundle })
    expect(parseInvite(url).bundle).toEqual(bundle)
    expect(
      parseInvite(inviteUrl('https://paloma.example/', { peer: PEER, relays: [] })).bundle,
    ).toBeUndefined()
    expect(() =>
      inviteUrl('https://paloma.example/', { peer: PEER, relays: [], bundle: new Uint8Array(5000) }),
    ).toThrow(InviteError)
  })
})

describe('invite links', () => {
  const invite: Invite = { peer: PEER, name: 'alicia', relays: [RELAY] }

  it('round-trip as a URL fragment, a fragment, or the bare code', () => {
    const url = inviteUrl('https://paloma.example/app/', invite)
    expect(url).toMatch(/^https:\/\/paloma\.example\/app\/#invite=[A-Za-z0-9_-]+$/)
    expect(parseInvite(url)).toEqual(invite)
    expect(parseInvite(`#invite=${encodeInvite(invite)}`)).toEqual(invite)
    expect(parseInvite(`  ${encodeInvite(invite)}\n`)).toEqual(invite)
  })

  it('keep the name optional', () => {
    expect(parseInvite(encodeInvite({ peer: PEER, relays: [] }))).toEqual({ peer: PEER, relays: [] })
  })

  it('survive any name and relay list within limits (property)', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ maxLength: 64 }), { nil: undefined }),
        fc.array(
          fc.string({ maxLength: 100 }).map((s) => `/${s}`),
          { maxLength: 8 },
        ),
        (name, relays) => {
          const i: Invite = name === undefined ? { peer: PEER, relays } : { peer: PEER, name, relays }
          expect(parseInvite(inviteUrl('http://localhost:8080/', i))).toEqual(i)
        },
      ),
    )
  })

  const b64 = (o: unknown) => toString(encode(o), 'base64url')
  it.each([
    ['empty text', ''],
    ['garbage', 'https://paloma.example/#invite=!!!'],
    ['a non-map body', b64([1, 2])],
    ['a newer version', b64({ v: 2, peer: PEER, relays: [] })],
    ['a bad peer id', b64({ v: 1, peer: 'QmNotAnEd25519Peer', relays: [] })],
    ['relays that are not a list', b64({ v: 1, peer: PEER, relays: RELAY })],
    ['too many relays', b64({ v: 1, peer: PEER, relays: Array(9).fill('/x') })],
    ['unknown fields', b64({ v: 1, peer: PEER, relays: [], x: 1 })],
    ['an oversize link', 'a'.repeat(5000)],
  ])('refuse %s with an InviteError', (_what, text) => {
    expect(() => parseInvite(text)).toThrow(InviteError)
  })
})

describe('invite errors', () => {
  const b64 = (o: unknown) => toString(encode(o), 'base64url')
  const codeOf = (text: string): unknown => {
    try {
      parseInvite(text)
    } catch (err) {
      return err instanceof InviteError ? err.code : err
    }
    return 'parsed'
  }

  it('say which rule the link broke', () => {
    expect(codeOf('https://paloma.example/#invite=!!!')).toBe('BAD_INVITE')
    expect(codeOf(b64({ v: 2, peer: PEER, relays: [] }))).toBe('UNSUPPORTED_INVITE')
    expect(codeOf(b64({ v: 1, peer: 'QmNotAnEd25519Peer', relays: [] }))).toBe('BAD_INVITE_IDENTITY')
    expect(codeOf(b64({ v: 1, peer: PEER, relays: [], x: 1 }))).toBe('BAD_INVITE')
  })

  it('default to BAD_INVITE with a message saying what to do', () => {
    expect(new InviteError()).toMatchObject({ name: 'InviteError', code: 'BAD_INVITE' })
    expect(new InviteError().message).toMatch(/not a valid Paloma invite/)
  })
})
