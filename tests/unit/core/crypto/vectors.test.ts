// Checks tests/vectors/*.json two ways: re-derived with primitives called directly here (noble X25519,
// HKDF and HMAC; WebCrypto AES-GCM, a different implementation from the module's), and through the module,
// once with each crypto provider (the portable default and Node's OpenSSL one).
import { afterAll, describe, expect, it } from 'vitest'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import x3dhVectors from '../../../vectors/x3dh.json' with { type: 'json' }
import ratchetVectors from '../../../vectors/ratchet.json' with { type: 'json' }
import ratchetHeVectors from '../../../vectors/ratchet-he.json' with { type: 'json' }
import { concatBytes, fromHex, toHex } from '@paloma/core/crypto/bytes.ts'
import {
  HEADER_KEYS_INFO,
  MESSAGE_KEY_INFO,
  ROOT_HE_INFO,
  ROOT_INFO,
  X3DH_INFO,
} from '@paloma/core/crypto/constants.ts'
import { identityFromEd25519Private } from '@paloma/core/crypto/keys.ts'
import {
  x25519 as moduleX25519,
  portableProvider,
  setCryptoProvider,
  type CryptoProvider,
} from '@paloma/core/crypto/primitives.ts'
import {
  initRatchetInitiator,
  initRatchetResponder,
  ratchetDecrypt,
  ratchetEncrypt,
  startSendingChain,
  type RatchetState,
} from '@paloma/core/crypto/ratchet.ts'
import { x3dhRespond } from '@paloma/core/crypto/x3dh.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'

const PROVIDERS: readonly CryptoProvider[] = [portableProvider, nodeCryptoProvider]

/** Runs `fn` with `provider` installed (the tests of a file run one at a time). */
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

const utf8 = (s: string) => new TextEncoder().encode(s)
const h = fromHex

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

describe('X3DH vectors', () => {
  it('has the documented shape', () => {
    expect(x3dhVectors.info).toBe(X3DH_INFO)
    expect(x3dhVectors.cases.length).toBeGreaterThanOrEqual(4)
    expect(x3dhVectors.cases.some((c) => c.bob_one_time_prekey_private === null)).toBe(true)
    expect(x3dhVectors.cases.some((c) => c.bob_one_time_prekey_private !== null)).toBe(true)
  })

  for (const [i, c] of x3dhVectors.cases.entries()) {
    it(`case ${i}: re-derived independently`, () => {
      for (const [priv, pub] of [
        [c.alice_identity_x25519_private, c.alice_identity_x25519_public],
        [c.alice_ephemeral_private, c.alice_ephemeral_public],
        [c.bob_identity_x25519_private, c.bob_identity_x25519_public],
        [c.bob_signed_prekey_private, c.bob_signed_prekey_public],
      ] as const) {
        expect(toHex(x25519.getPublicKey(h(priv)))).toBe(pub)
      }
      // The X25519 identity keys are the birational images of the Ed25519 identity keys.
      expect(toHex(ed25519.getPublicKey(h(c.alice_identity_ed25519_seed)))).toBe(
        c.alice_identity_ed25519_public,
      )
      expect(toHex(ed25519.utils.toMontgomery(h(c.alice_identity_ed25519_public)))).toBe(
        c.alice_identity_x25519_public,
      )
      expect(toHex(ed25519.utils.toMontgomerySecret(h(c.bob_identity_ed25519_seed)))).toBe(
        c.bob_identity_x25519_private,
      )
      const dhs = [
        x25519.getSharedSecret(h(c.alice_identity_x25519_private), h(c.bob_signed_prekey_public)),
        x25519.getSharedSecret(h(c.alice_ephemeral_private), h(c.bob_identity_x25519_public)),
        x25519.getSharedSecret(h(c.alice_ephemeral_private), h(c.bob_signed_prekey_public)),
      ]
      if (c.bob_one_time_prekey_private !== null && c.bob_one_time_prekey_public !== null) {
        expect(toHex(x25519.getPublicKey(h(c.bob_one_time_prekey_private)))).toBe(
          c.bob_one_time_prekey_public,
        )
        dhs.push(x25519.getSharedSecret(h(c.alice_ephemeral_private), h(c.bob_one_time_prekey_public)))
      }
      // Bob's side gives the same DH values.
      expect(
        toHex(x25519.getSharedSecret(h(c.bob_signed_prekey_private), h(c.alice_identity_x25519_public))),
      ).toBe(toHex(dhs[0]!))
      const ikm = concatBytes(new Uint8Array(32).fill(0xff), ...dhs)
      const sk = hkdf(sha256, ikm, new Uint8Array(32), utf8(x3dhVectors.info), 32)
      expect(toHex(sk)).toBe(c.shared_key)
      expect(c.associated_data).toBe(c.alice_identity_ed25519_public + c.bob_identity_ed25519_public)
    })

    for (const provider of PROVIDERS)
      it(`case ${i}: through the module (responder, ${provider.name} provider)`, () =>
        under(provider, async () => {
          const bob = await identityFromEd25519Private(h(c.bob_identity_ed25519_seed))
          expect(toHex(bob.dh.privateKey)).toBe(c.bob_identity_x25519_private)
          const spk = { publicKey: h(c.bob_signed_prekey_public), privateKey: h(c.bob_signed_prekey_private) }
          const opk =
            c.bob_one_time_prekey_private !== null && c.bob_one_time_prekey_public !== null
              ? { publicKey: h(c.bob_one_time_prekey_public), privateKey: h(c.bob_one_time_prekey_private) }
              : null
          const r = await x3dhRespond(
            bob,
            h(c.alice_identity_ed25519_public),
            h(c.alice_ephemeral_public),
            spk,
            opk,
          )
          expect(toHex(r.sharedKey)).toBe(c.shared_key)
          expect(toHex(r.associatedData)).toBe(c.associated_data)
        }))
  }
})

/** ENCRYPT of a vector step, re-derived: HKDF(mk) gives key and nonce; AES-GCM over AD || header bytes. */
async function expectMessageCiphertext(
  step: { message_key: string; plaintext: string; header: string; ciphertext: string },
  ad: Uint8Array,
  info: string,
): Promise<void> {
  const km = hkdf(sha256, h(step.message_key), new Uint8Array(32), utf8(info), 44)
  const ct = await webcryptoGcm(
    km.subarray(0, 32),
    km.subarray(32),
    h(step.plaintext),
    concatBytes(ad, h(step.header)),
  )
  expect(toHex(ct)).toBe(step.ciphertext)
}

interface VectorCase {
  shared_key: string
  associated_data: string
  bob_ratchet_public: string
  bob_ratchet_private: string
  steps: {
    sender: string
    ratchet_private: string
    ratchet_public: string
    plaintext: string
    header: string
    ciphertext: string
  }[]
}

/**
 * Plays a ratchet vector through the module on both sides: every header and ciphertext must come out as
 * recorded and decrypt. Each side's randomness is served in order: a new chain's ratchet key (32 bytes) and,
 * with header encryption, each header's nonce (12 bytes, the first bytes of the recorded header).
 */
async function replayThroughModule(c: VectorCase, headerEncryption: boolean): Promise<void> {
  const ad = h(c.associated_data)
  const steps = c.steps
  const queue: Record<string, string[]> = { alice: [], bob: [] }
  for (const [i, s] of steps.entries()) {
    if (i > 0 && steps[i - 1]!.sender !== s.sender) queue[s.sender]!.push(s.ratchet_private)
    if (headerEncryption) queue[s.sender]!.push(s.header.slice(0, 24))
  }
  const rngFor = (side: string) => (n: number) => {
    const next = h(queue[side]!.shift() ?? '')
    expect(next.length).toBe(n)
    return next
  }
  const first = steps[0]!
  const alicePair = { publicKey: h(first.ratchet_public), privateKey: h(first.ratchet_private) }
  const bobPair = { publicKey: h(c.bob_ratchet_public), privateKey: h(c.bob_ratchet_private) }
  const states: Record<string, RatchetState> = {
    alice: initRatchetInitiator(
      h(c.shared_key),
      bobPair.publicKey,
      alicePair,
      await moduleX25519(alicePair.privateKey, bobPair.publicKey),
      headerEncryption,
    ),
    bob: initRatchetResponder(h(c.shared_key), bobPair, headerEncryption),
  }
  for (const s of steps) {
    const receiver = s.sender === 'alice' ? 'bob' : 'alice'
    const sender = states[s.sender]!
    if (!sender.sendingChainKey) await startSendingChain(sender, rngFor(s.sender))
    const { header, ciphertext } = ratchetEncrypt(sender, h(s.plaintext), ad, rngFor(s.sender))
    expect(toHex(header)).toBe(s.header)
    expect(toHex(ciphertext)).toBe(s.ciphertext)
    const pt = await ratchetDecrypt(states[receiver]!, header, ciphertext, ad, rngFor(receiver))
    expect(toHex(pt)).toBe(s.plaintext)
  }
  expect(queue.alice!.length + queue.bob!.length).toBe(0)
}

describe('Double Ratchet vectors', () => {
  it('has the documented shape', () => {
    expect(ratchetVectors.root_info).toBe(ROOT_INFO)
    expect(ratchetVectors.message_key_info).toBe(MESSAGE_KEY_INFO)
    expect(ratchetVectors.cases.length).toBeGreaterThanOrEqual(3)
    for (const c of ratchetVectors.cases) {
      expect(c.steps.length).toBeGreaterThanOrEqual(10)
      const switches = c.steps.filter((s, i) => i > 0 && s.sender !== c.steps[i - 1]!.sender).length
      expect(switches).toBeGreaterThanOrEqual(3)
    }
  })

  for (const [ci, c] of ratchetVectors.cases.entries()) {
    it(`case ${ci}: re-derived independently`, async () => {
      const ad = h(c.associated_data)
      // Each new chain's root_key_before is the previous chain's root_key: chains link the conversation.
      let lastRoot = c.shared_key
      let prev: (typeof c.steps)[number] | undefined
      for (const s of c.steps) {
        expect(toHex(x25519.getPublicKey(h(s.ratchet_private)))).toBe(s.ratchet_public)
        const newChain = !prev || prev.sender !== s.sender
        if (newChain) {
          if (s.sender === 'alice' && !prev) {
            expect(s.root_key_before).toBe(c.shared_key)
            expect(s.remote_ratchet_public).toBe(c.bob_ratchet_public)
          } else {
            // The receiver's KDF_RK step reproduces the sender's root key, which starts the new chain.
            expect(s.root_key_before).toBe(lastRoot)
          }
          const dh = x25519.getSharedSecret(h(s.ratchet_private), h(s.remote_ratchet_public))
          const out = hkdf(sha256, dh, h(s.root_key_before), utf8(ratchetVectors.root_info), 64)
          expect(toHex(out.subarray(0, 32))).toBe(s.root_key)
          expect(toHex(out.subarray(32))).toBe(s.chain_key)
          lastRoot = s.root_key
        } else {
          expect(s.root_key).toBe(prev!.root_key)
          expect(s.chain_key).toBe(toHex(hmac(sha256, h(prev!.chain_key), Uint8Array.of(2))))
        }
        expect(s.message_key).toBe(toHex(hmac(sha256, h(s.chain_key), Uint8Array.of(1))))
        await expectMessageCiphertext(s, ad, ratchetVectors.message_key_info)
        prev = s
      }
    })

    for (const provider of PROVIDERS)
      it(`case ${ci}: replayed through the module on both sides (${provider.name} provider)`, () =>
        under(provider, () => replayThroughModule(c, false)))
  }
})

describe('Double Ratchet with header encryption: vectors', () => {
  it('has the documented shape', () => {
    expect(ratchetHeVectors.root_info).toBe(ROOT_HE_INFO)
    expect(ratchetHeVectors.header_keys_info).toBe(HEADER_KEYS_INFO)
    expect(ratchetHeVectors.message_key_info).toBe(MESSAGE_KEY_INFO)
    expect(ratchetHeVectors.cases.length).toBeGreaterThanOrEqual(3)
  })

  async function webcryptoGcmOpen(key: Uint8Array, sealed: Uint8Array, ad: Uint8Array) {
    const k = await crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, 'AES-GCM', false, [
      'decrypt',
    ])
    const pt = await crypto.subtle.decrypt(
      {
        name: 'AES-GCM',
        iv: sealed.subarray(0, 12) as Uint8Array<ArrayBuffer>,
        additionalData: ad as Uint8Array<ArrayBuffer>,
      },
      k,
      sealed.subarray(12) as Uint8Array<ArrayBuffer>,
    )
    return new Uint8Array(pt)
  }

  for (const [ci, c] of ratchetHeVectors.cases.entries()) {
    it(`case ${ci}: re-derived independently`, async () => {
      const ad = h(c.associated_data)
      const shared = hkdf(sha256, h(c.shared_key), new Uint8Array(32), utf8(HEADER_KEYS_INFO), 64)
      expect(toHex(shared.subarray(0, 32))).toBe(c.header_key_alice)
      expect(toHex(shared.subarray(32))).toBe(c.next_header_key_bob)
      // A side's header key for a chain is the next header key it derived with its previous chain.
      const nextHeaderKey: Record<string, string> = {
        alice: c.header_key_alice,
        bob: c.next_header_key_bob,
      }
      let lastRoot = c.shared_key
      let prev: (typeof c.steps)[number] | undefined
      for (const s of c.steps) {
        const newChain = !prev || prev.sender !== s.sender
        if (newChain) {
          expect(s.root_key_before).toBe(lastRoot)
          expect(s.header_key).toBe(nextHeaderKey[s.sender])
          const dh = x25519.getSharedSecret(h(s.ratchet_private), h(s.remote_ratchet_public))
          const out = hkdf(sha256, dh, h(s.root_key_before), utf8(ROOT_HE_INFO), 96)
          expect(toHex(out.subarray(0, 32))).toBe(s.root_key)
          expect(toHex(out.subarray(32, 64))).toBe(s.chain_key)
          expect(toHex(out.subarray(64))).toBe(s.next_header_key)
          nextHeaderKey[s.sender] = s.next_header_key
          lastRoot = s.root_key
        } else {
          expect(s.header_key).toBe(prev!.header_key)
          expect(s.chain_key).toBe(toHex(hmac(sha256, h(prev!.chain_key), Uint8Array.of(2))))
        }
        expect(s.message_key).toBe(toHex(hmac(sha256, h(s.chain_key), Uint8Array.of(1))))
        // HENCRYPT: nonce || AES-256-GCM(hk, nonce, header, AD); the header names the sender's ratchet key.
        expect(toHex(await webcryptoGcmOpen(h(s.header_key), h(s.header), ad))).toBe(s.plain_header)
        expect(s.plain_header).toContain(s.ratchet_public)
        await expectMessageCiphertext(s, ad, ratchetHeVectors.message_key_info)
        prev = s
      }
    })

    for (const provider of PROVIDERS)
      it(`case ${ci}: replayed through the module on both sides (${provider.name} provider)`, () =>
        under(provider, () => replayThroughModule(c, true)))
  }
})
