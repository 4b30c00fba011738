import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from 'cborg'
import * as lp from 'it-length-prefixed'
import {
  ChatFrameError,
  chatFrameReader,
  decodeChatFrame,
  encodeChatFrame,
  MAX_CHAT_FRAME_BYTES,
  MAX_ENVELOPE_BYTES,
  type ChatFrame,
} from '@paloma/core/protocol/chat.ts'
import { encodeLengthPrefixed } from '@paloma/core/protocol/frames.ts'
import { catchError, strictViolations } from '../strict-cbor.ts'

describe('chat frame codec', () => {
  it('round-trips env, ack and nack frames', () => {
    const frames: ChatFrame[] = [
      { t: 'env', id: 'a1', env: new Uint8Array([1, 2, 3]) },
      { t: 'env', id: 'x'.repeat(64), env: new Uint8Array(MAX_ENVELOPE_BYTES) },
      { t: 'ack', id: 'a1' },
      { t: 'nack', id: 'a1' },
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

describe('chat stream reader', () => {
  const frames: ChatFrame[] = [
    { t: 'env', id: 'm1', env: Uint8Array.from({ length: 300 }, (_, i) => i & 0xff) },
    { t: 'ack', id: 'm0' },
    { t: 'env', id: 'x'.repeat(64), env: new Uint8Array(MAX_ENVELOPE_BYTES).fill(7) },
    { t: 'ack', id: 'm1' },
  ]
  // What libp2p's lpStream writes: the same unsigned varint (uint8-varint) as it-length-prefixed.
  const wire = concat(frames.map((f) => lp.encode.single(encodeChatFrame(f)).subarray()))

  it('frames exactly as lpStream / it-length-prefixed', () => {
    for (const f of frames) {
      const body = encodeChatFrame(f)
      expect(encodeLengthPrefixed(body)).toEqual(lp.encode.single(body).subarray())
    }
  })

  it('reads frames written lpStream-style, split at every offset', () => {
    const small = concat(frames.filter((f) => f.t !== 'env' || f.env.length < 1000).map(framed))
    for (let at = 0; at <= small.length; at++) {
      const reader = chatFrameReader()
      const got = [...reader.push(small.subarray(0, at)), ...reader.push(small.subarray(at))]
      expect(got).toEqual(frames.filter((f) => f.t !== 'env' || f.env.length < 1000))
      expect(reader.pendingBytes).toBe(0)
    }
    // The stream with a maximal frame, split at every 997th offset and into single bytes around the prefix.
    for (let at = 0; at <= wire.length; at += 997) {
      const reader = chatFrameReader()
      expect(summary([...reader.push(wire.subarray(0, at)), ...reader.push(wire.subarray(at))])).toEqual(
        summary(frames),
      )
    }
    const reader = chatFrameReader()
    const got: ChatFrame[] = []
    for (let i = 0; i < 400; i++) got.push(...reader.push(wire.subarray(i, i + 1)))
    got.push(...reader.push(wire.subarray(400)))
    expect(summary(got)).toEqual(summary(frames))
  })

  it('refuses an oversized length prefix before the body arrives', () => {
    const prefix = lp.encode
      .single(new Uint8Array(MAX_CHAT_FRAME_BYTES + 1))
      .subarray()
      .subarray(0, 3)
    const err = catchError(() => chatFrameReader().push(prefix))
    expect(err).toBeInstanceOf(ChatFrameError)
    expect(err).toMatchObject({ code: 'FRAME_TOO_LARGE' })
    expect(MAX_CHAT_FRAME_BYTES).toBeGreaterThan(MAX_ENVELOPE_BYTES)
  })

  it.each([
    ['a varint longer than 5 bytes', Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01)],
    ['an empty frame', Uint8Array.of(0x00)],
    ['a body that is not a chat frame', framedBytes(encode({ v: 1, t: 'msg', id: 'a' }))],
    ['a body that is not CBOR', framedBytes(Uint8Array.of(0xff, 0xff))],
  ])('refuses %s with a ChatFrameError', (_what, bytes) => {
    const err = catchError(() => chatFrameReader().push(bytes))
    expect(err).toBeInstanceOf(ChatFrameError)
    expect(err).toMatchObject({ code: 'BAD_FRAME' })
  })

  /** Frames as strings: deep equality of 60 KiB arrays element by element is slow. */
  function summary(list: ChatFrame[]): string[] {
    return list.map((f) => `${f.t} ${f.id} ${f.t === 'env' ? Buffer.from(f.env).toString('base64') : ''}`)
  }
  function framed(f: ChatFrame): Uint8Array {
    return framedBytes(encodeChatFrame(f))
  }
  function framedBytes(body: Uint8Array): Uint8Array {
    return lp.encode.single(body).subarray()
  }
})

describe('strict decoding of chat frames', () => {
  const ok = { v: 1, t: 'env', id: 'a', env: Uint8Array.of(1, 2) }
  it.each(strictViolations(ok))('refuses %s with a ChatFrameError', (_what, bytes) => {
    expect(decodeChatFrame(encode(ok))).toEqual({ t: 'env', id: 'a', env: Uint8Array.of(1, 2) })
    const err = catchError(() => decodeChatFrame(bytes))
    expect(err).toBeInstanceOf(ChatFrameError)
    expect(err).toMatchObject({ code: 'BAD_FRAME', message: expect.stringMatching(/not valid CBOR/) })
  })
})

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
