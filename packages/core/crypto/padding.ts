/**
 * Plaintext padding so ciphertext lengths leak only a coarse bucket: the message, one 0x80 byte, then
 * zeros up to the next multiple of PADDING_BLOCK (ISO/IEC 7816-4 style, as Signal).
 * @module
 */
import { PADDING_BLOCK } from './constants.ts'
import { InvalidRecordError } from './errors.ts'

/** Pads `message` to a positive multiple of PADDING_BLOCK bytes. */
export function pad(message: Uint8Array, block = PADDING_BLOCK): Uint8Array {
  const out = new Uint8Array(Math.ceil((message.length + 1) / block) * block)
  out.set(message)
  out[message.length] = 0x80
  return out
}

/** Removes padding. @throws InvalidRecordError when no 0x80 terminator precedes the trailing zeros. */
export function unpad(padded: Uint8Array): Uint8Array {
  let i = padded.length - 1
  while (i >= 0 && padded[i] === 0) i--
  if (i < 0 || padded[i] !== 0x80) throw new InvalidRecordError('plaintext padding is malformed')
  return padded.subarray(0, i)
}
