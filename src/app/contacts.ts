/**
 * Contacts: who this person talks to, how they were added (invite link, username lookup, or they wrote
 * first), where they are reached (their relay circuit addresses, refreshed from their profile), and the
 * relays learned from them, which this node joins so their profiles resolve and their mail can be left.
 *
 * Owns the contact records and the learned-relay list. Knows nothing about sessions or messages.
 */
import { normalizeName } from '@paloma/core/protocol/directory.ts'
import { parseInvite } from '@paloma/core/protocol/invite.ts'
import { relaysOf } from '@paloma/net/addresses.ts'
import type { PeerNetwork } from '@paloma/net/network.ts'
import { AppError } from './errors.ts'
import { inviteSecretOf } from './invite-proof.ts'
import { entry, type AppRecords, type ContactRecord } from './records.ts'
import type { Scheduler } from './scheduler.ts'
import type { Claimant } from './types.ts'
import type { Changes } from './view.ts'

export interface Contacts {
  get(peer: string): ContactRecord | undefined
  all(): IterableIterator<ContactRecord>
  /** Adds (or refreshes the relays of) the contact an invite link names. @throws InviteError */
  addFromInvite(text: string): Promise<ContactRecord>
  /** Everyone claiming `username` in the directory (this person excluded). @throws AppError, DirectoryError */
  lookup(username: string): Promise<Claimant[]>
  /** Adds the claimant picked from a lookup, with the relays of its current profile. */
  addClaimant(claimant: Claimant): Promise<ContactRecord>
  /** Someone not yet a contact wrote: add them, named by their directory profile if any. */
  addStranger(peer: string): Promise<ContactRecord>
  /** Adds someone already known by name and relays (an accepted message request). */
  addAccepted(peer: string, name: string, relays: string[]): Promise<ContactRecord>
  /** The contact, added as a stranger first if needed. */
  ensure(peer: string): Promise<ContactRecord>
  update(peer: string, patch: Partial<Omit<ContactRecord, 'peer' | 'added'>>): Promise<void>
  /**
   * Reads the contact's current profile again (their relays may be unknown: they wrote while the
   * directory was unreachable) at most once per `refreshMs`. @returns whether their relays changed.
   */
  refresh(peer: string): Promise<boolean>
  /** Told of every contact added, after it is stored. */
  onAdded(listener: (contact: ContactRecord) => void): void
  /** The relays learned from contacts, oldest first. */
  learned(): readonly string[]
  /** Dials the relays learned from contacts (they join this node's view of the DHT). */
  start(): void
}

export interface ContactsInit {
  /** Relays learned from contacts that are remembered and joined. @default 16 */
  maxLearnedRelays?: number
  /** How long looking up a stranger's profile may take before they are added under their short id. @default 10000 */
  strangerLookupMs?: number
  /** Least time between two profile refreshes of one contact. @default 60000 */
  refreshMs?: number
  /**
   * When a stranger's profile could not be read as they were added (they may have just made their
   * account: its profile is not in the directory yet), it is read again after each of these delays
   * until their name and relays are known. @default [2000, 10000, 30000, 120000, 600000]
   */
  strangerRetryMs?: readonly number[]
}

export interface ContactsComponents {
  records: AppRecords
  network: Pick<PeerNetwork, 'peerId' | 'relays' | 'directory' | 'dialRelay'>
  changes: Changes
  scheduler: Scheduler
  now(): number
  contacts: readonly ContactRecord[]
  learnedRelays: readonly string[]
}

export function contacts(init: ContactsInit = {}) {
  return (components: ContactsComponents): Contacts => new ContactBook(components, init)
}

class ContactBook implements Contacts {
  readonly #c: ContactsComponents
  readonly #maxLearned: number
  readonly #strangerLookupMs: number
  readonly #refreshMs: number
  readonly #strangerRetryMs: readonly number[]
  readonly #refreshed = new Map<string, number>()
  readonly #contacts = new Map<string, ContactRecord>()
  readonly #learned: Set<string>
  readonly #added = new Set<(c: ContactRecord) => void>()
  readonly #adding = new Map<string, Promise<ContactRecord>>()

  constructor(components: ContactsComponents, init: ContactsInit) {
    this.#c = components
    this.#maxLearned = init.maxLearnedRelays ?? 16
    this.#strangerLookupMs = init.strangerLookupMs ?? 10_000
    this.#refreshMs = init.refreshMs ?? 60_000
    this.#strangerRetryMs = init.strangerRetryMs ?? [2_000, 10_000, 30_000, 120_000, 600_000]
    for (const c of components.contacts) this.#contacts.set(c.peer, c)
    this.#learned = new Set(components.learnedRelays)
  }

  start(): void {
    for (const relay of this.#learned) this.#dial(relay)
  }

  get(peer: string): ContactRecord | undefined {
    return this.#contacts.get(peer)
  }

  learned(): readonly string[] {
    return [...this.#learned]
  }

  all(): IterableIterator<ContactRecord> {
    return this.#contacts.values()
  }

  onAdded(listener: (contact: ContactRecord) => void): void {
    this.#added.add(listener)
  }

  async addFromInvite(text: string): Promise<ContactRecord> {
    const invite = parseInvite(text)
    const token = inviteSecretOf(text)
    const contact = await this.#add(
      invite.peer,
      invite.name ?? invite.peer.slice(-8),
      invite.relays,
      invite.bundle,
    )
    if (token === undefined || contact.inviteToken === token) return contact
    await this.#save({ ...contact, inviteToken: token })
    return this.#contacts.get(contact.peer)!
  }

  addAccepted(peer: string, name: string, relays: string[]): Promise<ContactRecord> {
    return this.#add(peer, name, relays)
  }

  async lookup(username: string): Promise<Claimant[]> {
    let name: string
    try {
      name = normalizeName(username)
    } catch (err) {
      throw new AppError('NOT_INVITE_OR_NAME', `neither an invite link nor a username: ${username}`, {
        cause: err,
      })
    }
    const claimants = await this.#c.network.directory.lookupName(name)
    return claimants
      .filter((c) => c.peerId !== this.#c.network.peerId)
      .map((c) => ({ peerId: c.peerId, name: c.name, fingerprint: c.fingerprint }))
  }

  async addClaimant(claimant: Claimant): Promise<ContactRecord> {
    const profile = await this.#c.network.directory.resolvePeer(claimant.peerId)
    return this.#add(claimant.peerId, profile.name ?? claimant.name, profile.relays)
  }

  ensure(peer: string): Promise<ContactRecord> {
    const known = this.#contacts.get(peer)
    return known === undefined ? this.addStranger(peer) : Promise.resolve(known)
  }

  addStranger(peer: string): Promise<ContactRecord> {
    // Several envelopes from the same stranger arrive together: look their profile up once.
    let adding = this.#adding.get(peer)
    if (adding === undefined) {
      adding = this.#addStranger(peer).finally(() => this.#adding.delete(peer))
      this.#adding.set(peer, adding)
    }
    return adding
  }

  async #addStranger(peer: string): Promise<ContactRecord> {
    let name = peer.slice(-8)
    let relays: string[] = []
    try {
      const profile = await this.#c.network.directory.resolvePeer(peer, {
        signal: AbortSignal.timeout(this.#strangerLookupMs),
      })
      name = profile.name ?? name
      relays = profile.relays
    } catch {
      // Unknown to the directory: keep the short id as the name.
    }
    const contact = await this.#add(peer, name, relays)
    if (!this.#complete(contact)) this.#completeLater(peer, 0)
    return contact
  }

  /** Whether the stranger's name and relays are known (not the short id, at least one relay). */
  #complete(c: ContactRecord): boolean {
    return c.name !== c.peer.slice(-8) && c.relays.length > 0
  }

  /** Reads a stranger's profile again after the `attempt`th delay, until it fills in what was missing. */
  #completeLater(peer: string, attempt: number): void {
    const delay = this.#strangerRetryMs[attempt]
    if (delay === undefined) return
    this.#c.scheduler.after(delay, () => {
      void this.#completeFromProfile(peer).then((done) => {
        if (!done) this.#completeLater(peer, attempt + 1)
      })
    })
  }

  async #completeFromProfile(peer: string): Promise<boolean> {
    const c = this.#contacts.get(peer)
    if (c === undefined || this.#complete(c)) return true
    try {
      const profile = await this.#c.network.directory.resolvePeer(peer, {
        signal: AbortSignal.timeout(this.#strangerLookupMs),
      })
      const now = this.#contacts.get(peer)
      if (now === undefined) return true
      const name = now.name === peer.slice(-8) && profile.name !== undefined ? profile.name : now.name
      const relays = now.relays.length === 0 ? profile.relays : now.relays
      if (name !== now.name || relays !== now.relays) await this.#save({ ...this.#named(now, name), relays })
      return this.#complete(this.#contacts.get(peer) ?? now)
    } catch {
      return false
    }
  }

  async update(peer: string, patch: Partial<Omit<ContactRecord, 'peer' | 'added'>>): Promise<void> {
    const c = this.#contacts.get(peer)
    if (c === undefined) throw new AppError('UNKNOWN_CONTACT', `${peer} is not a contact`)
    await this.#save({ ...c, ...patch })
  }

  async refresh(peer: string): Promise<boolean> {
    const c = this.#contacts.get(peer)
    const now = this.#c.now()
    if (c === undefined || now - (this.#refreshed.get(peer) ?? -Infinity) < this.#refreshMs) return false
    this.#refreshed.set(peer, now)
    try {
      const profile = await this.#c.network.directory.resolvePeer(peer, {
        signal: AbortSignal.timeout(this.#strangerLookupMs),
      })
      const same =
        profile.relays.length === c.relays.length && profile.relays.every((r) => c.relays.includes(r))
      // A stranger added under their short id gets their name too.
      const name = c.name === peer.slice(-8) && profile.name !== undefined ? profile.name : c.name
      const moved = profile.relays.length > 0 && !same
      if (moved || name !== c.name)
        await this.#save({ ...this.#named(c, name), ...(moved ? { relays: profile.relays } : {}) })
      return moved
    } catch {
      return false // unreachable now: the next attempt comes after refreshMs
    }
  }

  async #add(peer: string, name: string, relays: string[], bundle?: Uint8Array): Promise<ContactRecord> {
    if (peer === this.#c.network.peerId) throw new AppError('OWN_INVITE', 'that is this person’s own invite')
    const existing = this.#contacts.get(peer)
    if (existing !== undefined) {
      if (relays.length > 0) await this.#save({ ...existing, relays })
      return this.#contacts.get(peer)!
    }
    const contact: ContactRecord = {
      peer,
      name,
      relays,
      ...(bundle === undefined ? {} : { bundle }),
      added: this.#c.now(),
      keyChanged: false,
      ...this.#namesakeWarning(peer, name),
    }
    await this.#save(contact)
    for (const l of this.#added) l(contact)
    return contact
  }

  /**
   * The same name as someone already pinned, under another key: warn loudly (possible impersonation);
   * when that someone was verified, hold the chat until this key is verified too.
   */
  #namesakeWarning(peer: string, name: string): Partial<Pick<ContactRecord, 'keyChanged' | 'held'>> {
    const namesakes = [...this.#contacts.values()].filter(
      (c) => c.peer !== peer && c.name.toLowerCase() === name.toLowerCase(),
    )
    if (namesakes.length === 0) return {}
    return { keyChanged: true, ...(namesakes.some((c) => c.verified === true) ? { held: true } : {}) }
  }

  /** Names a contact added under their short id, with the warning their new name calls for. */
  #named(c: ContactRecord, name: string): ContactRecord {
    return name === c.name ? c : { ...c, name, ...this.#namesakeWarning(c.peer, name) }
  }

  async #save(c: ContactRecord): Promise<void> {
    await this.#c.records.write([entry.contact(c)])
    this.#contacts.set(c.peer, c)
    this.#c.changes.contact(c.peer)
    await this.#learn(relaysOf(c.relays))
  }

  /** Remembers contacts' relays (the newest are kept) and connects to the new ones. */
  async #learn(relays: string[]): Promise<void> {
    const fresh = relays.filter((r) => !this.#learned.has(r) && !this.#c.network.relays.includes(r))
    if (fresh.length === 0) return
    for (const r of fresh) this.#learned.add(r)
    while (this.#learned.size > this.#maxLearned) this.#learned.delete(this.#learned.values().next().value!)
    await this.#c.records.putLearnedRelays([...this.#learned])
    for (const r of fresh) this.#dial(r)
  }

  #dial(relay: string): void {
    if (this.#c.scheduler.running) void this.#c.network.dialRelay(relay).catch(() => {})
  }
}
