/**
 * The abuse suite's report (vitest globalSetup of the `abuse` project): before the run, makes a parts
 * directory of its own (test-results/abuse/parts/<run>/, handed to the fuzzers as `abuseParts`, so two runs
 * at once do not mix their counts); after it, merges the parts the fuzzers wrote there into
 * `test-results/abuse/report.json` and prints a summary line per decoder. Format (docs/testing.md):
 *
 * ```
 * { "generated": ISO time, "casesPerTarget": PALOMA_FUZZ_CASES, "seed": fast-check seed,
 *   "totals": { "targets", "cases", "accepted", "rejected", "byCode": { "<area>/<CODE>": n } },
 *   "families": { "<family>": { "cases", "accepted", "rejected", "byCode" } },
 *   "targets": [ { "target", "family", "cases", "accepted", "rejected", "byCode", "maxCaseMs",
 *                  "heapGrowthBytes", "heapPeakBytes", "ms", "seed" } ] }
 * ```
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { TestProject } from 'vitest/node'
import type { TargetStats } from './support/fuzz.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where this run's fuzzers write their parts of the report. */
    abuseParts: string
  }
}

const DIR = resolve(import.meta.dirname, '../../test-results/abuse')
let run = ''

interface Totals {
  cases: number
  accepted: number
  rejected: number
  byCode: Record<string, number>
}

function add(into: Totals, t: TargetStats, prefix = ''): void {
  into.cases += t.cases
  into.accepted += t.accepted
  into.rejected += t.rejected
  for (const [code, n] of Object.entries(t.byCode)) {
    const key = `${prefix}${code}`
    into.byCode[key] = (into.byCode[key] ?? 0) + n
  }
}

const empty = (): Totals => ({ cases: 0, accepted: 0, rejected: 0, byCode: {} })

export function setup(project: TestProject): void {
  run = join(DIR, 'parts', `${Date.now()}-${process.pid}`)
  mkdirSync(run, { recursive: true })
  project.provide('abuseParts', run)
}

export function teardown(): void {
  if (!existsSync(run)) return
  const targets: TargetStats[] = readdirSync(run)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => JSON.parse(readFileSync(join(run, f), 'utf8')) as TargetStats[])
  rmSync(run, { recursive: true, force: true })
  if (targets.length === 0) return
  const totals = { targets: targets.length, ...empty() }
  const families: Record<string, Totals> = {}
  for (const t of targets) {
    add(totals, t, `${t.family}/`)
    add((families[t.family] ??= empty()), t)
  }
  const report = {
    generated: new Date().toISOString(),
    casesPerTarget: Number(process.env.PALOMA_FUZZ_CASES ?? 10_000),
    seed: targets[0]?.seed,
    totals,
    families,
    targets,
  }
  mkdirSync(DIR, { recursive: true })
  writeFileSync(join(DIR, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)
  const lines = targets.map(
    (t) =>
      `  ${t.target.padEnd(72)} ${String(t.cases).padStart(8)} cases ${String(t.accepted).padStart(7)} accepted ` +
      `${String(t.rejected).padStart(8)} rejected  max ${t.maxCaseMs} ms  ${(t.ms / 1000).toFixed(1)} s`,
  )
  console.log(
    `\nabuse fuzz report (test-results/abuse/report.json): ${totals.targets} decoders, ${totals.cases} cases, ` +
      `${totals.accepted} accepted, ${totals.rejected} rejected with a typed error\n${lines.join('\n')}\n`,
  )
}
