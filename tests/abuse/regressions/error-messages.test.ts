/**
 * Regression (found by tests/abuse/*.fuzz.test.ts): decoders built their error messages with
 * `String(decoded value)`, and a peer can send a map with its own `toString` key (`{toString: 0}`), on
 * which `String()` throws a TypeError: an untyped error instead of the decoder's own. Every decoder now
 * renders decoded values with the kit's `show()`.
 */
import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import type { PalomaError } from '@paloma/core/errors.ts'
import { show } from '@paloma/core/cbor.ts'
import { ChatFrameError, decodeChatFrame } from '@paloma/core/protocol/chat.ts'
import { EnvelopeError, decodeEnvelope } from '@paloma/core/protocol/envelope.ts'
import { PayloadError, decodePayload } from '@paloma/core/protocol/payload.ts'
import { MalformedRecordError, decodeProfileRecord } from '@paloma/core/protocol/directory.ts'
import { MailboxFrameError, decodeFrameBody } from '@paloma/core/protocol/mailbox.ts'
import { OneTimePreKeyRecordError, decodeOneTimePreKeyUnverified } from '@paloma/core/protocol/prekeys.ts'
import { InvalidRecordError } from '@paloma/core/crypto/errors.ts'
import { decodeHeader } from '@paloma/core/crypto/ratchet.ts'
import {
  InvalidBackupError,
  VaultCorruptedError,
  decodeVaultHeader,
  importBackup,
} from '@paloma/core/vault/index.ts'

/** Maps String() cannot turn into text: a `toString` that is not a function, and no usable valueOf. */
const HOSTILE: object[] = [{ toString: 0 }, { toString: 0, valueOf: 0 }, { toString: [] }]

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

const k32 = new Uint8Array(32).fill(9)
const cases: Array<[string, (h: object) => unknown, abstract new (...a: never[]) => PalomaError]> = [
  ['chat frame v', (h) => decodeChatFrame(encode({ v: h, t: 'ack', id: 'x' })), ChatFrameError],
  ['chat frame t', (h) => decodeChatFrame(encode({ v: 1, t: h, id: 'x' })), ChatFrameError],
  ['envelope v', (h) => decodeEnvelope(encode({ v: h, t: 1, b: Uint8Array.of(1) })), EnvelopeError],
  ['envelope t', (h) => decodeEnvelope(encode({ v: 1, t: h, b: Uint8Array.of(1) })), EnvelopeError],
  ['payload v', (h) => decodePayload(encode({ v: h, k: 'reset' })), PayloadError],
  ['payload k', (h) => decodePayload(encode({ v: 1, k: h })), PayloadError],
  [
    'receipt status',
    (h) => decodePayload(encode({ v: 1, k: 'receipt', status: h, ids: ['a'] })),
    PayloadError,
  ],
  [
    'profile record v',
    (h) =>
      decodeProfileRecord(
        encode({
          v: h,
          peer: k32,
          seq: 1,
          issued: 1,
          expires: 2,
          relays: [],
          bundle: k32,
          sig: new Uint8Array(64),
        }),
      ),
    MalformedRecordError,
  ],
  [
    'mailbox err code',
    (h) => decodeFrameBody(encode({ v: 1, t: 'err', code: h, msg: '' })),
    MailboxFrameError,
  ],
  [
    'one-time prekey v',
    (h) => decodeOneTimePreKeyUnverified(encode({ v: h, id: 1, k: k32, sig: new Uint8Array(64) })),
    OneTimePreKeyRecordError,
  ],
  ['crypto record v', (h) => decodeHeader(encode({ v: h, dh: k32, n: 0, pn: 0 })), InvalidRecordError],
  ['vault header v', (h) => decodeVaultHeader(encode({ type: 'paloma-vault', v: h })), VaultCorruptedError],
]

describe('decoders name a hostile value in their own typed error', () => {
  for (const [what, decode, type] of cases) {
    it(what, () => {
      for (const h of HOSTILE) expect(thrown(() => decode(h))).toBeInstanceOf(type)
    })
  }
  it('backup v', async () => {
    for (const h of HOSTILE) {
      const err = await importBackup(encode({ type: 'paloma-backup', v: h }), 'passphrase').catch(
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(InvalidBackupError)
    }
  })
  it('show() renders anything without calling into it', () => {
    expect(show({ toString: 0 })).toBe('object')
    expect(show('x'.repeat(40))).toBe(JSON.stringify('x'.repeat(32)))
    expect(show(2)).toBe('2')
    expect(show(new Uint8Array(3))).toBe('bytes(3)')
    expect(show(undefined)).toBe('undefined')
  })
})
