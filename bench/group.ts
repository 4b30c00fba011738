// Benchmark of the group core (node_modules/.bin/node bench/group.ts). Prints one JSON line:
// msgs_per_s_encrypt / msgs_per_s_decrypt: 100-byte group messages (median of 5 rounds of 2000), with the
// Node (OpenSSL) provider that Node peers install and, under `portable`, the WebCrypto/@noble default the
// browser uses; message_bytes: a 100-byte text on the wire;
// removal: for groups of 3, 10 and 30 members, what one removal costs: `pairwise_messages`, the sender key
// distributions every remaining member sends every other ((n - 1)(n - 2)), and `crypto_ms`, the pure
// crypto of all of it on one core (each member's new key, every distribution encrypted and decrypted over
// an established 1:1 Double Ratchet session with header encryption, and taken in) plus `per_member_ms`,
// one member's share (its key, its n - 2 sends and its n - 2 receipts);
// log: a log of 1000 changes (a group of about 250 members with churn): authoring one change, applying them
// all in one batch (each verified and checked), and joining from its welcome, in ms.
import { availableParallelism, loadavg } from 'node:os'
import {
  createInMemoryStores,
  createPreKeyBundle,
  decryptMessage,
  encryptMessage,
  generateIdentity,
  generateSignedPreKey,
  processPreKeyBundle,
  secureRandom,
  type IdentityKeyPair,
} from '@paloma/core/crypto/index.ts'
import { portableProvider, setCryptoProvider, type CryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'
import {
  applyChanges,
  createGroup,
  distributeSenderKey,
  encodeWelcome,
  groupDecrypt,
  groupEncrypt,
  logChanges,
  makeChange,
  memberList,
  newGroupReceiverState,
  newSenderKey,
  openLog,
  openWelcome,
  processSenderKeyDistribution,
  type GroupLog,
} from '@paloma/core/group/index.ts'

const rng = secureRandom
const now = Date.now()
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0

async function groupOf(n: number): Promise<{ ids: IdentityKeyPair[]; log: GroupLog }> {
  const ids: IdentityKeyPair[] = []
  for (let i = 0; i < n; i++) ids.push(await generateIdentity(rng))
  let { log } = await createGroup(ids[0]!, { name: 'bench', now, rng })
  for (const p of ids.slice(1))
    log = (await makeChange(log, ids[0]!, { kind: 'add', member: p.publicKey }, { now })).log
  return { ids, log }
}

async function messageRates() {
  const { ids, log } = await groupOf(2)
  const members = memberList(log)
  const opts = { now, members }
  const made = await newSenderKey(rng, { group: log.group, owner: ids[0]!.publicKey, now })
  const { state, distribution } = distributeSenderKey(made, [ids[1]!.publicKey])
  const start = await processSenderKeyDistribution(
    newGroupReceiverState(log.group),
    ids[0]!.publicKey,
    distribution,
    opts,
  )
  const payload = new Uint8Array(100).fill(0x61)
  const enc: number[] = []
  const dec: number[] = []
  let sender = state
  let bytes = 0
  for (let round = 0; round < 6; round++) {
    const n = 2000
    const messages: Uint8Array[] = []
    const t0 = performance.now()
    for (let i = 0; i < n; i++) {
      const r = await groupEncrypt(sender, payload, opts)
      sender = r.state
      messages.push(r.message)
    }
    const t1 = performance.now()
    let receiver = start
    for (const m of messages) receiver = (await groupDecrypt(receiver, m, opts)).state
    const t2 = performance.now()
    bytes = messages[0]!.length
    if (round > 0) {
      enc.push(n / ((t1 - t0) / 1000))
      dec.push(n / ((t2 - t1) / 1000))
    }
    // Each round starts from the same key (and a fresh receiver): iterations stay below the rotation limit.
    sender = state
  }
  return {
    msgs_per_s_encrypt: Math.round(median(enc)),
    msgs_per_s_decrypt: Math.round(median(dec)),
    message_bytes: bytes,
  }
}

interface Member {
  id: IdentityKeyPair
  stores: ReturnType<typeof createInMemoryStores>
}

/** Members with established 1:1 sessions (header encryption, as the app) between every pair. */
async function pairwise(ids: IdentityKeyPair[]): Promise<Member[]> {
  const members: Member[] = []
  for (const id of ids) {
    const stores = createInMemoryStores(id)
    await stores.signedPreKeys.storeSignedPreKey(await generateSignedPreKey(1, rng, now))
    members.push({ id, stores })
  }
  const opts = { now, rng, headerEncryption: true }
  for (const [i, a] of members.entries()) {
    for (const b of members.slice(i + 1)) {
      const spk = await b.stores.signedPreKeys.loadSignedPreKey(1)
      const bundle = await createPreKeyBundle(b.id, spk!, [])
      await processPreKeyBundle(`${members.indexOf(b)}`, b.id.publicKey, bundle, a.stores, opts)
      const hello = await encryptMessage(`${members.indexOf(b)}`, new Uint8Array(1), a.stores, opts)
      await decryptMessage(`${i}`, hello, b.stores, opts)
      const back = await encryptMessage(`${i}`, new Uint8Array(1), b.stores, opts)
      await decryptMessage(`${members.indexOf(b)}`, back, a.stores, opts)
    }
  }
  return members
}

/** One removal in a group of `n`: every remaining member makes a key and hands it to every other. */
async function removal(n: number) {
  const { ids, log } = await groupOf(n)
  const after = (await makeChange(log, ids[0]!, { kind: 'remove', member: ids[n - 1]!.publicKey }, { now }))
    .log
  const remaining = await pairwise(ids.slice(0, n - 1))
  const members = memberList(after)
  const opts = { now, rng }
  const receivers = remaining.map(() => newGroupReceiverState(after.group))
  let pairwiseMessages = 0
  const t0 = performance.now()
  for (const [i, m] of remaining.entries()) {
    const key = await newSenderKey(rng, { group: after.group, owner: m.id.publicKey, now })
    const others = remaining.filter((o) => o !== m)
    const { distribution } = distributeSenderKey(
      key,
      others.map((o) => o.id.publicKey),
    )
    for (const o of others) {
      const j = remaining.indexOf(o)
      const sealed = await encryptMessage(`${j}`, distribution, m.stores, opts)
      const arrived = await decryptMessage(`${i}`, sealed, o.stores, opts)
      receivers[j] = await processSenderKeyDistribution(receivers[j]!, m.id.publicKey, arrived, {
        now,
        members,
      })
      pairwiseMessages++
    }
  }
  const ms = performance.now() - t0
  return {
    members: n,
    pairwise_messages: pairwiseMessages,
    crypto_ms: Number(ms.toFixed(1)),
    per_member_ms: Number((ms / (n - 1)).toFixed(2)),
  }
}

async function logFigures() {
  const ids: IdentityKeyPair[] = []
  for (let i = 0; i < 400; i++) ids.push(await generateIdentity(rng))
  const created = await createGroup(ids[0]!, { name: 'bench', now, rng })
  let log = created.log
  // Churn: fill to 250 members, then remove the longest-standing and add whoever is out, up to 1000 changes.
  const inside: IdentityKeyPair[] = []
  const outside = ids.slice(1)
  const t0 = performance.now()
  while (log.size < 1000) {
    const remove = inside.length >= 250 || (inside.length > 200 && log.size % 3 === 0)
    const who = remove ? inside.shift()! : outside.shift()!
    log = (
      await makeChange(log, ids[0]!, { kind: remove ? 'remove' : 'add', member: who.publicKey }, { now })
    ).log
    if (remove) outside.push(who)
    else inside.push(who)
  }
  const authoring = performance.now() - t0
  const changes = logChanges(log)
  const t1 = performance.now()
  const batch = await applyChanges(await openLog(changes[0]!), changes.slice(1))
  const applying = performance.now() - t1
  const parts = encodeWelcome(log, created.groupSecret)
  const t2 = performance.now()
  await openWelcome(parts, { me: inside[0]!.publicKey })
  const joining = performance.now() - t2
  if (batch.log.size !== changes.length) throw new Error('log did not rebuild')
  return {
    changes: changes.length,
    author_ms_per_change: Number((authoring / (changes.length - 1)).toFixed(3)),
    apply_batch_ms: Number(applying.toFixed(1)),
    welcome_parts: parts.length,
    welcome_join_ms: Number(joining.toFixed(1)),
  }
}

async function measure(provider: CryptoProvider) {
  setCryptoProvider(provider)
  return { provider: provider.name, ...(await messageRates()) }
}

const node = await measure(nodeCryptoProvider)
const removals = []
for (const n of [3, 10, 30]) removals.push(await removal(n))
const log = await logFigures()
const portable = await measure(portableProvider)
setCryptoProvider(nodeCryptoProvider)
console.log(
  JSON.stringify({
    bench: 'group',
    ...node,
    removal: removals,
    log,
    portable: {
      msgs_per_s_encrypt: portable.msgs_per_s_encrypt,
      msgs_per_s_decrypt: portable.msgs_per_s_decrypt,
    },
    cores: availableParallelism(),
    load: Number(loadavg()[0]!.toFixed(2)),
  }),
)
