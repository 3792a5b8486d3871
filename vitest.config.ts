import { defineConfig } from 'vitest/config';

// Each test file runs in its own process: SoftHSM2 reads SOFTHSM2_CONF once per process.
const common = { pool: 'forks', isolate: true, testTimeout: 60_000, hookTimeout: 60_000 } as const;

// Tests that measure the event loop or latencies run alone, after the rest, so that other test files
// competing for the two cores cannot make a timer late.
const TIMING = ['test/native/async.test.ts', 'test/token/event-loop.test.ts', 'test/e2e/event-loop.test.ts', 'test/reliability/short-campaigns.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    // The JSON report lets .ci/run print one plain "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
    projects: [
      { test: { ...common, name: 'main', include: ['test/**/*.test.ts'], exclude: TIMING, sequence: { groupOrder: 0 } } },
      { test: { ...common, name: 'timing', include: TIMING, sequence: { groupOrder: 1 } } },
    ],
  },
});
