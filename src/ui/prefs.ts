/**
 * What the UI shows and changes outside the vault: language and theme (kept by src/main.svelte.ts in
 * localStorage, so the unlock screen has them too) and the service worker's "update available".
 */
import type { Lang } from './i18n.ts'

export type Theme = 'system' | 'light' | 'dark'

export interface UiPrefs {
  readonly lang: Lang
  readonly theme: Theme
  /** A new version is installed and waits for a reload. */
  readonly updateAvailable: boolean
  setLang(lang: Lang): void
  setTheme(theme: Theme): void
  /** Activates the waiting version and reloads (only ever on the person's click). */
  reloadForUpdate(): void
}
