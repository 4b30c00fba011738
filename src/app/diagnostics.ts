/**
 * Connection details: what a person needs when "it does not send". Each relay (configured or learned
 * from a contact) with its state, each chat's route (direct WebRTC or through the relays), what waits in
 * the outbox and when it is retried, and the last thing that went wrong, as a code the UI words.
 *
 * Read on demand (the UI polls it while the dialog is open); remembers only the last error. Per-relay
 * reservations and round trips are shown when the network tells them ({@link RelayProbe}); the libp2p
 * network does not yet.
 */
import { peerOf } from '@paloma/net/addresses.ts'
import type { PeerNetwork } from '@paloma/net/network.ts'
import type { RelayRefusalCode } from './codes.ts'
import type { Contacts } from './contacts.ts'
import type { Inbox } from './inbox.ts'
import type { Outbox } from './outbox.ts'
import type { ConnectionDetails, ConnectionState, DiagnosticCode, Settings } from './types.ts'

export interface Diagnostics {
  details(state: ConnectionState): ConnectionDetails
  /** A delivery was refused by the relays for `code`. */
  refused(code: RelayRefusalCode): void
  start(): void
}

export interface DiagnosticsComponents {
  network: Pick<
    PeerNetwork,
    'relays' | 'connections' | 'isConnected' | 'isDirect' | 'on' | 'reservedRelays' | 'rttMs'
  >
  inbox: Pick<Inbox, 'openMailboxes'>
  outbox: Pick<Outbox, 'stats'>
  contacts: Pick<Contacts, 'all'>
  settings: { readonly current: Readonly<Pick<Settings, 'presence'>> }
  learnedRelays(): readonly string[]
  isNetworkUp?(): boolean
  now(): number
}

export function diagnostics() {
  return (components: DiagnosticsComponents): Diagnostics => new ConnectionReport(components)
}

class ConnectionReport implements Diagnostics {
  readonly #c: DiagnosticsComponents
  #last: ConnectionDetails['lastError']

  constructor(components: DiagnosticsComponents) {
    this.#c = components
  }

  start(): void {
    const relayPeers = new Set(this.#c.network.relays.map((r) => peerOf(r)))
    this.#c.network.on('connection', ({ peer, open }) => {
      if (!open && relayPeers.has(peer) && !this.#c.network.isConnected(peer))
        this.#note(this.#c.isNetworkUp?.() === false ? 'NO_NETWORK' : 'RELAY_LOST', peer)
    })
  }

  refused(code: RelayRefusalCode): void {
    this.#note(code)
  }

  #note(code: DiagnosticCode, relay?: string): void {
    this.#last = { code, at: this.#c.now(), ...(relay === undefined ? {} : { relay }) }
  }

  details(state: ConnectionState): ConnectionDetails {
    const net = this.#c.network
    const reserved = net.reservedRelays()
    const open = new Set(this.#c.inbox.openMailboxes().map((r) => peerOf(r)))
    const configured = new Set(net.relays)
    const relays = [...net.relays, ...this.#c.learnedRelays().filter((r) => !configured.has(r))].map(
      (addr) => {
        const peerId = peerOf(addr) ?? addr
        const rtt = net.rttMs(peerId)
        return {
          addr,
          peerId,
          configured: configured.has(addr),
          connected: net.isConnected(peerId),
          reserved: reserved.includes(peerId),
          mailbox: open.has(peerId),
          ...(rtt === undefined ? {} : { rttMs: rtt }),
        }
      },
    )
    const stats = this.#c.outbox.stats()
    const presence = this.#c.settings.current.presence
    const chats = [...this.#c.contacts.all()].map((c) => ({
      peerId: c.peer,
      name: c.name,
      ...(presence ? { route: net.isDirect(c.peer) ? ('direct' as const) : ('relays' as const) } : {}),
      pending: stats.pending.get(c.peer) ?? 0,
    }))
    let pending = 0
    for (const n of stats.pending.values()) pending += n
    let lastError = this.#last
    if (state === 'offline') lastError = { code: 'NO_NETWORK', at: this.#c.now() }
    else if (!relays.some((r) => r.connected) && lastError === undefined)
      lastError = { code: 'NO_RELAY', at: this.#c.now() }
    return {
      state,
      relays,
      chats,
      outbox: stats.nextRetry === undefined ? { pending } : { pending, nextRetry: stats.nextRetry },
      ...(lastError === undefined ? {} : { lastError }),
    }
  }
}
