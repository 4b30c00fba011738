/**
 * Composition root of the web app: reads config.json, opens IndexedDB, starts the messenger and mounts
 * the UI. The only file that wires browser APIs to the services.
 */
import { mount } from 'svelte'
import App from './ui/App.svelte'
import { pickStrings } from './ui/i18n.ts'
import { parseConfig } from './app/config.ts'
import { Messenger, type MessengerSnapshot } from './app/messenger.ts'
import { openPalomaDB } from './storage/db.ts'
import { IdbKeyStore } from './storage/key-store.ts'
import { IdbMessageStore } from './storage/message-store.ts'

const { lang, t } = pickStrings(navigator.languages)
document.documentElement.lang = lang

const props = $state({
  t,
  snapshot: undefined as MessengerSnapshot | undefined,
  error: undefined as string | undefined,
  onconnect: async (_address: string) => {},
  onsend: async (_text: string) => {},
})
mount(App, { target: document.getElementById('app')!, props })

async function boot(): Promise<void> {
  const res = await fetch('./config.json', { cache: 'no-store' })
  if (!res.ok) throw new Error(`config.json could not be loaded (HTTP ${res.status})`)
  const config = parseConfig(await res.json())
  const db = await openPalomaDB()
  const messenger = new Messenger({
    config,
    keys: new IdbKeyStore(db),
    messages: new IdbMessageStore(db),
    isNetworkUp: () => navigator.onLine,
  })
  props.onconnect = (address) => messenger.connect(address)
  props.onsend = async (text) => {
    await messenger.send(text)
  }
  await messenger.start()
  messenger.subscribe((s) => (props.snapshot = s))
  addEventListener('online', () => messenger.networkChanged())
  addEventListener('offline', () => messenger.networkChanged())
  // Tests and power users reach the service from the console.
  ;(globalThis as { paloma?: Messenger }).paloma = messenger
}

boot().catch((err: unknown) => {
  props.error = (err as Error).message
  console.error(err)
})
