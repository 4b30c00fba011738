/**
 * Safety numbers: a fingerprint of both identities, identical on both sides, shown as 60 digits and as a
 * QR payload (Signal's numeric fingerprint, version 0, with the Ed25519 identity key as both key and
 * stable identifier, since a Paloma identity is its key).
 *
 * Per identity: h = SHA-512(0x0000 || key || key); 5200 times h = SHA-512(h || key); its first 30 bytes
 * as six 5-byte big-endian numbers, each mod 100000 as 5 digits, give 30 digits. The safety number is
 * the two 30-digit strings in ascending order, concatenated. QR payload: CBOR {v: 1, a: bytes(32),
 * b: bytes(32)}: the first 32 bytes of the scanner's and the scanned side's hashes, in ascending order too.
 * @module
 */
import { compareBytes, concatBytes, equalBytes } from './bytes.ts'
import { decodeRecord, encodeCbor, expectBytes } from './cbor.ts'
import { KEY_LENGTH, RECORD_VERSION, SAFETY_NUMBER_ITERATIONS, SAFETY_NUMBER_VERSION } from './constants.ts'
import { InvalidKeyError } from './errors.ts'
import { sha512Hash } from './primitives.ts'

/** A safety number as digits and as QR payload bytes. */
export interface SafetyNumber {
  /** 60 digits, no separators (display in 12 groups of 5). */
  readonly digits: string
  /** QR code payload. */
  readonly qr: Uint8Array
}

function identityHash(identityKey: Uint8Array): Uint8Array {
  if (identityKey.length !== KEY_LENGTH) throw new InvalidKeyError('identity key: expected 32 bytes')
  let h = sha512Hash(concatBytes(Uint8Array.of(0, SAFETY_NUMBER_VERSION), identityKey, identityKey))
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) h = sha512Hash(concatBytes(h, identityKey))
  return h
}

function digitsOf(hash: Uint8Array): string {
  let out = ''
  for (let i = 0; i < 30; i += 5) {
    let n = 0
    for (let j = 0; j < 5; j++) n = n * 256 + (hash[i + j] as number)
    out += String(n % 100000).padStart(5, '0')
  }
  return out
}

/**
 * Safety number of two identities; the same whichever side computes it.
 * @example
 * const { digits, qr } = safetyNumber(myIdentity.publicKey, theirIdentityKey)
 */
export function safetyNumber(localIdentityKey: Uint8Array, remoteIdentityKey: Uint8Array): SafetyNumber {
  const a = identityHash(localIdentityKey)
  const b = identityHash(remoteIdentityKey)
  const [first, second] = compareBytes(a, b) <= 0 ? [a, b] : [b, a]
  const digits = [digitsOf(first), digitsOf(second)].sort().join('')
  const qr = encodeCbor({ v: RECORD_VERSION, a: first.slice(0, 32), b: second.slice(0, 32) })
  return { digits, qr }
}

/**
 * True when a scanned QR payload matches our view of the two identities: when it equals ours byte for
 * byte (docs/protocol.md), so a payload with another field or another encoding of the same keys does not.
 * @throws InvalidRecordError on a malformed payload.
 */
export function verifyScannedSafetyNumber(ours: SafetyNumber, scanned: Uint8Array): boolean {
  const m = decodeRecord(scanned, 'safety number', 128)
  expectBytes(m, 'a', 32, 'safety number')
  expectBytes(m, 'b', 32, 'safety number')
  return equalBytes(scanned, ours.qr)
}
