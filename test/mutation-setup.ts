// The global setup of the mutation run (vitest.mutation.config.ts). Stryker runs each test file in
// a worker thread, and a worker's process.env is its own copy: SoftHSM2, reading SOFTHSM2_CONF from
// the process's real environment at C_Initialize, would never see the configuration a test token
// writes. So the real environment names one configuration, set here on the main thread before any
// worker starts, whose token directory every test token of the run shares; each test token keeps
// its own label and PINs, and is found by its label as always.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { softHsmConfig } from '../src/token/embedded-softhsm.js';
import setupTls from './global-setup.js';

export default async function setup(): Promise<() => void> {
  const teardownTls = await setupTls();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-mutation-softhsm-'));
  const tokenDir = path.join(dir, 'tokens');
  mkdirSync(tokenDir, { mode: 0o700 });
  const config = path.join(dir, 'softhsm2.conf');
  writeFileSync(config, softHsmConfig(tokenDir), { mode: 0o600 });
  process.env.SOFTHSM2_CONF = config;
  process.env.MHSM_MUTATION_TOKEN_DIR = tokenDir;
  return () => {
    teardownTls();
    rmSync(dir, { recursive: true, force: true });
  };
}
