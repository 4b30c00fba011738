/**
 * People for Node integration tests: each is a full Paloma app (vault, libp2p node, directory, mailbox,
 * outbox) on an in-memory vault, exactly what the browser runs minus IndexedDB and the UI.
 */
import { afterEach } from 'vitest'
import { paloma, type Paloma, type PalomaInit, type Platform } from '../../src/app/paloma.ts'
import { startRelay, type RelayProcess } from './relays.ts'
import { setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'

// Node peers run the crypto core on OpenSSL, as Paloma's Node tools do (the browser uses WebCrypto).
setCryptoProvider(nodeCryptoProvider)
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
  init: Partial<PalomaInit> = {},
): Person {
  const make = () =>
    paloma({ config: { relays, iceServers: [], allowPrivateAddresses: true }, kdf: TEST_KDF, ...init })({
      backend,
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

export const PASSPHRASE = 'correct horse battery'

/**
 * What a test sets up (relay processes, people), torn down in reverse order after each test:
 * `const scene = useScene()` at the top of a test file.
 */
export interface Scene {
  relay(args?: string[]): Promise<RelayProcess>
  /** A person on `relays` with a new account, online. */
  online(name: string, relays: string[], platform?: Platform, init?: Partial<PalomaInit>): Promise<Person>
  /** A person on `relays` with no account yet (the app is open on its first screen). */
  blank(relays: string[], platform?: Platform, init?: Partial<PalomaInit>): Promise<Person>
}

export function useScene(): Scene {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
  })
  const scene: Scene = {
    async relay(args = []) {
      const r = await startRelay({ args })
      cleanups.push(() => r.stop())
      return r
    },
    async blank(relays, platform = {}, init = {}) {
      const p = person(relays, undefined, platform, init)
      cleanups.push(() => p.app.stop())
      await p.app.open()
      return p
    },
    async online(name, relays, platform = {}, init = {}) {
      const p = await scene.blank(relays, platform, init)
      await p.app.createAccount(name, PASSPHRASE)
      await until(p.app, (s) => s.state === 'online')
      return p
    },
  }
  return scene
}

/** Alice and Bob on one relay process, online; `invite` is Bob's invite link. */
export async function aliceAndBob(scene: Scene, bobPlatform: Platform = {}) {
  const relay = await scene.relay()
  const [alice, bob] = await Promise.all([
    scene.online('alice', [relay.multiaddr]),
    scene.online('bob', [relay.multiaddr], bobPlatform),
  ])
  const invite = bob.app.snapshot().me!.inviteLink!
  return { relay, alice, bob, invite }
}
