/**
 * The harness of the decoder fuzzers: each target is one decoder a remote peer (or a file, or the disk)
 * can reach, fed `PALOMA_FUZZ_CASES` inputs (default 10^4; `npm run soak:abuse`: 10^6) by fast-check.
 *
 * Invariants, checked on every case:
 * - the decoder returns a value (which must then pass the target's `accepted` check: a forged record,
 *   an out-of-bounds field or a value that does not round-trip fails the test), or throws the area's typed
 *   error: an instance of the area's class, a PalomaError whose code is in the area's `as const` list;
 *   anything else (a TypeError, a RangeError, a library's own error) fails the test;
 * - the decoder does not write into the bytes it was given;
 * - no hang: every case ends within `maxCaseMs`, or its input is timed again and must then (a pause of
 *   the collector or of a loaded machine passes, a hang or a quadratic does not; a synchronous infinite
 *   loop would also hit the test's own timeout);
 * - memory bounded: the heap, after a full collection, grows by less than {@link MAX_HEAP_GROWTH} over the
 *   whole run (sampled every 1024 cases for the peak, reported).
 *
 * Every target's counts (cases, accepted, rejected by error code, slowest case, heap growth, time) go to
 * `test-results/abuse/parts/<run>/<part>.json`; tests/abuse/report.ts merges them into the run's report.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, expect, inject, it } from 'vitest'
import fc from 'fast-check'
import { PalomaError } from '@paloma/core/errors.ts'

/** Cases per target: `PALOMA_FUZZ_CASES`, default 10^4. */
export const FUZZ_CASES = Number(process.env.PALOMA_FUZZ_CASES ?? 10_000)
/** fast-check's seed: `PALOMA_FUZZ_SEED` to replay a run, otherwise a fresh one (in the report). */
export const FUZZ_SEED = Number(
  process.env.PALOMA_FUZZ_SEED ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0,
)
/**
 * A share of FUZZ_CASES for a target whose every case is costly (a signature, a key agreement, a KDF):
 * `FUZZ_CASES / divisor`, reported as such.
 */
export const costly = (divisor: number): number => Math.max(1, Math.round(FUZZ_CASES / divisor))
/** Largest heap growth allowed over one target's run, after a full collection. */
export const MAX_HEAP_GROWTH = 64 * 1024 * 1024

/** Where parts go when no run handed a directory (a fuzz file run outside the `abuse` project). */
export const PARTS_DIR = resolve(import.meta.dirname, '../../../test-results/abuse/parts')

/** One target's counts, as the report has them. */
export interface TargetStats {
  target: string
  family: string
  cases: number
  accepted: number
  rejected: number
  /** Rejections by error code (`UNKNOWN` never appears: an untyped error fails the run). */
  byCode: Record<string, number>
  maxCaseMs: number
  heapGrowthBytes: number
  heapPeakBytes: number
  ms: number
  seed: number
}

/** An error class of an area (abstract classes included). */
export type ErrorClass = abstract new (...args: never[]) => PalomaError

export interface Target<I, T> {
  /** What is fuzzed, e.g. `decodeChatFrame`. */
  name: string
  /** The decoder family of the report: `chat`, `mailbox`, `directory`… */
  family: string
  input: fc.Arbitrary<I>
  run(input: I): T | Promise<T>
  /** The area's error class, and its `as const` code list. */
  error: ErrorClass
  codes: readonly string[]
  /** Checks an accepted value; throw (or fail an `expect`) for a value that should have been refused. */
  accepted?(value: T, input: I): void | Promise<void>
  /** @default 500 ms (synchronous decoders), set higher for targets that derive keys or verify signatures */
  maxCaseMs?: number
  /** Budget per case for the test's timeout. @default 2 ms */
  msPerCase?: number
  /** Cases for this target (a share of FUZZ_CASES when one case is costly). @default FUZZ_CASES */
  cases?: number
  /** Whether some inputs must be refused (false for a function that never throws, e.g. a selector). @default true */
  expectRejections?: boolean
}

function describeInput(input: unknown): string {
  if (input instanceof Uint8Array) {
    const hex = Buffer.from(input.subarray(0, 96)).toString('hex')
    return `bytes(${input.length}) ${hex}${input.length > 96 ? '…' : ''}`
  }
  const text = JSON.stringify(input, (_, v: unknown) =>
    v instanceof Uint8Array ? `bytes(${v.length}) ${Buffer.from(v.subarray(0, 32)).toString('hex')}` : v,
  )
  return text === undefined ? String(input) : text.slice(0, 400)
}

function heapNow(): number {
  globalThis.gc?.()
  return process.memoryUsage().heapUsed
}

/**
 * The `fuzz` of one test file: each call declares the test of one target (an `it`, inside the caller's
 * `describe`); the file's part of the report is written once its targets ran.
 * @param part - names the part (`wire` writes `wire.json` in the run’s parts directory)
 */
export function fuzzer(part: string): <I, T>(target: Target<I, T>) => void {
  const results: TargetStats[] = []
  afterAll(() => {
    const dir = inject('abuseParts') ?? PARTS_DIR
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `${part}.json`), `${JSON.stringify(results, null, 2)}\n`)
  })
  return (target) => fuzzTarget(target, results)
}

function fuzzTarget<I, T>(target: Target<I, T>, results: TargetStats[]): void {
  const cases = target.cases ?? FUZZ_CASES
  const maxCaseMs = target.maxCaseMs ?? 500
  it(
    `${target.name}: ${cases} cases, a value or a typed ${target.family} error, bounded time and memory`,
    async () => {
      const stats: TargetStats = {
        target: target.name,
        family: target.family,
        cases: 0,
        accepted: 0,
        rejected: 0,
        byCode: {},
        maxCaseMs: 0,
        heapGrowthBytes: 0,
        heapPeakBytes: 0,
        ms: 0,
        seed: FUZZ_SEED,
      }
      const started = performance.now()
      const heapBefore = heapNow()
      stats.heapPeakBytes = heapBefore
      await fc.assert(
        fc.asyncProperty(target.input, async (input) => {
          const t0 = performance.now()
          let value: T | undefined
          let error: unknown
          let threw = false
          const copy = input instanceof Uint8Array ? new Uint8Array(input) : undefined
          try {
            value = await target.run(input)
          } catch (err) {
            threw = true
            error = err
          }
          let ms = performance.now() - t0
          // A decoder never writes into the bytes it reads (callers keep and reuse them).
          if (copy !== undefined && !Buffer.from(copy).equals(input as Uint8Array)) {
            throw new Error(`the decoder modified its input: ${describeInput(copy)}`)
          }
          if (ms > maxCaseMs) {
            // Slow once may be a collection or the machine; slow again is the input (a hang, a quadratic).
            const again = performance.now()
            await (async () => target.run(input))().catch(() => {}) // throwing is fine: it was timed
            ms = performance.now() - again
            if (ms > maxCaseMs)
              throw new Error(`one case took ${ms.toFixed(0)} ms, twice: ${describeInput(input)}`)
          }
          stats.maxCaseMs = Math.max(stats.maxCaseMs, ms)
          if (threw) {
            const typed =
              error instanceof target.error &&
              error instanceof PalomaError &&
              target.codes.includes(error.code)
            if (!typed) {
              throw new Error(
                `untyped error ${String((error as Error)?.name)}: ${String((error as Error)?.message)} for ${describeInput(input)}`,
                { cause: error },
              )
            }
            const code = (error as PalomaError).code
            stats.rejected++
            stats.byCode[code] = (stats.byCode[code] ?? 0) + 1
          } else {
            await target.accepted?.(value as T, input)
            stats.accepted++
          }
          stats.cases++
          if ((stats.cases & 1023) === 0) {
            stats.heapPeakBytes = Math.max(stats.heapPeakBytes, process.memoryUsage().heapUsed)
          }
        }),
        { numRuns: cases, seed: FUZZ_SEED },
      )
      stats.heapGrowthBytes = heapNow() - heapBefore
      stats.ms = Math.round(performance.now() - started)
      stats.maxCaseMs = Math.round(stats.maxCaseMs * 100) / 100
      results.push(stats)
      // The decoder reads valid input (it is not refusing everything) and the run was bounded.
      expect(stats.accepted, 'no input was accepted: is the decoder refusing everything?').toBeGreaterThan(0)
      if (target.expectRejections !== false) expect(stats.rejected).toBeGreaterThan(0)
      expect(stats.heapGrowthBytes).toBeLessThan(MAX_HEAP_GROWTH)
    },
    Math.max(60_000, cases * (target.msPerCase ?? 2)),
  )
}

/** Whether `a` and `b` are the same value: plain data, byte arrays compared as bytes (fast on large ones). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return (
      a instanceof Uint8Array &&
      b instanceof Uint8Array &&
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
    )
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
    )
  }
  if (a instanceof Map || b instanceof Map) {
    return (
      a instanceof Map &&
      b instanceof Map &&
      a.size === b.size &&
      [...a].every(([k, v]) => b.has(k) && deepEqual(v, b.get(k)))
    )
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const ka = Object.keys(a)
    const kb = Object.keys(b)
    return (
      ka.length === kb.length &&
      ka.every(
        (k) =>
          Object.hasOwn(b, k) &&
          deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
      )
    )
  }
  return Object.is(a, b)
}

/** Checks that `a` and `b` are the same value (for `accepted` round trips), naming `what` when not. */
export function same(a: unknown, b: unknown, what: string): void {
  if (!deepEqual(a, b)) throw new Error(`accepted, but not ${what}`)
}
