import { describe, expect, it } from 'vitest'
import { encode as cborEncode } from 'cborg'
import {
  FrameReader,
  MAX_ACK_SEQS,
  MAILBOX_MAX_ENVELOPE_BYTES,
  MAILBOX_MAX_FRAME_BYTES,
  MAX_MESSAGE_ID_CHARS,
  MailboxFrameError,
  decodeFrameBody,
  encodeFrame,
  encodeFrameBody,
  type MailboxFrame,
} from '@paloma/core/protocol/mailbox.ts'
import { frameRejects } from './frame-asserts.ts'

const BOB = '12D3KooWP2v4YnztXgyUugesd59Qdrpwumon3vxQpJf1pa1um4kF'

const rejects = frameRejects(MailboxFrameError)

const raw = (value: unknown): Uint8Array => cborEncode(value)

describe('mailbox codec', () => {
  const frames: MailboxFrame[] = [
    { t: 'put', to: BOB, id: 'msg-1', env: new Uint8Array([1, 2, 3]) },
    { t: 'ok', id: 'msg-1' },
    { t: 'err', id: 'msg-1', code: 'RECIPIENT_QUOTA', msg: 'full' },
    { t: 'err', code: 'BAD_FRAME', msg: 'bad' },
    { t: 'sub' },
    { t: 'synced' },
    { t: 'env', seq: 7, from: BOB, id: 'msg-1', env: new Uint8Array(10), ts: 1_700_000_000_000 },
    { t: 'ack', seqs: [1, 2, 2 ** 40] },
    { t: 'nack', seqs: [3] },
  ]

  it('round-trips every frame type through the length-prefixed encoding', () => {
    const reader = new FrameReader()
    const bytes = frames.map(encodeFrame)
    const joined = new Uint8Array(bytes.reduce((n, b) => n + b.byteLength, 0))
    let offset = 0
    for (const b of bytes) {
      joined.set(b, offset)
      offset += b.byteLength
    }
    // Feed it one byte at a time: frames split anywhere must still come out whole.
    const out: MailboxFrame[] = []
    for (let i = 0; i < joined.byteLength; i++) out.push(...reader.push(joined.subarray(i, i + 1)))
    expect(out).toEqual(frames)
    expect(reader.pendingBytes).toBe(0)
  })

  it('encodes deterministically with the version field', () => {
    const body = encodeFrameBody({ t: 'ok', id: 'a' })
    expect(body).toEqual(raw({ t: 'ok', v: 1, id: 'a' }))
    expect(encodeFrameBody({ t: 'sub' })).toEqual(encodeFrameBody({ t: 'sub' }))
  })

  it('ignores unknown keys for forward compatibility', () => {
    expect(decodeFrameBody(raw({ v: 1, t: 'sub', extra: 'x' }))).toEqual({ t: 'sub' })
  })

  it('rejects bytes that are not CBOR, not a map, or carry duplicate keys', () => {
    rejects(() => decodeFrameBody(new Uint8Array([0xff, 0x00])), 'BAD_FRAME', /not valid CBOR/)
    rejects(() => decodeFrameBody(raw([1, 2])), 'BAD_FRAME', /expected a map, got array/)
    rejects(() => decodeFrameBody(raw('put')), 'BAD_FRAME', /expected a map, got string/)
    // {v:1, v:1, t:'sub'} written by hand: map(3) "v" 1 "v" 1 "t" "sub"
    const dup = new Uint8Array([0xa3, 0x61, 0x76, 0x01, 0x61, 0x76, 0x01, 0x61, 0x74, 0x63, 0x73, 0x75, 0x62])
    rejects(() => decodeFrameBody(dup), 'BAD_FRAME', /not valid CBOR/)
    // trailing bytes after the map
    const trailing = new Uint8Array([...raw({ v: 1, t: 'sub' }), 0x00])
    rejects(() => decodeFrameBody(trailing), 'BAD_FRAME', /not valid CBOR/)
  })

  it('rejects a missing or unknown version and unknown types', () => {
    rejects(() => decodeFrameBody(raw({ t: 'sub' })), 'BAD_FRAME', /v: expected 1, got undefined/)
    rejects(() => decodeFrameBody(raw({ v: 2, t: 'sub' })), 'UNSUPPORTED_VERSION', /version 1, got 2/)
    rejects(() => decodeFrameBody(raw({ v: 1, t: 'get' })), 'BAD_FRAME', /unknown frame type "get"/)
    rejects(() => decodeFrameBody(raw({ v: 1 })), 'BAD_FRAME', /unknown frame type/)
  })

  it('validates put fields', () => {
    const put = { v: 1, t: 'put', to: BOB, id: 'm', env: new Uint8Array(1) }
    rejects(
      () => decodeFrameBody(raw({ ...put, to: 42 })),
      'BAD_FRAME',
      /put.to: expected a string, got number/,
    )
    rejects(() => decodeFrameBody(raw({ ...put, to: 'not a peer id!' })), 'BAD_FRAME', /put.to: contains/)
    rejects(
      () => decodeFrameBody(raw({ ...put, to: '1'.repeat(129) })),
      'BAD_FRAME',
      /put.to: expected 1 to 128/,
    )
    rejects(() => decodeFrameBody(raw({ ...put, id: '' })), 'BAD_FRAME', /put.id: expected 1 to 64/)
    rejects(
      () => decodeFrameBody(raw({ ...put, id: 'x'.repeat(MAX_MESSAGE_ID_CHARS + 1) })),
      'BAD_FRAME',
      /put.id/,
    )
    rejects(() => decodeFrameBody(raw({ ...put, id: 'has space' })), 'BAD_FRAME', /put.id: contains/)
    rejects(
      () => decodeFrameBody(raw({ ...put, env: 'text' })),
      'BAD_FRAME',
      /put.env: expected bytes, got string/,
    )
    rejects(
      () => decodeFrameBody(raw({ ...put, env: new Uint8Array(MAILBOX_MAX_ENVELOPE_BYTES + 1) })),
      'FRAME_TOO_LARGE',
      /put.env: expected at most/,
    )
    expect(decodeFrameBody(raw({ ...put, env: new Uint8Array(MAILBOX_MAX_ENVELOPE_BYTES) })).t).toBe('put')
  })

  it('validates env, ack and err fields', () => {
    const env = { v: 1, t: 'env', seq: 1, from: BOB, id: 'm', env: new Uint8Array(1), ts: 5 }
    rejects(() => decodeFrameBody(raw({ ...env, seq: 0 })), 'BAD_FRAME', /env.seq: expected a positive/)
    rejects(() => decodeFrameBody(raw({ ...env, seq: 1.5 })), 'BAD_FRAME', /env.seq/)
    rejects(() => decodeFrameBody(raw({ ...env, ts: -1 })), 'BAD_FRAME', /env.ts/)
    rejects(() => decodeFrameBody(raw({ v: 1, t: 'ack', seqs: [] })), 'BAD_FRAME', /ack.seqs: expected 1 to/)
    rejects(
      () => decodeFrameBody(raw({ v: 1, t: 'ack', seqs: 3 })),
      'BAD_FRAME',
      /ack.seqs: expected an array/,
    )
    rejects(() => decodeFrameBody(raw({ v: 1, t: 'ack', seqs: [1, 'x'] })), 'BAD_FRAME', /ack.seqs\[1\]/)
    const many = Array.from({ length: MAX_ACK_SEQS + 1 }, (_, i) => i + 1)
    rejects(
      () => decodeFrameBody(raw({ v: 1, t: 'ack', seqs: many })),
      'BAD_FRAME',
      /ack.seqs: expected 1 to 1024/,
    )
    rejects(() => decodeFrameBody(raw({ v: 1, t: 'nack', seqs: [-1] })), 'BAD_FRAME', /nack.seqs\[0\]/)
    rejects(() => decodeFrameBody(raw({ v: 1, t: 'err', code: 'NOPE', msg: '' })), 'BAD_FRAME', /err.code/)
    rejects(
      () => decodeFrameBody(raw({ v: 1, t: 'err', code: 'INTERNAL', msg: 'x'.repeat(513) })),
      'BAD_FRAME',
      /err.msg/,
    )
  })

  it('refuses to encode invalid frames', () => {
    rejects(() => encodeFrame({ t: 'put', to: BOB, id: '', env: new Uint8Array(1) }), 'BAD_FRAME', /put.id/)
    rejects(
      () => encodeFrame({ t: 'put', to: BOB, id: 'a', env: new Uint8Array(MAILBOX_MAX_ENVELOPE_BYTES + 1) }),
      'FRAME_TOO_LARGE',
      /put.env/,
    )
  })

  it('refuses an oversized length prefix before buffering the body', () => {
    const reader = new FrameReader()
    // varint of MAILBOX_MAX_FRAME_BYTES + 1
    let n = MAILBOX_MAX_FRAME_BYTES + 1
    const prefix: number[] = []
    while (n >= 0x80) {
      prefix.push((n & 0x7f) | 0x80)
      n = Math.floor(n / 128)
    }
    prefix.push(n)
    rejects(() => reader.push(Uint8Array.from(prefix)), 'FRAME_TOO_LARGE', /exceeds/)
    rejects(
      () => new FrameReader().push(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])),
      'BAD_FRAME',
      /varint/,
    )
    rejects(() => new FrameReader().push(new Uint8Array([0x00])), 'BAD_FRAME', /empty frame/)
    rejects(
      () => new FrameReader(10).push(encodeFrame({ t: 'ok', id: 'a'.repeat(20) })),
      'FRAME_TOO_LARGE',
      /exceeds 10/,
    )
  })

  it('waits for the rest of a partial frame', () => {
    const bytes = encodeFrame({ t: 'ok', id: 'abc' })
    const reader = new FrameReader()
    expect(reader.push(bytes.subarray(0, 3))).toEqual([])
    expect(reader.pendingBytes).toBe(3)
    expect(reader.push(bytes.subarray(3))).toEqual([{ t: 'ok', id: 'abc' }])
  })
})
