/**
 * `npm run bench [-- --quick] [-- --only mailbox,directory]`: builds the app and runs every benchmark in bench/,
 * each printing JSON lines on stdout (passed through). Exits non-zero when a benchmark fails or prints no JSON
 * line: that, and only that, is what CI checks (no timing assertions).
 *
 * `--quick` runs each benchmark at its smallest meaningful size (the whole run in under 3 minutes on the
 * project's 2-core machine): the relay benchmarks take `--quick`; the others' sizes are set through their
 * environment knobs. Each benchmark's wall time goes to stderr.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const quick = process.argv.includes('--quick')
const onlyAt = process.argv.indexOf('--only')
const only = onlyAt === -1 ? undefined : new Set((process.argv[onlyAt + 1] ?? '').split(','))

interface Bench {
  name: string
  /** Arguments in quick mode. */
  quickArgs?: string[]
  /** Environment in quick mode (benchmarks without a --quick flag). */
  quickEnv?: Record<string, string>
}

const QUICK_ENV = { PALOMA_BENCH_QUICK: '1' }
const BENCHES: Bench[] = [
  { name: 'foundation' },
  { name: 'start', quickArgs: ['--runs', '1'] },
  { name: 'roundtrip', quickEnv: QUICK_ENV },
  { name: 'messaging', quickEnv: QUICK_ENV },
  { name: 'crypto' },
  { name: 'group' },
  { name: 'group-delivery', quickEnv: QUICK_ENV },
  { name: 'vault', quickEnv: { PALOMA_BENCH_RUNS: '1' } },
  { name: 'directory', quickArgs: ['--quick'] },
  { name: 'mailbox', quickArgs: ['--quick'] },
]

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; json: number }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    })
    let json = 0
    let pending = ''
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk)
      pending += chunk.toString()
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        try {
          const value = JSON.parse(line) as unknown
          if (typeof value === 'object' && value !== null) json++
        } catch {
          // not a JSON line
        }
      }
    })
    child.on('close', (code) => done({ code, json }))
  })
}

const failures: string[] = []
const vite = resolve(root, 'node_modules/vite/bin/vite.js')
for (const build of [
  [vite, 'build', '--logLevel', 'error'],
  [vite, 'build', '--mode', 'test', '--outDir', 'dist-test', '--logLevel', 'error'],
]) {
  if ((await run(build)).code !== 0) failures.push(`build ${build.slice(1).join(' ')}`)
}
const t0 = performance.now()
for (const bench of BENCHES) {
  if (only !== undefined && !only.has(bench.name)) continue
  const file = resolve(root, `bench/${bench.name}.ts`)
  if (!existsSync(file)) continue
  const t = performance.now()
  const { code, json } = await run(
    [file, ...(quick ? (bench.quickArgs ?? []) : [])],
    quick ? (bench.quickEnv ?? {}) : {},
  )
  const s = ((performance.now() - t) / 1000).toFixed(1)
  process.stderr.write(`[bench] ${bench.name}: ${s} s, exit ${code}, ${json} JSON line(s)\n`)
  if (code !== 0 || json === 0) failures.push(`${bench.name} (exit ${code}, ${json} JSON lines)`)
}
process.stderr.write(
  `[bench] all: ${((performance.now() - t0) / 1000).toFixed(1)} s${quick ? ' (quick)' : ''}\n`,
)
if (failures.length > 0) {
  process.stderr.write(`[bench] failed: ${failures.join('; ')}\n`)
  process.exitCode = 1
}
