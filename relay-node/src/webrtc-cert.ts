/**
 * The WebRTC-Direct certificate, kept in the data directory so that the relay's `/webrtc-direct/certhash/…`
 * address (the one written into the app's config.json) survives restarts.
 *
 * `@libp2p/webrtc` would otherwise make a new certificate on every start (or persist one only through a
 * keychain and a persistent datastore, and renew it every 14 days, changing the address each time). It
 * also accepts a certificate given whole (`webRTCDirect({ certificate })`) and then never renews it: this
 * module makes that certificate once (ECDSA P-256, self-signed, valid for 10 years; browsers check only
 * its hash, which the multiaddr carries) and loads it afterwards. Deleting the two files makes a new
 * certificate, and so a new address, at the next start.
 */
import 'reflect-metadata'
import { createHash, webcrypto } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BasicConstraintsExtension, X509CertificateGenerator } from '@peculiar/x509'

export const WEBRTC_DIRECT_KEY_FILE = 'webrtc-direct-key.pem'
export const WEBRTC_DIRECT_CERT_FILE = 'webrtc-direct-cert.pem'

const LIFETIME_MS = 10 * 365 * 24 * 60 * 60 * 1000

/** The shape `webRTCDirect({ certificate })` takes. */
export interface WebRTCDirectCertificate {
  /** PKCS#8 PEM. */
  privateKey: string
  /** Certificate PEM. */
  pem: string
  /** Multibase (base64url) sha2-256 multihash of the certificate's DER, as in `/certhash/…`. */
  certhash: string
}

function pemBody(pem: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`).exec(pem)
  if (m === null) throw new Error(`no ${label} block`)
  return Buffer.from((m[1] as string).replace(/\s+/g, ''), 'base64')
}

function toPem(der: ArrayBuffer, label: string): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? []
  return [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`, ''].join('\n')
}

/** `/certhash/<this>` of a certificate: multibase `u` + base64url(sha2-256 multihash of the DER). */
export function certhashOf(certPem: string): string {
  const digest = createHash('sha256').update(pemBody(certPem, 'CERTIFICATE')).digest()
  return `u${Buffer.concat([Buffer.from([0x12, 0x20]), digest]).toString('base64url')}`
}

async function create(): Promise<{ privateKey: string; pem: string }> {
  const crypto = webcrypto as unknown as Crypto
  const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const notBefore = new Date(Date.now() - 60_000)
  const notAfter = new Date(Date.now() + LIFETIME_MS)
  notBefore.setMilliseconds(0)
  notAfter.setMilliseconds(0)
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(crypto.getRandomValues(new Uint8Array(8)))
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: 'CN=paloma-relay webrtc-direct',
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new BasicConstraintsExtension(false, undefined, true)],
    },
    crypto,
  )
  return {
    privateKey: toPem(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'),
    pem: cert.toString('pem') + '\n',
  }
}

/**
 * Loads the certificate from `dir`, creating and saving one on first start.
 *
 * @throws when only one of the two files exists or a file is not PEM (never replaces them silently: the
 *   address in every config.json depends on them).
 */
export async function loadOrCreateWebRTCDirectCertificate(
  dir: string,
): Promise<WebRTCDirectCertificate & { created: boolean }> {
  const keyFile = join(dir, WEBRTC_DIRECT_KEY_FILE)
  const certFile = join(dir, WEBRTC_DIRECT_CERT_FILE)
  const [privateKey, pem] = await Promise.all(
    [keyFile, certFile].map((f) =>
      readFile(f, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined
        throw err
      }),
    ),
  )
  if (privateKey !== undefined && pem !== undefined) {
    pemBody(privateKey, 'PRIVATE KEY')
    return { privateKey, pem, certhash: certhashOf(pem), created: false }
  }
  if (privateKey !== undefined || pem !== undefined) {
    throw new Error(
      `${privateKey === undefined ? keyFile : certFile} is missing but its pair exists: restore it from a backup, or delete both to make a new WebRTC-Direct address`,
    )
  }
  const made = await create()
  await writeFile(`${keyFile}.tmp`, made.privateKey, { mode: 0o600 })
  await writeFile(`${certFile}.tmp`, made.pem, { mode: 0o644 })
  await rename(`${keyFile}.tmp`, keyFile)
  await rename(`${certFile}.tmp`, certFile)
  return { ...made, certhash: certhashOf(made.pem), created: true }
}
