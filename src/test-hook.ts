/**
 * Test builds only (`vite build --mode test`): hands the app service to Playwright tests and benchmarks
 * as `globalThis.paloma`. Production builds never import this module, so no script on the page can
 * reach an unlocked service through a global.
 */
import type { Paloma } from './app/paloma.ts'

export function installTestHook(app: Paloma): void {
  ;(globalThis as { paloma?: Paloma }).paloma = app
}
