/**
 * People for app-level unit tests: full Paloma apps (every component, the real crypto core and vault)
 * on in-memory storage, over a {@link TwinWorld} instead of libp2p. A person's tab can be closed and
 * reopened on the same storage.
 */
import { paloma, type Paloma, type PalomaInit, type Platform } from '../../src/app/paloma.ts'
import type { AppSnapshot } from '../../src/app/types.ts'
import { MemoryVaultBackend } from '../../src/storage/vault.ts'
import type { TwinWorld } from './twins.ts'
import { PASSPHRASE, TEST_KDF } from './people.ts'

export { PASSPHRASE } from './people.ts'

export interface TwinPerson {
  app: Paloma
  backend: MemoryVaultBackend
  readonly peerId: string
  /** Closes the tab (the network stops) and opens a new one on the same storage, unlocked. */
  reopen(): Promise<Paloma>
}

export async function twinPerson(
  world: TwinWorld,
  name: string,
  options: {
    relays?: string[]
    platform?: Platform
    init?: Partial<PalomaInit>
    backend?: MemoryVaultBackend
    /** Start from a backup file (a new device) instead of a new account. */
    restore?: { file: Uint8Array; passphrase: string }
  } = {},
): Promise<TwinPerson> {
  const relays = options.relays ?? world.relays.map((r) => r.addr)
  const backend = options.backend ?? new MemoryVaultBackend()
  const make = () =>
    paloma({
      config: { relays, iceServers: [], allowPrivateAddresses: true },
      kdf: TEST_KDF,
      ...options.init,
    })({
      backend,
      createNetwork: world.factory(relays),
      platform: { inviteBase: 'http://paloma.test/', ...options.platform },
      now: world.now,
    })
  let peerId = ''
  const p: TwinPerson = {
    app: make(),
    backend,
    get peerId() {
      return peerId
    },
    async reopen() {
      await p.app.stop()
      p.app = make()
      await p.app.open()
      await p.app.unlock(PASSPHRASE)
      return p.app
    },
  }
  await p.app.open()
  if (options.restore !== undefined)
    await p.app.importBackup(options.restore.file, options.restore.passphrase, PASSPHRASE)
  else if ((await backend.keys()).length === 0) await p.app.createAccount(name, PASSPHRASE)
  else await p.app.unlock(PASSPHRASE)
  peerId = p.app.peerId!
  // Reachable from the start, as a person is once the app says Online: the profile is in the directory.
  await world.published(p.peerId)
  return p
}

/** Resolves with the first truthy `pick` of `app`'s snapshots (the current one included). */
export function next<T>(app: Paloma, pick: (s: AppSnapshot) => T | undefined | false | null): Promise<T> {
  return new Promise((resolve) => {
    let done = false
    let off = () => {}
    off = app.subscribe((s) => {
      const v = pick(s)
      if (done || v === undefined || v === false || v === null) return
      done = true
      queueMicrotask(() => off())
      resolve(v)
    })
  })
}
