/**
 * Composition root of the web app: reads config.json, opens IndexedDB, claims the single-tab lock,
 * creates the app service and mounts the UI. The only file that wires browser APIs to the services.
 */
import { mount } from 'svelte'
import App from './ui/App.svelte'
import './ui/app.css'
import { pickStrings } from './ui/i18n.ts'
import { ConfigError, parseConfig } from './app/config.ts'
import { userError } from './app/codes.ts'
import { paloma, type Paloma } from './app/paloma.ts'
import type { AppActions, AppSnapshot } from './app/types.ts'
import { openPalomaDB } from './storage/db.ts'
import { IdbVaultBackend } from './storage/vault.ts'

const { lang, t } = pickStrings(navigator.languages)
document.documentElement.lang = lang

// Snapshots are immutable values: held raw, not deeply proxied.
let snapshot = $state.raw<AppSnapshot>({
  phase: 'starting',
  state: 'connecting',
  contacts: [],
  messages: [],
  settings: { readReceipts: true, presence: true },
})

let app: Paloma | undefined
const requireApp = (): Paloma => {
  if (app === undefined) throw new Error(t.starting)
  return app
}
// The UI gets actions that forward to the app once it exists.
const actions: AppActions = {
  createAccount: (n, p) => requireApp().createAccount(n, p).then(askNotificationPermission),
  unlock: (p) => requireApp().unlock(p),
  importBackup: (f, b, n) => requireApp().importBackup(f, b, n),
  lock: () => requireApp().lock(),
  addContact: (x) => requireApp().addContact(x),
  chooseClaimant: (c) => requireApp().chooseClaimant(c),
  openChat: (p) => requireApp().openChat(p),
  send: (x) => requireApp().send(x).then(askNotificationPermission),
  setTyping: (on) => app?.setTyping(on),
  updateSettings: (s) => requireApp().updateSettings(s),
  exportBackup: (p, h) => requireApp().exportBackup(p, h),
  changePassphrase: (o, n) => requireApp().changePassphrase(o, n),
  deleteAccount: () => requireApp().deleteAccount(),
  acceptKeyChange: (p) => requireApp().acceptKeyChange(p),
  createGroup: (n, m) => requireApp().createGroup(n, m),
  addMembers: (g, m) => requireApp().addMembers(g, m),
  removeMember: (g, p) => requireApp().removeMember(g, p),
  leaveGroup: (g) => requireApp().leaveGroup(g),
  acceptGroupInvitation: (g) => requireApp().acceptGroupInvitation(g),
  declineGroupInvitation: (g) => requireApp().declineGroupInvitation(g),
}

mount(App, {
  target: document.getElementById('app')!,
  props: {
    t,
    actions,
    get snapshot() {
      return snapshot
    },
  },
})

/** Asked after the person did something (created an account, sent a message), never on page load. */
function askNotificationPermission(): void {
  if ('Notification' in globalThis && Notification.permission === 'default') {
    void Notification.requestPermission().catch(() => {})
  }
}

function notify(title: string, body: string): void {
  if (document.visibilityState === 'visible') return
  if (!('Notification' in globalThis) || Notification.permission !== 'granted') return
  new Notification(`${t.newMessageFrom} ${title}`, { body, tag: title })
}

async function boot(): Promise<void> {
  // The offline shell: the installed app opens (and unlocks, and shows history) without a network.
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker
      .register('./sw.js')
      .catch((err: unknown) => console.warn('No offline support:', err))
  }
  const res = await fetch('./config.json', { cache: 'no-store' }).catch((err: unknown) => {
    throw new ConfigError('CONFIG_UNAVAILABLE', 'config.json could not be fetched', { cause: err })
  })
  if (!res.ok)
    throw new ConfigError('CONFIG_UNAVAILABLE', `config.json could not be loaded (HTTP ${res.status})`)
  const config = parseConfig(await res.json())
  const db = await openPalomaDB()
  const persisted = navigator.storage?.persist
    ? await navigator.storage.persist().catch(() => false)
    : undefined
  app = paloma({ config })({
    backend: new IdbVaultBackend(db),
    platform: {
      isNetworkUp: () => navigator.onLine,
      isVisible: () => document.visibilityState === 'visible',
      notify,
      inviteBase: location.origin + location.pathname,
      persisted,
    },
  })
  app.subscribe((s) => (snapshot = s))
  // Tests and benchmarks drive the service directly through this hook, which only test builds
  // (`vite build --mode test`) contain: in a production build the branch is gone, so no script on the
  // page can reach the unlocked service through a global.
  if (import.meta.env.MODE === 'test') (globalThis as { paloma?: Paloma }).paloma = app

  // Only one tab per profile runs the node: the vault and the libp2p identity are single-writer.
  const gotLock = await new Promise<boolean>((resolve) => {
    if (navigator.locks === undefined) return resolve(true)
    void navigator.locks.request('paloma-node', { ifAvailable: true }, (lock) => {
      resolve(lock !== null)
      // Hold the lock for the life of the tab.
      return lock === null ? undefined : new Promise<void>(() => {})
    })
  })
  if (!gotLock) return app.fail('other-tab')

  addEventListener('online', () => app?.networkChanged())
  addEventListener('offline', () => app?.networkChanged())
  document.addEventListener('visibilitychange', () => app?.visibilityChanged())
  addEventListener('pagehide', () => void app?.stop())
  await app.open()
}

boot().catch((err: unknown) => {
  console.error(err)
  if (app !== undefined) app.fail('failed', err)
  else {
    const error = userError(err)
    snapshot = { ...snapshot, phase: 'failed', ...(error === undefined ? {} : { error }) }
  }
})
