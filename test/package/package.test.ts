// The package as a user gets it: `npm pack`, the tarball installed into a fresh project beside
// @azure/keyvault-keys, and a vitest suite there whose global setup starts the emulator through
// the package's entry point and whose test uses the official KeyClient with what it returns.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const work = mkdtempSync(path.join(os.tmpdir(), 'mhsm-package-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string, timeout = 600_000): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout, env: { ...process.env, NODE_EXTRA_CA_CERTS: '', npm_config_fund: 'false', npm_config_audit: 'false' } }, (error, stdout, stderr) =>
      resolve({ code: error ? 1 : 0, output: `${stdout}${stderr}` }),
    );
  });
}

it('installs from its tarball and starts from a vitest global setup of another project', async () => {
  const packed = await run('npm', ['pack', '--pack-destination', work, '--ignore-scripts'], root);
  expect(packed.code, packed.output).toBe(0);
  const tarball = readdirSync(work).find((name) => name.endsWith('.tgz')) as string;
  expect(tarball).toMatch(/^managed-hsm-emulator-.*\.tgz$/);

  const app = path.join(work, 'app');
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'an-application', private: true, type: 'module' }),
    'vitest.config.mjs': "export default { test: { globalSetup: ['./global-setup.mjs'], testTimeout: 60000 } };\n",
    'global-setup.mjs': [
      "import { startEmulator } from 'managed-hsm-emulator';",
      'let hsm;',
      'export async function setup({ provide }) {',
      '  hsm = await startEmulator();',
      "  provide('hsm', { url: hsm.url, ca: hsm.ca, admin: hsm.admin });",
      '}',
      'export async function teardown() { await hsm?.stop(); }',
      '',
    ].join('\n'),
    'sign.test.mjs': [
      "import { inject, it, expect } from 'vitest';",
      "import { KeyClient, CryptographyClient } from '@azure/keyvault-keys';",
      "import { EmulatorCredential } from 'managed-hsm-emulator';",
      "it('signs with a key of the emulator', async () => {",
      "  const { url, ca, admin } = inject('hsm');",
      '  const credential = new EmulatorCredential(url, admin, ca);',
      '  const options = { tlsOptions: { ca }, disableChallengeResourceVerification: true };',
      "  const key = await new KeyClient(url, credential, options).createEcKey('from-a-package', { curve: 'P-256', hsm: true });",
      "  const signed = await new CryptographyClient(key, credential, options).sign('ES256', Buffer.alloc(32, 1));",
      '  expect(signed.result.length).toBe(64);',
      '});',
      '',
    ].join('\n'),
  };
  (await import('node:fs')).mkdirSync(app);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(app, name), content);
  const installed = await run('npm', ['install', '--prefer-offline', '--no-package-lock', path.join(work, tarball), '@azure/keyvault-keys@4.10.2'], app);
  expect(installed.code, installed.output).toBe(0);
  // The project's own vitest, run in the application's directory: it resolves the packages there.
  const tested = await run(process.execPath, [path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--root', app], app, 180_000);
  expect(tested.code, tested.output).toBe(0);
  expect(tested.output).toMatch(/1 passed/);
}, 900_000);
