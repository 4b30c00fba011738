import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], environment: 'node' } },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        // Crashes, kills, reloads and floods with real processes (`npm run soak:faults` runs them longer):
        // one file at a time, long timeouts.
        test: {
          name: 'faults',
          include: ['tests/faults/**/*.test.ts'],
          environment: 'node',
          testTimeout: 600_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        // Hostile input: decoder fuzzers (PALOMA_FUZZ_CASES, `npm run soak:abuse`), forged and replayed
        // records and envelopes against real relay processes, mailbox isolation, damaged local data.
        // --expose-gc lets the fuzzers measure heap growth after a full collection.
        test: {
          name: 'abuse',
          include: ['tests/abuse/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 90_000,
          // Two files at once: the fuzzers are CPU-bound, the relay-process files mostly wait.
          maxWorkers: 2,
          execArgv: ['--expose-gc'],
          globalSetup: ['tests/abuse/report.ts'],
        },
      },
    ],
  },
})
