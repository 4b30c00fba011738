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

/** `direct`: the contact itself stored it. `mailbox`: one of its relays did. */
export type Route = 'direct' | 'mailbox'

/**
 * The path that acknowledged, or none: then, when the relays refused it for a reason the sender should see
 * on the message (quota, size, rate; docs/mailbox.md), that refusal.
 */
export type SendOutcome = { route: Route } | { route: undefined; refusal?: RelayRefusalCode }

export interface Outgoing {
  envId: string
  envelope: Uint8Array
}

export interface Delivery {
  /** Sends a batch of envelopes to `peer`, in order; one outcome per envelope. */
  send(peer: string, batch: readonly Outgoing[]): Promise<SendOutcome[]>
  /** Sends over an open connection without waiting for an acknowledgement; false when none is open. */
  post(peer: string, envelope: Uint8Array): Promise<boolean>
  /** Tries to open a direct WebRTC connection to `peer` (rate-limited; never throws). */
  connectDirect(peer: string): Promise<void>
}

export interface DeliveryInit {
  /** Relays of the contact an envelope is deposited on. @default 2 */
  mailboxCopies?: number
  /** How long one deposit may take. @default 10000 */
  depositTimeoutMs?: number
  /** Least time between two attempts to open a direct connection to the same contact. @default 30000 */
  directRedialMs?: number
}

export interface DeliveryComponents {
  network: Pick<PeerNetwork, 'isConnected' | 'deliver' | 'post' | 'depositAll' | 'connectDirect' | 'isDirect'>
  contacts: Pick<Contacts, 'get' | 'refresh'>
  now(): number
  rng(n: number): Uint8Array
}

export function delivery(init: DeliveryInit = {}) {
  return (components: DeliveryComponents): Delivery => new Router(components, init)
}

class Router implements Delivery {
  readonly #c: DeliveryComponents
  readonly #copies: number
  readonly #depositTimeoutMs: number
  readonly #redialMs: number
  readonly #dialing = new Map<string, Promise<void>>()
  readonly #lastDial = new Map<string, number>()

  constructor(components: DeliveryComponents, init: DeliveryInit) {
    this.#c = components
    this.#copies = init.mailboxCopies ?? 2
    this.#depositTimeoutMs = init.depositTimeoutMs ?? 10_000
    this.#redialMs = init.directRedialMs ?? 30_000
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
      if (deposited.some((o) => o.route === undefined)) void this.connectDirect(peer)
    }
    return outcomes as SendOutcome[]
  }

  async #deposit(peer: string, batch: readonly Outgoing[]): Promise<SendOutcome[]> {
    // No relay known for them (they wrote while the directory was unreachable): ask it again.
    if ((this.#c.contacts.get(peer)?.relays ?? []).length === 0) await this.#c.contacts.refresh(peer)
    const relays = relaysOf(this.#c.contacts.get(peer)?.relays ?? []).slice(0, this.#copies)
    const requests = batch.map((o) => ({ to: peer, id: o.envId, envelope: o.envelope }))
    const perRelay = await Promise.all(
      relays.map((r) =>
        this.#c.network
          .depositAll(r, requests, { timeoutMs: this.#depositTimeoutMs })
          .catch((error: unknown) => requests.map((q) => ({ id: q.id, error }))),
      ),
    )
    return batch.map((_, i) => {
      const results = perRelay.map((list) => list[i]!)
      if (results.some((r) => r.error === undefined)) return { route: 'mailbox' }
      const refusal = results.map((r) => relayRefusal(r.error)).find((code) => code !== undefined)
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
      .catch(() => {}) // stays on the relays; the next attempt comes after directRedialMs
      .finally(() => this.#dialing.delete(peer))
    this.#dialing.set(peer, dialing)
    return dialing
  }
}
