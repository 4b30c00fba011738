import { defineConfig } from 'vitest/config'

/**
 * Fault tests (`npm run test:faults`, part of `npm test`; `npm run soak:relay` runs them longer): real relay
 * processes under floods from a generator process, one file at a time.
 */
export default defineConfig({
  test: {
    name: 'faults',
    root: new URL('../..', import.meta.url).pathname,
    include: ['tests/faults/**/*.test.ts'],
    environment: 'node',
    testTimeout: 600_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
})
