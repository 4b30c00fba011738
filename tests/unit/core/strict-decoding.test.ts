/**
 * Every decoder of outside input decodes with the strict kit of packages/core/cbor.ts: a duplicate key, an
 * indefinite-length item, a non-canonical integer and `undefined` are refused, each with the decoder's
 * own typed error (and code), before any field is looked at ("not valid CBOR").
 */
import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { toString } from 'uint8arrays'
import type { PalomaError } from '@paloma/core/errors.ts'
import { decodeChatFrame, ChatFrameError } from '@paloma/core/protocol/chat.ts'
import { decodePayload, PayloadError } from '@paloma/core/protocol/payload.ts'
import { parseInvite, InviteError } from '@paloma/core/protocol/invite.ts'
import { decodeEnvelope, EnvelopeError } from '@paloma/core/protocol/envelope.ts'
import { decodeProfileRecord, MalformedRecordError } from '@paloma/core/protocol/directory.ts'
import { decodeFrameBody as decodeMailboxFrame, MailboxFrameError } from '@paloma/core/protocol/mailbox.ts'
import {
  decodeFrameBody as decodePreKeysFrame,
  decodeOneTimePreKeyUnverified,
  OneTimePreKeyRecordError,
  PreKeysFrameError,
} from '@paloma/core/protocol/prekeys.ts'
import { decodeHeader } from '@paloma/core/crypto/ratchet.ts'
import { decodePreKeyMessage } from '@paloma/core/crypto/messages.ts'
import { InvalidRecordError } from '@paloma/core/crypto/errors.ts'
import { SessionRecord } from '@paloma/core/crypto/session-record.ts'
import {
  decodeVaultHeader,
  importBackup,
  InvalidBackupError,
  VaultCorruptedError,
} from '@paloma/core/vault/index.ts'
import { catchError, rejection, strictViolations } from './strict-cbor.ts'

const k32 = new Uint8Array(32).fill(9)
const PEER = '12D3KooWCcaXMjm8LxcusnsZLY4JnnMbaJBh5pZJj43KUBca6znG'

interface Decoder {
  name: string
  /** A valid map the decoder accepts (with `v: 1`). */
  valid: Record<string, unknown>
  decode: (bytes: Uint8Array) => unknown
  error: abstract new (...args: never[]) => PalomaError
  code: string
}

const decoders: Decoder[] = [
  {
    name: 'chat frames',
    valid: { v: 1, t: 'env', id: 'm', env: Uint8Array.of(1) },
    decode: decodeChatFrame,
    error: ChatFrameError,
    code: 'BAD_FRAME',
  },
  {
    name: 'payloads',
    valid: { v: 1, k: 'text', id: 'm', ts: 5, text: 'hola' },
    decode: decodePayload,
    error: PayloadError,
    code: 'BAD_PAYLOAD',
  },
  {
    name: 'invites',
    valid: { v: 1, peer: PEER, relays: ['/dns4/relay.example/tcp/443/wss'] },
    decode: (bytes) => parseInvite(toString(bytes, 'base64url')),
    error: InviteError,
    code: 'BAD_INVITE',
  },
  {
    name: 'envelopes',
    valid: { v: 1, t: 2, b: Uint8Array.of(1, 2, 3) },
    decode: decodeEnvelope,
    error: EnvelopeError,
    code: 'BAD_ENVELOPE',
  },
  {
    name: 'directory records',
    valid: {
      v: 1,
      peer: k32,
      seq: 1,
      issued: 1000,
      expires: 2000,
      relays: [],
      bundle: new Uint8Array(0),
      sig: new Uint8Array(64),
    },
    decode: decodeProfileRecord,
    error: MalformedRecordError,
    code: 'MALFORMED_RECORD',
  },
  {
    name: 'mailbox frames',
    valid: { v: 1, t: 'ok', id: 'm' },
    decode: decodeMailboxFrame,
    error: MailboxFrameError,
    code: 'BAD_FRAME',
  },
  {
    name: 'prekey frames',
    valid: { v: 1, t: 'count', n: 3 },
    decode: decodePreKeysFrame,
    error: PreKeysFrameError,
    code: 'BAD_FRAME',
  },
  {
    name: 'one-time prekey records',
    valid: { v: 1, id: 7, k: k32, sig: new Uint8Array(64) },
    decode: decodeOneTimePreKeyUnverified,
    error: OneTimePreKeyRecordError,
    code: 'MALFORMED',
  },
  {
    name: 'ratchet headers (crypto fast path)',
    valid: { v: 1, dh: k32, pn: 0, n: 3 },
    decode: decodeHeader,
    error: InvalidRecordError,
    code: 'INVALID_RECORD',
  },
  {
    name: 'prekey messages (crypto fast path)',
    valid: { v: 1, ik: k32, ek: k32, spk: 1, opk: null, m: k32 },
    decode: decodePreKeyMessage,
    error: InvalidRecordError,
    code: 'INVALID_RECORD',
  },
  {
    name: 'session records (crypto, nested)',
    valid: { v: 1, cur: null, prev: [] },
    decode: (bytes) => SessionRecord.deserialize(bytes),
    error: InvalidRecordError,
    code: 'INVALID_RECORD',
  },
  {
    name: 'vault headers',
    valid: {
      type: 'paloma-vault',
      v: 1,
      kdf: { alg: 'pbkdf2-sha256', salt: new Uint8Array(16), i: 1000 },
      dek: new Uint8Array(40),
      names: new Uint8Array(40),
    },
    decode: decodeVaultHeader,
    error: VaultCorruptedError,
    code: 'VAULT_CORRUPTED',
  },
]

/** Whether `err` or an error in its `cause` chain says the bytes were not strict CBOR. */
function saysNotValidCbor(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) if (/not valid CBOR/.test(e.message)) return true
  return false
}

describe.each(decoders)('$name', ({ valid, decode, error, code }) => {
  it('accepts the valid map', () => {
    expect(() => decode(encode(valid))).not.toThrow()
  })

  it.each(strictViolations(valid))('refuses %s', (_what, bytes) => {
    const err = catchError(() => decode(bytes))
    expect(err).toBeInstanceOf(error)
    expect((err as PalomaError).code).toBe(code)
    expect(saysNotValidCbor(err)).toBe(true)
  })
})

describe('backup files', () => {
  const valid = {
    type: 'paloma-backup',
    v: 1,
    kdf: { alg: 'pbkdf2-sha256', salt: new Uint8Array(16), i: 1000 },
    key: new Uint8Array(40),
    iv: new Uint8Array(12),
    ct: new Uint8Array(16),
  }
  it.each(strictViolations(valid))('refuses %s', async (_what, bytes) => {
    const err = await rejection(importBackup(bytes, 'any passphrase'))
    expect(err).toBeInstanceOf(InvalidBackupError)
    expect((err as InvalidBackupError).code).toBe('INVALID_BACKUP')
    expect(saysNotValidCbor(err)).toBe(true)
  })
})
