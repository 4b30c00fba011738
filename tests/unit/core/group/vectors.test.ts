// Checks tests/vectors/group.json two ways: re-derived with primitives called directly here (@noble/hashes
// HMAC, HKDF and SHA-256, @noble/curves Ed25519, cborg, WebCrypto AES-GCM: none of them through the module),
// and replayed through the module, once with each crypto provider (the portable default and Node's).
import { afterAll, describe, expect, it } from 'vitest'
import { decode, encode } from 'cborg'
import { ed25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import vectors from '../../../vectors/group.json' with { type: 'json' }
import { concatBytes, fromHex, toHex } from '@paloma/core/crypto/bytes.ts'
import { portableProvider, setCryptoProvider, type CryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'
import {
  CHANGE_ID_PREFIX,
  CHANGE_SIGNATURE_PREFIX,
  GROUP_MESSAGE_KEY_INFO,
  GROUP_TOPIC_INFO,
  GROUP_TOPIC_PREFIX,
  MESSAGE_SIGNATURE_PREFIX,
  SENDER_KEY_SIGNATURE_PREFIX,
  applyChange,
  groupDecrypt,
  groupEncrypt,
  groupState,
  groupTopic,
  history,
  newGroupReceiverState,
  openLog,
  processSenderKeyDistribution,
  type SenderKeyState,
} from '@paloma/core/group/index.ts'
import { NOW } from './helpers.ts'

const PROVIDERS: readonly CryptoProvider[] = [portableProvider, nodeCryptoProvider]
const h = fromHex
const utf8 = (s: string) => new TextEncoder().encode(s)
const u32 = (n: number) => {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, n)
  return out
}

async function under(provider: CryptoProvider, fn: () => Promise<void>): Promise<void> {
  const previous = setCryptoProvider(provider)
  try {
    await fn()
  } finally {
    setCryptoProvider(previous)
  }
}

afterAll(() => {
  setCryptoProvider(portableProvider)
})

async function webcryptoGcm(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, ad: Uint8Array) {
  const k = await crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, 'AES-GCM', false, [
    'encrypt',
  ])
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce as Uint8Array<ArrayBuffer>, additionalData: ad as Uint8Array<ArrayBuffer> },
    k,
    pt as Uint8Array<ArrayBuffer>,
  )
  return new Uint8Array(ct)
}

describe('group vectors', () => {
  it('carry the labels of the module', () => {
    expect(vectors.change_signature_prefix).toBe(CHANGE_SIGNATURE_PREFIX)
    expect(vectors.change_id_prefix).toBe(CHANGE_ID_PREFIX)
    expect(vectors.sender_key_signature_prefix).toBe(SENDER_KEY_SIGNATURE_PREFIX)
    expect(vectors.message_prefix).toBe(MESSAGE_SIGNATURE_PREFIX)
    expect(vectors.message_key_info).toBe(GROUP_MESSAGE_KEY_INFO)
    expect(vectors.topic_info).toBe(GROUP_TOPIC_INFO)
    expect(vectors.topic_prefix).toBe(GROUP_TOPIC_PREFIX)
    expect(vectors.membership.every((m) => m.void.length > 0)).toBe(true)
  })

  it('topics: re-derived independently and through the module', () => {
    for (const t of vectors.topics) {
      const digest = hkdf(sha256, h(t.group_secret), new Uint8Array(32), utf8(vectors.topic_info), 32)
      expect(t.topic).toBe(vectors.topic_prefix + toHex(digest))
      expect(groupTopic(h(t.group_secret))).toBe(t.topic)
    }
  })

  for (const [ci, c] of vectors.membership.entries()) {
    it(`membership case ${ci}: ids and signatures re-derived independently`, () => {
      const keys = new Map(c.identities.map((i) => [i.name, i]))
      for (const i of c.identities)
        expect(toHex(ed25519.getPublicKey(h(i.ed25519_seed)))).toBe(i.ed25519_public)
      for (const ch of c.changes) {
        const { sig, ...unsigned } = decode(h(ch.bytes)) as Record<string, unknown>
        expect(toHex(encode(unsigned))).toBe(ch.unsigned)
        expect(toHex(encode({ ...unsigned, sig }))).toBe(ch.bytes)
        expect(toHex(sha256(concatBytes(utf8(vectors.change_id_prefix), h(ch.unsigned))))).toBe(ch.id)
        const author = keys.get(ch.author as string)!.ed25519_public
        expect(toHex(unsigned.a as Uint8Array)).toBe(author)
        const signed = concatBytes(utf8(vectors.change_signature_prefix), h(ch.unsigned))
        expect(ed25519.verify(sig as Uint8Array, signed, h(author))).toBe(true)
        expect((unsigned.p as Uint8Array[]).map(toHex)).toEqual(ch.parents)
        expect(unsigned.o).toBe(ch.kind)
        // The group id is the create's id, named by every other change.
        if (ch.kind === 'create') expect(ch.id).toBe(c.group_id)
        else expect(toHex(unsigned.g as Uint8Array)).toBe(c.group_id)
      }
    })

    for (const provider of PROVIDERS)
      it(`membership case ${ci}: replayed through the module in two orders (${provider.name} provider)`, () =>
        under(provider, async () => {
          const [create, ...rest] = c.changes
          for (const order of [rest, [...rest].reverse()]) {
            let log = await openLog(h(create!.bytes))
            for (const ch of order) log = (await applyChange(log, h(ch.bytes))).log
            const s = groupState(log)
            expect({
              name: s.name,
              creator: toHex(s.creator),
              members: s.members.map(toHex),
              admins: s.admins.map(toHex),
            }).toEqual(c.state)
            expect(history(log).map((x) => x.change.idHex)).toEqual(c.canonical_order)
            expect(
              history(log)
                .filter((x) => !x.effective)
                .map((x) => x.change.idHex),
            ).toEqual(c.void)
          }
        }))
  }

  for (const [ci, c] of vectors.sender_keys.entries()) {
    it(`sender key case ${ci}: key schedule, AEAD, signatures and encodings re-derived independently`, async () => {
      expect(toHex(ed25519.getPublicKey(h(c.signing_seed)))).toBe(c.signing_public)
      const proofInput = concatBytes(
        utf8(vectors.sender_key_signature_prefix),
        h(c.group_id),
        h(c.owner_ed25519_public),
        u32(c.key_id),
        h(c.signing_public),
      )
      expect(ed25519.verify(h(c.proof), proofInput, h(c.signing_public))).toBe(true)
      expect(c.distribution).toBe(
        toHex(
          encode({
            v: 1,
            g: h(c.group_id),
            e: c.key_id,
            k: h(c.signing_public),
            ck: h(c.chain_key),
            n: 0,
            sig: h(c.proof),
          }),
        ),
      )
      let chainKey = h(c.chain_key)
      let iteration = 0
      for (const s of c.steps) {
        for (; iteration < s.iteration; iteration++) chainKey = hmac(sha256, chainKey, Uint8Array.of(2))
        expect(toHex(chainKey)).toBe(s.chain_key)
        const mk = hmac(sha256, chainKey, Uint8Array.of(1))
        expect(toHex(mk)).toBe(s.message_key)
        const okm = hkdf(sha256, mk, new Uint8Array(32), utf8(vectors.message_key_info), 44)
        expect(toHex(okm.subarray(0, 32))).toBe(s.aes_key)
        expect(toHex(okm.subarray(32))).toBe(s.nonce)
        // ISO/IEC 7816-4 padding to a multiple of 160 bytes.
        const pt = h(s.plaintext)
        const padded = new Uint8Array(Math.ceil((pt.length + 1) / 160) * 160)
        padded.set(pt)
        padded[pt.length] = 0x80
        expect(toHex(padded)).toBe(s.padded)
        const header = concatBytes(
          utf8(vectors.message_prefix),
          h(c.group_id),
          h(c.owner_ed25519_public),
          h(c.signing_public),
          u32(s.iteration),
        )
        expect(toHex(header)).toBe(s.header)
        expect(toHex(await webcryptoGcm(okm.subarray(0, 32), okm.subarray(32), padded, header))).toBe(
          s.ciphertext,
        )
        expect(
          ed25519.verify(h(s.signature), concatBytes(header, h(s.ciphertext)), h(c.signing_public)),
        ).toBe(true)
        expect(
          toHex(
            encode({
              v: 1,
              g: h(c.group_id),
              k: h(c.signing_public),
              n: s.iteration,
              c: h(s.ciphertext),
              sig: h(s.signature),
            }),
          ),
        ).toBe(s.message)
      }
      // Iterations 3 and 4 were skipped: the reader stored their keys and went on.
      expect(c.steps.map((s) => s.iteration)).toEqual([0, 1, 2, 5])
    })

    for (const provider of PROVIDERS)
      it(`sender key case ${ci}: encrypted and decrypted through the module (${provider.name} provider)`, () =>
        under(provider, async () => {
          const members = [h(c.owner_ed25519_public), h(c.reader_ed25519_public)]
          const opts = { now: NOW, members }
          let receiver = await processSenderKeyDistribution(
            newGroupReceiverState(h(c.group_id)),
            h(c.owner_ed25519_public),
            h(c.distribution),
            opts,
          )
          const state: SenderKeyState = {
            group: h(c.group_id),
            owner: h(c.owner_ed25519_public),
            keyId: c.key_id,
            chainKey: h(c.chain_key),
            iteration: 0,
            signing: { publicKey: h(c.signing_public), seed: h(c.signing_seed) },
            proof: h(c.proof),
            createdAt: NOW,
            recipients: [h(c.reader_ed25519_public)],
          }
          for (const s of c.steps) {
            const at = { ...state, chainKey: h(s.chain_key), iteration: s.iteration }
            const { message } = await groupEncrypt(at, h(s.plaintext), opts)
            expect(toHex(message)).toBe(s.message)
            const out = await groupDecrypt(receiver, h(s.message), opts)
            expect(toHex(out.plaintext)).toBe(s.plaintext)
            expect(toHex(out.sender)).toBe(c.owner_ed25519_public)
            receiver = out.state
          }
          const rec = [...receiver.senders.values()][0]!
          expect([...rec.current.skipped.keys()]).toEqual([3, 4])
        }))
  }
})
