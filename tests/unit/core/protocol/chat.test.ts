import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from 'cborg'
import {
  ChatFrameError,
  decodeChatFrame,
  encodeChatFrame,
  MAX_CHAT_FRAME_BYTES,
  MAX_ENVELOPE_BYTES,
  type ChatFrame,
} from '../../../../src/core/protocol/chat.ts'

describe('chat frame codec', () => {
  it('round-trips env and ack frames', () => {
    const frames: ChatFrame[] = [
      { t: 'env', id: 'a1', env: new Uint8Array([1, 2, 3]) },
      { t: 'env', id: 'x'.repeat(64), env: new Uint8Array(MAX_ENVELOPE_BYTES) },
      { t: 'ack', id: 'a1' },
    ]
    for (const f of frames) expect(decodeChatFrame(encodeChatFrame(f))).toEqual(f)
  })

  it('round-trips any valid frame (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        (id, env) => {
          const f: ChatFrame = { t: 'env', id, env }
          expect(decodeChatFrame(encodeChatFrame(f))).toEqual(f)
        },
      ),
    )
  })

  it.each([
    ['not CBOR', new Uint8Array([0xff, 0x00, 0x13])],
    ['a CBOR array', encode([1, 2])],
    ['a wrong version', encode({ v: 2, t: 'ack', id: 'a' })],
    ['no version', encode({ t: 'ack', id: 'a' })],
    ['an unknown type', encode({ v: 1, t: 'msg', id: 'a', ts: 1, text: 'plaintext is not allowed' })],
    ['an empty id', encode({ v: 1, t: 'ack', id: '' })],
    ['an overlong id', encode({ v: 1, t: 'ack', id: 'x'.repeat(65) })],
    ['a numeric id', encode({ v: 1, t: 'ack', id: 5 })],
    ['extra fields', encode({ v: 1, t: 'ack', id: 'a', evil: true })],
    ['an empty envelope', encode({ v: 1, t: 'env', id: 'a', env: new Uint8Array(0) })],
    ['a text envelope', encode({ v: 1, t: 'env', id: 'a', env: 'hello' })],
    [
      'an oversize envelope',
      encode({ v: 1, t: 'env', id: 'a', env: new Uint8Array(MAX_ENVELOPE_BYTES + 1) }),
    ],
    ['an oversize frame', new Uint8Array(MAX_CHAT_FRAME_BYTES + 1)],
  ])('rejects %s with a ChatFrameError', (_what, bytes) => {
    expect(() => decodeChatFrame(bytes)).toThrow(ChatFrameError)
  })

  it('refuses to encode an invalid frame', () => {
    expect(() => encodeChatFrame({ t: 'env', id: '', env: new Uint8Array(1) })).toThrow(ChatFrameError)
  })

  it('never throws anything but ChatFrameError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeChatFrame(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(ChatFrameError)
        }
      }),
    )
  })
})
