/**
 * `npm start`: builds the web app, starts a local relay with embedded defaults, serves the app pointed at
 * that relay, and prints the URL to open. Ctrl-C stops everything.
 *
 * Environment: PORT (web app, default 8080), PALOMA_RELAY_PORT (default 9090), HOST (default 127.0.0.1).
 */
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { createRelay } from '../relay-node/src/relay.ts'
import { serveStatic } from './static-server.ts'
import { setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'

setCryptoProvider(nodeCryptoProvider)

const root = resolve(import.meta.dirname, '..')
const host = process.env.HOST ?? '127.0.0.1'

const build = spawnSync(
  process.execPath,
  [resolve(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'],
  {
    cwd: root,
    stdio: 'inherit',
  },
)
if (build.status !== 0) process.exit(build.status ?? 1)

const relay = await createRelay({
  host,
  port: Number(process.env.PALOMA_RELAY_PORT ?? 9090),
  dataDir: resolve(root, '.data/relay'),
})
const relayAddrs = relay.getMultiaddrs().map((a) => a.toString())
const web = await serveStatic(resolve(root, 'dist'), {
  host,
  port: Number(process.env.PORT ?? 8080),
  config: { relays: relayAddrs, iceServers: [], allowPrivateAddresses: true },
})

process.stdout.write(`
Paloma is running.
  Relay:   ${relayAddrs.join('\n           ')}
  Web app: ${web.url}

Open ${web.url} in two browser profiles (or a normal and a private window), create an account in
each, then "Share invite" in one and "Add contact" with that link in the other.
Press Ctrl-C to stop.
`)

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    void Promise.all([web.close(), relay.stop()]).finally(() => process.exit(0))
  })
}
