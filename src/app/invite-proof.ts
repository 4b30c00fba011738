/**
 * Invite proofs: how someone who opened this person's invite link is told apart from a stranger who only
 * knows the PeerId (or the username). Without them, anyone who generates a PeerId would land in the
 * contact list with one message; with them, only people holding the link (or its QR code) do, and
 * everybody else's first message waits in Requests.
 *
 * The link carries a secret after the invite (`#invite=…&t=<secret>`; the invite parser ignores what
 * follows `&`). Whoever adds a contact from such a link gives their first messages an id that proves
 * the secret: 16 random bytes and the first 16 bytes of HMAC-SHA-256(secret, random ‖ sender PeerId), in
 * hex (64 characters, the longest id a payload carries). Ids travel inside the end-to-end encrypted
 * payload, so only the inviter sees them; the sender's PeerId in the MAC keeps one proof from being
 * reused by another peer. Proof ids are ordinary message ids in every other respect (dedupe, receipts).
 */
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'

const SECRET_BYTES = 16
const SECRET = /^[0-9a-f]{32}$/

/** A new invite secret (32 hex characters). */
export function newInviteSecret(rng: (n: number) => Uint8Array): string {
  return bytesToHex(rng(SECRET_BYTES))
}

/** The invite secret in an invite link's text, if it carries one. */
export function inviteSecretOf(text: string): string | undefined {
  const secret = /[#&?]t=([0-9a-f]{32})(?:&|$)/.exec(text.trim())?.[1]
  return secret !== undefined && SECRET.test(secret) ? secret : undefined
}

/** `link` with `secret` appended. */
export function withInviteSecret(link: string, secret: string): string {
  return `${link}&t=${secret}`
}

function mac(secret: string, random: string, sender: string): string {
  return bytesToHex(hmac(sha256, utf8ToBytes(secret), utf8ToBytes(`${random}|${sender}`)).subarray(0, 16))
}

/** A message id that proves `sender` holds `secret`. */
export function inviteProofId(secret: string, sender: string, rng: (n: number) => Uint8Array): string {
  const random = bytesToHex(rng(16))
  return random + mac(secret, random, sender)
}

/** Whether message `id` from `sender` proves this person's invite `secret`. */
export function isInviteProof(id: string, secret: string, sender: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(id)) return false
  const expected = mac(secret, id.slice(0, 32), sender)
  let diff = 0
  for (let i = 0; i < 32; i++) diff |= expected.charCodeAt(i) ^ id.charCodeAt(32 + i)
  return diff === 0
}
