/**
 * Deploy-time configuration of the web app, read from `config.json` beside the static files.
 */
export interface AppConfig {
  /** Relay multiaddrs, each ending in /p2p/<relay peer id>. */
  relays: string[]
  /** STUN/TURN servers for WebRTC. */
  iceServers: RTCIceServer[]
  /** Dial loopback and private addresses (local development and tests only). */
  allowPrivateAddresses: boolean
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Validates a parsed config.json, naming the first field that is wrong. */
export function parseConfig(raw: unknown): AppConfig {
  if (typeof raw !== 'object' || raw == null) throw new ConfigError('config.json must hold a JSON object')
  const o = raw as Record<string, unknown>
  const relays = o.relays
  if (
    !Array.isArray(relays) ||
    relays.some((r) => typeof r !== 'string' || !/\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/.test(r))
  ) {
    throw new ConfigError('config.json "relays" must be a list of multiaddrs ending in /p2p/<peer id>')
  }
  const iceServers = o.iceServers ?? []
  if (!Array.isArray(iceServers)) throw new ConfigError('config.json "iceServers" must be a list')
  return {
    relays,
    iceServers: iceServers as RTCIceServer[],
    allowPrivateAddresses: o.allowPrivateAddresses === true,
  }
}
