/**
 * Durable one-time prekey store of the relay, on `node:sqlite`.
 *
 * Owns the schema, the per-owner cap and the exactly-once rule; the durability settings (WAL journal,
 * `synchronous=FULL`: a commit returns only after the WAL is fsynced) are `../sqlite.ts`'s. `take`
 * deletes the row it returns and remembers its id as served in the same transaction, and the caller sends
 * the record only after that commit. A crash can lose a key (deleted, never sent) but can never serve one twice. Re-uploading a
 * served id (a client retrying an upload whose `ok` it missed) is ignored for `servedTtlMs`.
 * Every method is synchronous and transactional. Knows nothing about libp2p, signatures or the wire.
 */
import { DurableStore } from '../sqlite.ts'

const SCHEMA_VERSION = 1

export interface OneTimePreKeyRow {
  id: number
  /** The signed record bytes, as uploaded. */
  record: Uint8Array
}

export interface UploadRequest {
  owner: string
  records: readonly OneTimePreKeyRow[]
  now: number
  /** Most keys the owner may have stored at once. */
  cap: number
  /** Drop the owner's stored keys and served ids first. */
  replace?: boolean
}

export type UploadResult =
  | { status: 'stored'; stored: number; total: number }
  | { status: 'refused'; code: 'OWNER_QUOTA'; msg: string }

export interface PreKeyStoreStats {
  /** One-time prekeys stored, over all owners. */
  keys: number
  /** Owners with at least one key stored. */
  owners: number
  /** Served ids remembered to refuse their re-upload. */
  served: number
}

class QuotaRefusal extends Error {
  override name = 'QuotaRefusal'
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS opks (
    owner     TEXT    NOT NULL, -- PeerId string of the owner (Noise-authenticated at upload)
    id        INTEGER NOT NULL, -- prekey id (uint32), unique per owner
    record    BLOB    NOT NULL, -- the signed record, served as is
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (owner, id)
  ) WITHOUT ROWID;
  -- Ids already handed out, so that a re-upload of the same record cannot serve it a second time.
  CREATE TABLE IF NOT EXISTS served (
    owner     TEXT    NOT NULL,
    id        INTEGER NOT NULL,
    served_at INTEGER NOT NULL,
    PRIMARY KEY (owner, id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS served_by_time ON served (served_at);
`

const STATEMENTS = {
  count: 'SELECT COUNT(*) AS n FROM opks WHERE owner = ?',
  exists: 'SELECT 1 FROM opks WHERE owner = ? AND id = ?',
  wasServed: 'SELECT 1 FROM served WHERE owner = ? AND id = ?',
  insert: 'INSERT INTO opks (owner, id, record, stored_at) VALUES (?, ?, ?, ?)',
  // One statement: the row chosen is the row deleted, and its bytes come back from the delete.
  takeOne: `DELETE FROM opks WHERE owner = ?1 AND id = (SELECT id FROM opks WHERE owner = ?1 ORDER BY id LIMIT 1)
         RETURNING id, record`,
  markServed: 'INSERT OR REPLACE INTO served (owner, id, served_at) VALUES (?, ?, ?)',
  deleteOwner: 'DELETE FROM opks WHERE owner = ?',
  deleteOwnerServed: 'DELETE FROM served WHERE owner = ?',
  expireServed: 'DELETE FROM served WHERE served_at <= ?',
  stats: 'SELECT COUNT(*) AS keys, COUNT(DISTINCT owner) AS owners FROM opks',
  servedCount: 'SELECT COUNT(*) AS n FROM served',
}

export class OneTimePreKeyStore extends DurableStore<typeof STATEMENTS> {
  /** Opens the database at `path` (see DurableStore): a take is durable before its record is sent. */
  constructor(path: string) {
    super(path, { kind: 'prekey', version: SCHEMA_VERSION, schema: SCHEMA, statements: STATEMENTS })
  }

  /**
   * Stores the records of one upload, all or nothing. Ids already stored or already served are skipped
   * (not counted in `stored`); if the new ones would take the owner above `cap`, nothing is stored.
   */
  upload(req: UploadRequest): UploadResult {
    const s = this.stmt
    try {
      return this.transaction((): UploadResult => {
        if (req.replace === true) {
          s.deleteOwner.run(req.owner)
          s.deleteOwnerServed.run(req.owner)
        }
        const before = (s.count.get(req.owner) as { n: number }).n
        const fresh = new Map<number, Uint8Array>()
        for (const r of req.records) {
          if (fresh.has(r.id)) continue
          if (s.exists.get(req.owner, r.id) !== undefined) continue
          if (s.wasServed.get(req.owner, r.id) !== undefined) continue
          fresh.set(r.id, r.record)
        }
        if (before + fresh.size > req.cap) {
          // Thrown so that the transaction (including a `replace`) rolls back.
          throw new QuotaRefusal(
            `this relay keeps at most ${req.cap} one-time prekeys per owner; you have ${before}, so at most ${Math.max(0, req.cap - before)} more fit`,
          )
        }
        for (const [id, record] of fresh) s.insert.run(req.owner, id, record, req.now)
        return { status: 'stored', stored: fresh.size, total: before + fresh.size }
      })
    } catch (err) {
      if (err instanceof QuotaRefusal) return { status: 'refused', code: 'OWNER_QUOTA', msg: err.message }
      throw err
    }
  }

  /**
   * Removes and returns one of `owner`'s keys (lowest id first), remembering its id as served, in one
   * durable transaction. `undefined` when the owner has none left.
   */
  take(owner: string, now: number): OneTimePreKeyRow | undefined {
    return this.transaction(() => {
      const row = this.stmt.takeOne.get(owner) as { id: number; record: Uint8Array } | undefined
      if (row === undefined) return undefined
      this.stmt.markServed.run(owner, row.id, now)
      return { id: row.id, record: row.record }
    })
  }

  /** Keys `owner` has stored. */
  count(owner: string): number {
    return (this.stmt.count.get(owner) as { n: number }).n
  }

  /** Forgets served ids older than `before`; returns how many. */
  sweepServed(before: number): number {
    return this.transaction(() => Number(this.stmt.expireServed.run(before).changes))
  }

  stats(): PreKeyStoreStats {
    const k = this.stmt.stats.get() as { keys: number; owners: number }
    const s = this.stmt.servedCount.get() as { n: number }
    return { keys: k.keys, owners: k.owners, served: s.n }
  }
}
