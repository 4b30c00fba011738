/**
 * A Linux network namespace joined to this host by a veth pair: a "device" whose IP address a test can
 * change under a running browser, the way a phone moving from one Wi-Fi to another gets a new address.
 * Loopback cannot do this (every 127/8 connection comes from 127.0.0.1), so this needs root and `ip`
 * (iproute2); `netnsUnavailable()` says why not when it cannot run.
 *
 * The host end is `<hostIp>/24`; the device starts at `.2` and `move()` gives it `.3`, `.4`... The old
 * address is deleted first, as a real network change does: packets still in flight to it are dropped and
 * its connections go silent (no reset), so only heartbeats tell that they are dead.
 */
import { execFile } from 'node:child_process'
import { writeFile, chmod, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface NetNs {
  name: string
  /** The host's address on the link (the device reaches relays and the web server there). */
  hostIp: string
  /** The device's current address. */
  ip: string
  /** An executable that runs Chromium inside the namespace (for `launch({ executablePath })`). */
  chromium(executable: string): Promise<string>
  /**
   * Gives the device a new address on the same link; returns it. The old one is deleted first, and the
   * new one comes `gapMs` later: a device between two networks (the browser sees no address for a while,
   * says `offline`, then `online`). With no gap the browser may not notice: nothing but heartbeats tell.
   */
  move(gapMs?: number): Promise<string>
  /** TCP connections established from the device: `{ local, peer }` as `ip:port`. */
  tcp(): Promise<Array<{ local: string; peer: string }>>
  close(): Promise<void>
}

/**
 * Why a namespace joined by a veth pair cannot be made here (not root, no iproute2, no CAP_NET_ADMIN in a
 * container), or undefined when it can: it makes one, and deletes it.
 */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  const name = `paloma-probe-${process.pid}`
  try {
    await run('ip', ['netns', 'add', name])
    await run('ip', [
      'link',
      'add',
      `palp${process.pid % 10000}`,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      name,
    ])
    await run('ss', ['-V'])
  } catch (err) {
    return `no network namespace with a veth pair here: ${(err as Error).message.split('\n')[0]}`
  } finally {
    await run('ip', ['netns', 'del', name]).catch(() => undefined)
  }
  return undefined
}

export async function createNetNs(): Promise<NetNs> {
  const n = 1 + (process.pid % 200)
  const name = `paloma-${process.pid}`
  const host = `palh${n}`
  const dev = `palb${n}`
  const subnet = `10.77.${n}`
  const hostIp = `${subnet}.1`
  let host4 = 2
  const ip = () => `${subnet}.${host4}`
  const ns = (cmd: string, args: string[]) => run('ip', ['netns', 'exec', name, cmd, ...args])
  await run('ip', ['netns', 'del', name]).catch(() => undefined)
  await run('ip', ['link', 'del', host]).catch(() => undefined)
  await run('ip', ['netns', 'add', name])
  await run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', dev])
  await run('ip', ['link', 'set', dev, 'netns', name])
  await run('ip', ['addr', 'add', `${hostIp}/24`, 'dev', host])
  await run('ip', ['link', 'set', host, 'up'])
  await ns('ip', ['link', 'set', 'lo', 'up'])
  await ns('ip', ['addr', 'add', `${subnet}.${host4}/24`, 'dev', dev])
  await ns('ip', ['link', 'set', dev, 'up'])
  const dir = await mkdtemp(join(tmpdir(), 'paloma-netns-'))
  return {
    name,
    hostIp,
    get ip() {
      return ip()
    },
    async chromium(executable) {
      const path = join(dir, 'chromium')
      await writeFile(path, `#!/bin/sh\nexec ip netns exec ${name} ${executable} "$@"\n`)
      await chmod(path, 0o755)
      return path
    },
    async move(gapMs = 0) {
      const old = ip()
      host4++
      await ns('ip', ['addr', 'del', `${old}/24`, 'dev', dev])
      if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs))
      await ns('ip', ['addr', 'add', `${ip()}/24`, 'dev', dev])
      return ip()
    },
    async tcp() {
      const { stdout } = await ns('ss', ['-Htn', 'state', 'established'])
      return stdout
        .trim()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          const cols = l.trim().split(/\s+/)
          return { local: cols.at(-2)!, peer: cols.at(-1)! }
        })
    },
    async close() {
      await run('ip', ['netns', 'del', name]).catch(() => undefined)
      await run('ip', ['link', 'del', host]).catch(() => undefined)
    },
  }
}
