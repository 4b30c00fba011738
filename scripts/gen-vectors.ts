// Generates tests/vectors/x3dh.json and tests/vectors/ratchet.json (npm run vectors).
// Deterministic: every random byte comes from a SHA-256 counter-mode stream seeded below, so rerunning
// the script reproduces the files byte for byte. Formats: docs/protocol.md, "Test vectors".
import { writeFileSync } from 'node:fs'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, toHex } from '@paloma/core/crypto/bytes.ts'
import {
  HEADER_KEYS_INFO,
  MESSAGE_KEY_INFO,
  ROOT_HE_INFO,
  ROOT_INFO,
  X3DH_INFO,
} from '@paloma/core/crypto/constants.ts'
import { identityFromEd25519Private } from '@paloma/core/crypto/keys.ts'
import { x25519, x25519KeyPairFromPrivate, type KeyPair, type Rng } from '@paloma/core/crypto/primitives.ts'
import {
  encodeHeader,
  initRatchetInitiator,
  initRatchetResponder,
  kdfChain,
  ratchetDecrypt,
  ratchetEncrypt,
  sharedHeaderKeys,
  startSendingChain,
  type RatchetState,
} from '@paloma/core/crypto/ratchet.ts'
import { x3dhInitiate, x3dhRespond } from '@paloma/core/crypto/x3dh.ts'

function seededRng(seed: string): Rng {
  const seedBytes = new TextEncoder().encode(seed)
  let counter = 0
  return (n: number) => {
    const out = new Uint8Array(n)
    for (let off = 0; off < n; off += 32) {
      const c = new Uint8Array(4)
      new DataView(c.buffer).setUint32(0, counter++)
      out.set(sha256(concatBytes(seedBytes, c)).subarray(0, Math.min(32, n - off)), off)
    }
    return out
  }
}

const hex = toHex

async function x3dhCase(seed: string, withOneTimePreKey: boolean) {
  const rng = seededRng(seed)
  const alice = await identityFromEd25519Private(rng(32))
  const bob = await identityFromEd25519Private(rng(32))
  const ephemeral = await x25519KeyPairFromPrivate(rng(32))
  const spk = await x25519KeyPairFromPrivate(rng(32))
  const opk = withOneTimePreKey ? await x25519KeyPairFromPrivate(rng(32)) : null
  const a = await x3dhInitiate(alice, ephemeral, bob.publicKey, spk.publicKey, opk?.publicKey ?? null)
  const b = await x3dhRespond(bob, alice.publicKey, ephemeral.publicKey, spk, opk)
  if (hex(a.sharedKey) !== hex(b.sharedKey) || hex(a.associatedData) !== hex(b.associatedData)) {
    throw new Error('X3DH sides disagree')
  }
  return {
    alice_identity_ed25519_seed: hex(alice.seed),
    alice_identity_ed25519_public: hex(alice.publicKey),
    alice_identity_x25519_private: hex(alice.dh.privateKey),
    alice_identity_x25519_public: hex(alice.dh.publicKey),
    alice_ephemeral_private: hex(ephemeral.privateKey),
    alice_ephemeral_public: hex(ephemeral.publicKey),
    bob_identity_ed25519_seed: hex(bob.seed),
    bob_identity_ed25519_public: hex(bob.publicKey),
    bob_identity_x25519_private: hex(bob.dh.privateKey),
    bob_identity_x25519_public: hex(bob.dh.publicKey),
    bob_signed_prekey_private: hex(spk.privateKey),
    bob_signed_prekey_public: hex(spk.publicKey),
    bob_one_time_prekey_private: opk ? hex(opk.privateKey) : null,
    bob_one_time_prekey_public: opk ? hex(opk.publicKey) : null,
    shared_key: hex(a.sharedKey),
    associated_data: hex(a.associatedData),
  }
}

type Side = 'alice' | 'bob'

async function ratchetCase(seed: string, pattern: string, headerEncryption = false) {
  const rng = seededRng(seed)
  const sharedKey = rng(32)
  const ad = rng(64)
  const bobRatchet = await x25519KeyPairFromPrivate(rng(32))
  const aliceRatchet = await x25519KeyPairFromPrivate(rng(32))
  // Each side draws its next ratchet key one step ahead from the shared stream, so the files stay those of
  // the first release (when the state held that key); the module itself generates it only when needed.
  const ahead: Record<Side, Uint8Array[]> = { alice: [], bob: [] }
  const alice = initRatchetInitiator(
    sharedKey,
    bobRatchet.publicKey,
    aliceRatchet,
    await x25519(aliceRatchet.privateKey, bobRatchet.publicKey),
    headerEncryption,
  )
  ahead.alice.push(rng(32))
  ahead.bob.push(rng(32))
  const states: Record<Side, RatchetState> = {
    alice,
    bob: initRatchetResponder(sharedKey, bobRatchet, headerEncryption),
  }
  // Header nonces come from a stream of their own, so the plain cases' stream is untouched.
  const nonces = seededRng(`${seed}/header-nonces`)
  const firstHeaderKeys = headerEncryption ? sharedHeaderKeys(sharedKey) : null
  const rngFor =
    (side: Side): Rng =>
    () => {
      ahead[side].push(rng(32))
      return ahead[side].shift() as Uint8Array
    }
  const chainRoots: Record<Side, { before: Uint8Array; after: Uint8Array } | null> = {
    alice: { before: sharedKey.slice(), after: states.alice.rootKey.slice() },
    bob: null,
  }
  const steps = []
  let i = 0
  for (const ch of pattern) {
    const sender: Side = ch === 'A' ? 'alice' : 'bob'
    const receiver: Side = sender === 'alice' ? 'bob' : 'alice'
    const s = states[sender]
    if (!s.sendingChainKey) {
      // The sending half of the DH ratchet step: record the root keys around it.
      const before = s.rootKey.slice()
      await startSendingChain(s, rngFor(sender))
      chainRoots[sender] = { before, after: s.rootKey.slice() }
    }
    const roots = chainRoots[sender]
    if (!roots || !s.sendingChainKey || !s.sendingRatchet || !s.remoteRatchet) {
      throw new Error('sender cannot send')
    }
    const chainKey = s.sendingChainKey.slice()
    const ratchetPair: KeyPair = {
      publicKey: s.sendingRatchet.publicKey.slice(),
      privateKey: s.sendingRatchet.privateKey.slice(),
    }
    const remote = s.remoteRatchet.slice()
    const plaintext = new TextEncoder().encode(`${seed}: message ${i++} from ${sender}`)
    const plainHeader = encodeHeader({ dh: ratchetPair.publicKey, pn: s.previousCount, n: s.sendCount })
    const keys = s.headerKeys && { hk: s.headerKeys.sending, nhk: s.headerKeys.nextSending }
    const { header, ciphertext } = ratchetEncrypt(s, plaintext, ad, nonces)
    steps.push({
      sender,
      ratchet_private: hex(ratchetPair.privateKey),
      ratchet_public: hex(ratchetPair.publicKey),
      remote_ratchet_public: hex(remote),
      root_key_before: hex(roots.before),
      root_key: hex(roots.after),
      chain_key: hex(chainKey),
      message_key: hex(kdfChain(chainKey)[1]),
      ...(keys && {
        header_key: hex(keys.hk as Uint8Array),
        next_header_key: hex(keys.nhk as Uint8Array),
        plain_header: hex(plainHeader),
      }),
      header: hex(header),
      plaintext: hex(plaintext),
      ciphertext: hex(ciphertext),
    })
    const out = await ratchetDecrypt(states[receiver], header, ciphertext, ad, rngFor(receiver))
    if (hex(out) !== hex(plaintext)) throw new Error('round trip failed')
  }
  return {
    shared_key: hex(sharedKey),
    associated_data: hex(ad),
    bob_ratchet_private: hex(bobRatchet.privateKey),
    bob_ratchet_public: hex(bobRatchet.publicKey),
    ...(firstHeaderKeys && {
      header_key_alice: hex(firstHeaderKeys.initiator),
      next_header_key_bob: hex(firstHeaderKeys.responder),
    }),
    steps,
  }
}

const x3dh = {
  info: X3DH_INFO,
  cases: [
    await x3dhCase('paloma-x3dh-0', true),
    await x3dhCase('paloma-x3dh-1', false),
    await x3dhCase('paloma-x3dh-2', true),
    await x3dhCase('paloma-x3dh-3', false),
    await x3dhCase('paloma-x3dh-4', true),
  ],
}
const ratchet = {
  root_info: ROOT_INFO,
  message_key_info: MESSAGE_KEY_INFO,
  cases: [
    await ratchetCase('paloma-ratchet-0', 'AAABBABAAABBBA'),
    await ratchetCase('paloma-ratchet-1', 'ABABABABABAB'),
    await ratchetCase('paloma-ratchet-2', 'AAAAABBBBBAABBAB'),
  ],
}
const ratchetHe = {
  root_info: ROOT_HE_INFO,
  header_keys_info: HEADER_KEYS_INFO,
  message_key_info: MESSAGE_KEY_INFO,
  cases: [
    await ratchetCase('paloma-ratchet-he-0', 'AAABBABAAABBBA', true),
    await ratchetCase('paloma-ratchet-he-1', 'ABABABABABAB', true),
    await ratchetCase('paloma-ratchet-he-2', 'AAAAABBBBBAABBAB', true),
  ],
}
const dir = new URL('../tests/vectors/', import.meta.url)
writeFileSync(new URL('x3dh.json', dir), JSON.stringify(x3dh, null, 2) + '\n')
writeFileSync(new URL('ratchet.json', dir), JSON.stringify(ratchet, null, 2) + '\n')
writeFileSync(new URL('ratchet-he.json', dir), JSON.stringify(ratchetHe, null, 2) + '\n')
console.log(
  `wrote ${x3dh.cases.length} X3DH cases, ${ratchet.cases.length} ratchet cases and ` +
    `${ratchetHe.cases.length} header-encryption cases to tests/vectors/`,
)
