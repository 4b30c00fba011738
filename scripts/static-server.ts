/**
 * A small static file server for the built app (dist/). `config` replaces dist/config.json, so one build
 * can be pointed at any relay (used by `npm start` and the end-to-end tests). With `https` (PEM certificate
 * and key) it serves over TLS, as a real static host would.
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
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
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
