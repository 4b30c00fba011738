// Generates tests/vectors/group.json (node_modules/.bin/node scripts/gen-group-vectors.ts).
// Deterministic: every random byte comes from a SHA-256 counter-mode stream seeded below, and Ed25519 and
// AES-GCM are deterministic, so rerunning the script reproduces the file byte for byte.
// Format: docs/protocol.md, "Groups", "Test vectors".
import { writeFileSync } from 'node:fs'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, toHex } from '@paloma/core/crypto/bytes.ts'
import { identityFromEd25519Private, type IdentityKeyPair } from '@paloma/core/crypto/keys.ts'
import type { Rng } from '@paloma/core/crypto/primitives.ts'
import { pad } from '@paloma/core/crypto/padding.ts'
import {
  CHANGE_ID_PREFIX,
  CHANGE_SIGNATURE_PREFIX,
  GROUP_MESSAGE_KEY_INFO,
  GROUP_TOPIC_INFO,
  GROUP_TOPIC_PREFIX,
  MESSAGE_SIGNATURE_PREFIX,
  SENDER_KEY_SIGNATURE_PREFIX,
  applyChange,
  createGroup,
  distributeSenderKey,
  groupDecrypt,
  groupEncrypt,
  groupState,
  groupTopic,
  history,
  makeChange,
  newGroupReceiverState,
  newSenderKey,
  processSenderKeyDistribution,
  type ChangeRequest,
  type GroupChange,
  type GroupLog,
  type SenderKeyState,
} from '@paloma/core/group/index.ts'
import {
  decodeGroupMessage,
  groupChainStep,
  groupMessageHeader,
  groupMessageKeyMaterial,
} from '@paloma/core/group/sender-key.ts'

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
const NOW = 1_700_000_000_000

async function people(rng: Rng, names: string[]): Promise<Record<string, IdentityKeyPair>> {
  const out: Record<string, IdentityKeyPair> = {}
  for (const name of names) out[name] = await identityFromEd25519Private(rng(32))
  return out
}

/**
 * A membership case: carol creates, adds alice, bob and mia, names alice and bob admins; then, concurrently,
 * carol removes alice while alice (not knowing) adds xavier and renames the group, bob renames it, and mia
 * leaves. alice's two changes are void (rule V1).
 */
async function membershipCase(seed: string) {
  const rng = seededRng(seed)
  const p = await people(rng, ['carol', 'alice', 'bob', 'mia', 'xavier'])
  const { carol, alice, bob, mia, xavier } = p as Record<string, IdentityKeyPair>
  const changes: GroupChange[] = []
  const step = async (log: GroupLog, who: IdentityKeyPair, r: ChangeRequest, t: number) => {
    const made = await makeChange(log, who, r, { now: NOW + t })
    changes.push(made.change)
    return made.log
  }
  const created = await createGroup(carol!, { name: 'Crag', now: NOW, rng })
  changes.push(created.change)
  let log = created.log
  for (const [i, m] of [alice!, bob!, mia!].entries())
    log = await step(log, carol!, { kind: 'add', member: m.publicKey }, 1 + i)
  log = await step(log, carol!, { kind: 'admin', member: alice!.publicKey }, 4)
  log = await step(log, carol!, { kind: 'admin', member: bob!.publicKey }, 5)
  const shared = log
  const atCarol = await step(shared, carol!, { kind: 'remove', member: alice!.publicKey }, 6)
  const aliceAdded = await step(shared, alice!, { kind: 'add', member: xavier!.publicKey }, 7)
  await step(aliceAdded, alice!, { kind: 'rename', name: 'Alice’s crag' }, 8)
  await step(shared, bob!, { kind: 'rename', name: 'Bouldering' }, 9)
  await step(shared, mia!, { kind: 'leave' }, 10)
  // Everything, merged: carol's replica receives the rest (as bytes, in the order listed).
  let merged = atCarol
  for (const c of changes) merged = (await applyChange(merged, c.bytes)).log
  const state = groupState(merged)
  const identityHex = new Map(Object.entries(p).map(([name, id]) => [hex(id.publicKey), name]))
  return {
    identities: Object.entries(p).map(([name, id]) => ({
      name,
      ed25519_seed: hex(id.seed),
      ed25519_public: hex(id.publicKey),
    })),
    group_id: hex(merged.group),
    changes: changes.map((c) => ({
      kind: c.kind,
      author: identityHex.get(hex(c.author)),
      bytes: hex(c.bytes),
      unsigned: hex(c.unsigned),
      id: c.idHex,
      parents: c.parents.map(hex),
    })),
    canonical_order: history(merged).map((h) => h.change.idHex),
    void: history(merged)
      .filter((h) => !h.effective)
      .map((h) => h.change.idHex),
    state: {
      name: state.name,
      creator: hex(state.creator),
      members: state.members.map(hex),
      admins: state.admins.map(hex),
    },
  }
}

/** A sender key case: a key, its distribution, and messages at iterations 0, 1, 2, 5 (3 and 4 skipped). */
async function senderKeyCase(seed: string) {
  const rng = seededRng(seed)
  const { owner, reader } = (await people(rng, ['owner', 'reader'])) as Record<string, IdentityKeyPair>
  const created = await createGroup(owner!, { name: 'Vectors', now: NOW, rng })
  const log = (
    await makeChange(created.log, owner!, { kind: 'add', member: reader!.publicKey }, { now: NOW })
  ).log
  const members = groupState(log).members
  const made = await newSenderKey(rng, { group: log.group, owner: owner!.publicKey, now: NOW })
  const { state: first, distribution } = distributeSenderKey(made, [reader!.publicKey])
  let receiver = await processSenderKeyDistribution(
    newGroupReceiverState(log.group),
    owner!.publicKey,
    distribution,
    {
      now: NOW,
      members,
    },
  )
  let state: SenderKeyState = first
  const steps = []
  for (let i = 0; i < 6; i++) {
    const chainKey = state.chainKey
    const [, messageKey] = groupChainStep(chainKey)
    const { key, nonce } = groupMessageKeyMaterial(messageKey)
    const plaintext = new TextEncoder().encode(`${seed}: message ${i}${'!'.repeat(i * 40)}`)
    const r = await groupEncrypt(state, plaintext, { now: NOW, members })
    state = r.state
    if (i === 3 || i === 4) continue // never delivered: the reader skips them
    const m = decodeGroupMessage(r.message)
    const out = await groupDecrypt(receiver, r.message, { now: NOW, members })
    if (hex(out.plaintext) !== hex(plaintext)) throw new Error('round trip failed')
    receiver = out.state
    steps.push({
      iteration: m.iteration,
      chain_key: hex(chainKey),
      message_key: hex(messageKey),
      aes_key: hex(key),
      nonce: hex(nonce),
      plaintext: hex(plaintext),
      padded: hex(pad(plaintext)),
      header: hex(groupMessageHeader(log.group, owner!.publicKey, m.signingKey, m.iteration)),
      ciphertext: hex(m.ciphertext),
      signature: hex(m.signature),
      message: hex(r.message),
    })
  }
  return {
    group_id: hex(log.group),
    owner_ed25519_seed: hex(owner!.seed),
    owner_ed25519_public: hex(owner!.publicKey),
    reader_ed25519_public: hex(reader!.publicKey),
    key_id: first.keyId,
    chain_key: hex(first.chainKey),
    signing_seed: hex(first.signing.seed),
    signing_public: hex(first.signing.publicKey),
    proof: hex(first.proof),
    distribution: hex(distribution),
    steps,
  }
}

const topics = ['paloma-topic-0', 'paloma-topic-1'].map((seed) => {
  const secret = seededRng(seed)(32)
  return { group_secret: hex(secret), topic: groupTopic(secret) }
})

const vectors = {
  change_signature_prefix: CHANGE_SIGNATURE_PREFIX,
  change_id_prefix: CHANGE_ID_PREFIX,
  sender_key_signature_prefix: SENDER_KEY_SIGNATURE_PREFIX,
  message_prefix: MESSAGE_SIGNATURE_PREFIX,
  message_key_info: GROUP_MESSAGE_KEY_INFO,
  topic_info: GROUP_TOPIC_INFO,
  topic_prefix: GROUP_TOPIC_PREFIX,
  topics,
  membership: [await membershipCase('paloma-group-log-0'), await membershipCase('paloma-group-log-1')],
  sender_keys: [await senderKeyCase('paloma-sender-key-0'), await senderKeyCase('paloma-sender-key-1')],
}
writeFileSync(
  new URL('../tests/vectors/group.json', import.meta.url),
  JSON.stringify(vectors, null, 2) + '\n',
)
console.log(
  `wrote ${topics.length} topics, ${vectors.membership.length} membership and ` +
    `${vectors.sender_keys.length} sender key cases to tests/vectors/group.json`,
)
