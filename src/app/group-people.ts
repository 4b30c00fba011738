/**
 * The people of this person's groups, who may not be contacts: their usernames and relays, learned from
 * the directory (a contact's own record always wins), and the address book the 1:1 machinery (sessions,
 * routes, session resets) uses for everyone it may have to reach: contacts first, then group members.
 * A member is never added to the contacts: a member who is not a contact is shown by username and
 * fingerprint, never merged with a contact of the same name.
 *
 * Owns the people records of groups (kept inside each group's record); knows nothing about messages.
 */
import type { PeerNetwork } from '@paloma/net/network.ts'
import type { Contacts } from './contacts.ts'
import type { GroupPerson } from './group-records.ts'
import type { ContactRecord } from './records.ts'

export interface GroupPeopleComponents {
  network: Pick<PeerNetwork, 'directory'>
  contacts: Pick<Contacts, 'get' | 'update' | 'refresh' | 'ensure'>
  now(): number
  /** Told when a person's name or relays changed (their groups' records must be written again). */
  changed(peer: string): void
}

export interface GroupPeopleInit {
  /** How long looking up a member's profile may take. @default 10000 */
  lookupMs?: number
  /** Least time between two lookups of the same member. @default 60000 */
  refreshMs?: number
}

/** What the sessions, routes and resets need of an address book. */
export type AddressBook = Pick<Contacts, 'get' | 'update' | 'refresh' | 'ensure'>

export class GroupPeople {
  readonly #c: GroupPeopleComponents
  readonly #lookupMs: number
  readonly #refreshMs: number
  readonly #people = new Map<string, GroupPerson>()
  readonly #looked = new Map<string, number>()
  readonly #members = new Set<string>()

  constructor(components: GroupPeopleComponents, init: GroupPeopleInit = {}) {
    this.#c = components
    this.#lookupMs = init.lookupMs ?? 10_000
    this.#refreshMs = init.refreshMs ?? 60_000
  }

  /** What is known of `peer` (contact or not). */
  get(peer: string): GroupPerson | undefined {
    return this.#people.get(peer)
  }

  /** The name to show: a contact's, else the member's username, else their short id. */
  name(peer: string): string {
    return this.#c.contacts.get(peer)?.name ?? this.#people.get(peer)?.name ?? peer.slice(-8)
  }

  /** Remembers `person` (from a stored record, or a contact just added to a group). */
  add(person: GroupPerson): void {
    const known = this.#people.get(person.peer)
    if (known === undefined || (known.relays.length === 0 && person.relays.length > 0))
      this.#people.set(person.peer, person)
  }

  /** Sets who is in some group now: the address book answers for them. */
  setMembers(peers: Iterable<string>): void {
    this.#members.clear()
    for (const p of peers) this.#members.add(p)
  }

  /** Whether `peer` is in one of this person's groups now. */
  isMember(peer: string): boolean {
    return this.#members.has(peer)
  }

  /** A person known only by id gets a lookup of their profile (in the background). */
  learn(peer: string): void {
    const known = this.#people.get(peer)
    if (this.#c.contacts.get(peer) !== undefined) {
      const c = this.#c.contacts.get(peer)!
      if (known === undefined) this.#people.set(peer, { peer, name: c.name, relays: c.relays })
      return
    }
    if (known === undefined) this.#people.set(peer, { peer, name: peer.slice(-8), relays: [] })
    if (known === undefined || known.relays.length === 0 || known.name === peer.slice(-8))
      void this.refresh(peer)
  }

  /** Reads `peer`'s profile again (at most once per `refreshMs`). @returns whether their relays changed */
  async refresh(peer: string): Promise<boolean> {
    const now = this.#c.now()
    if (now - (this.#looked.get(peer) ?? -Infinity) < this.#refreshMs) return false
    this.#looked.set(peer, now)
    try {
      const profile = await this.#c.network.directory.resolvePeer(peer, {
        signal: AbortSignal.timeout(this.#lookupMs),
      })
      const known = this.#people.get(peer)
      const name = profile.name ?? known?.name ?? peer.slice(-8)
      const relays = profile.relays.length > 0 ? profile.relays : (known?.relays ?? [])
      const same =
        known !== undefined &&
        known.name === name &&
        known.relays.length === relays.length &&
        known.relays.every((r) => relays.includes(r))
      if (same) return false
      this.#people.set(peer, { peer, name, relays })
      this.#c.changed(peer)
      return known?.relays.join() !== relays.join()
    } catch {
      return false // unreachable now: the next attempt comes after refreshMs
    }
  }

  #setRelays(peer: string, relays: string[]): void {
    const known = this.#people.get(peer)
    if (relays.length === 0 || known?.relays.join() === relays.join()) return
    this.#people.set(peer, { peer, name: known?.name ?? peer.slice(-8), relays })
    this.#c.changed(peer)
  }

  #asContact(peer: string): ContactRecord | undefined {
    if (!this.#members.has(peer)) return undefined
    const p = this.#people.get(peer)
    return { peer, name: p?.name ?? peer.slice(-8), relays: p?.relays ?? [], added: 0, keyChanged: false }
  }

  /**
   * The address book of the 1:1 machinery: a contact as it is, a group member who is not a contact as a
   * record of its own (relays learned from the directory), anyone else as the contacts decide (a stranger
   * who writes first is added by them).
   */
  book(): AddressBook {
    const contacts = this.#c.contacts
    return {
      get: (peer) => contacts.get(peer) ?? this.#asContact(peer),
      update: async (peer, patch) => {
        if (contacts.get(peer) !== undefined || !this.#members.has(peer)) return contacts.update(peer, patch)
        if (patch.relays !== undefined) this.#setRelays(peer, patch.relays)
      },
      refresh: (peer) =>
        contacts.get(peer) !== undefined || !this.#members.has(peer)
          ? contacts.refresh(peer)
          : this.refresh(peer),
      ensure: (peer) => {
        const member = contacts.get(peer) === undefined ? this.#asContact(peer) : undefined
        return member === undefined ? contacts.ensure(peer) : Promise.resolve(member)
      },
    }
  }
}
