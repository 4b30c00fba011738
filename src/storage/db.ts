/**
 * The browser's IndexedDB schema. One version per schema change; migrations live only in `upgrade`.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb'
import type { ChatMessage } from '../core/messages.ts'

export interface PalomaSchema extends DBSchema {
  /** Key material, by name. v1: 'node-key' = libp2p private key (protobuf). */
  keys: { key: string; value: Uint8Array }
  /** The encrypted vault: opaque encrypted blobs by name (format owned by src/storage/vault.ts). */
  vault: { key: string; value: Uint8Array }
  /** Conversation history, by message id. */
  messages: { key: string; value: ChatMessage; indexes: { 'by-peer': [string, number] } }
}

export type PalomaDB = IDBPDatabase<PalomaSchema>

export const DB_VERSION = 1

export function openPalomaDB(name = 'paloma'): Promise<PalomaDB> {
  return openDB<PalomaSchema>(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('keys')
        db.createObjectStore('vault')
        db.createObjectStore('messages', { keyPath: 'id' }).createIndex('by-peer', ['peer', 'ts'])
      }
    },
  })
}
