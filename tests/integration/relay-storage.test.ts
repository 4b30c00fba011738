/**
 * A relay whose disk is full or whose data directory turned read-only refuses new envelopes with a clear,
 * retryable error (`INTERNAL` on the wire, "deposit on another relay"; counted as `STORAGE_FULL` /
 * `STORAGE_READ_ONLY`), so the sender deposits on another relay, and keeps delivering what it holds; it
 * accepts again once the storage is back.
 *
 * Every case runs for any user: "full" as free space below `--min-free-disk`, "read-only" as a directory
 * that refuses new files (chmod, or `chattr +i` as root, which root's permissions do not stop). As root, one
 * more: a real full file system (a 4 MiB tmpfs filled up: SQLite's commits fail with SQLITE_FULL). Each first
 * checks that the condition it claims holds. (A file system remounted read-only cannot be made here: Linux
 * refuses the remount while the relay holds its databases open for writing.)
 */
import { afterEach, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { chmod, mkdtemp, rm, statfs, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from 'libp2p'
import { deposit, MailboxError, openMailbox } from '@paloma/net/mailbox-client.ts'
import { keyFromSeed, startClient } from './fixtures/nodes.ts'
import { sample, scrape, startRelay, untilMetric, type RelayProcess } from '../support/relays.ts'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {})
})

type Relay = RelayProcess & { metricsUrl: string }

async function relay(args: string[] = [], dataDir?: string): Promise<Relay> {
  const r = (await startRelay({
    args: ['--metrics-port', '0', ...args],
    ...(dataDir ? { dataDir } : {}),
  })) as Relay
  cleanups.push(() => r.stop())
  return r
}

async function client(seed: number): Promise<Libp2p> {
  const node = await startClient(await keyFromSeed(seed))
  cleanups.push(() => node.stop())
  return node
}

const envelope = (n: number): Uint8Array => new Uint8Array(1024).fill(n)

/** Everything waiting for `node` on `r`, handled (and acknowledged) by a subscription until synced. */
async function fetchAll(node: Libp2p, r: Relay): Promise<string[]> {
  const got: string[] = []
  const sub = await openMailbox(node, r.multiaddr, (e) => void got.push(e.id))
  await sub.synced
  await sub.close()
  return got
}

async function refusal(alice: Libp2p, r: Relay, to: string, id: string): Promise<MailboxError> {
  const err = await deposit(alice, r.multiaddr, { to, id, envelope: envelope(9) }).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(MailboxError)
  return err as MailboxError
}

const isRoot = process.getuid?.() === 0

/** Makes `dir` refuse new files, for root too; returns the undo. */
async function makeReadOnly(dir: string): Promise<() => Promise<void>> {
  if (isRoot) {
    const set = spawnSync('chattr', ['+i', dir], { encoding: 'utf8' })
    if (set.status !== 0) throw new Error(`chattr +i ${dir} failed: ${set.stderr}`)
    return async () => void spawnSync('chattr', ['-i', dir])
  }
  await chmod(dir, 0o555)
  return () => chmod(dir, 0o700)
}

/** A small tmpfs, as root; undefined when it cannot be mounted. */
async function tmpfs(sizeMiB: number): Promise<string | undefined> {
  if (!isRoot) return undefined
  const dir = await mkdtemp(join(tmpdir(), 'paloma-tmpfs-'))
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], {
    encoding: 'utf8',
  })
  if (mounted.status !== 0) return undefined
  cleanups.push(async () => {
    spawnSync('umount', ['-l', dir])
    await rm(dir, { recursive: true, force: true })
  })
  return dir
}

describe('relay storage full or read-only', () => {
  it('below --min-free-disk: refuses deposits (retryable, another relay takes them), delivers what it holds', async () => {
    const [alice, bob] = await Promise.all([client(71), client(72)])
    const to = bob.peerId.toString()
    const first = await relay()
    for (const id of ['held-1', 'held-2'])
      await deposit(alice, first.multiaddr, { to, id, envelope: envelope(1) })
    await first.stop()

    // The same data directory, restarted asking for more free space than the file system has.
    const fs = await statfs(first.dataDir)
    const full = await relay(['--min-free-disk', String(fs.bavail * fs.bsize + 2 ** 30)], first.dataDir)
    const other = await relay()
    await untilMetric(full.metricsUrl, 'paloma_relay_mailbox_accepting', (v) => v === 0)

    const err = await refusal(alice, full, to, 'new-1')
    expect(err.code).toBe('INTERNAL')
    expect(err.retryable).toBe(true)
    expect(err.message).toMatch(/disk is full: deposit on another relay/)
    await deposit(alice, other.multiaddr, { to, id: 'new-1', envelope: envelope(2) })
    expect(await fetchAll(bob, other)).toEqual(['new-1'])

    expect((await fetchAll(bob, full)).sort()).toEqual(['held-1', 'held-2'])
    const after = await untilMetric(full.metricsUrl, 'paloma_relay_mailbox_delivered_total', (v) => v === 2)
    expect(sample(after, 'paloma_relay_mailbox_refused_total{reason="STORAGE_FULL"}')).toBe(1)
    expect(sample(after, 'paloma_relay_mailbox_envelopes')).toBe(0)
  })

  it('a data directory that refuses new files: refuses deposits, delivers what it holds, accepts again after', async () => {
    const [alice, bob] = await Promise.all([client(73), client(74)])
    const to = bob.peerId.toString()
    const r = await relay()
    for (const id of ['held-1', 'held-2', 'held-3'])
      await deposit(alice, r.multiaddr, { to, id, envelope: envelope(1) })

    const undo = await makeReadOnly(r.dataDir)
    cleanups.push(undo)
    const probe = join(r.dataDir, 'test-probe')
    const wrote = await writeFile(probe, 'x').then(
      () => true,
      () => false,
    )
    if (wrote) await unlink(probe)
    expect(wrote, 'the data directory still accepts new files').toBe(false)
    await untilMetric(r.metricsUrl, 'paloma_relay_mailbox_accepting', (v) => v === 0)

    const err = await refusal(alice, r, to, 'new-1')
    expect(err.code).toBe('INTERNAL')
    expect(err.retryable).toBe(true)
    expect(err.message).toMatch(/cannot write to its storage: deposit on another relay/)
    expect((await fetchAll(bob, r)).sort()).toEqual(['held-1', 'held-2', 'held-3'])
    expect(
      sample(await scrape(r.metricsUrl), 'paloma_relay_mailbox_refused_total{reason="STORAGE_READ_ONLY"}'),
    ).toBe(1)

    await undo()
    await untilMetric(r.metricsUrl, 'paloma_relay_mailbox_accepting', (v) => v === 1)
    await deposit(alice, r.multiaddr, { to, id: 'new-1', envelope: envelope(3) })
    expect(await fetchAll(bob, r)).toEqual(['new-1'])
  })

  it.skipIf(!isRoot)(
    'a real full file system (tmpfs): SQLITE_FULL refuses deposits, delivery goes on',
    async () => {
      const dir = await tmpfs(4)
      if (dir === undefined) return
      const [alice, bob] = await Promise.all([client(75), client(76)])
      const to = bob.peerId.toString()
      const r = await relay(['--min-free-disk', '0'], join(dir, 'relay'))
      for (const id of ['held-1', 'held-2'])
        await deposit(alice, r.multiaddr, { to, id, envelope: envelope(1) })

      // Fill the file system: what is left is less than a page of SQLite's WAL.
      const fs = await statfs(dir)
      await writeFile(join(dir, 'filler'), new Uint8Array(fs.bavail * fs.bsize)).catch(() => {})
      await writeFile(join(dir, 'filler-2'), new Uint8Array(64 * 1024)).catch(() => {})
      const left = await statfs(dir)
      expect(left.bavail * left.bsize, 'the tmpfs still has room').toBeLessThan(4096 * 2)

      // Deposits until one hits the full disk (SQLite may still have room in pages it holds).
      let err: MailboxError | undefined
      for (let i = 0; i < 50 && err === undefined; i++) {
        await deposit(alice, r.multiaddr, { to, id: `fill-${i}`, envelope: envelope(2) }).catch(
          (e: unknown) => {
            err = e as MailboxError
          },
        )
      }
      expect(err?.code).toBe('INTERNAL')
      expect(err?.retryable).toBe(true)
      expect(err?.message).toMatch(/disk is full|cannot write/)
      await untilMetric(r.metricsUrl, 'paloma_relay_mailbox_accepting', (v) => v === 0)
      const got = await fetchAll(bob, r)
      expect(got).toEqual(expect.arrayContaining(['held-1', 'held-2']))
      const samples = await scrape(r.metricsUrl)
      expect(
        sample(samples, 'paloma_relay_mailbox_refused_total{reason="STORAGE_FULL"}') +
          sample(samples, 'paloma_relay_mailbox_refused_total{reason="STORAGE_READ_ONLY"}'),
      ).toBeGreaterThanOrEqual(1)

      // Room again: after the hold that follows a failed write, deposits are accepted.
      await Promise.all([unlink(join(dir, 'filler')), unlink(join(dir, 'filler-2')).catch(() => {})])
      await untilMetric(r.metricsUrl, 'paloma_relay_mailbox_accepting', (v) => v === 1, 30_000)
      await deposit(alice, r.multiaddr, { to, id: 'after', envelope: envelope(3) })
    },
  )
})
