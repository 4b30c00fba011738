/**
 * Regressions (found by tests/abuse/local.fuzz.test.ts, the app's vault records). These records come back
 * from a backup, which anyone holding its passphrase can write:
 * - `identity/relays-learned`, `identity/opk-next` and `state/schema` were decoded without the record
 *   checks, so bytes that are not CBOR threw cborg's own error, not `AppError('BAD_RECORD')`;
 * - `identity/account` took any bytes as the identity key, and libp2p then threw a RangeError (a truncated
 *   key), an InvalidParametersError, or built a secp256k1 key Paloma cannot use as an identity;
 * - a float -0.0 passed for a time (see negative-zero.test.ts).
 */
import { describe, expect, it } from 'vitest'
import { encode } from 'cborg'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { AppError } from '../../../src/app/errors.ts'
import {
  AppRecords,
  LEARNED_RELAYS,
  OPK_NEXT,
  SCHEMA,
  decodeAccount,
  decodeMessage,
} from '../../../src/app/records.ts'
import { MemoryVaultBackend, Vault } from '../../../src/storage/vault.ts'
import { encodeWith } from '../support/cbor.ts'

const CHEAP = { kdf: { alg: 'pbkdf2-sha256', iterations: 1 }, allowWeakKdf: true } as const
const NOT_CBOR = Uint8Array.of(0xff, 0x00)

async function recordsWith(name: string, bytes: Uint8Array): Promise<AppRecords> {
  const vault = await Vault.create(new MemoryVaultBackend(), 'correct horse battery', CHEAP)
  await vault.put(name, bytes)
  return new AppRecords(vault)
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AppError)
  return (err as AppError).code
}

describe('records read back from a vault or a backup', () => {
  it('learned relays, the next prekey id and the schema refuse bytes that are not CBOR with BAD_RECORD', async () => {
    expect(await codeOf((await recordsWith(LEARNED_RELAYS, NOT_CBOR)).learnedRelays())).toBe('BAD_RECORD')
    expect(await codeOf((await recordsWith(OPK_NEXT, NOT_CBOR)).reservePreKeyIds(1))).toBe('BAD_RECORD')
    expect(await codeOf((await recordsWith(SCHEMA, NOT_CBOR)).migrate())).toBe('BAD_RECORD')
    expect(await codeOf((await recordsWith(LEARNED_RELAYS, encode([1]))).learnedRelays())).toBe('BAD_RECORD')
  })

  it('the account takes only an Ed25519 private key', async () => {
    const good = privateKeyToProtobuf(await generateKeyPair('Ed25519'))
    expect(decodeAccount(encode({ v: 1, name: 'a', key: good, created: 1 })).key).toEqual(good)
    const secp = privateKeyToProtobuf(await generateKeyPair('secp256k1'))
    for (const key of [good.subarray(0, 30), secp, new Uint8Array(68), Uint8Array.of(0xff)]) {
      expect(() => decodeAccount(encode({ v: 1, name: 'a', key, created: 1 }))).toThrow(AppError)
    }
  })

  it('a time is never -0.0', () => {
    const message = { v: 1, id: 'm', peer: 'p', direction: 'in', text: '', status: 'sent' }
    expect(() => decodeMessage('history/msg/x', encodeWith({ ...message, ts: -0 }))).toThrow(AppError)
  })
})
