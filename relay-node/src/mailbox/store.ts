/**
 * Durable envelope store of the relay mailbox, on `node:sqlite`.
 *
 * Owns the schema, quota accounting, expiry and delivery tombstones; the durability settings (WAL
 * journal, `synchronous=FULL`: a commit returns only after the WAL is fsynced) are `../sqlite.ts`'s.
 * Every method is synchronous and transactional, so a method that returns has committed (or rolled
 * back) and the caller may acknowledge to the network. Knows nothing about libp2p or the wire format.
 */
import { DurableStore } from '../sqlite.ts'

const SCHEMA_VERSION = 1

interface Usage {
  n: number
  bytes: number
}
const NO_USAGE: Usage = { n: 0, bytes: 0 }

export interface Quota {
  /** Most envelopes stored at once. */
  count: number
  /** Most envelope bytes stored at once. */
  bytes: number
}

export interface StoredEnvelope {
  seq: number
  sender: string
  id: string
  envelope: Uint8Array
  storedAt: number
}

export interface PutRequest {
  recipient: string
  sender: string
  id: string
  envelope: Uint8Array
  now: number
  expiresAt: number
  recipientQuota: Quota
  senderQuota: Quota
}

export type PutResult =
  | { status: 'stored'; seq: number }
  | { status: 'duplicate' }
  | { status: 'refused'; code: 'RECIPIENT_QUOTA' | 'SENDER_QUOTA'; msg: string }

/**
 * One write the relay batches with others into a single transaction ({@link MailboxStore.applyBatch}): a
 * stream's run of deposits, a recipient's acknowledgements, or the expiry sweep.
 */
export type WriteOp =
  | { t: 'put'; reqs: PutRequest[] }
  | { t: 'ack'; recipient: string; seqs: number[] }
  | { t: 'sweep'; now: number }

/** The outcome of each {@link WriteOp}, in the same order. */
export type WriteResult =
  { t: 'put'; results: PutResult[] } | { t: 'ack'; deleted: number } | { t: 'sweep'; dropped: number }

export interface StoreStats {
  envelopes: number
  bytes: number
  tombstones: number
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS envelopes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: an old ack cannot hit a new row
    recipient  TEXT    NOT NULL,
    sender     TEXT    NOT NULL,
    msg_id     TEXT    NOT NULL,
    envelope   BLOB    NOT NULL,
    size       INTEGER NOT NULL,
    stored_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (recipient, sender, msg_id)
  );
  CREATE INDEX IF NOT EXISTS envelopes_by_recipient ON envelopes (recipient, seq);
  CREATE INDEX IF NOT EXISTS envelopes_by_sender ON envelopes (sender);
  CREATE INDEX IF NOT EXISTS envelopes_by_expiry ON envelopes (expires_at);
  -- Delivered (acknowledged) envelopes, kept until their expiry so that a sender retrying a
  -- deposit whose ok it missed does not make the recipient receive it again.
  CREATE TABLE IF NOT EXISTS delivered (
    recipient  TEXT    NOT NULL,
    sender     TEXT    NOT NULL,
    msg_id     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (recipient, sender, msg_id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS delivered_by_expiry ON delivered (expires_at);
  -- Stored count and bytes per recipient ('r') and per sender ('s'), kept by triggers so that a
  -- quota check is one lookup instead of a scan of the mailbox.
  CREATE TABLE IF NOT EXISTS usage (
    kind  TEXT    NOT NULL,
    key   TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
  ) WITHOUT ROWID;
  CREATE TRIGGER IF NOT EXISTS envelopes_count_insert AFTER INSERT ON envelopes BEGIN
    INSERT INTO usage (kind, key, n, bytes) VALUES ('r', NEW.recipient, 1, NEW.size)
      ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
    INSERT INTO usage (kind, key, n, bytes) VALUES ('s', NEW.sender, 1, NEW.size)
      ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
  END;
  CREATE TRIGGER IF NOT EXISTS envelopes_count_delete AFTER DELETE ON envelopes BEGIN
    UPDATE usage SET n = n - 1, bytes = bytes - OLD.size WHERE kind = 'r' AND key = OLD.recipient;
    UPDATE usage SET n = n - 1, bytes = bytes - OLD.size WHERE kind = 's' AND key = OLD.sender;
    DELETE FROM usage WHERE ((kind = 'r' AND key = OLD.recipient) OR (kind = 's' AND key = OLD.sender)) AND n <= 0;
  END;
`

const STATEMENTS = {
  findStored: 'SELECT seq FROM envelopes WHERE recipient = ? AND sender = ? AND msg_id = ?',
  findTombstone: 'SELECT 1 FROM delivered WHERE recipient = ? AND sender = ? AND msg_id = ?',
  recipientUsage: "SELECT n, bytes FROM usage WHERE kind = 'r' AND key = ?",
  senderUsage: "SELECT n, bytes FROM usage WHERE kind = 's' AND key = ?",
  insert: `INSERT INTO envelopes (recipient, sender, msg_id, envelope, size, stored_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
  listAfter: `SELECT seq, sender, msg_id, envelope, stored_at FROM envelopes
         WHERE recipient = ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ?`,
  selectAck: 'SELECT sender, msg_id, expires_at FROM envelopes WHERE recipient = ? AND seq = ?',
  deleteSeq: 'DELETE FROM envelopes WHERE recipient = ? AND seq = ?',
  insertTombstone:
    'INSERT OR IGNORE INTO delivered (recipient, sender, msg_id, expires_at) VALUES (?, ?, ?, ?)',
  expireEnvelopes: 'DELETE FROM envelopes WHERE expires_at <= ?',
  expireTombstones: 'DELETE FROM delivered WHERE expires_at <= ?',
  stats: 'SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM envelopes',
  tombstoneCount: 'SELECT COUNT(*) AS n FROM delivered',
}

export class MailboxStore extends DurableStore<typeof STATEMENTS> {
  /** Opens the database at `path` (see DurableStore): a commit survives kill -9 before the `ok` is sent. */
  constructor(path: string) {
    super(path, { kind: 'mailbox', version: SCHEMA_VERSION, schema: SCHEMA, statements: STATEMENTS })
  }

  /**
   * Stores an envelope unless it is a duplicate of a stored or delivered one (same recipient,
   * sender and id) or a quota would be exceeded. Returns after the commit is durable.
   */
  put(req: PutRequest): PutResult {
    return this.putMany([req])[0] as PutResult
  }

  /**
   * `put` for several envelopes in one transaction (group commit: one fsync for all). Each request
   * sees the ones before it, so quotas and duplicates within the batch are handled as if they came
   * one by one. All or nothing: if the commit fails, nothing is stored and this throws.
   */
  putMany(reqs: readonly PutRequest[]): PutResult[] {
    if (reqs.length === 0) return []
    return this.transaction(() => reqs.map((req) => this.#putOne(req)))
  }

  /**
   * Runs every operation in one transaction (group commit: one fsync for the whole batch, whatever streams the
   * operations came from), each seeing the ones before it. All or nothing: if any statement or the commit
   * fails, nothing is stored or deleted and this throws.
   */
  applyBatch(ops: readonly WriteOp[]): WriteResult[] {
    if (ops.length === 0) return []
    return this.transaction(() =>
      ops.map((op): WriteResult => {
        switch (op.t) {
          case 'put':
            return { t: 'put', results: op.reqs.map((req) => this.#putOne(req)) }
          case 'ack':
            return { t: 'ack', deleted: this.#ackIn(op.recipient, op.seqs) }
          case 'sweep':
            return { t: 'sweep', dropped: this.#sweepIn(op.now) }
        }
      }),
    )
  }

  #putOne(req: PutRequest): PutResult {
    const s = this.stmt
    if (s.findStored.get(req.recipient, req.sender, req.id) !== undefined) return { status: 'duplicate' }
    if (s.findTombstone.get(req.recipient, req.sender, req.id) !== undefined) return { status: 'duplicate' }
    const size = req.envelope.byteLength
    const sender = (s.senderUsage.get(req.sender) as Usage | undefined) ?? NO_USAGE
    if (sender.n + 1 > req.senderQuota.count || sender.bytes + size > req.senderQuota.bytes) {
      return {
        status: 'refused',
        code: 'SENDER_QUOTA',
        msg: `sender already has ${sender.n} envelopes (${sender.bytes} bytes) stored; limit ${req.senderQuota.count} / ${req.senderQuota.bytes} bytes`,
      }
    }
    const recipient = (s.recipientUsage.get(req.recipient) as Usage | undefined) ?? NO_USAGE
    if (recipient.n + 1 > req.recipientQuota.count || recipient.bytes + size > req.recipientQuota.bytes) {
      return { status: 'refused', code: 'RECIPIENT_QUOTA', msg: 'recipient mailbox is full on this relay' }
    }
    const info = s.insert.run(req.recipient, req.sender, req.id, req.envelope, size, req.now, req.expiresAt)
    return { status: 'stored', seq: Number(info.lastInsertRowid) }
  }

  /** Envelopes for `recipient` with `seq > afterSeq` that have not expired at `now`, oldest first. */
  list(recipient: string, afterSeq: number, now: number, limit: number): StoredEnvelope[] {
    const rows = this.stmt.listAfter.all(recipient, afterSeq, now, limit) as Array<{
      seq: number
      sender: string
      msg_id: string
      envelope: Uint8Array
      stored_at: number
    }>
    return rows.map((r) => ({
      seq: r.seq,
      sender: r.sender,
      id: r.msg_id,
      envelope: r.envelope,
      storedAt: r.stored_at,
    }))
  }

  /**
   * Deletes the envelopes of `recipient` with these seqs (others' seqs are ignored: only the
   * recipient's own rows match) and remembers them as delivered. Returns how many were deleted.
   */
  ack(recipient: string, seqs: readonly number[]): number {
    return this.transaction(() => this.#ackIn(recipient, seqs))
  }

  #ackIn(recipient: string, seqs: readonly number[]): number {
    let deleted = 0
    for (const seq of seqs) {
      const row = this.stmt.selectAck.get(recipient, seq) as
        { sender: string; msg_id: string; expires_at: number } | undefined
      if (row === undefined) continue
      this.stmt.deleteSeq.run(recipient, seq)
      this.stmt.insertTombstone.run(recipient, row.sender, row.msg_id, row.expires_at)
      deleted++
    }
    return deleted
  }

  /** Deletes expired envelopes and tombstones. Returns how many envelopes were dropped. */
  sweep(now: number): number {
    return this.transaction(() => this.#sweepIn(now))
  }

  #sweepIn(now: number): number {
    const dropped = Number(this.stmt.expireEnvelopes.run(now).changes)
    this.stmt.expireTombstones.run(now)
    return dropped
  }

  stats(): StoreStats {
    const e = this.stmt.stats.get() as { n: number; bytes: number }
    const t = this.stmt.tombstoneCount.get() as { n: number }
    return { envelopes: e.n, bytes: e.bytes, tombstones: t.n }
  }
}
