/**
 * Message delivery status, as the sender sees it: pending -> sent -> delivered -> read.
 *
 * Pure state machine. Status only moves forward: a late "sent" after "delivered" changes nothing,
 * so acknowledgements may arrive in any order, or twice, from any delivery path.
 */
export const MESSAGE_STATUSES = ['pending', 'sent', 'delivered', 'read'] as const
export type MessageStatus = (typeof MESSAGE_STATUSES)[number]
export type Direction = 'in' | 'out'

export interface ChatMessage {
  id: string
  peer: string
  direction: Direction
  text: string
  /** Sender's clock, milliseconds since the epoch. */
  ts: number
  status: MessageStatus
  /** Why the last delivery attempt was refused (a relay's error code), while the message still waits. */
  problem?: string
  /** The relays (multiaddrs) that took it into the recipient's mailbox, when it went that way. */
  custody?: readonly string[]
}

/** The status after `event`, never moving backwards. */
export function advanceStatus(current: MessageStatus, event: MessageStatus): MessageStatus {
  return MESSAGE_STATUSES.indexOf(event) > MESSAGE_STATUSES.indexOf(current) ? event : current
}

/**
 * Longest message id any protocol carries, in characters: payload ids (text, receipts), chat frame and
 * mailbox ids. {@link newMessageId} makes 32.
 */
export const MAX_MESSAGE_ID_CHARS = 64

/** A fresh, unguessable message id (128 random bits, hex) from the given random source. */
export function newMessageId(rng: (n: number) => Uint8Array): string {
  return Array.from(rng(16), (b) => b.toString(16).padStart(2, '0')).join('')
}
