/**
 * The secure WebSocket certificate: read from PEM files (`--tls-cert`, `--tls-key`), checked (the key
 * must match the certificate), and reloaded when either file changes (polled every 2 s, so certbot-style
 * replacement by rename or symlink is seen too) or on demand (SIGHUP). A reload is handed to the
 * WebSockets listener as libp2p's `certificate:renew` event: the listener serves new TLS handshakes with
 * the new certificate and keeps its port and its open connections. A pair that does not load (a file half
 * written, a key that does not match) is refused and the previous certificate stays in use.
 *
 * Knows node:tls and the libp2p event bus; nothing else of the relay.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import type { ComponentLogger, Logger, Startable, TLSCertificate } from '@libp2p/interface'

export interface TlsFiles {
  cert: string
  key: string
}

export interface LoadedCertificate {
  cert: string
  key: string
  /** When the (leaf) certificate expires. */
  notAfter: Date
  /** SHA-256 fingerprint of the leaf, `AA:BB:…`. */
  fingerprint256: string
}

/** A certificate pair that cannot be used; `message` says which file and why. */
export class TlsCertificateError extends Error {
  override name = 'TlsCertificateError'
}

/** Reads and checks the pair. @throws TlsCertificateError */
export function loadCertificate(files: TlsFiles): LoadedCertificate {
  let cert: string
  let key: string
  try {
    cert = readFileSync(files.cert, 'utf8')
  } catch (err) {
    throw new TlsCertificateError(`--tls-cert ${files.cert}: ${(err as Error).message}`)
  }
  try {
    key = readFileSync(files.key, 'utf8')
  } catch (err) {
    throw new TlsCertificateError(`--tls-key ${files.key}: ${(err as Error).message}`)
  }
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(cert)
  } catch (err) {
    throw new TlsCertificateError(
      `--tls-cert ${files.cert} is not a PEM certificate: ${(err as Error).message}`,
    )
  }
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    throw new TlsCertificateError(
      `--tls-key ${files.key} does not fit --tls-cert ${files.cert}: ${(err as Error).message}`,
    )
  }
  return { cert, key, notAfter: new Date(leaf.validTo), fingerprint256: leaf.fingerprint256 }
}

export interface TlsReloaderInit {
  files: TlsFiles
  /** The certificate the listener started with. */
  initial: LoadedCertificate
  /** How often the files are checked for changes, in milliseconds. @default 2000 */
  pollIntervalMs?: number
  /** Told about every reload attempt. */
  onReload?(result: { ok: true; certificate: LoadedCertificate } | { ok: false; error: Error }): void
}

export interface TlsReloaderComponents {
  /** libp2p's internal event bus, where the WebSockets listener listens for `certificate:renew`. */
  events: {
    safeDispatchEvent(type: 'certificate:renew', detail: { detail: TLSCertificate }): boolean
  }
  logger: ComponentLogger
}

export interface TlsReloader extends Startable {
  /** Reloads now (SIGHUP); true when a new certificate was handed to the listener. */
  reload(): boolean
  readonly current: LoadedCertificate
}

class TlsReloaderImpl implements TlsReloader {
  readonly #components: TlsReloaderComponents
  readonly #init: TlsReloaderInit
  readonly #log: Logger
  #current: LoadedCertificate
  #watching = false
  readonly #onChange = (now: Stats, before: Stats): void => {
    if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return
    this.reload()
  }

  constructor(components: TlsReloaderComponents, init: TlsReloaderInit) {
    this.#components = components
    this.#init = init
    this.#current = init.initial
    this.#log = components.logger.forComponent('paloma:tls')
  }

  readonly [Symbol.toStringTag] = '@paloma/tls-reloader'

  get current(): LoadedCertificate {
    return this.#current
  }

  start(): void {
    if (this.#watching) return
    this.#watching = true
    const interval = this.#init.pollIntervalMs ?? 2000
    for (const file of [this.#init.files.cert, this.#init.files.key]) {
      watchFile(file, { interval, persistent: false }, this.#onChange)
    }
  }

  stop(): void {
    if (!this.#watching) return
    this.#watching = false
    for (const file of [this.#init.files.cert, this.#init.files.key]) unwatchFile(file, this.#onChange)
  }

  reload(): boolean {
    let next: LoadedCertificate
    try {
      next = loadCertificate(this.#init.files)
    } catch (err) {
      this.#log.error('TLS certificate not reloaded, still serving the previous one - %e', err)
      this.#init.onReload?.({ ok: false, error: err as Error })
      return false
    }
    if (next.cert === this.#current.cert && next.key === this.#current.key) return false
    this.#current = next
    // The WebSockets listener answers this event with a new TLS context for new handshakes.
    this.#components.events.safeDispatchEvent('certificate:renew', {
      detail: { cert: next.cert, key: next.key },
    })
    this.#log('TLS certificate reloaded: %s, expires %s', next.fingerprint256, next.notAfter.toISOString())
    this.#init.onReload?.({ ok: true, certificate: next })
    return true
  }
}

/** The service for `createLibp2p({ services: { tls: tlsReloader(...) } })`. */
export function tlsReloader(init: TlsReloaderInit): (components: TlsReloaderComponents) => TlsReloader {
  return (components) => new TlsReloaderImpl(components, init)
}
