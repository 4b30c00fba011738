/**
 * Fuzzing every wire decoder a remote peer reaches on a stream: chat frames and the chat stream reader,
 * envelopes, payloads, mailbox and prekey frames and their readers, signed one-time prekey records.
 * Harness and invariants: support/fuzz.ts; inputs: support/mutations.ts and support/streams.ts.
 */
import { describe, expect } from 'vitest'
import fc from 'fast-check'
import { FRAME_ERROR_CODES } from '@paloma/core/protocol/frames.ts'
import {
  ChatFrameError,
  MAX_CHAT_FRAME_BYTES,
  MAX_ENVELOPE_BYTES,
  chatFrameReader,
  decodeChatFrame,
  encodeChatFrame,
  type ChatFrame,
} from '@paloma/core/protocol/chat.ts'
import {
  ENVELOPE_ERROR_CODES,
  EnvelopeError,
  decodeEnvelope,
  encodeEnvelope,
} from '@paloma/core/protocol/envelope.ts'
import {
  MAX_RECEIPT_IDS,
  MAX_TEXT_CHARS,
  PAYLOAD_ERROR_CODES,
  PayloadError,
  decodePayload,
  encodePayload,
  type Payload,
} from '@paloma/core/protocol/payload.ts'
import * as mailbox from '@paloma/core/protocol/mailbox.ts'
import * as prekeys from '@paloma/core/protocol/prekeys.ts'
import { encodeCanonical } from '@paloma/core/cbor.ts'
import { encodeWith } from './support/cbor.ts'
import { fuzzer, same } from './support/fuzz.ts'
import { byteInputs } from './support/mutations.ts'
import { readSplit, streams } from './support/streams.ts'
import { conversation, party, rng } from './support/seeds.ts'

const fuzz = fuzzer('wire')
const PEER = '12D3KooWCcaXMjm8LxcusnsZLY4JnnMbaJBh5pZJj43KUBca6znG'

const he = await conversation(true)
const plain = await conversation(false)
const envelopes = [...he.toBob, ...plain.toBob].map((m) => encodeEnvelope(m.message))

describe('chat stream', () => {
  const frames: ChatFrame[] = [
    { t: 'env', id: 'm-1', env: envelopes[0]! },
    { t: 'env', id: 'x'.repeat(64), env: envelopes[3]! },
    { t: 'env', id: 'e', env: new Uint8Array(MAX_ENVELOPE_BYTES).fill(3) },
    { t: 'ack', id: 'm-1' },
  ]
  const seeds = frames.map(encodeChatFrame)
  const atTheCap = fc
    .tuple(fc.integer({ min: -1, max: 1 }), fc.constantFrom('env', 'ack'))
    .map(([d, t]) => encodeWith({ v: 1, t, id: 'x', env: new Uint8Array(MAX_ENVELOPE_BYTES + d) }))
  const bodies = byteInputs(seeds, { sizes: [MAX_CHAT_FRAME_BYTES], extra: [atTheCap] })
  const accepted = (f: ChatFrame): void => {
    same(decodeChatFrame(encodeChatFrame(f)), f, 'a chat frame round-trips')
    expect(f.id.length).toBeGreaterThan(0)
    if (f.t === 'env') expect(f.env.length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES)
  }

  fuzz({
    name: 'decodeChatFrame',
    family: 'chat',
    input: bodies,
    run: decodeChatFrame,
    error: ChatFrameError,
    codes: FRAME_ERROR_CODES,
    accepted,
  })
  fuzz({
    name: 'chatFrameReader (split at arbitrary offsets, hostile length prefixes)',
    family: 'chat',
    input: streams(
      fc.oneof(
        { weight: 12, arbitrary: byteInputs(seeds.filter((b) => b.length < 4096)) },
        { weight: 1, arbitrary: bodies },
      ),
      MAX_CHAT_FRAME_BYTES,
    ),
    run: (input) => readSplit(chatFrameReader, MAX_CHAT_FRAME_BYTES, input),
    error: ChatFrameError,
    codes: FRAME_ERROR_CODES,
    accepted: (got) => got.forEach(accepted),
    msPerCase: 5,
  })
})

describe('envelopes and payloads', () => {
  fuzz({
    name: 'decodeEnvelope',
    family: 'envelope',
    input: byteInputs(envelopes, {
      sizes: [MAX_ENVELOPE_BYTES],
      extra: [
        fc
          .integer({ min: -1, max: 1 })
          .map((d) => encodeWith({ v: 1, t: 2, b: new Uint8Array(MAX_ENVELOPE_BYTES - 8 + d) })),
      ],
    }),
    run: decodeEnvelope,
    error: EnvelopeError,
    codes: ENVELOPE_ERROR_CODES,
    accepted: (m, bytes) => {
      expect(bytes.length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES)
      expect(m.body.length).toBeGreaterThan(0)
      same(decodeEnvelope(encodeEnvelope(m)), m, 'an envelope round-trips')
    },
  })

  const payloads: Payload[] = [
    { k: 'text', id: 'm-1', ts: 1_700_000_000_000, text: 'hola' },
    { k: 'text', id: 'x'.repeat(64), ts: 0, text: 'y'.repeat(MAX_TEXT_CHARS) },
    { k: 'receipt', status: 'delivered', ids: ['a', 'b'] },
    { k: 'receipt', status: 'read', ids: Array.from({ length: MAX_RECEIPT_IDS }, (_, i) => `m${i}`) },
    { k: 'presence', online: true, ts: 5 },
    { k: 'typing', on: false },
    { k: 'reset' },
  ]
  fuzz({
    name: 'decodePayload',
    family: 'payload',
    input: byteInputs(payloads.map(encodePayload)),
    run: decodePayload,
    error: PayloadError,
    codes: PAYLOAD_ERROR_CODES,
    accepted: (p) => same(decodePayload(encodePayload(p)), p, 'a payload round-trips'),
  })
})

describe('mailbox frames', () => {
  const frames: mailbox.MailboxFrame[] = [
    { t: 'put', to: PEER, id: 'msg-1', env: envelopes[0]! },
    { t: 'ok', id: 'msg-1' },
    { t: 'err', id: 'msg-1', code: 'RECIPIENT_QUOTA', msg: 'full' },
    { t: 'err', code: 'BAD_FRAME', msg: 'x'.repeat(512) },
    { t: 'sub' },
    { t: 'synced' },
    { t: 'env', seq: 7, from: PEER, id: 'msg-1', env: envelopes[2]!, ts: 1_700_000_000_000 },
    { t: 'ack', seqs: [1, 2, 2 ** 40] },
    { t: 'nack', seqs: Array.from({ length: mailbox.MAX_ACK_SEQS }, (_, i) => i + 1) },
  ]
  const seeds = frames.map(mailbox.encodeFrameBody)
  const bodies = byteInputs(seeds, {
    sizes: [mailbox.MAILBOX_MAX_FRAME_BYTES],
    extra: [
      fc.integer({ min: -1, max: 1 }).map((d) =>
        encodeWith({
          v: 1,
          t: 'put',
          to: PEER,
          id: 'x',
          env: new Uint8Array(mailbox.MAILBOX_MAX_ENVELOPE_BYTES + d),
        }),
      ),
    ],
  })
  const accepted = (f: mailbox.MailboxFrame): void => {
    same(mailbox.validateFrame({ v: 1, ...f }), f, 'a mailbox frame validates again')
    same(mailbox.decodeFrameBody(mailbox.encodeFrameBody(f)), f, 'a mailbox frame round-trips')
  }
  fuzz({
    name: 'mailbox decodeFrameBody',
    family: 'mailbox',
    input: bodies,
    run: mailbox.decodeFrameBody,
    error: mailbox.MailboxFrameError,
    codes: FRAME_ERROR_CODES,
    accepted,
  })
  fuzz({
    name: 'mailbox FrameReader (split at arbitrary offsets, hostile length prefixes)',
    family: 'mailbox',
    input: streams(
      fc.oneof(
        { weight: 12, arbitrary: byteInputs(seeds.filter((b) => b.length < 4096)) },
        { weight: 1, arbitrary: bodies },
      ),
      mailbox.MAILBOX_MAX_FRAME_BYTES,
    ),
    run: (input) => readSplit(() => new mailbox.FrameReader(), mailbox.MAILBOX_MAX_FRAME_BYTES, input),
    error: mailbox.MailboxFrameError,
    codes: FRAME_ERROR_CODES,
    accepted: (got) => got.forEach(accepted),
    msPerCase: 5,
  })
})

const [alice, bob] = [await party(), await party()]
const records = await Promise.all(
  [0, 1, 0xffff, 0xffffffff].map((id) =>
    prekeys.signOneTimePreKey(bob.identity.seed, bob.identity.publicKey, id, rng(32)),
  ),
)

describe('one-time prekeys', () => {
  const frames: prekeys.PreKeysFrame[] = [
    { t: 'upload', opks: records },
    {
      t: 'upload',
      opks: Array.from({ length: prekeys.MAX_UPLOAD_RECORDS }, (_, i) => records[i % 4]!),
      replace: true,
    },
    { t: 'ok', stored: 2, total: 10 },
    { t: 'take', owner: PEER },
    { t: 'opk', rec: records[0]! },
    { t: 'none' },
    { t: 'count' },
    { t: 'count', n: 0 },
    { t: 'err', code: 'OWNER_QUOTA', msg: 'full' },
  ]
  const bodies = byteInputs(frames.map(prekeys.encodeFrameBody), { sizes: [prekeys.PREKEYS_MAX_FRAME_BYTES] })
  const accepted = (f: prekeys.PreKeysFrame): void => {
    same(prekeys.validateFrame({ v: 1, ...f }), f, 'a prekey frame validates again')
    same(prekeys.decodeFrameBody(prekeys.encodeFrameBody(f)), f, 'a prekey frame round-trips')
  }
  fuzz({
    name: 'prekeys decodeFrameBody',
    family: 'prekeys',
    input: bodies,
    run: prekeys.decodeFrameBody,
    error: prekeys.PreKeysFrameError,
    codes: FRAME_ERROR_CODES,
    accepted,
  })
  fuzz({
    name: 'prekeys FrameReader (split at arbitrary offsets, hostile length prefixes)',
    family: 'prekeys',
    input: streams(
      fc.oneof(
        {
          weight: 12,
          arbitrary: byteInputs(frames.filter((f) => f.t !== 'upload').map(prekeys.encodeFrameBody)),
        },
        { weight: 1, arbitrary: bodies },
      ),
      prekeys.PREKEYS_MAX_FRAME_BYTES,
    ),
    run: (input) => readSplit(() => new prekeys.FrameReader(), prekeys.PREKEYS_MAX_FRAME_BYTES, input),
    error: prekeys.PreKeysFrameError,
    codes: FRAME_ERROR_CODES,
    accepted: (got) => got.forEach(accepted),
    msPerCase: 5,
  })

  const recordInputs = byteInputs(records, { sizes: [prekeys.MAX_ONE_TIME_PREKEY_RECORD_BYTES] })
  fuzz({
    name: 'decodeOneTimePreKeyUnverified',
    family: 'one-time prekey record',
    input: recordInputs,
    run: prekeys.decodeOneTimePreKeyUnverified,
    error: prekeys.OneTimePreKeyRecordError,
    codes: prekeys.ONE_TIME_PREKEY_RECORD_ERROR_CODES,
    // Only the canonical encoding is accepted: the value re-encodes to exactly the input.
    accepted: (r, bytes) =>
      same(encodeCanonical({ v: 1, id: r.id, k: r.publicKey, sig: r.sig }), bytes, 'canonical'),
  })
  fuzz({
    name: 'verifyOneTimePreKey (against the owner, or another identity)',
    family: 'one-time prekey record',
    input: fc.tuple(recordInputs, fc.boolean()),
    run: ([bytes, owner]) => prekeys.verifyOneTimePreKey(bytes, (owner ? bob : alice).identity.publicKey),
    error: prekeys.OneTimePreKeyRecordError,
    codes: prekeys.ONE_TIME_PREKEY_RECORD_ERROR_CODES,
    // Nothing but a record the owner signed, byte for byte, verifies: no forgery, no malleability.
    accepted: (_, [bytes, owner]) => {
      expect(owner).toBe(true)
      expect(records.some((r) => Buffer.from(r).equals(bytes))).toBe(true)
    },
    maxCaseMs: 2000,
    msPerCase: 5,
  })
})
