// Protocol-level: five people with real X3DH + Double Ratchet sessions between every pair carry the welcome
// and the sender key distributions; the group runs, one member is removed, every remaining member rotates
// before sending again, and the removed member, holding every later ciphertext, every sender key it ever
// held and its own old key, decrypts none of them, not even by trying every key it has on every message.
import { describe, expect, it } from 'vitest'
import { toHex } from '@paloma/core/crypto/bytes.ts'
import { decryptMessage, encryptMessage, hasSession, processPreKeyBundle } from '@paloma/core/crypto/index.ts'
import { aesGcmDecrypt } from '@paloma/core/crypto/primitives.ts'
import {
  GroupError,
  RotationRequiredError,
  applyChange,
  decodeGroupMessage,
  distributeSenderKey,
  encodeWelcome,
  forgetFormerMembers,
  groupDecrypt,
  groupEncrypt,
  isMember,
  makeChange,
  memberList,
  newGroupReceiverState,
  newSenderKey,
  openWelcome,
  processSenderKeyDistribution,
  rotateSenderKey,
  createGroup,
  type GroupLog,
  type GroupReceiverState,
  type SenderKeyState,
} from '@paloma/core/group/index.ts'
import { groupChainStep, groupMessageHeader, groupMessageKeyMaterial } from '@paloma/core/group/sender-key.ts'
import { bundleOf, makeParty, type Party } from '../crypto/helpers.ts'
import { NOW, seededRng, str, utf8 } from './helpers.ts'

interface Person {
  party: Party
  log: GroupLog
  sender: SenderKeyState
  receiver: GroupReceiverState
  /** Every chain key and skipped message key this person ever held for the group (the removed member's loot). */
  loot: Map<string, { chainKey: Uint8Array; iteration: number }>
  skippedLoot: Map<string, Uint8Array>
}

const rng = seededRng('removal')
const opts = { now: NOW, rng }

/** Sends `bytes` from one person to another over their 1:1 session (made on first use); returns what arrives. */
async function oneToOne(from: Party, to: Party, bytes: Uint8Array): Promise<Uint8Array> {
  if (!(await hasSession(to.name, from.stores))) {
    await processPreKeyBundle(to.name, to.identity.publicKey, await bundleOf(to), from.stores, opts)
  }
  const m = await encryptMessage(to.name, bytes, from.stores, opts)
  return decryptMessage(from.name, m, to.stores, opts)
}

/** Records every key `p` holds now, as a removed member would keep them. */
function hoard(p: Person): void {
  p.loot.set(toHex(p.sender.chainKey), { chainKey: p.sender.chainKey, iteration: p.sender.iteration })
  for (const rec of p.receiver.senders.values()) {
    for (const chain of [rec.current, rec.previous]) {
      if (!chain) continue
      p.loot.set(toHex(chain.chainKey), { chainKey: chain.chainKey, iteration: chain.iteration })
      for (const mk of chain.skipped.values()) p.skippedLoot.set(toHex(mk), mk)
    }
  }
}

/** `p` hands its current sender key to `to` over 1:1. */
async function distribute(p: Person, to: Person[]): Promise<void> {
  const { state, distribution } = distributeSenderKey(
    p.sender,
    to.map((t) => t.party.identity.publicKey),
  )
  p.sender = state
  for (const t of to) {
    const arrived = await oneToOne(p.party, t.party, distribution)
    t.receiver = await processSenderKeyDistribution(t.receiver, p.party.identity.publicKey, arrived, {
      now: NOW,
      members: memberList(t.log),
    })
  }
}

describe('removal', () => {
  it('a removed member cannot decrypt anything sent after its removal', async () => {
    const parties = [] as Party[]
    for (const name of ['alice', 'bob', 'carol', 'dave', 'rex']) parties.push(await makeParty(name, rng, 0))
    const [alice, ...others] = parties as [Party, ...Party[]]
    // alice creates the group and adds everyone; each newcomer gets the welcome over 1:1.
    const created = await createGroup(alice.identity, { name: 'Ropes', now: NOW, rng })
    const groupSecret = created.groupSecret
    let log = created.log
    for (const p of others)
      log = (
        await makeChange(log, alice.identity, { kind: 'add', member: p.identity.publicKey }, { now: NOW })
      ).log
    const people: Person[] = []
    for (const p of parties) {
      let own = log
      if (p !== alice) {
        const parts = []
        for (const part of encodeWelcome(log, groupSecret)) parts.push(await oneToOne(alice, p, part))
        own = (await openWelcome(parts, { me: p.identity.publicKey })).log
      }
      people.push({
        party: p,
        log: own,
        sender: await newSenderKey(rng, { group: log.group, owner: p.identity.publicKey, now: NOW }),
        receiver: newGroupReceiverState(log.group),
        loot: new Map(),
        skippedLoot: new Map(),
      })
    }
    const [a, b, c, d, rex] = people as [Person, Person, Person, Person, Person]
    for (const p of people)
      await distribute(
        p,
        people.filter((q) => q !== p),
      )

    /** p sends `text` to the group; every listed reader decrypts it (with the right sender). */
    const published: { from: Person; message: Uint8Array; text: string; afterRemoval: boolean }[] = []
    const send = async (p: Person, text: string, readers: Person[], afterRemoval: boolean) => {
      const r = await groupEncrypt(p.sender, utf8(text), { now: NOW, members: memberList(p.log) })
      p.sender = r.state
      published.push({ from: p, message: r.message, text, afterRemoval })
      for (const q of readers) {
        const out = await groupDecrypt(q.receiver, r.message, { now: NOW, members: memberList(q.log) })
        expect(str(out.plaintext)).toBe(text)
        expect(toHex(out.sender)).toBe(toHex(p.party.identity.publicKey))
        q.receiver = out.state
      }
    }
    // Before the removal, rex reads everything, and sends too.
    for (const p of people) {
      await send(
        p,
        `${p.party.name}: before 1`,
        people.filter((q) => q !== p),
        false,
      )
      // Some messages never reach rex while he is a member: he keeps skipped keys for them.
      await send(
        p,
        `${p.party.name}: before 2`,
        people.filter((q) => q !== p && q !== rex),
        false,
      )
      await send(
        p,
        `${p.party.name}: before 3`,
        people.filter((q) => q !== p),
        false,
      )
    }
    hoard(rex)

    // alice removes rex; everyone (rex too) applies the change.
    const removal = await makeChange(
      a.log,
      alice.identity,
      { kind: 'remove', member: rex.party.identity.publicKey },
      { now: NOW },
    )
    for (const p of people)
      p.log = p === a ? removal.log : (await applyChange(p.log, removal.change.bytes)).log
    expect(isMember(a.log, rex.party.identity.publicKey)).toBe(false)
    const remaining = [a, b, c, d]
    // Nobody can send on a key rex holds: each must rotate and distribute to the remaining members first.
    for (const p of remaining) {
      const refused = await groupEncrypt(p.sender, utf8('too early'), {
        now: NOW,
        members: memberList(p.log),
      }).catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(RotationRequiredError)
      expect((refused as RotationRequiredError).reason).toBe('removal')
      p.receiver = forgetFormerMembers(p.receiver, memberList(p.log))
    }
    for (const p of remaining) {
      p.sender = await rotateSenderKey(p.sender, rng, { now: NOW })
      await distribute(
        p,
        remaining.filter((q) => q !== p),
      )
    }
    for (let round = 0; round < 3; round++) {
      for (const p of remaining)
        await send(
          p,
          `${p.party.name}: after ${round}`,
          remaining.filter((q) => q !== p),
          true,
        )
    }
    // rex's own (old) key is refused by the remaining members.
    const rexSends = await groupEncrypt(rex.sender, utf8('still here?'), {
      now: NOW,
      members: memberList(rex.log).concat([rex.party.identity.publicKey]),
    })
    for (const q of remaining) {
      await expect(
        groupDecrypt(q.receiver, rexSends.message, { now: NOW, members: memberList(q.log) }),
      ).rejects.toBeInstanceOf(GroupError)
    }

    // rex, with every later ciphertext, tries his receiver state (pretending nobody was removed)...
    const everyone = people.map((p) => p.party.identity.publicKey)
    const later = published.filter((m) => m.afterRemoval)
    expect(later).toHaveLength(12)
    for (const m of later) {
      await expect(
        groupDecrypt(rex.receiver, m.message, { now: NOW, members: everyone }),
      ).rejects.toBeInstanceOf(GroupError)
    }
    // ...and every chain key and skipped key he ever held, forwarded to each message's iteration, under
    // every sender identity: no AEAD opens.
    hoard(rex)
    let attempts = 0
    for (const m of later) {
      const msg = decodeGroupMessage(m.message)
      const keys: Uint8Array[] = [...rex.skippedLoot.values()]
      for (const { chainKey, iteration } of rex.loot.values()) {
        if (iteration > msg.iteration) continue
        let ck = chainKey
        for (let i = iteration; i < msg.iteration; i++) ck = groupChainStep(ck)[0]
        keys.push(groupChainStep(ck)[1])
      }
      for (const mk of keys) {
        const { key, nonce } = groupMessageKeyMaterial(mk)
        for (const owner of everyone) {
          attempts++
          const header = groupMessageHeader(msg.group, owner, msg.signingKey, msg.iteration)
          expect(() => aesGcmDecrypt(key, nonce, msg.ciphertext, header)).toThrow()
        }
      }
    }
    expect(rex.skippedLoot.size).toBe(4)
    expect(rex.loot.size).toBe(5)
    expect(attempts).toBeGreaterThanOrEqual(later.length * everyone.length * rex.skippedLoot.size)
    // The same brute force does open the messages sent before the removal that rex never received.
    let opened = 0
    for (const m of published.filter(
      (x) => !x.afterRemoval && x.text.endsWith('before 2') && x.from !== rex,
    )) {
      const msg = decodeGroupMessage(m.message)
      for (const mk of rex.skippedLoot.values()) {
        const { key, nonce } = groupMessageKeyMaterial(mk)
        const header = groupMessageHeader(
          msg.group,
          m.from.party.identity.publicKey,
          msg.signingKey,
          msg.iteration,
        )
        try {
          aesGcmDecrypt(key, nonce, msg.ciphertext, header)
          opened++
        } catch {
          // not this key
        }
      }
    }
    expect(opened).toBe(4)
  })
})
