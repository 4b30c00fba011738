/**
 * The relay benchmarks whose quick mode takes well under a minute: each must run to the end and print its JSON
 * line with the keys docs/performance.md reads (no timing is asserted). Only bench/mailbox.ts qualifies (20-30 s
 * here); bench/directory.ts --quick starts a 5-relay then a 10-relay network and takes 50-70 s on this shared
 * machine, and the browser and crypto benchmarks take minutes: `npm run bench -- --quick` runs them all and
 * fails when one crashes or prints no JSON.
 */
import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')

function runQuick(name: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, [resolve(root, `bench/${name}.ts`), '--quick'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  })
  expect(r.status, `bench/${name}.ts --quick exited ${r.status}:\n${r.stderr}`).toBe(0)
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'))
  expect(lines).toHaveLength(1)
  return JSON.parse(lines[0]!) as Record<string, unknown>
}

const numbers = (o: unknown, keys: string[]): void => {
  for (const k of keys) expect(typeof (o as Record<string, unknown>)[k], k).toBe('number')
}

describe('relay benchmarks, quick', () => {
  it('bench/mailbox.ts prints every commit mode, its ratios to the baseline, and served the early burst', () => {
    const out = runQuick('mailbox')
    expect(out).toMatchObject({ bench: 'mailbox', quick: true, baseline: 'each' })
    for (const mode of ['each', 'group_inline', 'group_thread']) {
      const m = out[mode] as Record<string, unknown>
      numbers(m, ['stored_per_s', 'pipelined_per_s', 'fetched_acked_per_s'])
      numbers(m.ack_ms, ['p50', 'p99', 'max'])
      // Not a timing: 32 deposits from a connection still opening all succeed (the crash this bench had).
      expect(m.burst_ok).toBe(32)
    }
    for (const mode of ['group_inline', 'group_thread']) {
      numbers((out.ratio_to_baseline as Record<string, unknown>)[mode], ['stored_per_s', 'ack_p99'])
    }
  })
})
