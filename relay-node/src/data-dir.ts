/**
 * The layout version of the relay's data directory, in `<data-dir>/schema.json`, and the ordered
 * migrations that bring an older directory up to date at start.
 *
 * - A new (empty) directory is stamped with the current version.
 * - A directory without `schema.json` but with a relay's files (written before the file existed) is
 *   version 0 and goes through every migration.
 * - A directory stamped with a newer version than this code knows is refused: run the newer relay, or
 *   restore a backup made by this version.
 *
 * Each migration runs once; `schema.json` is rewritten (atomically: temporary file, fsync, rename) after
 * each step, so an interrupted upgrade resumes at the step that did not finish. The SQLite databases keep
 * their own table versions (`PRAGMA user_version`, see sqlite.ts); this file versions the directory.
 */
import { mkdir, open, readFile, readdir, rename } from 'node:fs/promises'
import { join } from 'node:path'

export const SCHEMA_FILE = 'schema.json'

export interface DataDirMigration {
  /** The version the directory has after this step. */
  to: number
  /** What the step does, logged when it runs. */
  describe: string
  run(dir: string): Promise<void>
}

/**
 * Version 1: the layout of Paloma 0.1 (`peer-key`, `mailbox.sqlite`, `prekeys.sqlite`, their WAL files,
 * and the WebRTC-Direct certificate pair). Directories from before `schema.json` already have this layout:
 * adopting them only stamps the version.
 */
export const DATA_DIR_MIGRATIONS: readonly DataDirMigration[] = [
  {
    to: 1,
    describe: 'adopt a data directory from before schema.json (same layout, nothing to convert)',
    run: async () => {},
  },
]

export interface SchemaFile {
  version: number
  /** Who wrote the current version, for support: `paloma-relay <package version>`. */
  writtenBy: string
  updatedAt: string
}

/** The data directory cannot be used by this relay; `message` says what to do. */
export class DataDirError extends Error {
  override name = 'DataDirError'
}

async function writeSchema(dir: string, schema: SchemaFile): Promise<void> {
  const file = join(dir, SCHEMA_FILE)
  const tmp = `${file}.tmp`
  const handle = await open(tmp, 'w', 0o644)
  try {
    await handle.writeFile(JSON.stringify(schema, null, 2) + '\n')
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, file)
}

async function readVersion(dir: string): Promise<number | undefined> {
  let text: string
  try {
    text = await readFile(join(dir, SCHEMA_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let version: unknown
  try {
    version = (JSON.parse(text) as { version?: unknown }).version
  } catch {
    version = undefined
  }
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
    throw new DataDirError(
      `${join(dir, SCHEMA_FILE)} is damaged (no whole-number "version"): restore it from a backup`,
    )
  }
  return version
}

export interface PreparedDataDir {
  /** The version found (0: from before schema.json; undefined: a new directory). */
  from: number | undefined
  to: number
  /** The migrations that ran, in order. */
  ran: string[]
}

/**
 * Creates `dir` if needed, then stamps or migrates it to the last migration's version.
 *
 * @throws DataDirError when the directory was written by a newer relay or its schema.json is damaged.
 */
export async function prepareDataDir(
  dir: string,
  writtenBy: string,
  migrations: readonly DataDirMigration[] = DATA_DIR_MIGRATIONS,
): Promise<PreparedDataDir> {
  const current = migrations.at(-1)?.to ?? 0
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const stamp = (version: number) =>
    writeSchema(dir, { version, writtenBy, updatedAt: new Date().toISOString() })
  let version = await readVersion(dir)
  if (version === undefined) {
    const entries = (await readdir(dir)).filter((e) => !e.startsWith('.'))
    if (entries.length === 0) {
      await stamp(current)
      return { from: undefined, to: current, ran: [] }
    }
    version = 0
  }
  const from = version
  if (version > current) {
    throw new DataDirError(
      `data directory ${dir} has layout version ${version}, newer than this relay knows (${current}): run the relay version that wrote it (or newer), or restore a backup made by this version`,
    )
  }
  const ran: string[] = []
  for (const step of migrations) {
    if (step.to <= version) continue
    await step.run(dir)
    await stamp(step.to)
    ran.push(`${version} -> ${step.to}: ${step.describe}`)
    version = step.to
  }
  return { from, to: current, ran }
}
