// The mhsm command as a process: the embedded token on first start, a swapped-in module, and
// one clear error line (and a non-zero exit) for each way the token configuration can be wrong.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateSoftHsm } from '../../src/token/embedded-softhsm.js';
import { runCli, startCli } from '../helpers/cli.js';

let dataDir: string;

beforeAll(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-cli-'));
});

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

function singleErrorLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^mhsm: error: /);
  return lines[0] as string;
}

describe('the embedded SoftHSM2 token', () => {
  it('is provisioned on first use with 0600 PINs, and reused afterwards', async () => {
    const first = await runCli(['capabilities', '--data-dir', dataDir]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^token: 'mhsm' \(SoftHSM project SoftHSM v2, serial [0-9a-f]{16}\)/m);
    expect(first.stdout).toMatch(/^CKM_AES_GCM\s+16-32\s+encrypt decrypt/m);

    const pinsPath = path.join(dataDir, 'softhsm', 'pins.json');
    expect(statSync(pinsPath).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    const pins = JSON.parse(readFileSync(pinsPath, 'utf8')) as { userPin: string; soPin: string };
    expect(pins.userPin).toMatch(/^[0-9a-f]{32}$/);
    expect(pins.soPin).not.toBe(pins.userPin);
    expect(first.stdout).not.toContain(pins.userPin);

    const second = await runCli(['capabilities', '--data-dir', dataDir, '--json']);
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout) as {
      token: { serialNumber: string };
      algorithms: Array<{ name: string; level: string }>;
      mechanisms: Array<{ name: string; operations: string[] }>;
    };
    expect(report.algorithms).toHaveLength(30);
    expect(report.algorithms.find((a) => a.name === 'A256GCM')?.level).toBe('native');
    expect(first.stdout).toContain(report.token.serialNumber);
    expect(report.mechanisms.find((m) => m.name === 'CKM_RSA_PKCS_PSS')?.operations).toEqual(['sign', 'verify']);

    const markdown = await runCli(['capabilities', '--data-dir', dataDir, '--markdown']);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toMatch(/^# Capabilities of SoftHSM project SoftHSM v2/);
    expect(markdown.stdout).toContain('| RSA-OAEP-256 | RSA | fallback |');
    expect(markdown.stdout).toContain('| ES256 | EC | native | CKM_ECDSA on a sha256 digest |');
    expect(markdown.stdout).toContain('| CKM_AES_GCM | 0x00001087 | 16-32 | encrypt, decrypt |');
    const mechanismSection = markdown.stdout.split('## Token mechanisms')[1] ?? '';
    expect(mechanismSection.split('\n').filter((line) => line.startsWith('| CKM_')).length).toBe(report.mechanisms.filter((m) => m.name.startsWith('CKM_')).length);
  });

  it('`mhsm start` reports the token and where it listens, runs until SIGTERM and stops cleanly', async () => {
    const { child, output } = await startCli(['start', '--data-dir', dataDir, '--port', '0'], /listening on https:\/\/localhost:\d+/);
    expect(output()).toMatch(/token: 'mhsm'/);
    expect(output()).toContain(`CA certificate: ${path.join(dataDir, 'ca.pem')}`);
    expect(output()).toContain(`administrator credentials: ${path.join(dataDir, 'admin.json')}`);
    expect(statSync(path.join(dataDir, 'admin.json')).mode & 0o777).toBe(0o600);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output()).toContain('SIGTERM: stopping');
  });

  it('says how to install SoftHSM2 when it cannot be found', async () => {
    const result = await runCli(['capabilities', '--data-dir', dataDir], { MHSM_PKCS11_MODULE: '/nonexistent/libsofthsm2.so' });
    expect(result.code).toBe(1);
    expect(singleErrorLine(result.stderr)).toContain('MHSM_PKCS11_MODULE names /nonexistent/libsofthsm2.so');
  });
});

describe('a configured module', () => {
  // The embedded token, reached the way a vendor module would be: --module, --token-label, PIN.
  const env = () => ({ SOFTHSM2_CONF: path.join(dataDir, 'softhsm', 'softhsm2.conf') });
  const pin = () => (JSON.parse(readFileSync(path.join(dataDir, 'softhsm', 'pins.json'), 'utf8')) as { userPin: string }).userPin;

  it('opens with --module, --token-label and MHSM_PIN', async () => {
    const result = await runCli(['capabilities', '--module', locateSoftHsm(), '--token-label', 'mhsm'], { ...env(), MHSM_PIN: pin() });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^token: 'mhsm'/m);
  });

  it('a wrong PIN gives one error line and exit 1', async () => {
    const result = await runCli(['capabilities', '--module', locateSoftHsm(), '--token-label', 'mhsm', '--pin', 'not-the-pin'], env());
    expect(result.code).toBe(1);
    expect(singleErrorLine(result.stderr)).toBe("mhsm: error: login to token 'mhsm' failed: wrong PIN");
    expect(result.stderr).not.toContain('not-the-pin');
  });

  it('an unknown label gives one error line naming the tokens found', async () => {
    const result = await runCli(['capabilities', '--module', locateSoftHsm(), '--token-label', 'other', '--pin', '1234'], env());
    expect(result.code).toBe(1);
    expect(singleErrorLine(result.stderr)).toMatch(/no token labelled 'other' in .* \(tokens found: 'mhsm'\)/);
  });

  it('a missing module or a file that is not one gives one error line', async () => {
    const missing = await runCli(['capabilities', '--module', '/nonexistent/vendor.so', '--token-label', 'x', '--pin', '1']);
    expect(missing.code).toBe(1);
    expect(singleErrorLine(missing.stderr)).toContain('PKCS#11 module not found: /nonexistent/vendor.so');
    const notModule = await runCli(['capabilities', '--module', path.join(dataDir, 'softhsm', 'softhsm2.conf'), '--token-label', 'x', '--pin', '1']);
    expect(notModule.code).toBe(1);
    expect(singleErrorLine(notModule.stderr)).toContain('cannot load PKCS#11 module');
  });

  it('an incomplete module configuration gives one error line', async () => {
    const result = await runCli(['capabilities', '--module', '/x.so']);
    expect(result.code).toBe(1);
    expect(singleErrorLine(result.stderr)).toBe('mhsm: error: --module needs --token-label (MHSM_TOKEN_LABEL) and --pin (MHSM_PIN)');
  });
});
