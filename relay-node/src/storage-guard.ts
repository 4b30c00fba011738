/**
 * Whether the data directory can take new data: the relay refuses new mailbox deposits (retryable, so the
 * sender uses another relay) while its disk is full or its data directory turned read-only, and keeps
 * delivering what it holds.
 *
 * Checked every `intervalMs` (free space against `minFreeBytes`, and a probe file created, written, fsynced
 * and removed in the directory: a directory made read-only or immutable refuses it even while SQLite can still
 * write the files it holds open), and told at once of a write that failed for lack of space or permission
 * ({@link StorageGuard.failed}); after such a failure new writes stay refused for `holdMs` even if a probe
 * passes, so a disk with room for a probe file but not for a batch does not flap.
 */
import { open, statfs, unlink } from 'node:fs/promises'
import { join } from 'node:path'

export type StorageRefusal = 'STORAGE_FULL' | 'STORAGE_READ_ONLY'

export interface StorageState {
  ok: boolean
  /** Set when not ok. */
  reason?: StorageRefusal
  detail: string
}

export interface StorageGuardInit {
  dir: string
  /** Below this many available bytes, refuse. @default 0 */
  minFreeBytes?: number
  /** @default 1000 */
  intervalMs?: number
  /** How long a failed write keeps new writes refused. @default 10000 */
  holdMs?: number
  now?: () => number
  /** Told when the state changes. */
  onChange?(state: StorageState): void
}

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT'])
const SQLITE_FULL = 13
const SQLITE_READONLY = 8
const SQLITE_IOERR = 10
const SQLITE_CANTOPEN = 14

/** The refusal a failed write means, or undefined when it is not about the disk (a bug, a constraint). */
export function storageFailure(err: unknown): StorageRefusal | undefined {
  const e = err as { code?: unknown; errcode?: unknown; message?: unknown } | undefined
  if (typeof e?.code === 'string') {
    if (FULL_CODES.has(e.code)) return 'STORAGE_FULL'
    if (['EROFS', 'EACCES', 'EPERM', 'EIO'].includes(e.code)) return 'STORAGE_READ_ONLY'
  }
  if (typeof e?.errcode === 'number') {
    const primary = e.errcode & 0xff
    if (primary === SQLITE_FULL) return 'STORAGE_FULL'
    if (primary === SQLITE_READONLY || primary === SQLITE_IOERR || primary === SQLITE_CANTOPEN)
      return 'STORAGE_READ_ONLY'
  }
  return undefined
}

export class StorageGuard {
  readonly #init: Required<Omit<StorageGuardInit, 'onChange'>> & Pick<StorageGuardInit, 'onChange'>
  #state: StorageState = { ok: true, detail: 'not checked yet' }
  #heldUntil = 0
  #timer: ReturnType<typeof setInterval> | undefined
  #checking: Promise<StorageState> | undefined

  constructor(init: StorageGuardInit) {
    this.#init = { minFreeBytes: 0, intervalMs: 1000, holdMs: 10_000, now: Date.now, ...init }
  }

  get state(): StorageState {
    return this.#state
  }

  get ok(): boolean {
    return this.#state.ok
  }

  async start(): Promise<void> {
    await this.check()
    this.#timer = setInterval(() => void this.check(), this.#init.intervalMs)
    this.#timer.unref?.()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** A write failed: refuse at once when it was for lack of space or permission. */
  failed(err: unknown): void {
    const reason = storageFailure(err)
    if (reason === undefined) return
    this.#heldUntil = this.#init.now() + this.#init.holdMs
    this.#set({ ok: false, reason, detail: `a write failed: ${(err as Error).message}` })
  }

  /** Checks now (one check at a time). */
  check(): Promise<StorageState> {
    this.#checking ??= this.#probe().finally(() => (this.#checking = undefined))
    return this.#checking
  }

  async #probe(): Promise<StorageState> {
    const { dir, minFreeBytes } = this.#init
    let next: StorageState
    try {
      await writeProbe(dir, 'storage')
      const fs = await statfs(dir)
      const available = fs.bavail * fs.bsize
      next =
        available < minFreeBytes
          ? {
              ok: false,
              reason: 'STORAGE_FULL',
              detail: `${available} bytes free on the data directory's file system, below --min-free-disk ${minFreeBytes}`,
            }
          : { ok: true, detail: `writable, ${available} bytes free` }
    } catch (err) {
      const reason = storageFailure(err) ?? 'STORAGE_READ_ONLY'
      next = {
        ok: false,
        reason,
        detail: `data directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      }
    }
    if (next.ok && this.#init.now() < this.#heldUntil) return this.#state
    this.#set(next)
    return next
  }

  #set(next: StorageState): void {
    const changed = next.ok !== this.#state.ok || next.reason !== this.#state.reason
    this.#state = next
    if (changed) this.#init.onChange?.(next)
  }
}

/**
 * Writes, fsyncs and deletes a small file in `dir`: what a deposit needs of the disk. Throws the file
 * system's error (`EROFS`, `ENOSPC`, `EACCES`...) when it cannot, leaving no probe behind.
 */
export async function writeProbe(dir: string, name: string): Promise<void> {
  const probe = join(dir, `.${name}-probe-${process.pid}`)
  try {
    const file = await open(probe, 'w', 0o600)
    try {
      await file.writeFile('probe')
      await file.sync()
    } finally {
      await file.close()
    }
    await unlink(probe)
  } catch (err) {
    await unlink(probe).catch(() => {})
    throw err
  }
}
