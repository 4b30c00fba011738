/**
 * Routes: how envelopes reach a contact. Over the direct chat stream when a connection to them is open
 * (all of a batch written at once, each acknowledged once they stored it: so "delivered"); whatever is not
 * acknowledged there is deposited in their mailbox on their relays, pipelined over one stream per relay
 * (acknowledged once a relay stored it: "sent"). Also opens direct WebRTC connections, at most one
 * attempt per contact per `directRedialMs`.
 *
 * Knows envelopes only as bytes; knows nothing about sessions, the outbox's order or the UI.
 */
import { newMessageId } from '@paloma/core/messages.ts'
import { relaysOf } from '@paloma/net/addresses.ts'
import { relayRefusal, type RelayRefusalCode } from '@paloma/net/mailbox-client.ts'
import type { PeerNetwork } from '@paloma/net/network.ts'
import type { Contacts } from './contacts.ts'
import type { Scheduler } from './scheduler.ts'

/** `direct`: the contact itself stored it. `mailbox`: one of its relays did. */
export type Route = 'direct' | 'mailbox'

/**
 * The path that acknowledged, or none: then, when the relays refused it for a reason the sender should see
 * on the message (quota, size, rate; docs/mailbox.md), that refusal. A mailbox outcome names the relays
 * that hold the envelope (`held`) and whether that is the custody asked for (`complete`: k relays, or
 * every relay the contact has when it has fewer).
 */
export type SendOutcome =
  | { route: 'direct' }
  | { route: 'mailbox'; held: string[]; complete: boolean }
  | { route: undefined; refusal?: RelayRefusalCode }

export interface Outgoing {
  envId: string
  envelope: Uint8Array
  /** Relays known to hold it already (from an earlier attempt): not asked again. */
  held?: readonly string[]
}

export interface Delivery {
  /** Sends a batch of envelopes to `peer`, in order; one outcome per envelope. */
  send(peer: string, batch: readonly Outgoing[]): Promise<SendOutcome[]>
  /** Sends over an open connection without waiting for an acknowledgement; false when none is open. */
  post(peer: string, envelope: Uint8Array): Promise<boolean>
  /** Tries to open a direct WebRTC connection to `peer` (rate-limited; never throws). */
  connectDirect(peer: string): Promise<void>
  /** The device's network changed: earlier dials say nothing about the new one, the next goes at once. */
  networkChanged(): void
}

export interface DeliveryInit {
  /**
   * Custody: how many of the contact's relays must hold an envelope left in its mailbox. Relays are
   * asked in the order of the contact's profile, further ones when earlier ones do not answer.
   * @default 2
   */
  mailboxCopies?: number
  /** How long one deposit may take. @default 10000 */
  depositTimeoutMs?: number
  /** Least time between two attempts to open a direct connection to the same contact. @default 30000 */
  directRedialMs?: number
  /**
   * After a failed attempt, the next one comes this soon, once (a WebRTC dial through a relay
   * occasionally stalls until its timeout, and the one after it goes through). @default 1000
   */
  directRetryMs?: number
}

export interface DeliveryComponents {
  network: Pick<PeerNetwork, 'isConnected' | 'deliver' | 'post' | 'depositAll' | 'connectDirect' | 'isDirect'>
  contacts: Pick<Contacts, 'get' | 'refresh'>
  now(): number
  rng(n: number): Uint8Array
  scheduler: Pick<Scheduler, 'after'>
  /**
   * Whether `peer`'s chat is on screen: while it is, a direct dial that failed twice is tried again every
   * directRedialMs (a chat opened while the contact was unreachable goes direct once it can).
   * @default never
   */
  isOpen?(peer: string): boolean
}

export function delivery(init: DeliveryInit = {}) {
  return (components: DeliveryComponents): Delivery => new Router(components, init)
}

class Router implements Delivery {
  readonly #c: DeliveryComponents
  readonly #copies: number
  readonly #depositTimeoutMs: number
  readonly #redialMs: number
  readonly #retryMs: number
  /** Contacts whose last direct dial failed and got its quick retry already. */
  readonly #retried = new Set<string>()
  readonly #dialing = new Map<string, Promise<void>>()
  readonly #lastDial = new Map<string, number>()

  constructor(components: DeliveryComponents, init: DeliveryInit) {
    this.#c = components
    this.#copies = init.mailboxCopies ?? 2
    this.#depositTimeoutMs = init.depositTimeoutMs ?? 10_000
    this.#redialMs = init.directRedialMs ?? 30_000
    this.#retryMs = init.directRetryMs ?? 1000
  }

  async send(peer: string, batch: readonly Outgoing[]): Promise<SendOutcome[]> {
    const outcomes: Array<SendOutcome | undefined> = batch.map(() => undefined)
    // Only over a direct connection: a relayed one is the short-lived signalling path of a WebRTC dial,
    // and an envelope caught on it when it closes waits out the acknowledgement timeout; the mailbox
    // push is as fast there (measured: bench/messaging.ts, first message).
    if (this.#c.network.isDirect(peer)) {
      const acked = await Promise.allSettled(
        batch.map((o) => this.#c.network.deliver(peer, o.envId, o.envelope)),
      )
      acked.forEach((r, i) => r.status === 'fulfilled' && (outcomes[i] = { route: 'direct' }))
    }
    const rest = batch.flatMap((o, i) => (outcomes[i] === undefined ? [i] : []))
    if (rest.length > 0) {
      // Not acknowledged directly (or no connection): the mailbox takes them.
      const deposited = await this.#deposit(
        peer,
        rest.map((i) => batch[i]!),
      )
      rest.forEach((i, k) => (outcomes[i] = deposited[k]))
      // On the relays (the contact moved to another network, a relay restarted, the chat was opened
      // before they came online): the next messages go direct again once a dial succeeds.
      void this.connectDirect(peer)
    }
    return outcomes as SendOutcome[]
  }

  /**
   * Leaves the envelopes in the contact's mailbox on `mailboxCopies` of its relays: the first ones at
   * once, then, for each envelope still short of copies (a relay down, full, or refusing), the next
   * relays in turn. An envelope one relay holds is taken (`sent`); the outbox keeps trying for the
   * missing copies while custody is incomplete.
   */
  async #deposit(peer: string, batch: readonly Outgoing[]): Promise<SendOutcome[]> {
    // No relay known for them (they wrote while the directory was unreachable): ask it again.
    if ((this.#c.contacts.get(peer)?.relays ?? []).length === 0) await this.#c.contacts.refresh(peer)
    const relays = relaysOf(this.#c.contacts.get(peer)?.relays ?? [])
    const wanted = Math.min(this.#copies, relays.length)
    const held = batch.map((o) => new Set((o.held ?? []).filter((r) => relays.includes(r))))
    const errors = batch.map((): unknown[] => [])
    let unreachable = false
    for (let next = 0; next < relays.length;) {
      const short = batch.flatMap((_, i) => (held[i]!.size < wanted ? [i] : []))
      if (short.length === 0) break
      // As many relays at once as the neediest envelope lacks copies.
      const need = Math.max(...short.map((i) => wanted - held[i]!.size))
      const round = relays.slice(next, next + need)
      next += round.length
      await Promise.all(
        round.map(async (relay) => {
          const todo = short.filter((i) => !held[i]!.has(relay))
          if (todo.length === 0) return
          const requests = todo.map((i) => ({ to: peer, id: batch[i]!.envId, envelope: batch[i]!.envelope }))
          const results = await this.#c.network
            .depositAll(relay, requests, { timeoutMs: this.#depositTimeoutMs })
            .catch((error: unknown) => requests.map((q) => ({ id: q.id, error })))
          results.forEach((r, k) => {
            const i = todo[k]!
            if (r.error === undefined) held[i]!.add(relay)
            else errors[i]!.push(r.error)
          })
          if (results.some((r) => relayRefusal(r.error) === undefined && r.error !== undefined))
            unreachable = true
        }),
      )
    }
    // A relay that did not answer may be gone for good: their profile may list others by now.
    if (unreachable) void this.#c.contacts.refresh(peer)
    return batch.map((_, i) => {
      if (held[i]!.size > 0)
        return { route: 'mailbox', held: [...held[i]!], complete: held[i]!.size >= wanted }
      const refusal = errors[i]!.map((e) => relayRefusal(e)).find((code) => code !== undefined)
      return refusal === undefined ? { route: undefined } : { route: undefined, refusal }
    })
  }

  async post(peer: string, envelope: Uint8Array): Promise<boolean> {
    if (!this.#c.network.isConnected(peer)) return false
    try {
      await this.#c.network.post(peer, newMessageId(this.#c.rng), envelope)
      return true
    } catch {
      return false
    }
  }

  networkChanged(): void {
    this.#lastDial.clear()
    this.#retried.clear()
  }

  connectDirect(peer: string): Promise<void> {
    const running = this.#dialing.get(peer)
    if (running !== undefined) return running
    const now = this.#c.now()
    if (this.#c.network.isDirect(peer) || now - (this.#lastDial.get(peer) ?? -Infinity) < this.#redialMs)
      return Promise.resolve()
    const circuits = this.#c.contacts.get(peer)?.relays ?? []
    if (circuits.length === 0) return Promise.resolve()
    this.#lastDial.set(peer, now)
    const dialing = this.#c.network
      .connectDirect(peer, circuits)
      .then(
        () => void this.#retried.delete(peer),
        () => {
          // Stays on the relays; one quick retry, then the next attempt after directRedialMs: the next
          // message through the mailbox makes it, or this while the chat is open.
          if (this.#retried.has(peer)) {
            if (this.#c.isOpen?.(peer) === true)
              this.#c.scheduler.after(this.#redialMs, () => {
                if (this.#c.isOpen?.(peer) === true) void this.connectDirect(peer)
              })
            return
          }
          this.#retried.add(peer)
          this.#c.scheduler.after(this.#retryMs, () => {
            this.#lastDial.delete(peer)
            void this.connectDirect(peer)
          })
        },
      )
      .finally(() => this.#dialing.delete(peer))
    this.#dialing.set(peer, dialing)
    return dialing
  }
}
