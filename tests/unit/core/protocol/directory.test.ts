import { describe, expect, it } from 'vitest'
import { encode as cborEncode } from 'cborg'
import { ed25519 } from '@noble/curves/ed25519.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  BadSignatureError,
  DEFAULT_PROFILE_LIFETIME_MS,
  DirectoryError,
  ExpiredRecordError,
  FutureRecordError,
  IdentityMismatchError,
  InvalidNameError,
  MAX_BUNDLE_BYTES,
  MAX_CLOCK_SKEW_MS,
  MAX_PROFILE_BYTES,
  MalformedRecordError,
  RecordTooLargeError,
  SeqHighWater,
  StaleRecordError,
  WrongNamespaceError,
  decodeProfileRecord,
  encodeProfileRecord,
  fingerprint,
  isTombstone,
  nameCid,
  normalizeName,
  parseProfileKey,
  peerIdStringFromPublicKey,
  profileKey,
  profileSigningBytes,
  selectProfileRecord,
  signProfileRecord,
  validateProfileRecord,
  type ProfileContent,
} from '@paloma/core/protocol/directory.ts'

const NOW = 1_790_000_000_000

function identity(seed: number) {
  const secret = new Uint8Array(32).fill(seed)
  const publicKey = ed25519.getPublicKey(secret)
  const peerId = peerIdStringFromPublicKey(publicKey)
  return { publicKey, peerId, key: profileKey(peerId), sign: (d: Uint8Array) => ed25519.sign(d, secret) }
}
const alice = identity(1)
const mallory = identity(2)

const content = (over: Partial<ProfileContent> = {}): ProfileContent => ({
  seq: 1,
  issued: NOW,
  name: 'alice',
  relays: ['/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooWP2v4YnztXgyUugesd59Qdrpwumon3vxQpJf1pa1um4kF'],
  bundle: new Uint8Array(300).fill(7),
  ...over,
})

async function signed(over: Partial<ProfileContent> = {}, who = alice) {
  return (await signProfileRecord(who.publicKey, content(over), who.sign)).bytes
}

function refuses(fn: () => unknown, type: new (...a: never[]) => DirectoryError): void {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(type)
  expect(caught).toBeInstanceOf(DirectoryError)
}

describe('identities and keys', () => {
  it('derives the same PeerId string as libp2p', async () => {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key)
    expect(peerIdStringFromPublicKey(key.publicKey.raw)).toBe(id.toString())
    expect(parseProfileKey(profileKey(id.toString())).publicKey).toEqual(key.publicKey.raw)
  })

  it('refuses keys outside the namespace or for non-Ed25519 ids', () => {
    const enc = new TextEncoder()
    refuses(() => parseProfileKey(enc.encode(`/pk/${alice.peerId}`)), WrongNamespaceError)
    refuses(
      () => parseProfileKey(enc.encode(`/paloma-profile/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N`)),
      WrongNamespaceError,
    )
    refuses(() => parseProfileKey(Uint8Array.of(0xff, 0xfe)), WrongNamespaceError)
  })

  it('gives short, stable, distinct fingerprints', () => {
    expect(fingerprint(alice.publicKey)).toMatch(/^[0-9a-f]{4}(-[0-9a-f]{4}){4}$/)
    expect(fingerprint(alice.publicKey)).toBe(fingerprint(Uint8Array.from(alice.publicKey)))
    expect(fingerprint(alice.publicKey)).not.toBe(fingerprint(mallory.publicKey))
  })
})

describe('usernames', () => {
  it('normalizes: trim, one leading @, NFKC, lowercase', () => {
    expect(normalizeName(' @Alice ')).toBe('alice')
    expect(normalizeName('\uFF21\uFF2C\uFF29\uFF23\uFF25')).toBe('alice') // fullwidth ALICE
    expect(normalizeName('bob_the.builder-2')).toBe('bob_the.builder-2')
  })

  it('refuses short, long, spaced and non-ASCII names', () => {
    for (const bad of ['ab', 'a'.repeat(33), 'al ice', 'аlice' /* Cyrillic а */, 'al/ice', '']) {
      refuses(() => normalizeName(bad), InvalidNameError)
    }
  })

  it('maps equivalent spellings to one raw sha2-256 CID', () => {
    const cid = nameCid('Alice')
    expect(cid.equals(nameCid('@alice'))).toBe(true)
    expect(cid.equals(nameCid('alicia'))).toBe(false)
    expect(cid.code).toBe(0x55)
    expect(cid.multihash.code).toBe(0x12)
  })
})

describe('profile record codec', () => {
  it('round-trips and validates', async () => {
    const bytes = await signed()
    const { record, peerId } = validateProfileRecord(alice.key, bytes, NOW)
    expect(peerId).toBe(alice.peerId)
    expect(record.name).toBe('alice')
    expect(record.expires).toBe(NOW + DEFAULT_PROFILE_LIFETIME_MS)
    expect(encodeProfileRecord(record)).toEqual(bytes)
    expect(isTombstone(record)).toBe(false)
  })

  it('normalizes the claimed name when signing and omits an absent one', async () => {
    expect(decodeProfileRecord(await signed({ name: '@ALICE' })).name).toBe('alice')
    expect('name' in decodeProfileRecord(await signed({ name: undefined }))).toBe(false)
  })

  it('signs a domain-separated encoding', async () => {
    const record = decodeProfileRecord(await signed())
    const msg = profileSigningBytes(record)
    expect(new TextDecoder().decode(msg.subarray(0, 24))).toBe('paloma/profile-record/v1')
    expect(ed25519.verify(record.sig, msg, alice.publicKey)).toBe(true)
  })

  it('refuses a forged signature', async () => {
    const record = decodeProfileRecord(await signed())
    const forged = encodeProfileRecord({ ...record, name: 'alicia' })
    refuses(() => validateProfileRecord(alice.key, forged, NOW), BadSignatureError)
    const flipped = Uint8Array.from(record.sig)
    flipped[5]! ^= 1
    refuses(
      () => validateProfileRecord(alice.key, encodeProfileRecord({ ...record, sig: flipped }), NOW),
      BadSignatureError,
    )
  })

  it('refuses a record signed by another identity (identity mismatch)', async () => {
    const bytes = await signed({}, mallory)
    refuses(() => validateProfileRecord(alice.key, bytes, NOW), IdentityMismatchError)
  })

  it('refuses a record under another namespace', async () => {
    const bytes = await signed()
    const key = new TextEncoder().encode(`/paloma-other/${alice.peerId}`)
    refuses(() => validateProfileRecord(key, bytes, NOW), WrongNamespaceError)
  })

  it('refuses oversized records and bundles', async () => {
    await expect(signed({ bundle: new Uint8Array(MAX_BUNDLE_BYTES + 1) })).rejects.toBeInstanceOf(
      RecordTooLargeError,
    )
    refuses(
      () => validateProfileRecord(alice.key, new Uint8Array(MAX_PROFILE_BYTES + 1), NOW),
      RecordTooLargeError,
    )
  })

  it('refuses expired and future-issued records', async () => {
    const bytes = await signed({ expires: NOW + 1000 })
    expect(() => validateProfileRecord(alice.key, bytes, NOW + 999)).not.toThrow()
    refuses(() => validateProfileRecord(alice.key, bytes, NOW + 1000), ExpiredRecordError)
    const future = await signed({ issued: NOW + MAX_CLOCK_SKEW_MS + 1 })
    refuses(() => validateProfileRecord(alice.key, future, NOW), FutureRecordError)
    expect(() => validateProfileRecord(alice.key, future, NOW + 2)).not.toThrow()
  })

  it('refuses malformed structure: unknown fields, wrong version, non-canonical CBOR, bad names', async () => {
    const record = decodeProfileRecord(await signed())
    const map = { ...record } as Record<string, unknown>
    refuses(() => decodeProfileRecord(cborEncode({ ...map, extra: 1 })), MalformedRecordError)
    refuses(() => decodeProfileRecord(cborEncode({ ...map, v: 2 })), MalformedRecordError)
    refuses(() => decodeProfileRecord(cborEncode({ ...map, name: 'Alice' })), MalformedRecordError)
    refuses(() => decodeProfileRecord(cborEncode({ ...map, seq: -1 })), MalformedRecordError)
    refuses(
      () => decodeProfileRecord(cborEncode({ ...map, relays: ['not-a-multiaddr'] })),
      MalformedRecordError,
    )
    refuses(() => decodeProfileRecord(cborEncode([1, 2])), MalformedRecordError)
    refuses(() => decodeProfileRecord(Uint8Array.of(0xff)), MalformedRecordError)
    // the same map with its keys in insertion order instead of canonical order
    const noncanonical = cborEncode(map, { mapSorter: () => 0 } as never)
    if (!equalBytes(noncanonical, encodeProfileRecord(record))) {
      refuses(() => decodeProfileRecord(noncanonical), MalformedRecordError)
    }
  })

  it('recognizes a tombstone', async () => {
    const record = decodeProfileRecord(
      await signed({ name: undefined, relays: [], bundle: new Uint8Array(0) }),
    )
    expect(isTombstone(record)).toBe(true)
  })
})

describe('selector and replay protection', () => {
  it('picks the highest seq, then the later issued, and never an invalid value', async () => {
    const older = await signed({ seq: 5 })
    const newer = await signed({ seq: 6, issued: NOW - 1000 })
    const tieLater = await signed({ seq: 6, issued: NOW - 10 })
    const forged = encodeProfileRecord({ ...decodeProfileRecord(await signed({ seq: 7 })), seq: 99 })
    expect(selectProfileRecord(alice.key, [older, newer], NOW)).toBe(1)
    expect(selectProfileRecord(alice.key, [newer, older], NOW)).toBe(0)
    expect(selectProfileRecord(alice.key, [older, newer, tieLater], NOW)).toBe(2)
    expect(selectProfileRecord(alice.key, [forged, older], NOW)).toBe(1)
    expect(selectProfileRecord(alice.key, [forged], NOW)).toBe(0)
  })

  it('refuses a replayed older seq once a newer one was seen', () => {
    const hw = new SeqHighWater(2)
    hw.check('a', 10)
    hw.check('a', 10)
    expect(() => hw.check('a', 9)).toThrow(StaleRecordError)
    hw.check('a', 11)
    expect(hw.get('a')).toBe(11)
    hw.check('b', 1)
    hw.check('c', 1) // evicts the least recently checked key
    expect(hw.get('a')).toBeUndefined()
    hw.clear()
    hw.check('b', 0)
  })
})

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
