// Group interaction fuzzer (like the 1:1 interaction fuzzer, tests/unit/core/crypto/interaction.fuzz.test.ts):
// five identities in one group driven through random send, deliver (in any order), drop, duplicate, replay,
// tamper, remove, rejoin (re-added with fresh keys), rotate, clock jumps and sends by removed members.
// Sender key distributions travel at once (the 1:1 sessions are tested on their own); membership changes
// reach everyone at once (convergence of the log is tested in log.test.ts).
// Invariants: a model of who holds which sender key predicts exactly which deliveries decrypt; every
// message that is not dropped decrypts exactly once at every holder of its key, to what was sent and with
// the right sender; nothing tampered or replayed is accepted; a member removed decrypts nothing sent after
// its removal; a rejected message leaves the receiver's state unchanged; a sender must rotate exactly when
// a holder of its key left or the key is too old; skipped keys stay within the cap.
// Steps: env PALOMA_FUZZ_STEPS (default 10 000), in runs of RUN_LENGTH.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { IdentityKeyPair, Rng } from '@paloma/core/crypto/index.ts'
import {
  GROUP_MAX_STORED_SKIPPED_KEYS,
  GroupError,
  NotAGroupMemberError,
  RotationRequiredError,
  SENDER_KEY_GRACE_MS,
  SENDER_KEY_MAX_AGE_MS,
  createGroup,
  distributeSenderKey,
  encodeGroupReceiverState,
  forgetFormerMembers,
  groupDecrypt,
  groupEncrypt,
  makeChange,
  memberList,
  newGroupReceiverState,
  newSenderKey,
  processSenderKeyDistribution,
  rotateSenderKey,
  type GroupReceiverState,
  type SenderKeyState,
} from '@paloma/core/group/index.ts'
import { NOW, hex, identities, seededRng, str, utf8 } from './helpers.ts'

const STEPS = Number(process.env.PALOMA_FUZZ_STEPS ?? 10_000)
const RUN_LENGTH = 400
const RUNS = Math.max(1, Math.ceil(STEPS / RUN_LENGTH))
const PEOPLE = 5
const DAY = 24 * 3600 * 1000

type Action = [kind: number, a: number, b: number, c: number]
// Kinds (weighted so few messages wait long): 0-3 send, 4-17 deliver, 18-19 drop, 20 duplicate, 21 replay,
// 22 tamper, 23 remove, 24 rejoin, 25 rotate, 26 clock jump (up to 2 days), 27 a clock jump of up to 6 hours
// or, one time in four, of 30 to 40 days (beyond the age limit and the grace window: the oldest message in
// flight then arrives), 28 a removed member sends anyway.
// Unbiased: fast-check otherwise favours small values, i.e. the first kinds.
const actionArb = fc.noBias(fc.tuple(fc.nat(28), fc.nat(1 << 20), fc.nat(1 << 20), fc.nat(1 << 20)))
const KIND = {
  send: 3,
  deliver: 17,
  drop: 19,
  duplicate: 20,
  replay: 21,
  tamper: 22,
  remove: 23,
  rejoin: 24,
  rotate: 25,
  jump: 26,
  longJump: 27,
} as const

const newCounters = () => ({
  delivered: 0,
  expectedFailures: 0,
  replays: 0,
  lateCopies: 0,
  tampers: 0,
  removals: 0,
  rejoins: 0,
  rotations: 0,
  afterRemovalRefused: 0,
  removedSenderRefused: 0,
})
let counters = newCounters()
/** Why the model expected a delivery to be refused. */
const newRefusals = () => ({ senderGone: 0, again: 0, noKey: 0, expired: 0, retired: 0, beforeJoin: 0 })
let refusals = newRefusals()

/** A chain a receiver holds, as the model sees it: key id, signing key and the first iteration it opens. */
interface HeldChain {
  keyId: number
  key: string
  from: number
}
interface Holding {
  current: HeldChain
  previous: HeldChain | null
  until: number
}

interface Person {
  id: IdentityKeyPair
  key: string
  sender: SenderKeyState | null
  receiver: GroupReceiverState
  /** The model: what this person holds per sender (hex). */
  holds: Map<string, Holding>
}

interface InFlight {
  msg: number
  from: string
  to: string
  keyId: number
  /** The sender key's signing key (hex): what names the chain (key ids may repeat across a rejoin). */
  signingKey: string
  iteration: number
  text: string
  bytes: Uint8Array
  /** The receiver was not a member when the message was sent. */
  toWasOutside: boolean
}

async function run(seed: number, actions: Action[]): Promise<void> {
  const rng: Rng = seededRng(`group-fuzz-${seed}`)
  const ids = await identities(PEOPLE, rng)
  let now = NOW
  let { log } = await createGroup(ids[0]!, { name: 'fuzz', now, rng })
  for (const p of ids.slice(1))
    log = (await makeChange(log, ids[0]!, { kind: 'add', member: p.publicKey }, { now })).log
  const people: Person[] = ids.map((id) => ({
    id,
    key: hex(id.publicKey),
    sender: null,
    receiver: newGroupReceiverState(log.group),
    holds: new Map(),
  }))
  const byKey = new Map(people.map((p) => [p.key, p]))
  const members = () => memberList(log)
  const isMember = (p: Person) => members().some((m) => hex(m) === p.key)
  const current = () => people.filter(isMember)
  let nextMsg = 0
  const pending: InFlight[] = []
  /** Messages that decrypted at their receiver (any copy must now fail), and ones that were refused. */
  const delivered: InFlight[] = []
  const refused: InFlight[] = []
  const decrypted = new Set<string>()
  const trace: string[] = []

  /** The model's side of processSenderKeyDistribution (distributions arrive in order, newest last). */
  const modelReceive = (to: Person, from: Person, s: SenderKeyState) => {
    const h = to.holds.get(from.key)
    const chain = { keyId: s.keyId, key: hex(s.signing.publicKey), from: s.iteration }
    if (!h) to.holds.set(from.key, { current: chain, previous: null, until: 0 })
    else if (chain.key === h.current.key || chain.key === h.previous?.key) return
    else if (chain.keyId >= h.current.keyId)
      to.holds.set(from.key, { current: chain, previous: h.current, until: now + SENDER_KEY_GRACE_MS })
    else throw new Error('the fuzzer distributes keys in order')
  }

  /** `p` hands its current key to `to` (each a current member). */
  const distribute = async (p: Person, to: Person[]) => {
    const d = distributeSenderKey(
      p.sender!,
      to.map((t) => t.id.publicKey),
    )
    p.sender = d.state
    for (const t of to) {
      t.receiver = await processSenderKeyDistribution(t.receiver, p.id.publicKey, d.distribution, {
        now,
        members: members(),
      })
      modelReceive(t, p, p.sender)
    }
  }

  const freshKey = async (p: Person) => {
    p.sender = await newSenderKey(rng, { group: log.group, owner: p.id.publicKey, now })
  }

  // Everyone makes a key and hands it to everyone else.
  for (const p of people) await freshKey(p)
  for (const p of people)
    await distribute(
      p,
      people.filter((q) => q !== p),
    )

  /** What the model predicts for delivering `m` now: decrypts, or is refused. */
  const expectDecrypts = (m: InFlight): boolean => {
    const to = byKey.get(m.to)!
    const from = byKey.get(m.from)!
    const why = (reason: keyof typeof refusals) => {
      refusals[reason]++
      return false
    }
    if (!isMember(from)) return why('senderGone')
    if (decrypted.has(`${m.msg}:${m.to}`)) return why('again')
    const h = to.holds.get(m.from)
    if (!h) return why('noKey')
    if (h.previous?.key === m.signingKey && now >= h.until) return why('expired')
    const chain =
      h.current.key === m.signingKey ? h.current : h.previous?.key === m.signingKey ? h.previous : null
    if (!chain) return why('retired')
    if (m.iteration < chain.from) return why('beforeJoin')
    return true
  }

  const deliver = async (m: InFlight) => {
    const to = byKey.get(m.to)!
    const expected = expectDecrypts(m)
    const before = encodeGroupReceiverState(to.receiver)
    const result = await groupDecrypt(to.receiver, m.bytes, { now, members: members() }).then(
      (r) => r,
      (e: unknown) => e,
    )
    if (expected) {
      if (result instanceof Error)
        throw new Error(`message #${m.msg} to ${m.to.slice(0, 6)} refused`, { cause: result })
      const r = result as Awaited<ReturnType<typeof groupDecrypt>>
      expect(str(r.plaintext)).toBe(m.text)
      expect(hex(r.sender)).toBe(m.from)
      expect([r.keyId, r.iteration]).toEqual([m.keyId, m.iteration])
      expect(m.toWasOutside).toBe(false)
      decrypted.add(`${m.msg}:${m.to}`)
      to.receiver = r.state
      counters.delivered++
      for (const rec of to.receiver.senders.values()) {
        expect(rec.current.skipped.size + (rec.previous?.skipped.size ?? 0)).toBeLessThanOrEqual(
          GROUP_MAX_STORED_SKIPPED_KEYS,
        )
      }
    } else {
      expect(result).toBeInstanceOf(GroupError)
      expect(encodeGroupReceiverState(to.receiver)).toEqual(before)
      counters.expectedFailures++
      if (m.toWasOutside) counters.afterRemovalRefused++
    }
    ;(expected ? delivered : refused).push(m)
  }

  /** `p` sends a message to the group; every other identity (member or not) gets a copy in flight. */
  const send = async (p: Person, length: number) => {
    const model = p.sender!
    const needsRotation =
      model.recipients.some((r) => !members().some((m) => hex(m) === hex(r))) ||
      now - model.createdAt >= SENDER_KEY_MAX_AGE_MS
    const text = `m${nextMsg} from ${p.key.slice(0, 6)} ${'x'.repeat(length % 300)}`
    let r = await groupEncrypt(model, utf8(text), { now, members: members() }).catch((e: unknown) => e)
    if (r instanceof RotationRequiredError) {
      expect(needsRotation).toBe(true)
      p.sender = await rotateSenderKey(model, rng, { now })
      await distribute(
        p,
        current().filter((q) => q !== p),
      )
      counters.rotations++
      r = await groupEncrypt(p.sender, utf8(text), { now, members: members() })
    } else {
      expect(needsRotation).toBe(false)
    }
    if (r instanceof Error) throw r
    const out = r as Awaited<ReturnType<typeof groupEncrypt>>
    const keyId = p.sender!.keyId
    const signingKey = hex(p.sender!.signing.publicKey)
    const iteration = p.sender!.iteration
    p.sender = out.state
    for (const q of people) {
      if (q === p) continue
      pending.push({
        msg: nextMsg,
        from: p.key,
        to: q.key,
        keyId,
        signingKey,
        iteration,
        text,
        bytes: out.message,
        toWasOutside: !isMember(q),
      })
    }
    trace.push(`send #${nextMsg} by ${p.key.slice(0, 6)} key ${keyId} iteration ${iteration}`)
    nextMsg++
  }

  for (const [step, action] of actions.entries()) {
    try {
      await runAction(action)
    } catch (e) {
      throw new Error(
        `step ${step}: action ${JSON.stringify(action)} failed\n${trace.slice(-25).join('\n')}`,
        {
          cause: e,
        },
      )
    }
  }
  // Everything still in flight arrives, in the order left.
  for (const m of pending.splice(0)) await deliver(m)

  async function runAction([kind, a, b, c]: Action): Promise<void> {
    const pick = <T>(list: T[]): T | undefined => list[a % Math.max(1, list.length)]
    // The network reorders within a window of the oldest messages in flight (and now and then anything).
    const pickInFlight = (): InFlight | undefined =>
      pending[a % Math.max(1, kind % 4 === 0 ? pending.length : Math.min(pending.length, 12))]
    const cur = current()
    if (kind <= KIND.send) {
      const p = pick(cur)
      if (p) await send(p, b)
    } else if (kind <= KIND.deliver) {
      const m = pickInFlight()
      if (!m) return
      pending.splice(pending.indexOf(m), 1)
      trace.push(`deliver #${m.msg} to ${m.to.slice(0, 6)}`)
      await deliver(m)
    } else if (kind <= KIND.drop) {
      const m = pickInFlight()
      if (m) pending.splice(pending.indexOf(m), 1)
    } else if (kind === KIND.replay && c % 2 === 1) {
      // Another copy of a message that was refused: a late delivery like any other (it decrypts if, say,
      // its sender, removed when it first came, is a member again and the receiver still holds the key).
      const m = pick(refused)
      if (!m) return
      refused.splice(refused.indexOf(m), 1)
      await deliver(m)
      counters.lateCopies++
    } else if (kind === KIND.duplicate || kind === KIND.replay) {
      // A copy arrives now (the original, still in flight, arrives later) or a decrypted one again.
      const list = kind === KIND.duplicate ? pending : delivered
      const m = pick(list)
      if (!m) return
      if (kind === KIND.duplicate) {
        pending.splice(pending.indexOf(m), 1)
        await deliver(m)
      }
      const to = byKey.get(m.to)!
      const before = encodeGroupReceiverState(to.receiver)
      await expect(groupDecrypt(to.receiver, m.bytes, { now, members: members() })).rejects.toBeInstanceOf(
        GroupError,
      )
      expect(encodeGroupReceiverState(to.receiver)).toEqual(before)
      counters.replays++
    } else if (kind === KIND.tamper) {
      const m = pick(pending)
      if (!m) return
      const to = byKey.get(m.to)!
      const bytes = m.bytes.slice()
      const at = b % bytes.length
      bytes[at] = (bytes[at] as number) ^ (1 << (c % 8))
      const before = encodeGroupReceiverState(to.receiver)
      await expect(groupDecrypt(to.receiver, bytes, { now, members: members() })).rejects.toBeInstanceOf(
        GroupError,
      )
      expect(encodeGroupReceiverState(to.receiver)).toEqual(before)
      counters.tampers++
    } else if (kind === KIND.remove) {
      const victim = pick(cur.filter((p) => p !== people[0]))
      if (!victim) return
      log = (await makeChange(log, ids[0]!, { kind: 'remove', member: victim.id.publicKey }, { now })).log
      // Everyone left forgets the removed member's keys; the removed member keeps everything it had.
      for (const p of current()) {
        p.receiver = forgetFormerMembers(p.receiver, members())
        p.holds.delete(victim.key)
      }
      trace.push(`remove ${victim.key.slice(0, 6)}`)
      counters.removals++
    } else if (kind === KIND.rejoin) {
      const back = pick(people.filter((p) => !isMember(p)))
      if (!back) return
      log = (await makeChange(log, ids[0]!, { kind: 'add', member: back.id.publicKey }, { now })).log
      // Re-added with fresh keys and an empty receiver state; everyone hands it their current key.
      back.receiver = newGroupReceiverState(log.group)
      back.holds = new Map()
      await freshKey(back)
      await distribute(
        back,
        current().filter((q) => q !== back),
      )
      for (const p of current()) if (p !== back) await distribute(p, [back])
      trace.push(`rejoin ${back.key.slice(0, 6)} with key ${back.sender!.keyId}`)
      counters.rejoins++
    } else if (kind === KIND.rotate) {
      const p = pick(cur)
      if (!p) return
      p.sender = await rotateSenderKey(p.sender!, rng, { now })
      await distribute(
        p,
        current().filter((q) => q !== p),
      )
      trace.push(`rotate ${p.key.slice(0, 6)} to key ${p.sender.keyId}`)
      counters.rotations++
    } else if (kind === KIND.jump) {
      now += c % (2 * DAY)
    } else if (kind === KIND.longJump) {
      if (b % 4 !== 0) {
        now += c % (6 * 3600 * 1000)
        return
      }
      // Beyond the age limit and the previous keys' grace window; the oldest message in flight then arrives.
      now += SENDER_KEY_GRACE_MS + (c % (10 * DAY))
      const m = pending.shift()
      if (m) await deliver(m)
    } else {
      // A removed member sends with its old key, claiming to be a member: nobody may accept it.
      const p = pick(people.filter((q) => !isMember(q)))
      if (!p?.sender) return
      await expect(
        groupEncrypt(p.sender, utf8('still here'), { now, members: members() }),
      ).rejects.toBeInstanceOf(NotAGroupMemberError)
      const forged = await groupEncrypt(p.sender, utf8('still here'), {
        now: p.sender.createdAt,
        members: [...members(), p.id.publicKey, ...p.sender.recipients],
      })
      p.sender = forged.state
      for (const q of people) {
        if (q === p) continue
        const before = encodeGroupReceiverState(q.receiver)
        await expect(
          groupDecrypt(q.receiver, forged.message, { now, members: members() }),
        ).rejects.toBeInstanceOf(GroupError)
        expect(encodeGroupReceiverState(q.receiver)).toEqual(before)
        counters.removedSenderRefused++
      }
    }
  }
}

describe('group interaction fuzzer', () => {
  it(
    `${RUNS * RUN_LENGTH} random steps: the key model predicts every delivery, exactly once, typed rejections`,
    async () => {
      counters = newCounters()
      refusals = newRefusals()
      await fc.assert(
        fc.asyncProperty(
          fc.nat(),
          fc.array(actionArb, { minLength: RUN_LENGTH, maxLength: RUN_LENGTH }),
          (seed, actions) => run(seed, actions),
        ),
        { numRuns: RUNS, endOnFailure: true },
      )
      for (const k of [
        'delivered',
        'expectedFailures',
        'replays',
        'tampers',
        'removals',
        'rejoins',
        'rotations',
      ] as const)
        expect(counters[k]).toBeGreaterThan(0)
      expect(counters.afterRemovalRefused).toBeGreaterThan(0)
      for (const k of ['senderGone', 'noKey', 'expired', 'retired', 'beforeJoin'] as const)
        expect(refusals[k]).toBeGreaterThan(0)
      console.log(JSON.stringify({ suite: 'group-fuzz', steps: STEPS, ...counters, refusals }))
    },
    Math.max(120_000, STEPS * 20),
  )
})
