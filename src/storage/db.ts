/**
 * The browser's IndexedDB schema. One version per schema change; migrations live only in `upgrade`.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb'

/**
 * Everything Paloma keeps lives in the encrypted vault: keys, contacts, sessions, history, outbox. The
 * database holds only sealed blobs under opaque keys (format: packages/core/vault, src/storage/vault.ts).
 */
export interface PalomaSchema extends DBSchema {
  vault: { key: string; value: Uint8Array }
}

export type PalomaDB = IDBPDatabase<PalomaSchema>

export const DB_VERSION = 1

export function openPalomaDB(name = 'paloma'): Promise<PalomaDB> {
  return openDB<PalomaSchema>(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) db.createObjectStore('vault')
    },
  })
}
