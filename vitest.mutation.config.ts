import { defineConfig } from 'vitest/config';

// The tests Stryker runs against each mutant (npm run mutation): those that exercise the mutated
// modules in their own process. The end-to-end tests drive the built emulator in a child
// process, which never sees a mutant, so they cannot kill one and are left out. Stryker runs the
// files in worker threads whatever the pool says here; test/mutation-setup.ts makes the
// token-backed ones work there.
export default defineConfig({
  test: {
    globalSetup: ['test/mutation-setup.ts'],
    pool: 'forks',
    isolate: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    include: ['test/unit/**/*.test.ts', 'test/rbac/**/*.test.ts', 'test/network/**/*.test.ts', 'test/hsm/**/*.test.ts', 'test/identity/**/*.test.ts'],
  },
});
