/**
 * This person's sender keys and the other members' chains, as the groups component uses them: handing
 * one's key to members over 1:1 (the holders recorded before anything is sent), rotating it (after a
 * removal or a leave, by count and by age: every other member gets the new one before anything is sent
 * on it), starting over after a restore (a new key, and a request for everyone else's), and taking in the
 * keys other members send.
 *
 * Restoring an old chain would be unsafe: this device would encrypt again under message keys (and
 * AES-GCM nonces) it already used, and receivers would refuse those iterations as replays. So sender keys,
 * like 1:1 ratchet sessions, are never in a backup, and a restored device makes a new key (its key id,
 * from the clock, is newer than any it had) and asks the others for theirs.
 */
import {
  GroupError,
  MAX_CHANGE_PARENTS,
  NotAGroupMemberError,
  distributeSenderKey,
  encodeGroupReceiverState,
  encodeSenderKeyState,
  heads,
  memberList,
  newSenderKey,
  processSenderKeyDistribution,
  rotateSenderKey,
  senderKeyNeedsRotation,
  type Identity,
} from '@paloma/core/group/index.ts'
import { groupEntry } from './group-records.ts'
import type { Group } from './group-state.ts'
import type { GroupTransport } from './group-transport.ts'
import type { AppRecords } from './records.ts'

export interface SenderKeysComponents {
  records: Pick<AppRecords, 'write'>
  transport: Pick<GroupTransport, 'tell' | 'stats'>
  /** This person's identity (the owner of its sender keys). */
  me: Identity
  identityOf(peer: string): Identity
  /** The other current members of `g` (PeerIds). */
  others(g: Group): string[]
  now(): number
  rng(n: number): Uint8Array
  log(message: string, err: unknown): void
}

/** What became of a key from a member: taken, to try again later (their add is on its way), refused. */
export type KeyOutcome = 'taken' | 'later' | 'refused'

export class SenderKeys {
  readonly #c: SenderKeysComponents

  constructor(components: SenderKeysComponents) {
    this.#c = components
  }

  /** Hands this person's current key to `peers` over 1:1 (the new holders are stored first). */
  async distribute(g: Group, peers: readonly string[]): Promise<void> {
    if (g.own === undefined || peers.length === 0) return
    const { state, distribution } = distributeSenderKey(
      g.own,
      peers.map((p) => this.#c.identityOf(p)),
    )
    g.own = state
    await this.#c.records.write([groupEntry.ownKey(g.id, encodeSenderKeyState(state))])
    const h = [...heads(g.log).slice(0, MAX_CHANGE_PARENTS)]
    await this.#c.transport.tell(peers, { k: 'group-key', d: distribution, h })
  }

  /** A new key for this person, handed to every other member before anything is sent on it. */
  async rotate(g: Group): Promise<void> {
    const now = this.#c.now()
    g.own =
      g.own === undefined
        ? await newSenderKey(this.#c.rng, { group: g.gid, owner: this.#c.me, now })
        : await rotateSenderKey(g.own, this.#c.rng, { now })
    await this.distribute(g, this.#c.others(g))
  }

  /** Rotates when the key must be (a holder left, used up, too old). @returns whether it did */
  async rotateIfDue(g: Group): Promise<boolean> {
    if (g.own === undefined) return false
    if (senderKeyNeedsRotation(g.own, { now: this.#c.now(), members: memberList(g.log) }) === null)
      return false
    await this.rotate(g)
    return true
  }

  /** After a restore (no keys): a new key for this person, and a request for everyone else's. */
  async restart(g: Group): Promise<void> {
    if (g.status !== 'member' || g.own !== undefined) return
    await this.rotate(g)
    await this.#c.transport.tell(this.#c.others(g), { k: 'group-key-request', g: g.gid })
  }

  /** Takes in a member's key. */
  async take(g: Group, from: string, distribution: Uint8Array): Promise<KeyOutcome> {
    try {
      const next = await processSenderKeyDistribution(g.receiver, this.#c.identityOf(from), distribution, {
        now: this.#c.now(),
        members: memberList(g.log),
      })
      if (next === g.receiver) return 'taken' // held already
      g.receiver = next
      this.#c.transport.stats.keysTaken++
    } catch (err) {
      if (err instanceof NotAGroupMemberError) return 'later'
      if (!(err instanceof GroupError)) throw err
      this.#c.log(`Refused a sender key from ${from}`, err)
      return 'refused'
    }
    await this.#c.records.write([groupEntry.receiver(g.id, encodeGroupReceiverState(g.receiver))])
    return 'taken'
  }
}
