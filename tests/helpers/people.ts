/**
 * People for Node integration tests: each is a full Paloma app (vault, libp2p node, directory, mailbox,
 * outbox) on an in-memory vault, exactly what the browser runs minus IndexedDB and the UI.
 */
import { Paloma, type Platform } from '../../src/app/paloma.ts'
import type { AppSnapshot } from '../../src/app/types.ts'
import { MemoryVaultBackend } from '../../src/storage/vault.ts'

/** A cheap KDF: these tests are about messaging, not passphrase hardening (see the vault tests). */
export const TEST_KDF = { kdf: { alg: 'pbkdf2-sha256', iterations: 1000 }, allowWeakKdf: true } as const

export interface Person {
  app: Paloma
  backend: MemoryVaultBackend
  /** Replaces `app` with a fresh instance on the same storage (a reopened tab). */
  reopen(): Promise<Paloma>
}

export function person(
  relays: string[],
  backend = new MemoryVaultBackend(),
  platform: Platform = {},
): Person {
  const make = () =>
    new Paloma({
      config: { relays, iceServers: [], allowPrivateAddresses: true },
      backend,
      kdf: TEST_KDF,
      platform: { inviteBase: 'http://paloma.test/', ...platform },
    })
  const p: Person = {
    app: make(),
    backend,
    async reopen() {
      await p.app.stop()
      p.app = make()
      await p.app.open()
      return p.app
    },
  }
  return p
}

/** Resolves with the first truthy value of `pick` over the app's snapshots. */
export function until<T>(
  app: Paloma,
  pick: (s: AppSnapshot) => T | undefined | false,
  ms = 30_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let off = () => {}
    const timer = setTimeout(() => {
      off()
      const s = app.snapshot()
      reject(
        new Error(
          `timed out; state=${s.state} messages=${JSON.stringify(s.messages.map((m) => [m.text, m.status]))}`,
        ),
      )
    }, ms)
    off = app.subscribe((s) => {
      const v = pick(s)
      if (v !== undefined && v !== false && v !== null) {
        clearTimeout(timer)
        queueMicrotask(() => off())
        resolve(v)
      }
    })
  })
}
