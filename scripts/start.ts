/**
 * `npm start [-- --relays N]`: builds the web app, starts N local relays (default 1), each its own OS
 * process joined into one DHT, serves the app configured with all of them, and prints the URL to open and
 * each relay's pid and address, so a person can `kill -9` one and watch the app carry on. Ctrl-C stops
 * everything.
 *
 * Environment: PORT (web app, default 8080), PALOMA_RELAY_PORT (first relay, default 9090; the others
 * follow), HOST (default 127.0.0.1). Relay data lives in .data/relay (the first) and .data/relay-<n>.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateKey } from '../relay-node/src/relay.ts'
import { serveStatic } from './static-server.ts'

const root = resolve(import.meta.dirname, '..')
const host = process.env.HOST ?? '127.0.0.1'
const { values } = parseArgs({ options: { relays: { type: 'string', default: '1' } } })
const count = Number(values.relays)
if (!Number.isInteger(count) || count < 1 || count > 20) {
  process.stderr.write(`--relays expects a whole number from 1 to 20, got "${values.relays}"\n`)
  process.exit(2)
}

const build = spawnSync(
  process.execPath,
  [resolve(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'],
  { cwd: root, stdio: 'inherit' },
)
if (build.status !== 0) process.exit(build.status ?? 1)

// Every relay's key is known before any starts, so each is told the addresses of all the others.
const firstPort = Number(process.env.PALOMA_RELAY_PORT ?? 9090)
const plan = await Promise.all(
  Array.from({ length: count }, async (_, i) => {
    const dataDir = resolve(root, i === 0 ? '.data/relay' : `.data/relay-${i + 1}`)
    const peerId = peerIdFromPrivateKey(await loadOrCreateKey(dataDir)).toString()
    const port = firstPort + i
    return { dataDir, port, addr: `/ip4/${host}/tcp/${port}/ws/p2p/${peerId}` }
  }),
)

const children: ChildProcess[] = []
const relays = await Promise.all(
  plan.map(async (p) => {
    const peers = plan.filter((o) => o !== p).flatMap((o) => ['--peer', o.addr])
    const child = spawn(
      process.execPath,
      [
        resolve(root, 'relay-node/src/cli.ts'),
        '--host',
        host,
        '--port',
        String(p.port),
        '--data-dir',
        p.dataDir,
        '--log-level',
        'warn',
        ...peers,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    children.push(child)
    const line = await new Promise<string>((res, rej) => {
      createInterface({ input: child.stdout! }).once('line', res)
      child.once('exit', (code) =>
        rej(new Error(`relay on port ${p.port} exited with ${code} before listening`)),
      )
    })
    const info = JSON.parse(line) as { multiaddrs: string[] }
    return { pid: child.pid!, addr: info.multiaddrs.find((a) => a.includes(`/${host}/`)) ?? p.addr }
  }),
)

const web = await serveStatic(resolve(root, 'dist'), {
  host,
  port: Number(process.env.PORT ?? 8080),
  config: { relays: relays.map((r) => r.addr), iceServers: [], allowPrivateAddresses: true },
})

process.stdout.write(`
Paloma is running.
${relays.map((r, i) => `  Relay ${i + 1} (pid ${r.pid}): ${r.addr}`).join('\n')}
  Web app: ${web.url}

Open ${web.url} in two browser profiles (or a normal and a private window), create an account in
each, then "Share invite" in one and "Add contact" with that link in the other.${
  count > 1 ? `\nStop a relay with \`kill -9 <pid>\`: messages keep flowing through the others.` : ''
}
Press Ctrl-C to stop.
`)

let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    for (const c of children) c.kill('SIGTERM')
    void web.close().finally(() => process.exit(0))
  })
}
