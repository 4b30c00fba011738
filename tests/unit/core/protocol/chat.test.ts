import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from 'cborg'
import {
  ChatFrameError,
  decodeChatFrame,
  encodeChatFrame,
  MAX_CHAT_FRAME_BYTES,
  MAX_TEXT_CHARS,
  type ChatFrame,
} from '../../../../src/core/protocol/chat.ts'

describe('chat frame codec', () => {
  it('round-trips msg and ack frames', () => {
    const frames: ChatFrame[] = [
      { t: 'msg', id: 'a1', ts: 1_700_000_000_000, text: 'hola 👋' },
      { t: 'msg', id: 'x'.repeat(64), ts: 0, text: '' },
      { t: 'ack', id: 'a1' },
    ]
    for (const f of frames) expect(decodeChatFrame(encodeChatFrame(f))).toEqual(f)
  })

  it('round-trips any valid frame (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.string({ maxLength: 500 }),
        (id, ts, text) => {
          const f: ChatFrame = { t: 'msg', id, ts, text }
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
    ['an unknown type', encode({ v: 1, t: 'nope', id: 'a' })],
    ['an empty id', encode({ v: 1, t: 'ack', id: '' })],
    ['an overlong id', encode({ v: 1, t: 'ack', id: 'x'.repeat(65) })],
    ['a numeric id', encode({ v: 1, t: 'ack', id: 5 })],
    ['extra fields', encode({ v: 1, t: 'ack', id: 'a', evil: true })],
    ['a negative timestamp', encode({ v: 1, t: 'msg', id: 'a', ts: -1, text: 'x' })],
    ['a fractional timestamp', encode({ v: 1, t: 'msg', id: 'a', ts: 1.5, text: 'x' })],
    ['a missing text', encode({ v: 1, t: 'msg', id: 'a', ts: 1, body: 'x' })],
    ['an overlong text', encode({ v: 1, t: 'msg', id: 'a', ts: 1, text: 'x'.repeat(MAX_TEXT_CHARS + 1) })],
    ['an oversize frame', new Uint8Array(MAX_CHAT_FRAME_BYTES + 1)],
  ])('rejects %s with a ChatFrameError', (_what, bytes) => {
    expect(() => decodeChatFrame(bytes)).toThrow(ChatFrameError)
  })

  it('refuses to encode an invalid frame', () => {
    expect(() => encodeChatFrame({ t: 'msg', id: '', ts: 1, text: 'x' })).toThrow(ChatFrameError)
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
