// Shared fixtures for the group tests: seeded randomness, identities, and small scenario builders.
import { generateIdentity, type IdentityKeyPair, type Rng } from '@paloma/core/crypto/index.ts'
import { toHex } from '@paloma/core/crypto/bytes.ts'
import {
  applyChange,
  createGroup,
  makeChange,
  type ChangeRequest,
  type GroupChange,
  type GroupLog,
  type GroupState,
} from '@paloma/core/group/index.ts'
import { seededRng } from '../crypto/helpers.ts'

export { seededRng }

export const NOW = 1_700_000_000_000

/** `n` identities from one seeded stream. */
export async function identities(n: number, rng: Rng): Promise<IdentityKeyPair[]> {
  const out: IdentityKeyPair[] = []
  for (let i = 0; i < n; i++) out.push(await generateIdentity(rng))
  return out
}

/** A group created by `creator` with the given members added (and made admin where listed). */
export async function groupWith(
  creator: IdentityKeyPair,
  members: readonly IdentityKeyPair[],
  opts: { rng: Rng; admins?: readonly IdentityKeyPair[]; name?: string },
): Promise<{ log: GroupLog; groupSecret: Uint8Array; changes: GroupChange[] }> {
  const created = await createGroup(creator, { name: opts.name ?? 'Test group', now: NOW, rng: opts.rng })
  let log = created.log
  const changes = [created.change]
  for (const m of members) {
    const r = await makeChange(log, creator, { kind: 'add', member: m.publicKey }, { now: NOW })
    log = r.log
    changes.push(r.change)
  }
  for (const a of opts.admins ?? []) {
    const r = await makeChange(log, creator, { kind: 'admin', member: a.publicKey }, { now: NOW })
    log = r.log
    changes.push(r.change)
  }
  return { log, groupSecret: created.groupSecret, changes }
}

/** Authors a change on `log` and returns the new log and the change. */
export async function act(
  log: GroupLog,
  who: IdentityKeyPair,
  request: ChangeRequest,
  time = NOW,
): Promise<{ log: GroupLog; change: GroupChange }> {
  return makeChange(log, who, request, { now: time })
}

/** Applies changes one by one (throwing on the first refusal). */
export async function applyAll(log: GroupLog, changes: readonly GroupChange[]): Promise<GroupLog> {
  for (const c of changes) log = (await applyChange(log, c.bytes)).log
  return log
}

/** A comparable summary of a state: hex member and admin lists and the name. */
export function summary(s: GroupState): { name: string; members: string[]; admins: string[] } {
  return { name: s.name, members: s.members.map(toHex), admins: s.admins.map(toHex) }
}

export const hex = toHex
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
export const str = (b: Uint8Array): string => new TextDecoder().decode(b)
