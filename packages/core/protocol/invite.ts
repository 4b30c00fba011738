/**
 * Invite links: how one person hands another everything needed to reach them, in a URL fragment (never
 * sent to the web server) and in a QR code of that same URL.
 *
 * `https://<app>/#invite=<base64url(CBOR {v:1, peer, name?, relays, bundle?})>` where `peer` is the PeerId
 * (which embeds the Ed25519 identity key), `relays` the inviter's relay addresses at the time of the invite,
 * and `bundle` the inviter's signed prekey bundle then, so the first message needs no directory lookup
 * (it is verified against `peer` before use, like one from the directory).
 * The link is not signed: it is only as trustworthy as the channel it came through, and it pins the
 * identity key, so nothing in it can be swapped without changing who the contact is.
 */
import { fromString, toString } from 'uint8arrays'
import {
  decodeStrictMap,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectKeys,
  expectString,
  type CborFail,
} from '../cbor.ts'
import { PalomaError } from '../errors.ts'
import { MAX_BUNDLE_BYTES } from '../crypto/constants.ts'
import { MAX_RELAY_ADDR_LENGTH, MAX_RELAYS } from './directory.ts'

export const INVITE_VERSION = 1
export const MAX_INVITE_CHARS = 4096
/** Longest username hint in an invite, in characters. */
export const MAX_INVITE_NAME_CHARS = 64
const PEER_ID = /^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/

export interface Invite {
  /** The inviter's PeerId (Ed25519, base58btc `12D3KooW…`). */
  peer: string
  /** The username the inviter chose, if any (a hint: usernames are not unique). */
  name?: string
  /** Relay circuit addresses through which the inviter can be reached. */
  relays: string[]
  /** The inviter's signed prekey bundle (opaque here; verified against `peer` by whoever uses it). */
  bundle?: Uint8Array
}

export const INVITE_ERROR_CODES = [
  /** Not an invite link: bad encoding, CBOR or fields. Ask for a new one. */
  'BAD_INVITE',
  /** Made by a newer version of Paloma. Update the app. */
  'UNSUPPORTED_INVITE',
  /** The invite does not name a valid Paloma identity (an Ed25519 PeerId). */
  'BAD_INVITE_IDENTITY',
] as const
export type InviteErrorCode = (typeof INVITE_ERROR_CODES)[number]

const INVITE_MESSAGES: Record<InviteErrorCode, string> = {
  BAD_INVITE: 'This is not a valid Paloma invite link. Ask for a new one.',
  UNSUPPORTED_INVITE: 'This invite was made by a newer version of Paloma. Update the app.',
  BAD_INVITE_IDENTITY: 'The invite does not name a valid Paloma identity.',
}

export class InviteError extends PalomaError<InviteErrorCode> {
  override name = 'InviteError'
  constructor(code: InviteErrorCode = 'BAD_INVITE', message?: string, options?: ErrorOptions) {
    super(code, message ?? INVITE_MESSAGES[code], options)
  }
}

const fail: CborFail = (message, failure) => {
  throw new InviteError(
    'BAD_INVITE',
    `${INVITE_MESSAGES.BAD_INVITE} (${message})`,
    failure?.cause === undefined ? undefined : { cause: failure.cause },
  )
}

export function encodeInvite(invite: Invite): string {
  check(invite)
  const body: Record<string, unknown> = { v: INVITE_VERSION, peer: invite.peer, relays: invite.relays }
  if (invite.name != null) body.name = invite.name
  if (invite.bundle != null) body.bundle = invite.bundle
  return toString(encodeCanonical(body), 'base64url')
}

export function inviteUrl(base: string, invite: Invite): string {
  const url = new URL(base)
  url.hash = `invite=${encodeInvite(invite)}`
  return url.toString()
}

/**
 * Accepts a whole invite URL, a `#invite=…` fragment, or the bare encoded invite.
 * @throws InviteError
 */
export function parseInvite(text: string): Invite {
  const trimmed = text.trim()
  if (trimmed.length === 0 || trimmed.length > MAX_INVITE_CHARS) {
    fail(`expected 1 to ${MAX_INVITE_CHARS} characters, got ${trimmed.length}`)
  }
  const at = trimmed.indexOf('invite=')
  const encoded = at >= 0 ? trimmed.slice(at + 'invite='.length).split('&')[0]! : trimmed
  let bytes: Uint8Array
  try {
    bytes = fromString(encoded, 'base64url')
  } catch (cause) {
    return fail('not base64url', { cause })
  }
  const m = decodeStrictMap(bytes, fail, 'invite')
  if (m.v !== INVITE_VERSION) {
    throw new InviteError(typeof m.v === 'number' ? 'UNSUPPORTED_INVITE' : 'BAD_INVITE')
  }
  expectKeys(m, 'invite', fail, ['v', 'peer', 'relays'], ['name', 'bundle'])
  const invite = {
    peer: m.peer,
    relays: m.relays,
    ...(m.name === undefined ? {} : { name: m.name }),
    ...(m.bundle === undefined ? {} : { bundle: m.bundle }),
  } as Invite
  check(invite)
  return invite
}

function check(invite: Invite): void {
  if (typeof invite.peer !== 'string' || !PEER_ID.test(invite.peer))
    throw new InviteError('BAD_INVITE_IDENTITY')
  if (invite.name !== undefined) {
    expectString(invite.name, 'invite.name', fail, { min: 0, max: MAX_INVITE_NAME_CHARS })
  }
  if (invite.bundle !== undefined)
    expectBytes(invite.bundle, 'invite.bundle', fail, { min: 1, max: MAX_BUNDLE_BYTES })
  const relays = expectArray(invite.relays, 'invite.relays', fail, { max: MAX_RELAYS, noun: 'relays' })
  relays.forEach((r, i) =>
    expectString(r, `invite.relays[${i}]`, fail, {
      max: MAX_RELAY_ADDR_LENGTH,
      pattern: /^\//,
      patternMessage: 'expected a multiaddr',
    }),
  )
}
