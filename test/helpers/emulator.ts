// `mhsm start` as a child process over real TLS, on a free port, with its own data directory.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AdminCredentials } from '../../src/identity/identity.js';
import { spawnEmulator } from '../../src/embed/emulator-process.js';

export interface EmulatorProcess {
  url: string;
  dataDir: string;
  admin: AdminCredentials;
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** A data directory that already holds the test run's CA (see test/global-setup.ts). */
export function seededDataDir(): string {
  const caDir = process.env.MHSM_TEST_CA_DIR;
  if (!caDir) throw new Error('MHSM_TEST_CA_DIR is not set: run the e2e tests through vitest (test/global-setup.ts)');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-e2e-'));
  mkdirSync(path.join(dataDir, 'tls'), { mode: 0o700 });
  copyFileSync(path.join(caDir, 'ca.pem'), path.join(dataDir, 'ca.pem'));
  copyFileSync(path.join(caDir, 'tls', 'ca-key.pem'), path.join(dataDir, 'tls', 'ca-key.pem'));
  copyFileSync(path.join(caDir, 'tls', 'ca-scope.json'), path.join(dataDir, 'tls', 'ca-scope.json'));
  return dataDir;
}

/** `mhsm start` on the data directory through the package's own embedding API (src/embed/). */
export async function startEmulatorProcess(dataDir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<EmulatorProcess> {
  const child = await spawnEmulator({ dataDir, args, env });
  return {
    url: child.url,
    dataDir,
    admin: JSON.parse(readFileSync(path.join(dataDir, 'admin.json'), 'utf8')) as AdminCredentials,
    output: child.output,
    stop: () => child.stop(),
  };
}

export function removeDataDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
}
