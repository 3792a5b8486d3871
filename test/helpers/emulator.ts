// `mhsm start` as a child process over real TLS, on a free port, with its own data directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AdminCredentials } from '../../src/identity/identity.js';
import { MHSM_BIN } from './cli.js';

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

export function startEmulatorProcess(dataDir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<EmulatorProcess> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [MHSM_BIN, 'start', '--data-dir', dataDir, '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let output = '';
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the emulator did not start within 30 s:\n${output}`));
    }, 30_000);
    let ready = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready ? null : /listening on (https:\/\/\S+)/.exec(output);
      if (match) {
        ready = true;
        clearTimeout(timer);
        resolve({
          url: match[1] as string,
          dataDir,
          admin: JSON.parse(readFileSync(path.join(dataDir, 'admin.json'), 'utf8')) as AdminCredentials,
          output: () => output,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the emulator exited with ${code} before listening:\n${output}`));
    });
  });
}

export function removeDataDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
}
