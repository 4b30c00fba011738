/**
 * What the relay's durable stores share on `node:sqlite`: opening a database with the durability
 * settings, creating or refusing its schema by version, preparing statements and transactions.
 *
 * Durability: WAL journal (readers run during a write) and `synchronous=FULL` (every commit fsyncs the
 * WAL), so a method that has committed survives `kill -9` and power loss before the relay answers the
 * network. Knows nothing about libp2p or the wire format.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite'

export interface SchemaInit<S extends Record<string, string>> {
  /** What the database holds, for error messages: `mailbox`, `prekey`. */
  kind: string
  /** The schema version this code writes (`PRAGMA user_version`). */
  version: number
  /** DDL creating the schema of `version` on a database of an older one (run in one transaction). */
  schema: string
  /** The statements the store runs, prepared once, by name. */
  statements: S
}

/**
 * Opens (creating if needed) the database at `path` with WAL, `synchronous=FULL` and a 5 s busy timeout,
 * and migrates it to `init.version`. `':memory:'` gives a volatile database for tests.
 *
 * @throws when the file cannot be opened or was written by a newer schema version.
 */
export function openDurableDatabase(path: string, init: Omit<SchemaInit<never>, 'statements'>): DatabaseSync {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL')
  db.exec('PRAGMA synchronous = FULL')
  db.exec('PRAGMA busy_timeout = 5000')
  const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version
  if (version > init.version) {
    db.close()
    throw new Error(
      `${init.kind} database ${path} has schema version ${version}, newer than this relay (${init.version}): upgrade the relay`,
    )
  }
  if (version < init.version) {
    db.exec(`BEGIN IMMEDIATE;\n${init.schema}\nPRAGMA user_version = ${init.version};\nCOMMIT;`)
  }
  return db
}

/** Runs `fn` in a `BEGIN IMMEDIATE` transaction: commits if it returns, rolls back if it throws. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE')
  try {
    const result = fn()
    db.exec('COMMIT')
    return result
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK')
    throw err
  }
}

/**
 * Base of a durable store: the database opened by {@link openDurableDatabase}, its prepared statements
 * (`stmt`, by the names of `init.statements`) and transactions. Every method of a store is synchronous and
 * transactional, so a method that returns has committed (or rolled back).
 */
export class DurableStore<S extends Record<string, string>> {
  readonly path: string
  protected readonly db: DatabaseSync
  protected readonly stmt: { readonly [K in keyof S]: StatementSync }

  /**
   * Opens (creating if needed) the database at `path`. `':memory:'` gives a volatile store for tests.
   *
   * @throws when the file cannot be opened or was written by a newer schema version.
   */
  constructor(path: string, init: SchemaInit<S>) {
    this.path = path
    this.db = openDurableDatabase(path, init)
    const stmt: Partial<Record<keyof S, StatementSync>> = {}
    for (const name of Object.keys(init.statements) as Array<keyof S>) {
      stmt[name] = this.db.prepare(init.statements[name] as string)
    }
    this.stmt = stmt as { readonly [K in keyof S]: StatementSync }
  }

  protected transaction<T>(fn: () => T): T {
    return transaction(this.db, fn)
  }

  get isOpen(): boolean {
    return this.db.isOpen
  }

  close(): void {
    if (this.db.isOpen) this.db.close()
  }
}
