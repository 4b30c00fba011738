/**
 * Invite links: how one person hands another everything needed to reach them, in a URL fragment (never
 * sent to the web server) and in a QR code of that same URL.
 *
 * `https://<app>/#invite=<base64url(CBOR {v:1, peer, name?, relays})>` where `peer` is the PeerId (which
 * embeds the Ed25519 identity key) and `relays` the inviter's relay addresses at the time of the invite.
 * The link is not signed: it is only as trustworthy as the channel it came through, and it pins the
 * identity key, so nothing in it can be swapped without changing who the contact is.
 */
import { decode, encode } from 'cborg'
import { fromString, toString } from 'uint8arrays'

export const INVITE_VERSION = 1
export const MAX_INVITE_RELAYS = 8
export const MAX_INVITE_CHARS = 4096
const PEER_ID = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/

export interface Invite {
  /** The inviter's PeerId (Ed25519, base58btc `12D3KooW…`). */
  peer: string
  /** The username the inviter chose, if any (a hint: usernames are not unique). */
  name?: string
  /** Relay circuit addresses through which the inviter can be reached. */
  relays: string[]
}

export class InviteError extends Error {
  override name = 'InviteError'
  constructor(message = 'This is not a valid Paloma invite link. Ask for a new one.') {
    super(message)
  }
}

export function encodeInvite(invite: Invite): string {
  check(invite)
  const body: Record<string, unknown> = { v: INVITE_VERSION, peer: invite.peer, relays: invite.relays }
  if (invite.name != null) body.name = invite.name
  return toString(encode(body), 'base64url')
}

export function inviteUrl(base: string, invite: Invite): string {
  const url = new URL(base)
  url.hash = `invite=${encodeInvite(invite)}`
  return url.toString()
}

/** Accepts a whole invite URL, a `#invite=…` fragment, or the bare encoded invite. */
export function parseInvite(text: string): Invite {
  const trimmed = text.trim()
  if (trimmed.length === 0 || trimmed.length > MAX_INVITE_CHARS) throw new InviteError()
  const at = trimmed.indexOf('invite=')
  const encoded = at >= 0 ? trimmed.slice(at + 'invite='.length).split('&')[0]! : trimmed
  let raw: unknown
  try {
    raw = decode(fromString(encoded, 'base64url'))
  } catch {
    throw new InviteError()
  }
  if (typeof raw !== 'object' || raw == null || Array.isArray(raw)) throw new InviteError()
  const { v, peer, name, relays, ...rest } = raw as Record<string, unknown>
  if (v !== INVITE_VERSION)
    throw new InviteError('This invite was made by a newer version of Paloma. Update the app.')
  if (Object.keys(rest).length > 0) throw new InviteError()
  const invite = { peer, relays, ...(name === undefined ? {} : { name }) } as Invite
  check(invite)
  return invite
}

function check(invite: Invite): void {
  if (typeof invite.peer !== 'string' || !PEER_ID.test(invite.peer)) {
    throw new InviteError('The invite does not name a valid Paloma identity.')
  }
  if (invite.name !== undefined && (typeof invite.name !== 'string' || invite.name.length > 64)) {
    throw new InviteError()
  }
  if (
    !Array.isArray(invite.relays) ||
    invite.relays.length > MAX_INVITE_RELAYS ||
    invite.relays.some((r) => typeof r !== 'string' || r.length > 512 || !r.startsWith('/'))
  ) {
    throw new InviteError()
  }
}
