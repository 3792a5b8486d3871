// The token suite alone, as token-layer.test.ts runs it against libmhsm-pkcs11.so (the module
// MHSM_TEST_TOKEN_MODULE names), its JSON report to MHSM_TOKEN_SUITE_REPORT and nowhere else.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/token/token.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: [['json', { outputFile: process.env.MHSM_TOKEN_SUITE_REPORT ?? 'token-suite.json' }]],
  },
});
