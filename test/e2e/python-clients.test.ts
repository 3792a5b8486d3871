// The official Python clients (Debian's python3-azure: azure-identity, azure-keyvault-keys and
// azure-keyvault-administration) drive keys and roles. Skipped, saying so, where the package
// is not installed; CI installs it.
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./python/clients.py', import.meta.url));

function pythonClientInstalled(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import azure.keyvault.administration, azure.keyvault.keys, azure.identity'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const installed = pythonClientInstalled();
let emulator: EmulatorProcess;

beforeAll(async () => {
  if (installed) emulator = await startEmulatorProcess(seededDataDir());
});

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

// In CI a missing tool is a failure, never a skip.
it('needs python3-azure in CI', () => {
  if (process.env.CI === 'true') expect(installed, 'python3-azure is needed in CI (apt-get install python3-azure)').toBe(true);
});

it.skipIf(!installed)('Python KeyClient, CryptographyClient and KeyVaultAccessControlClient with azure-identity (needs python3-azure)', async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      PYTHON,
      [SCRIPT],
      {
        env: {
          PATH: process.env.PATH,
          MHSM_URL: emulator.url,
          MHSM_ADMIN: path.join(emulator.dataDir, 'admin.json'),
          MHSM_PRINCIPAL_ID: randomUUID(),
          REQUESTS_CA_BUNDLE: path.join(emulator.dataDir, 'ca.pem'),
        },
        timeout: 60_000,
      },
      (error, out, err) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: out, stderr: err }),
    );
  });
  expect(stderr).toBe('');
  expect(stdout).toContain('python access control: ok');
  expect(code).toBe(0);
});
