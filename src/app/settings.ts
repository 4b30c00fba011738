/**
 * The person's settings (read receipts, presence), kept in the vault and read by the components whose
 * behaviour they change.
 */
import { entry, type AppRecords } from './records.ts'
import type { Settings } from './types.ts'
import type { Changes } from './view.ts'

export interface SettingsStore {
  readonly current: Readonly<Settings>
  update(patch: Partial<Settings>): Promise<void>
}

export interface SettingsComponents {
  records: AppRecords
  changes: Changes
}

/** @param initial the settings read at unlock */
export function settingsStore(initial: Settings) {
  return (components: SettingsComponents): SettingsStore => {
    let current: Settings = { ...initial }
    return {
      get current() {
        return current
      },
      async update(patch) {
        const next = { ...current, ...patch }
        await components.records.write([entry.settings(next)])
        current = next
        components.changes.state()
      },
    }
  }
}
