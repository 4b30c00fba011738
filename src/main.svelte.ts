/// <reference types="vite-plugin-pwa/client" />
/**
 * Composition root of the web app: mounts the UI at once, then reads config.json, opens IndexedDB,
 * claims the single-tab lock, loads the app service and hands it to the UI. The only file that wires
 * browser APIs (storage, notifications, the service worker, the URL) to the services.
 *
 * The create/unlock screen is interactive before the app service and libp2p arrive: they are a separate
 * chunk (`import('./app/paloma.ts')`), fetched while the person types their passphrase; an action taken
 * before it is there waits for it. Language and theme are UI preferences kept in localStorage (they must
 * work on the unlock screen, before any vault is open); everything secret stays in the vault.
 */
import { mount } from 'svelte'
import { registerSW } from 'virtual:pwa-register'
import App from './ui/App.svelte'
import './ui/app.css'
import { LANGS, notificationOf, pickLang, stringsFor, type Lang } from './ui/i18n.ts'
import type { Theme, UiPrefs } from './ui/prefs.ts'
import { DEFAULT_SETTINGS, type AppActions, type AppSnapshot } from './app/types.ts'
import type { Paloma } from './app/paloma.ts'
import { openPalomaDB } from './storage/db.ts'
import { IdbVaultBackend, Vault } from './storage/vault.ts'

const LANG_KEY = 'paloma.lang'
const THEME_KEY = 'paloma.theme'
const stored = (key: string): string | null => {
  try {
    return localStorage.getItem(key)
  } catch {
    return null
  }
}
const remember = (key: string, value: string): void => {
  try {
    localStorage.setItem(key, value)
  } catch {
    // private mode without storage: the choice lasts this visit
  }
}

const storedLang = stored(LANG_KEY)
const prefs = $state({
  lang: (LANGS as readonly string[]).includes(storedLang ?? '')
    ? (storedLang as Lang)
    : pickLang(navigator.languages),
  theme: (['light', 'dark'].includes(stored(THEME_KEY) ?? '') ? stored(THEME_KEY) : 'system') as Theme,
  updateAvailable: false,
})
const t = $derived(stringsFor(prefs.lang))
$effect.root(() => {
  $effect(() => {
    document.documentElement.lang = prefs.lang
    document.title = t.title
  })
  $effect(() => {
    if (prefs.theme === 'system') delete document.documentElement.dataset.theme
    else document.documentElement.dataset.theme = prefs.theme
  })
})

// Snapshots are immutable values: held raw, not deeply proxied.
let snapshot = $state.raw<AppSnapshot>({
  phase: 'starting',
  state: 'connecting',
  contacts: [],
  messages: [],
  settings: DEFAULT_SETTINGS,
  requests: [],
  blocked: [],
})

let app: Paloma | undefined
let appReady: (app: Paloma) => void = () => {}
const ready = new Promise<Paloma>((resolve) => (appReady = resolve))
/** The app service, once its chunk arrived. */
const withApp = async <T>(f: (app: Paloma) => T | Promise<T>): Promise<T> => f(app ?? (await ready))

// The UI gets actions that forward to the app once it exists.
const actions: AppActions = {
  createAccount: (n, p) => withApp((a) => a.createAccount(n, p)).then(askNotificationPermission),
  unlock: (p) => withApp((a) => a.unlock(p)),
  importBackup: (f, b, n) => withApp((a) => a.importBackup(f, b, n)),
  lock: () => withApp((a) => a.lock()),
  addContact: (x) => withApp((a) => a.addContact(x)),
  chooseClaimant: (c) => withApp((a) => a.chooseClaimant(c)),
  openChat: (p) => withApp((a) => a.openChat(p)),
  closeChat: () => app?.closeChat(),
  send: (x) => withApp((a) => a.send(x)).then(askNotificationPermission),
  setTyping: (on) => app?.setTyping(on),
  updateSettings: (s) => withApp((a) => a.updateSettings(s)),
  exportBackup: (p, h) => withApp((a) => a.exportBackup(p, h)),
  changePassphrase: (o, n) => withApp((a) => a.changePassphrase(o, n)),
  deleteAccount: () => withApp((a) => a.deleteAccount()),
  acceptKeyChange: (p) => withApp((a) => a.acceptKeyChange(p)),
  acceptRequest: (p) => withApp((a) => a.acceptRequest(p)),
  blockRequest: (p) => withApp((a) => a.blockRequest(p)),
  deleteRequest: (p) => withApp((a) => a.deleteRequest(p)),
  unblock: (p) => withApp((a) => a.unblock(p)),
  markVerified: (p, v) => withApp((a) => a.markVerified(p, v)),
  acceptInvite: () => withApp((a) => a.acceptInvite()),
  dismissInvite: () => app?.dismissInvite(),
  retrySending: () => app?.retrySending(),
  connectionDetails: () => app?.connectionDetails(),
  createGroup: (n, m) => withApp((a) => a.createGroup(n, m)),
  addMembers: (g, m) => withApp((a) => a.addMembers(g, m)),
  removeMember: (g, p) => withApp((a) => a.removeMember(g, p)),
  leaveGroup: (g) => withApp((a) => a.leaveGroup(g)),
  acceptGroupInvitation: (g) => withApp((a) => a.acceptGroupInvitation(g)),
  declineGroupInvitation: (g) => withApp((a) => a.declineGroupInvitation(g)),
}

/** Activates the waiting service worker, then reloads once it controls the page. */
async function activateUpdate(): Promise<void> {
  const waiting = (await navigator.serviceWorker.getRegistration())?.waiting
  if (waiting == null) return location.reload()
  navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true })
  waiting.postMessage({ type: 'SKIP_WAITING' }) // Workbox's worker skips waiting on this message
}
const ui: UiPrefs = {
  get lang() {
    return prefs.lang
  },
  get theme() {
    return prefs.theme
  },
  get updateAvailable() {
    return prefs.updateAvailable
  },
  setLang(lang) {
    prefs.lang = lang
    remember(LANG_KEY, lang)
  },
  setTheme(theme) {
    prefs.theme = theme
    remember(THEME_KEY, theme)
  },
  // Only ever on the person's click: nothing reloads the page while they type.
  reloadForUpdate() {
    void activateUpdate()
  },
}

mount(App, {
  target: document.getElementById('app')!,
  props: {
    get t() {
      return t
    },
    actions,
    ui,
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

function notify(sender: string, text: string, kind?: 'message' | 'request'): void {
  if (document.visibilityState === 'visible') return
  if (!('Notification' in globalThis) || Notification.permission !== 'granted') return
  const n = notificationOf(t, snapshot.settings, sender, text, kind)
  if (n !== undefined)
    new Notification(n.title, { body: n.body, tag: kind === 'request' ? `request:${sender}` : sender })
}

/** Locks after the chosen idle time (Settings), counting keys, pointer and focus as activity. */
function watchIdle(): void {
  let last = Date.now()
  const touch = () => (last = Date.now())
  for (const e of ['pointerdown', 'keydown', 'wheel', 'touchstart', 'focusin'])
    addEventListener(e, touch, { passive: true, capture: true })
  setInterval(() => {
    const minutes = snapshot.settings.autoLockMinutes
    if (snapshot.phase === 'ready' && minutes > 0 && Date.now() - last >= minutes * 60_000) {
      touch()
      void app?.lock()
    }
  }, 5_000)
}

/** An invite link in the address (`#invite=…`) is shown once the app is unlocked, then cleared from it. */
function takeInvite(): void {
  if (!location.hash.includes('invite=')) return
  app?.openInvite(location.href)
  history.replaceState(null, '', location.pathname + location.search)
}

async function boot(): Promise<void> {
  // The offline shell (vite-plugin-pwa, Workbox): a new version waits until the person reloads.
  if ('serviceWorker' in navigator) {
    registerSW({
      onNeedRefresh: () => (prefs.updateAvailable = true),
      onRegisterError: (err: unknown) => console.warn('No offline support:', err),
    })
  }
  const loading = Promise.all([import('./app/paloma.ts'), import('./app/config.ts')])
  const [db, res] = await Promise.all([
    openPalomaDB(),
    fetch('./config.json', { cache: 'no-store' }).catch((err: unknown) => err),
  ])
  const backend = new IdbVaultBackend(db)
  // Only one tab per profile runs the node: the vault and the libp2p identity are single-writer.
  const gotLock = await new Promise<boolean>((resolve) => {
    if (navigator.locks === undefined) return resolve(true)
    void navigator.locks.request('paloma-node', { ifAvailable: true }, (lock) => {
      resolve(lock !== null)
      // Hold the lock for the life of the tab.
      return lock === null ? undefined : new Promise<void>(() => {})
    })
  })
  if (!gotLock) snapshot = { ...snapshot, phase: 'other-tab' }
  // The first screen, before the app service is loaded.
  else snapshot = { ...snapshot, phase: (await Vault.exists(backend)) ? 'unlock' : 'create' }

  const [{ paloma }, { ConfigError, parseConfig }] = await loading
  if (!(res instanceof Response))
    throw new ConfigError('CONFIG_UNAVAILABLE', 'config.json could not be fetched', { cause: res })
  if (!res.ok)
    throw new ConfigError('CONFIG_UNAVAILABLE', `config.json could not be loaded (HTTP ${res.status})`)
  const config = parseConfig(await res.json())
  const persisted = navigator.storage?.persist
    ? await navigator.storage.persist().catch(() => false)
    : undefined
  app = paloma({ config })({
    backend,
    platform: {
      isNetworkUp: () => navigator.onLine,
      isVisible: () => document.visibilityState === 'visible',
      notify,
      inviteBase: location.origin + location.pathname,
      persisted,
    },
  })
  // Tests and benchmarks drive the service directly through this hook, which only test builds
  // (`vite build --mode test`) contain: in a production build the branch is gone, so no script on the
  // page can reach the unlocked service through a global.
  if (import.meta.env.MODE === 'test') (globalThis as { paloma?: Paloma }).paloma = app
  if (!gotLock) {
    app.fail('other-tab')
    app.subscribe((s) => (snapshot = s))
    return
  }
  await app.open()
  takeInvite()
  app.subscribe((s) => (snapshot = s))
  appReady(app)

  addEventListener('online', () => app?.networkChanged())
  addEventListener('offline', () => app?.networkChanged())
  addEventListener('hashchange', takeInvite)
  document.addEventListener('visibilitychange', () => app?.visibilityChanged())
  addEventListener('pagehide', () => void app?.stop())
  watchIdle()
}

boot().catch(async (err: unknown) => {
  console.error(err)
  if (app !== undefined) return app.fail('failed', err)
  const { userError } = await import('./app/codes.ts')
  const error = userError(err)
  snapshot = { ...snapshot, phase: 'failed', ...(error === undefined ? {} : { error }) }
})
