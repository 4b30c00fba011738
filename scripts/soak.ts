/**
 * `npm run soak`: the long runs, one after another, and one JSON report of every count they print.
 *
 *   node scripts/soak.ts                  every stage: crypto, group, abuse, faults
 *   node scripts/soak.ts faults abuse     only those
 *   node scripts/soak.ts --report-only    no run: the report from every log in test-results/soak/ (stages
 *                                         run apart, or one suite run again: `<name>.log` each)
 *
 * Each stage is its npm script (`npm run soak:<stage>`, runnable alone), its output kept in
 * `test-results/soak/<stage>.log`. The suites print their counts as JSON lines with a `suite` key (the
 * abuse fuzzers write `test-results/abuse/report.json`); the report gathers them, adds totals and each
 * stage's test counts and duration as Vitest printed them, and goes to `test-results/soak/report.json`
 * and stdout. Exit status: 1 when any stage failed (the report is written all the same).
 */
import { spawn } from 'node:child_process'
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dirname, '..')
const DIR = join(ROOT, 'test-results/soak')
const STAGES = ['crypto', 'group', 'abuse', 'faults'] as const
type Stage = (typeof STAGES)[number]

type Json = Record<string, unknown>

function runStage(stage: Stage): Promise<number> {
  const log = createWriteStream(join(DIR, `${stage}.log`))
  return new Promise((res) => {
    const child = spawn('npm', ['run', `soak:${stage}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    for (const out of [child.stdout, child.stderr]) {
      out.on('data', (d: Buffer) => {
        process.stdout.write(d)
        log.write(d)
      })
    }
    child.on('close', (code) => log.end(() => res(code ?? 1)))
  })
}

// Vitest's summary lines, without their colours.
const ESC = String.fromCharCode(27)
const plain = (s: string) => s.replaceAll(new RegExp(`${ESC}\\[[0-9;]*m`, 'g'), '')

function summary(log: string): Json {
  const text = plain(log)
  const tests = /^\s*Tests\s+(.+)$/m.exec(text)?.[1]?.trim()
  const duration = /^\s*Duration\s+([\d.]+)(ms|s)\b/m.exec(text)
  const seconds = duration === null ? undefined : Number(duration[1]) * (duration[2] === 'ms' ? 0.001 : 1)
  return {
    tests: tests ?? 'no summary (the run did not finish)',
    passed: tests !== undefined && !/failed/.test(tests),
    ...(seconds === undefined ? {} : { seconds: Math.round(seconds) }),
  }
}

/** Every JSON object with a `suite` key printed on a line of its own. */
function records(log: string): Json[] {
  return plain(log)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('{"suite"'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Json]
      } catch {
        return []
      }
    })
}

const num = (v: unknown) => (typeof v === 'number' ? v : 0)
const sum = (rs: Json[], key: string) => rs.reduce((a, r) => a + num(r[key]), 0)

function report(logs: string[]): Json {
  const all: Json[] = []
  const ran: Json = {}
  for (const name of logs) {
    const path = join(DIR, `${name}.log`)
    if (!existsSync(path)) continue
    const log = readFileSync(path, 'utf8')
    ran[name] = summary(log)
    all.push(...records(log))
  }
  const bySuite = (name: string) => all.filter((r) => r.suite === name)
  const kills = bySuite('relay-kills')
  const reopens = bySuite('reopen')
  const delivery = [...kills, ...reopens]
  const abusePath = join(DIR, 'abuse-report.json')
  const abuse = existsSync(abusePath) ? (JSON.parse(readFileSync(abusePath, 'utf8')) as Json) : undefined
  const abuseTotals = (abuse?.totals ?? {}) as Json
  const floods = bySuite('relay-flood')
  return {
    generated: new Date().toISOString(),
    host: { cpus: cpus().length, load1: loadavg()[0], node: process.version },
    stages: ran,
    totals: {
      messages_sent: sum(delivery, 'sent'),
      acknowledged: sum(delivery, 'acknowledged'),
      delivered: sum(delivery, 'delivered'),
      lost: sum(delivery, 'lost'),
      duplicated: sum(delivery, 'duplicated'),
      relay_kills: sum(kills, 'kills'),
      recoveries: sum(kills, 'recoveries'),
      recovery_ms_max: Math.max(0, ...kills.map((r) => num((r.recovery_ms as Json | undefined)?.max))),
      tab_reopens: sum(reopens, 'receiver_reopens') + sum(reopens, 'sender_reopens'),
      crypto_fuzz_steps: sum(bySuite('crypto-interaction'), 'steps'),
      group_fuzz_steps: sum(bySuite('group-fuzz'), 'steps'),
      decoder_fuzz_cases: num(abuseTotals.cases),
      inputs_rejected: num(abuseTotals.rejected),
      flood_refusals: Object.fromEntries(
        floods.map((f) => {
          const refused = f.refused as { series: string; count: number }
          return [refused.series, refused.count]
        }),
      ),
    },
    faults: { 'relay-kills': kills, reopen: reopens, floods },
    crypto: bySuite('crypto-interaction'),
    group: bySuite('group-fuzz'),
    ...(abuse === undefined
      ? {}
      : {
          abuse: {
            generated: abuse.generated,
            casesPerTarget: abuse.casesPerTarget,
            seed: abuse.seed,
            totals: abuse.totals,
            families: abuse.families,
          },
        }),
  }
}

const args = process.argv.slice(2)
const reportOnly = args.includes('--report-only')
const named = args.filter((a): a is Stage => (STAGES as readonly string[]).includes(a))
const unknown = args.filter((a) => a !== '--report-only' && !named.includes(a as Stage))
if (unknown.length > 0) {
  console.error(`unknown stage ${unknown.join(', ')}: the stages are ${STAGES.join(', ')}`)
  process.exit(2)
}
const stages = named.length > 0 ? named : [...STAGES]
mkdirSync(DIR, { recursive: true })
let failed = false
if (!reportOnly) {
  for (const stage of stages) {
    const code = await runStage(stage)
    if (stage === 'abuse' && existsSync(join(ROOT, 'test-results/abuse/report.json')))
      copyFileSync(join(ROOT, 'test-results/abuse/report.json'), join(DIR, 'abuse-report.json'))
    if (code !== 0) failed = true
  }
}
const everyLog = () =>
  readdirSync(DIR)
    .filter((f) => f.endsWith('.log'))
    .map((f) => f.slice(0, -'.log'.length))
const out = report(reportOnly ? everyLog() : stages)
writeFileSync(join(DIR, 'report.json'), `${JSON.stringify(out, null, 2)}\n`)
console.log(JSON.stringify(out.totals, null, 2))
console.log(`report: ${join(DIR, 'report.json')}`)
process.exit(failed ? 1 : 0)
