/**
 * A small static file server for the built app (dist/). `config` replaces dist/config.json, so one build
 * can be pointed at any relay (used by `npm start` and the end-to-end tests). With `https` (PEM certificate
 * and key) it serves over TLS, as a real static host would.
 *
 * Every response carries the Content Security Policy ({@link contentSecurityPolicy}: scripts and styles
 * from the site only, no inline code or eval, connections to the site and the configured relays only,
 * never framed) and `Referrer-Policy: no-referrer`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, resolve } from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webmanifest': 'application/manifest+json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
}

/**
 * The ws:// and wss:// origins of relay multiaddrs (`/ip4|ip6|dns…/<host>/tcp/<port>/ws`, `…/wss` or
 * `…/tls/…/ws`). WebRTC-Direct and WebRTC are not fetches: CSP does not govern them.
 */
export function relayOrigins(relays: readonly string[]): string[] {
  const origins = new Set<string>()
  for (const relay of relays) {
    const parts = relay.split('/')
    const at = parts.findIndex((p) => ['ip4', 'ip6', 'dns', 'dns4', 'dns6', 'dnsaddr'].includes(p))
    if (at < 0 || parts[at + 2] !== 'tcp') continue
    const host = parts[at] === 'ip6' ? `[${parts[at + 1]}]` : parts[at + 1]
    const rest = parts.slice(at + 4)
    const ws = rest.indexOf('ws')
    const secure = rest.includes('wss') || (ws >= 0 && rest.slice(0, ws).includes('tls'))
    if (ws < 0 && !secure) continue
    origins.add(`${secure ? 'wss' : 'ws'}://${host}:${parts[at + 3]}`)
  }
  return [...origins]
}

/**
 * Paloma's Content Security Policy. `relays`: connect-src allows only them (and the site itself, for
 * config.json); `meta`: the form for a `<meta http-equiv>` tag, which cannot know the relays (any ws:/wss:)
 * and cannot carry frame-ancestors.
 */
export function contentSecurityPolicy(opts: { relays?: readonly string[]; meta?: boolean } = {}): string {
  const connect = opts.meta === true ? ['ws:', 'wss:'] : relayOrigins(opts.relays ?? [])
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    `connect-src 'self' ${connect.join(' ')}`.trim(),
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    ...(opts.meta === true ? [] : ["frame-ancestors 'none'"]),
  ].join('; ')
}

export interface StaticServer {
  url: string
  server: Server
  close(): Promise<void>
}

export async function serveStatic(
  dir: string,
  opts: { port?: number; host?: string; config?: unknown; https?: { cert: string; key: string } } = {},
): Promise<StaticServer> {
  const root = resolve(dir)
  await stat(join(root, 'index.html')).catch(() => {
    throw new Error(`${join(root, 'index.html')} is missing: run "npm run build" first`)
  })
  // The relays of the config served (the one given, else the site's own config.json).
  const served =
    opts.config ??
    (await readFile(join(root, 'config.json'), 'utf8')
      .then((text) => JSON.parse(text) as unknown)
      .catch(() => undefined))
  const relays = (served as { relays?: unknown } | undefined)?.relays
  const security = {
    'content-security-policy': contentSecurityPolicy({
      relays: Array.isArray(relays) ? relays.filter((r) => typeof r === 'string') : [],
    }),
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  }
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    for (const [k, v] of Object.entries(security)) res.setHeader(k, v)
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
      if (path === '/config.json' && opts.config !== undefined) {
        res.writeHead(200, { 'content-type': TYPES['.json']!, 'cache-control': 'no-store' })
        res.end(JSON.stringify(opts.config))
        return
      }
      let file = normalize(join(root, path))
      if (!file.startsWith(root)) {
        res.writeHead(403).end()
        return
      }
      if (path.endsWith('/')) file = join(file, 'index.html')
      try {
        const body = await readFile(file)
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
        res.end(body)
      } catch {
        // Unknown paths get the app (client-side routes, invite links).
        const body = await readFile(join(root, 'index.html'))
        res.writeHead(extname(path) === '' ? 200 : 404, { 'content-type': TYPES['.html']! })
        res.end(body)
      }
    })()
  }
  const server: Server =
    opts.https === undefined ? createServer(handler) : createHttpsServer({ ...opts.https }, handler)
  const host = opts.host ?? '127.0.0.1'
  await new Promise<void>((res, rej) => {
    server.once('error', rej)
    server.listen(opts.port ?? 0, host, () => res())
  })
  const address = server.address()
  const port = typeof address === 'object' && address != null ? address.port : 0
  return {
    url: `${opts.https === undefined ? 'http' : 'https'}://${host === '0.0.0.0' ? 'localhost' : host}:${port}/`,
    server,
    close: () => new Promise((res) => server.close(() => res())),
  }
}
