import { afterEach, describe, expect, it } from 'vitest'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DATA_DIR_MIGRATIONS,
  DataDirError,
  prepareDataDir,
  type DataDirMigration,
} from '../../../relay-node/src/data-dir.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'paloma-datadir-'))
  dirs.push(d)
  return d
}
const version = async (dir: string) =>
  (JSON.parse(await readFile(join(dir, 'schema.json'), 'utf8')) as { version: number }).version

describe('relay data directory', () => {
  it('stamps a new directory with the current version and runs no migration', async () => {
    const dir = join(await tempDir(), 'fresh')
    const r = await prepareDataDir(dir, 'test')
    expect(r).toEqual({ from: undefined, to: DATA_DIR_MIGRATIONS.at(-1)!.to, ran: [] })
    expect(await version(dir)).toBe(1)
  })

  it('adopts a directory written before schema.json as version 0', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'peer-key'), 'key')
    const r = await prepareDataDir(dir, 'test')
    expect(r.from).toBe(0)
    expect(r.ran).toHaveLength(1)
    expect(await version(dir)).toBe(1)
    expect(await readFile(join(dir, 'peer-key'), 'utf8')).toBe('key')
    // Once stamped, nothing runs again.
    expect((await prepareDataDir(dir, 'test')).ran).toEqual([])
  })

  it('runs the missing migrations in order and stamps after each', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'schema.json'), JSON.stringify({ version: 1 }))
    const log: string[] = []
    const migrations: DataDirMigration[] = [
      { to: 1, describe: 'one', run: async () => void log.push('1') },
      {
        to: 2,
        describe: 'two',
        run: async (d) => {
          log.push(`2 at ${await version(d)}`)
          await writeFile(join(d, 'two'), '2')
        },
      },
      { to: 3, describe: 'three', run: async (d) => void log.push(`3 at ${await version(d)}`) },
    ]
    const r = await prepareDataDir(dir, 'test', migrations)
    expect(log).toEqual(['2 at 1', '3 at 2'])
    expect(r.ran).toEqual(['1 -> 2: two', '2 -> 3: three'])
    expect(await version(dir)).toBe(3)
  })

  it('resumes after a migration that failed', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'schema.json'), JSON.stringify({ version: 1 }))
    let fail = true
    const migrations: DataDirMigration[] = [
      { to: 1, describe: 'one', run: async () => {} },
      { to: 2, describe: 'two', run: async () => {} },
      {
        to: 3,
        describe: 'three',
        run: async () => {
          if (fail) throw new Error('disk full')
        },
      },
    ]
    await expect(prepareDataDir(dir, 'test', migrations)).rejects.toThrow('disk full')
    expect(await version(dir)).toBe(2)
    fail = false
    expect((await prepareDataDir(dir, 'test', migrations)).ran).toEqual(['2 -> 3: three'])
  })

  it('refuses a directory from a newer relay, saying what to do', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'schema.json'), JSON.stringify({ version: 7 }))
    await expect(prepareDataDir(dir, 'test')).rejects.toThrow(DataDirError)
    await expect(prepareDataDir(dir, 'test')).rejects.toThrow(
      /layout version 7, newer than this relay knows \(1\): run the relay version that wrote it/,
    )
    await writeFile(join(dir, 'schema.json'), '{"version": "x"}')
    await expect(prepareDataDir(dir, 'test')).rejects.toThrow(/schema\.json is damaged/)
  })
})
