// The membership log: authority, signatures, codec, pending buffer, the conflict rules for concurrent
// changes (docs/protocol.md, "Groups"), and convergence of every replica whatever the arrival order.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { IdentityKeyPair, Rng } from '@paloma/core/crypto/index.ts'
import { decode, encode } from 'cborg'
import {
  GroupFullError,
  GroupSignatureError,
  MAX_GROUP_MEMBERS,
  MAX_PENDING_CHANGES,
  MalformedGroupRecordError,
  PendingChangesFullError,
  UnauthorizedChangeError,
  WrongGroupError,
  applyChange,
  applyChanges,
  createGroup,
  decodeChange,
  decodeGroupLog,
  encodeGroupLog,
  groupState,
  hasChange,
  heads,
  history,
  isMember,
  logChanges,
  makeChange,
  memberList,
  missingChanges,
  openLog,
  pendingCount,
  roleOf,
  type GroupChange,
  type GroupLog,
} from '@paloma/core/group/index.ts'
import { signChange, type UnsignedChange } from '@paloma/core/group/change.ts'
import { _resolveByViews } from '@paloma/core/group/log.ts'
import { NOW, act, applyAll, groupWith, hex, identities, seededRng, summary } from './helpers.ts'

/** Signs a change with any fields, bypassing the author-side authority check of makeChange. */
function forge(
  log: GroupLog,
  signer: IdentityKeyPair,
  fields: Partial<UnsignedChange>,
): Promise<GroupChange> {
  return signChange(signer, {
    group: log.group,
    parents: heads(log),
    kind: 'add',
    member: null,
    name: null,
    time: NOW,
    nonce: null,
    ...fields,
  })
}

async function rejects(log: GroupLog, change: GroupChange | Uint8Array, E: new (...a: never[]) => Error) {
  const before = encodeGroupLog(log)
  await expect(applyChange(log, change)).rejects.toBeInstanceOf(E)
  expect(encodeGroupLog(log)).toEqual(before)
}

async function setup(seed: string) {
  const rng = seededRng(seed)
  const [c, a, b, m, x, y] = await identities(6, rng)
  const people = { c: c!, a: a!, b: b!, m: m!, x: x!, y: y! }
  // c creates; a and b are admins; m is a plain member; x and y are outsiders.
  const g = await groupWith(people.c, [people.a, people.b, people.m], { rng, admins: [people.a, people.b] })
  return { rng, ...people, ...g }
}

describe('membership: basics', () => {
  it('a new group has its creator as only member, and changes take effect in order', async () => {
    const rng = seededRng('basics')
    const [c, b, d] = await identities(3, rng)
    const { log, groupSecret, change } = await createGroup(c!, { name: 'Climbing', now: NOW, rng })
    expect(groupSecret.length).toBe(32)
    expect(log.group).toEqual(change.id)
    expect(summary(groupState(log))).toEqual({ name: 'Climbing', members: [hex(c!.publicKey)], admins: [] })
    expect(roleOf(log, c!.publicKey)).toBe('creator')
    let l = (await act(log, c!, { kind: 'add', member: b!.publicKey })).log
    l = (await act(l, c!, { kind: 'add', member: d!.publicKey })).log
    expect(roleOf(l, b!.publicKey)).toBe('member')
    l = (await act(l, c!, { kind: 'admin', member: b!.publicKey })).log
    expect(roleOf(l, b!.publicKey)).toBe('admin')
    l = (await act(l, b!, { kind: 'rename', name: 'Bouldering' })).log
    l = (await act(l, b!, { kind: 'remove', member: d!.publicKey })).log
    expect(isMember(l, d!.publicKey)).toBe(false)
    l = (await act(l, b!, { kind: 'leave' })).log
    expect(summary(groupState(l))).toEqual({ name: 'Bouldering', members: [hex(c!.publicKey)], admins: [] })
    // Re-added after leaving: a plain member again (admin status does not survive a removal).
    l = (await act(l, c!, { kind: 'add', member: b!.publicKey })).log
    expect(roleOf(l, b!.publicKey)).toBe('member')
    expect(history(l).map((h) => h.change.kind)).toEqual([
      'create',
      ...['add', 'add', 'admin', 'rename', 'remove', 'leave', 'add'],
    ])
    expect(history(l).every((h) => h.effective)).toBe(true)
  })

  it('the creator may leave; nobody may remove or re-add it', async () => {
    const s = await setup('creator')
    await expect(act(s.log, s.a, { kind: 'remove', member: s.c.publicKey })).rejects.toBeInstanceOf(
      UnauthorizedChangeError,
    )
    const left = (await act(s.log, s.c, { kind: 'leave' })).log
    expect(isMember(left, s.c.publicKey)).toBe(false)
    // Admins keep adding and removing; nobody names admins any more, and the creator cannot come back.
    const added = (await act(left, s.a, { kind: 'add', member: s.x.publicKey })).log
    expect(isMember(added, s.x.publicKey)).toBe(true)
    await expect(act(left, s.a, { kind: 'add', member: s.c.publicKey })).rejects.toBeInstanceOf(
      UnauthorizedChangeError,
    )
    await expect(act(left, s.a, { kind: 'admin', member: s.m.publicKey })).rejects.toBeInstanceOf(
      UnauthorizedChangeError,
    )
    await expect(act(left, s.c, { kind: 'rename', name: 'back' })).rejects.toBeInstanceOf(
      UnauthorizedChangeError,
    )
  })
})

describe('membership: authority', () => {
  it("a non-admin's add, remove, rename and make-admin are refused, author-side and on receipt", async () => {
    const s0 = await setup('non-admin')
    // y joins as a plain member: every request below would be valid from the creator.
    const s = { ...s0, log: (await act(s0.log, s0.c, { kind: 'add', member: s0.y.publicKey })).log }
    const requests = [
      { kind: 'add', member: s.x.publicKey },
      { kind: 'remove', member: s.y.publicKey },
      { kind: 'rename', name: 'mine' },
      { kind: 'admin', member: s.y.publicKey },
    ] as const
    for (const request of requests) {
      await act(s.log, s.c, request)
      await expect(act(s.log, s.m, request)).rejects.toBeInstanceOf(UnauthorizedChangeError)
      const forged = await forge(s.log, s.m, {
        kind: request.kind,
        member: 'member' in request ? request.member : null,
        name: 'name' in request ? request.name : null,
      })
      await rejects(s.log, forged.bytes, UnauthorizedChangeError)
    }
    // An outsider can do nothing at all, not even leave.
    await rejects(s.log, await forge(s.log, s.x, { kind: 'leave' }), UnauthorizedChangeError)
    await rejects(
      s.log,
      await forge(s.log, s.x, { kind: 'add', member: s.y.publicKey }),
      UnauthorizedChangeError,
    )
  })

  it('admins add and remove members but do not make admins nor remove admins', async () => {
    const s = await setup('admin-powers')
    const added = (await act(s.log, s.a, { kind: 'add', member: s.x.publicKey })).log
    expect(isMember(added, s.x.publicKey)).toBe(true)
    expect(
      isMember((await act(added, s.a, { kind: 'remove', member: s.m.publicKey })).log, s.m.publicKey),
    ).toBe(false)
    for (const request of [
      { kind: 'admin', member: s.m.publicKey },
      { kind: 'remove', member: s.b.publicKey },
    ] as const) {
      await expect(act(s.log, s.a, request)).rejects.toBeInstanceOf(UnauthorizedChangeError)
      await rejects(s.log, await forge(s.log, s.a, request), UnauthorizedChangeError)
    }
    // The creator removes admins.
    expect(
      isMember((await act(s.log, s.c, { kind: 'remove', member: s.a.publicKey })).log, s.a.publicKey),
    ).toBe(false)
  })

  it('nonsense changes are refused: add a member, remove or promote a non-member, promote an admin', async () => {
    const s = await setup('nonsense')
    for (const request of [
      { kind: 'add', member: s.m.publicKey },
      { kind: 'remove', member: s.x.publicKey },
      { kind: 'admin', member: s.x.publicKey },
      { kind: 'admin', member: s.a.publicKey },
    ] as const) {
      await expect(act(s.log, s.c, request)).rejects.toBeInstanceOf(UnauthorizedChangeError)
    }
    // A change naming its own author as target is malformed.
    await expect(forge(s.log, s.c, { kind: 'remove', member: s.c.publicKey })).rejects.toBeInstanceOf(
      MalformedGroupRecordError,
    )
  })

  it("a removed admin's later changes are refused, and its concurrent ones are void", async () => {
    const s = await setup('removed-admin')
    const atA = s.log // a has not heard of its removal yet
    const removal = await act(s.log, s.c, { kind: 'remove', member: s.a.publicKey })
    // Knowing of the removal: refused author-side, and a change naming the removal as parent is refused.
    await expect(act(removal.log, s.a, { kind: 'add', member: s.x.publicKey })).rejects.toBeInstanceOf(
      UnauthorizedChangeError,
    )
    await rejects(
      removal.log,
      await forge(removal.log, s.a, { kind: 'add', member: s.x.publicKey }),
      UnauthorizedChangeError,
    )
    // Not knowing of it (offline, or back-dating on purpose): valid in its view, accepted, and void.
    const concurrent = await act(atA, s.a, { kind: 'add', member: s.x.publicKey })
    const concurrent2 = await act(concurrent.log, s.a, { kind: 'remove', member: s.m.publicKey })
    const merged = await applyAll(removal.log, [concurrent.change, concurrent2.change])
    expect(summary(groupState(merged)).members.sort()).toEqual(
      [s.c, s.b, s.m].map((p) => hex(p.publicKey)).sort(),
    )
    const voided = history(merged).filter((h) => !h.effective)
    expect(voided.map((h) => h.change.idHex).sort()).toEqual(
      [concurrent.change.idHex, concurrent2.change.idHex].sort(),
    )
    // x, added in a void change, cannot act either; its leave is accepted but changes nothing.
    const xLeaves = await act(concurrent.log, s.x, { kind: 'leave' })
    expect(summary(groupState(await applyAll(merged, [xLeaves.change])))).toEqual(summary(groupState(merged)))
  })

  it('forged signatures, another signer, and another group are refused', async () => {
    const s = await setup('forgery')
    const good = await forge(s.log, s.c, { kind: 'add', member: s.x.publicKey })
    const badSig = new Uint8Array(good.bytes)
    badSig[badSig.length - 1]! ^= 1
    await rejects(s.log, badSig, GroupSignatureError)
    // Claims c as author, signed by m: the signature is m's, not c's.
    const bySomeoneElse = await signChange(
      { publicKey: s.c.publicKey, seed: s.m.seed },
      {
        group: s.log.group,
        parents: heads(s.log),
        kind: 'add',
        member: s.x.publicKey,
        name: null,
        time: NOW,
        nonce: null,
      },
    )
    await rejects(s.log, bySomeoneElse, GroupSignatureError)
    // Altering any signed field breaks the signature too.
    const fields = decode(good.bytes) as Record<string, unknown>
    await rejects(s.log, encode({ ...fields, m: s.y.publicKey }), GroupSignatureError)
    await rejects(s.log, encode({ ...fields, t: NOW + 1 }), GroupSignatureError)
    // A change of another group, and a second create, name another group.
    const other = await groupWith(s.c, [s.m], { rng: s.rng, name: 'Other' })
    await rejects(s.log, other.changes[1]!, WrongGroupError)
    await rejects(s.log, other.changes[0]!, WrongGroupError)
    expect((await applyChange(s.log, good.bytes)).applied).toHaveLength(1)
  })
})

describe('membership: codec', () => {
  it('refuses malformed, non-canonical and unknown-field changes', async () => {
    const s = await setup('codec')
    const good = await forge(s.log, s.c, { kind: 'add', member: s.x.publicKey })
    const fields = decode(good.bytes) as Record<string, unknown>
    const without = (k: string) => Object.fromEntries(Object.entries(fields).filter(([key]) => key !== k))
    const bad: unknown[] = [
      { ...fields, v: 2 },
      { ...fields, extra: 1 },
      { ...fields, o: 'kick' },
      { ...fields, n: 'name on an add' },
      without('m'),
      without('g'),
      { ...fields, p: [] },
      { ...fields, p: [new Uint8Array(32).fill(2), new Uint8Array(32).fill(1)] },
      { ...fields, p: [new Uint8Array(32), new Uint8Array(32)] },
      { ...fields, p: Array.from({ length: 17 }, (_, i) => new Uint8Array(32).fill(i)) },
      { ...fields, a: new Uint8Array(31) },
      { ...fields, sig: new Uint8Array(63) },
      { ...fields, t: -1 },
      [fields],
    ]
    for (const b of bad) expect(() => decodeChange(encode(b))).toThrow(MalformedGroupRecordError)
    // Not canonical: the same entries in another key order, or `v` spelled with a needless extra byte.
    const entries = Object.entries(fields)
    expect(() => decodeChange(rawMap([...entries].reverse()))).toThrow(MalformedGroupRecordError)
    const longV = entries.map(([k, v]): [string, unknown] =>
      k === 'v' ? [k, new Raw(Uint8Array.of(0x18, 1))] : [k, v],
    )
    expect(() => decodeChange(rawMap(longV))).toThrow(MalformedGroupRecordError)
    expect(decodeChange(rawMap(entries)).idHex).toBe(good.idHex)
    expect(() => decodeChange(new Uint8Array(2000))).toThrow(MalformedGroupRecordError)
    expect(() => decodeChange(Uint8Array.of(0xa1, 0x61))).toThrow(MalformedGroupRecordError)
    // Names: empty, too long, control characters.
    for (const name of ['', 'x'.repeat(65), 'a\u0007b', 'a\nb']) {
      await expect(act(s.log, s.c, { kind: 'rename', name })).rejects.toBeInstanceOf(
        MalformedGroupRecordError,
      )
    }
    expect(groupState((await act(s.log, s.c, { kind: 'rename', name: '🧗'.repeat(64) })).log).name).toBe(
      '🧗'.repeat(64),
    )
  })

  it('a stored log loads back to the same state and refuses damage', async () => {
    const s = await setup('stored')
    const child = await act(s.log, s.c, { kind: 'add', member: s.x.publicKey })
    const grandchild = await act(child.log, s.c, { kind: 'add', member: s.y.publicKey })
    const withPending = (await applyChange(s.log, grandchild.change)).log
    expect(pendingCount(withPending)).toBe(1)
    const bytes = encodeGroupLog(withPending)
    const back = await decodeGroupLog(bytes)
    expect(encodeGroupLog(back)).toEqual(bytes)
    expect(summary(groupState(back))).toEqual(summary(groupState(s.log)))
    expect(pendingCount(back)).toBe(1)
    const map = decode(bytes) as { c: Uint8Array[] }
    await expect(decodeGroupLog(encode({ ...map, c: map.c.slice(1) }))).rejects.toBeInstanceOf(
      WrongGroupError,
    )
    const damaged = map.c.map((c, i) => (i === 2 ? c.map((b, k) => (k === c.length - 1 ? b ^ 1 : b)) : c))
    await expect(decodeGroupLog(encode({ ...map, c: damaged }))).rejects.toBeInstanceOf(
      MalformedGroupRecordError,
    )
    // Stored changes in another (still causal) order load to the same state.
    const swapped = [map.c[0]!, map.c[2]!, map.c[1]!, ...map.c.slice(3)]
    expect(summary(groupState(await decodeGroupLog(encode({ ...map, c: swapped }))))).toEqual(
      summary(groupState(back)),
    )
  })
})

/** Bytes written into a {@link rawMap} as they are. */
class Raw {
  readonly bytes: Uint8Array
  constructor(bytes: Uint8Array) {
    this.bytes = bytes
  }
}

/** A CBOR map of `entries` in the given order (values encoded by cborg, or {@link Raw}). */
function rawMap(entries: [string, unknown][]): Uint8Array {
  const parts = entries.flatMap(([k, v]) => [encode(k), v instanceof Raw ? v.bytes : encode(v)])
  const out = new Uint8Array(1 + parts.reduce((n, p) => n + p.length, 0))
  out[0] = 0xa0 + entries.length
  let at = 1
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

describe('membership: arrival order', () => {
  it('a change whose parents are unknown waits, and applies when they arrive; duplicates change nothing', async () => {
    const s = await setup('pending')
    const c1 = await act(s.log, s.c, { kind: 'add', member: s.x.publicKey })
    const c2 = await act(c1.log, s.a, { kind: 'add', member: s.y.publicKey })
    const c3 = await act(c2.log, s.x, { kind: 'leave' })
    let log = (await applyChange(s.log, c3.change)).log
    log = (await applyChange(log, c2.change.bytes)).log
    expect(pendingCount(log)).toBe(2)
    expect(missingChanges(log).map(hex)).toEqual([c1.change.idHex])
    expect(isMember(log, s.y.publicKey)).toBe(false)
    const again = await applyChange(log, c3.change)
    expect(again.log).toBe(log)
    const r = await applyChange(log, c1.change)
    expect(r.applied.map((c) => c.idHex)).toEqual([c1.change.idHex, c2.change.idHex, c3.change.idHex])
    expect(summary(groupState(r.log))).toEqual(summary(groupState(c3.log)))
    expect(missingChanges(r.log)).toEqual([])
    expect((await applyChange(r.log, c2.change)).applied).toEqual([])
  })

  it('a released pending change that is invalid is reported and dropped', async () => {
    const s = await setup('pending-invalid')
    const removal = await act(s.log, s.c, { kind: 'remove', member: s.m.publicKey })
    // m's leave after its removal is invalid in its own view; it waits for the removal, then is refused.
    const late = await forge(removal.log, s.m, { kind: 'leave' })
    const waiting = (await applyChange(s.log, late)).log
    const r = await applyChange(waiting, removal.change)
    expect(r.applied.map((c) => c.idHex)).toEqual([removal.change.idHex])
    expect(r.rejected.map((x) => [x.id, x.error.constructor])).toEqual([
      [late.idHex, UnauthorizedChangeError],
    ])
    expect(pendingCount(r.log)).toBe(0)
  })

  it(`keeps at most ${MAX_PENDING_CHANGES} pending changes`, async () => {
    const s = await setup('pending-cap')
    const unknownParent = [new Uint8Array(32).fill(7)]
    let log = s.log
    for (let i = 0; i < MAX_PENDING_CHANGES; i++) {
      log = (
        await applyChange(log, await forge(s.log, s.c, { kind: 'leave', parents: unknownParent, time: i }))
      ).log
    }
    expect(pendingCount(log)).toBe(MAX_PENDING_CHANGES)
    await rejects(
      log,
      await forge(s.log, s.c, { kind: 'leave', parents: unknownParent, time: 1e6 }),
      PendingChangesFullError,
    )
  })

  it('an outsider cannot crowd members out of the pending buffer', async () => {
    const s = await setup('pending-outsider')
    const unknownParent = [new Uint8Array(32).fill(9)]
    // x (not a member) fills the buffer with changes naming a parent nobody has.
    const junk = []
    for (let i = 0; i < MAX_PENDING_CHANGES; i++) {
      junk.push(await forge(s.log, s.x, { kind: 'leave', parents: unknownParent, time: i }))
    }
    const full = await applyChanges(s.log, junk)
    expect(pendingCount(full.log)).toBe(MAX_PENDING_CHANGES)
    // A member's change still waits (the oldest junk makes room); another outsider's is refused.
    const c1 = await act(s.log, s.c, { kind: 'add', member: s.y.publicKey })
    const c2 = await act(c1.log, s.a, { kind: 'rename', name: 'waiting' })
    const r = await applyChange(full.log, c2.change)
    expect(pendingCount(r.log)).toBe(MAX_PENDING_CHANGES)
    expect(hasChange(r.log, junk[0]!.id)).toBe(false)
    expect(hasChange(r.log, c2.change.id)).toBe(true)
    const more = await forge(s.log, s.x, { kind: 'leave', parents: unknownParent, time: 1e6 })
    await rejects(r.log, more, PendingChangesFullError)
    expect(groupState((await applyChange(r.log, c1.change)).log).name).toBe('waiting')
  })
})

describe('membership: concurrent changes (the conflict rules)', () => {
  it('remove wins over a concurrent add', async () => {
    const s = await setup('remove-wins')
    // m leaves; a (who saw the leave) re-adds m while b (who did not) removes m.
    const left = await act(s.log, s.m, { kind: 'leave' })
    const readd = await act(left.log, s.a, { kind: 'add', member: s.m.publicKey })
    const remove = await act(s.log, s.b, { kind: 'remove', member: s.m.publicKey })
    for (const order of [
      [left.change, readd.change, remove.change],
      [remove.change, left.change, readd.change],
    ]) {
      const log = await applyAll(s.log, order)
      expect(isMember(log, s.m.publicKey)).toBe(false)
      expect(history(log).every((h) => h.effective)).toBe(true)
    }
    // Two concurrent adds of the same person: both effective, the person is a member.
    const addA = await act(s.log, s.a, { kind: 'add', member: s.x.publicKey })
    const addB = await act(s.log, s.b, { kind: 'add', member: s.x.publicKey })
    expect(isMember(await applyAll(s.log, [addA.change, addB.change]), s.x.publicKey)).toBe(true)
  })

  it("an admin's changes concurrent with its removal by the creator are void", async () => {
    const s = await setup('void-admin')
    const removeA = await act(s.log, s.c, { kind: 'remove', member: s.a.publicKey })
    const aAdds = await act(s.log, s.a, { kind: 'add', member: s.x.publicKey })
    const aRemoves = await act(aAdds.log, s.a, { kind: 'remove', member: s.m.publicKey })
    const aRenames = await act(aRemoves.log, s.a, { kind: 'rename', name: 'hijacked' })
    const all = [removeA.change, aAdds.change, aRemoves.change, aRenames.change]
    const log = await applyAll(s.log, all)
    const st = groupState(log)
    expect(summary(st).members.sort()).toEqual([s.c, s.b, s.m].map((p) => hex(p.publicKey)).sort())
    expect(st.name).toBe('Test group')
    expect(history(log).filter((h) => !h.effective)).toHaveLength(3)
    // Once a hears of its removal, its admin actions continue to be void (and new ones are refused).
    const aLeaves = await act(aRenames.log, s.a, { kind: 'leave' })
    expect(summary(groupState(await applyAll(log, [aLeaves.change])))).toEqual(summary(st))
  })

  it("a leave voids its author's concurrent changes", async () => {
    const s = await setup('void-leave')
    // a forks: leaves on one branch, adds x on another (e.g. restored from an old backup).
    const leave = await act(s.log, s.a, { kind: 'leave' })
    const add = await act(s.log, s.a, { kind: 'add', member: s.x.publicKey })
    const log = await applyAll(s.log, [add.change, leave.change])
    expect(isMember(log, s.x.publicKey)).toBe(false)
    expect(isMember(log, s.a.publicKey)).toBe(false)
    // The creator too: a change concurrent with its own leave is void.
    const cLeave = await act(s.log, s.c, { kind: 'leave' })
    const cAdmin = await act(s.log, s.c, { kind: 'admin', member: s.m.publicKey })
    const log2 = await applyAll(s.log, [cAdmin.change, cLeave.change])
    expect(roleOf(log2, s.m.publicKey)).toBe('member')
    expect(isMember(log2, s.c.publicKey)).toBe(false)
  })

  it("the creator's add or make-admin of X wins over an admin's concurrent removal of X", async () => {
    const s = await setup('creator-wins')
    const promote = await act(s.log, s.c, { kind: 'admin', member: s.m.publicKey })
    const remove = await act(s.log, s.a, { kind: 'remove', member: s.m.publicKey })
    const log = await applyAll(s.log, [remove.change, promote.change])
    expect(roleOf(log, s.m.publicKey)).toBe('admin')
    expect(history(log).find((h) => h.change.idHex === remove.change.idHex)?.effective).toBe(false)
    // m acts as admin on what it saw; nothing of it is void.
    const mAdds = await act(promote.log, s.m, { kind: 'add', member: s.x.publicKey })
    expect(isMember(await applyAll(log, [mAdds.change]), s.x.publicKey)).toBe(true)
    // An admin's removal concurrent with an admin's (not the creator's) re-add: remove wins.
    const left = await act(s.log, s.m, { kind: 'leave' })
    const readdByB = await act(left.log, s.b, { kind: 'add', member: s.m.publicKey })
    const readdByC = await act(left.log, s.c, { kind: 'add', member: s.m.publicKey })
    expect(
      isMember(await applyAll(s.log, [left.change, readdByB.change, remove.change]), s.m.publicKey),
    ).toBe(false)
    expect(
      isMember(await applyAll(s.log, [left.change, readdByC.change, remove.change]), s.m.publicKey),
    ).toBe(true)
  })

  it('a make-admin concurrent with a removal or leave of its target does not make an admin', async () => {
    const s = await setup('grant-vs-leave')
    const promote = await act(s.log, s.c, { kind: 'admin', member: s.m.publicKey })
    const leave = await act(s.log, s.m, { kind: 'leave' })
    const log = await applyAll(s.log, [promote.change, leave.change])
    expect(roleOf(log, s.m.publicKey)).toBe(null)
    const back = (await act(log, s.c, { kind: 'add', member: s.m.publicKey })).log
    expect(roleOf(back, s.m.publicKey)).toBe('member')
  })

  it('the latest rename wins; among concurrent renames, the greater id', async () => {
    const s = await setup('renames')
    const r1 = await act(s.log, s.a, { kind: 'rename', name: 'one' })
    const r2 = await act(s.log, s.b, { kind: 'rename', name: 'two' })
    const log = await applyAll(s.log, [r1.change, r2.change])
    const winner = r1.change.idHex > r2.change.idHex ? 'one' : 'two'
    expect(groupState(log).name).toBe(winner)
    expect(groupState(await applyAll(s.log, [r2.change, r1.change])).name).toBe(winner)
    const r3 = await act(log, s.c, { kind: 'rename', name: 'three' })
    expect(groupState(r3.log).name).toBe('three')
  })

  it(`holds at most ${MAX_GROUP_MEMBERS} members`, async () => {
    const rng = seededRng('full')
    const [c] = await identities(1, rng)
    let { log } = await createGroup(c!, { name: 'big', now: NOW, rng })
    const others = await identities(MAX_GROUP_MEMBERS, rng)
    for (const p of others.slice(0, MAX_GROUP_MEMBERS - 1))
      log = (await act(log, c!, { kind: 'add', member: p.publicKey })).log
    expect(memberList(log)).toHaveLength(MAX_GROUP_MEMBERS)
    const last = others[MAX_GROUP_MEMBERS - 1]!
    await expect(act(log, c!, { kind: 'add', member: last.publicKey })).rejects.toBeInstanceOf(GroupFullError)
    await rejects(log, await forge(log, c!, { kind: 'add', member: last.publicKey }), GroupFullError)
    const removed = (await act(log, c!, { kind: 'remove', member: others[0]!.publicKey })).log
    expect(
      isMember((await act(removed, c!, { kind: 'add', member: last.publicKey })).log, last.publicKey),
    ).toBe(true)
  }, 60_000)
})

// ----------------------------------------------------------------------------------- convergence property

interface Replica {
  who: IdentityKeyPair
  log: GroupLog
  /** Earlier values of `log`, to author on a stale view (offline, forked, back-dated). */
  past: GroupLog[]
}

type Step = [kind: number, who: number, target: number, extra: number]

/**
 * Builds a random history: six identities, each with its own replica of the log, author changes on what
 * they have seen (sometimes on an older view), and exchange changes now and then. Returns every change made.
 */
async function randomHistory(
  seed: number,
  steps: Step[],
): Promise<{ base: GroupLog; changes: GroupChange[]; replicas: Replica[] }> {
  const rng: Rng = seededRng(`converge-${seed}`)
  const people = await identities(6, rng)
  const [creator, ...rest] = people as [IdentityKeyPair, ...IdentityKeyPair[]]
  const g = await groupWith(creator, rest.slice(0, 3), { rng, admins: [rest[0]!] })
  const replicas: Replica[] = people.map((who) => ({ who, log: g.log, past: [g.log] }))
  const changes: GroupChange[] = []
  for (const [kind, whoIndex, targetIndex, extra] of steps) {
    const r = replicas[whoIndex % replicas.length]!
    if (kind === 0) {
      // Exchange: r learns everything another replica has.
      const from = replicas[targetIndex % replicas.length]!
      r.log = (await applyChanges(r.log, logChanges(from.log))).log
      r.past.push(r.log)
      continue
    }
    const target = people[targetIndex % people.length]!.publicKey
    const request = (
      [
        { kind: 'add', member: target },
        { kind: 'remove', member: target },
        { kind: 'admin', member: target },
        { kind: 'leave' },
        { kind: 'rename', name: `name ${extra}` },
      ] as const
    )[(kind - 1) % 5]!
    const view = extra % 4 === 0 ? r.past[extra % r.past.length]! : r.log
    try {
      const made = await makeChange(view, r.who, request, { now: NOW + changes.length })
      changes.push(made.change)
      r.log = (await applyChange(r.log, made.change)).log
      r.past.push(r.log)
    } catch (e) {
      if (!(e instanceof UnauthorizedChangeError) && !(e instanceof MalformedGroupRecordError)) throw e
    }
  }
  return { base: await openLog(g.changes[0]!), changes: [...g.changes.slice(1), ...changes], replicas }
}

function shuffled<T>(list: readonly T[], seed: number): T[] {
  const rng = seededRng(`shuffle-${seed}`)
  const out = [...list]
  for (let i = out.length - 1; i > 0; i--) {
    const j = new DataView(rng(4).buffer).getUint32(0) % (i + 1)
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

describe('membership: convergence', () => {
  it('any permutation, with duplicates, of the same changes gives every replica the same members, admins and name', async () => {
    let withVoid = 0
    let nonTrivial = 0
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.array(fc.tuple(fc.nat(5), fc.nat(5), fc.nat(5), fc.nat(1000)), { minLength: 10, maxLength: 40 }),
        fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
        async (seed, steps, orders) => {
          const { base, changes, replicas } = await randomHistory(seed, steps)
          const results = []
          const canonical: string[][] = []
          for (const order of orders) {
            const list = shuffled([...changes, ...changes.slice(0, order % (changes.length + 1))], order)
            let log = base
            for (const c of list) log = (await applyChange(log, c.bytes)).log
            expect(pendingCount(log)).toBe(0)
            expect(log.size).toBe(changes.length + 1)
            results.push(summary(groupState(log)))
            // The fold and the per-identity frontier computation agree.
            const views = _resolveByViews(log)
            expect(views.members.map(hex)).toEqual(results.at(-1)!.members)
            expect(views.admins.map(hex)).toEqual(results.at(-1)!.admins)
            canonical.push(history(log).map((h) => h.change.idHex))
            if (history(log).some((h) => !h.effective)) withVoid++
          }
          // In one batch, in reverse order (everything pending until the first arrives).
          const batch = await applyChanges(base, [...changes].reverse())
          expect(batch.rejected).toEqual([])
          results.push(summary(groupState(batch.log)))
          // Replicas that then exchange everything agree too.
          for (const r of replicas) {
            r.log = (await applyChanges(r.log, changes)).log
            results.push(summary(groupState(r.log)))
          }
          for (const r of results) expect(r).toEqual(results[0])
          for (const o of canonical) expect(o).toEqual(canonical[0])
          if (changes.length > 8) nonTrivial++
        },
      ),
      { numRuns: 60 },
    )
    // The generator does reach void changes and longer histories.
    expect(withVoid).toBeGreaterThan(0)
    expect(nonTrivial).toBeGreaterThan(0)
  }, 120_000)

  it('the canonical order is the same on every replica and respects causality', async () => {
    const { base, changes } = await randomHistory(
      7,
      Array.from({ length: 40 }, (_, i) => [(i * 7) % 6, i % 6, (i * 5) % 6, i * 13] as Step),
    )
    const a = history(await applyAll(base, changes)).map((h) => h.change.idHex)
    const b = history((await applyChanges(base, shuffled(changes, 3))).log).map((h) => h.change.idHex)
    expect(b).toEqual(a)
    const position = new Map(a.map((id, i) => [id, i]))
    for (const c of changes)
      for (const p of c.parents) expect(position.get(hex(p))!).toBeLessThan(position.get(c.idHex)!)
  })
})
