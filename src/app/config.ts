/**
 * Deploy-time configuration of the web app, read from `config.json` beside the static files.
 */
import { PalomaError } from '@paloma/core/errors.ts'
import { isRelayAddress } from '@paloma/net/addresses.ts'

export interface AppConfig {
  /** Relay multiaddrs, each ending in /p2p/<relay peer id>. */
  relays: string[]
  /** STUN/TURN servers for WebRTC. */
  iceServers: RTCIceServer[]
  /** Dial loopback and private addresses (local development and tests only). */
  allowPrivateAddresses: boolean
}

export const CONFIG_ERROR_CODES = [
  /** config.json does not hold a JSON object. */
  'INVALID_CONFIG',
  /** `relays` is not a non-empty list of multiaddrs ending in /p2p/<peer id>. */
  'INVALID_RELAYS',
  /** `iceServers` is not a list. */
  'INVALID_ICE_SERVERS',
  /** config.json could not be fetched. */
  'CONFIG_UNAVAILABLE',
] as const
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number]

/** config.json is unusable; `code` names the field, the message says what is expected (for operators). */
export class ConfigError extends PalomaError<ConfigErrorCode> {
  override name = 'ConfigError'
}

/** Validates a parsed config.json, naming the first field that is wrong. @throws ConfigError */
export function parseConfig(raw: unknown): AppConfig {
  if (typeof raw !== 'object' || raw == null) {
    throw new ConfigError('INVALID_CONFIG', 'config.json must hold a JSON object')
  }
  const o = raw as Record<string, unknown>
  const relays = o.relays
  if (
    !Array.isArray(relays) ||
    relays.length === 0 ||
    relays.some((r) => typeof r !== 'string' || !isRelayAddress(r))
  ) {
    throw new ConfigError(
      'INVALID_RELAYS',
      'config.json "relays" must list at least one relay multiaddr ending in /p2p/<peer id>',
    )
  }
  const iceServers = o.iceServers ?? []
  if (!Array.isArray(iceServers)) {
    throw new ConfigError('INVALID_ICE_SERVERS', 'config.json "iceServers" must be a list')
  }
  return {
    relays,
    iceServers: iceServers as RTCIceServer[],
    allowPrivateAddresses: o.allowPrivateAddresses === true,
  }
}
