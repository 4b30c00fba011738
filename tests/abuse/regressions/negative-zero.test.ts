/**
 * Regression (found by tests/abuse/wire.fuzz.test.ts, prekey frames): a float -0.0 was accepted where an
 * unsigned integer is expected (`isIntegerIn(-0, 0)` held), a value no encoder produces and that reads
 * back as 0 once re-encoded. CBOR integers have no negative zero: the kit now refuses it.
 */
import { describe, expect, it } from 'vitest'
import { encodeWith, type Cbor } from '../support/cbor.ts'
import { isIntegerIn } from '@paloma/core/cbor.ts'
import { PreKeysFrameError, decodeFrameBody } from '@paloma/core/protocol/prekeys.ts'
import { PayloadError, decodePayload } from '@paloma/core/protocol/payload.ts'
import { MailboxFrameError, decodeFrameBody as decodeMailboxFrame } from '@paloma/core/protocol/mailbox.ts'

/** `{...fields, [key]: -0.0}`, -0.0 written as the float64 `fb 80 00 00 00 00 00 00 00`. */
const withNegativeZero = (fields: Record<string, unknown>, key: string) =>
  encodeWith({ ...fields, [key]: -0 } as Cbor)

describe('-0.0 is not an unsigned integer', () => {
  it('in the kit', () => {
    expect(isIntegerIn(-0, 0)).toBe(false)
    expect(isIntegerIn(0, 0)).toBe(true)
  })
  it('in the fuzzer counterexample: a prekey ok frame with total -0.0', () => {
    const bytes = Uint8Array.from([
      165, 97, 116, 98, 111, 107, 97, 118, 1, 101, 116, 111, 116, 97, 108, 251, 128, 0, 0, 0, 0, 0, 0, 0, 102,
      115, 116, 111, 114, 101, 100, 2, 107, 99, 111, 110, 115, 116, 114, 117, 99, 116, 111, 114, 0,
    ])
    expect(() => decodeFrameBody(bytes)).toThrow(PreKeysFrameError)
  })
  it('in payloads and mailbox frames', () => {
    expect(() => decodePayload(withNegativeZero({ v: 1, k: 'text', id: 'm', text: 'x' }, 'ts'))).toThrow(
      PayloadError,
    )
    const env = {
      v: 1,
      t: 'env',
      seq: 1,
      from: '12D3KooWCcaXMjm8LxcusnsZLY4JnnMbaJBh5pZJj43KUBca6znG',
      id: 'm',
      env: Uint8Array.of(1),
    }
    expect(() => decodeMailboxFrame(withNegativeZero(env, 'ts'))).toThrow(MailboxFrameError)
  })
})
