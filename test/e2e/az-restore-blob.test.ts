// The Azure CLI (Debian azure-cli 2.45) reads our security-domain file offline: keys made by
// `mhsm sd keys`, a file made by buildSecurityDomainFile, `az keyvault security-domain
// restore-blob` with every pair of the keys, and the blobs az writes opened as the server opens
// them. Our own `mhsm sd restore-blob` must write the same shape as az. Skipped, saying so, where
// az is not installed; in CI (CI=true) a missing az is a failure.
import { execFile, execFileSync } from 'node:child_process';
import { constants, createPrivateKey, privateDecrypt, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ceremonyKeyPair, x5tS256 } from '../../src/hsm/security-domain/certificates.js';
import type { ParsedJwe } from '../../src/hsm/security-domain/jwe.js';
import { type DomainItem, buildSecurityDomainFile, openRestoreBlob, parseRestoreBlob } from '../../src/hsm/security-domain/sd-file.js';
import { runCli } from '../helpers/cli.js';

function azInstalled(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v az'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const installed = azInstalled();
const inCi = process.env.CI === 'true';
if (!installed && !inCi) console.warn('az-restore-blob: skipped: the Azure CLI (`az`, Debian package azure-cli) is not installed');

let dir: string;
let keyPaths: string[];
let transferCertPath: string;
let transferKeyPem: string;
let sdFile: string;
const items: DomainItem[] = [
  { tag: 'hsm_backup', plaintext: randomBytes(500) },
  { tag: 'base_enclave_backup', plaintext: Buffer.from('{"keys":[],"roles":[]}') },
];

function az(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // az 2.45 writes its configuration and logs under AZURE_CONFIG_DIR (~/.azure by default).
    const env = { ...process.env, AZURE_CONFIG_DIR: path.join(dir, 'azure'), AZURE_CORE_COLLECT_TELEMETRY: 'no' };
    execFile('az', args, { env, timeout: 90_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

function restoreBlobWithAz(keys: string[], out: string) {
  return az(['keyvault', 'security-domain', 'restore-blob', '--sd-file', sdFile, '--sd-exchange-key', transferCertPath, '--sd-wrapping-keys', ...keys, '--sd-file-restore-blob', out]);
}

/** What the server does with the transfer key (in the token there; with node:crypto here). */
const transferDecrypt = async (jwe: ParsedJwe) =>
  privateDecrypt({ key: createPrivateKey(transferKeyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, jwe.encryptedKey);

async function expectOriginalItems(blobText: string): Promise<void> {
  const blob = parseRestoreBlob(blobText);
  expect(blob.WrappedKey.x5t_256).toBe(x5tS256(Buffer.from(new X509Certificate(readFileSync(transferCertPath)).raw)));
  const opened = await openRestoreBlob(blob, transferDecrypt);
  expect(opened.map((item) => item.tag)).toEqual(items.map((item) => item.tag));
  opened.forEach((item, i) => expect(item.plaintext.equals((items[i] as DomainItem).plaintext)).toBe(true));
}

/** The blob with its random JWEs blanked: what must be byte-for-byte the same as az's. */
const shapeOf = (text: string) => text.replace(/"(compact_jwe|enc_key)": "[A-Za-z0-9_.-]+"/g, '"$1": "…"');

describe.skipIf(!installed && !inCi)('az keyvault security-domain restore-blob (Azure CLI 2.45) on our file', () => {
  beforeAll(async () => {
    if (!installed) return;
    dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-az-sd-'));
    const made = await runCli(['sd', 'keys', '--count', '3', '--out', path.join(dir, 'keys')]);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    keyPaths = [1, 2, 3].map((i) => path.join(dir, 'keys', `sd-key-${i}.pem`));
    for (const keyPath of keyPaths) expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const recipients = keyPaths.map((keyPath) => {
      const certificate = new X509Certificate(readFileSync(keyPath.replace(/\.pem$/, '.cer')));
      return { x5t256: x5tS256(Buffer.from(certificate.raw)), publicKey: certificate.publicKey };
    });
    sdFile = path.join(dir, 'sd.json');
    writeFileSync(sdFile, buildSecurityDomainFile({ masterKey: randomBytes(32), items, recipients, required: 2 }));
    const transfer = await ceremonyKeyPair('transfer key');
    transferCertPath = path.join(dir, 'transfer.cer');
    writeFileSync(transferCertPath, transfer.certificatePem);
    transferKeyPem = transfer.privateKeyPem;
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is accepted with every pair of the three keys, and each blob az writes opens to the original items', async () => {
    if (!installed) throw new Error('azure-cli is needed for this test in CI: apt-get install azure-cli');
    for (const [a, b] of [[0, 1], [0, 2], [2, 1]] as const) {
      const out = path.join(dir, `az-blob-${a}${b}.json`);
      const { code, stderr } = await restoreBlobWithAz([keyPaths[a] as string, keyPaths[b] as string], out);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      await expectOriginalItems(readFileSync(out, 'utf8'));
    }
  }, 300_000);

  it('is refused by az with only one key of a quorum of two', async () => {
    if (!installed) throw new Error('azure-cli is needed for this test in CI: apt-get install azure-cli');
    const { code, stderr } = await restoreBlobWithAz([keyPaths[0] as string], path.join(dir, 'az-blob-one.json'));
    expect(code).not.toBe(0);
    expect(stderr).toContain('Length of --sd-wrapping-keys list should not less than 2');
  }, 120_000);

  it('gives a blob from `mhsm sd restore-blob` with the same keys, order and separators as az', async () => {
    if (!installed) throw new Error('azure-cli is needed for this test in CI: apt-get install azure-cli');
    const ours = path.join(dir, 'our-blob.json');
    const run = await runCli(['sd', 'restore-blob', '--sd-file', sdFile, '--key', keyPaths[1] as string, '--key', keyPaths[2] as string, '--transfer-key', transferCertPath, '--out', ours]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(statSync(ours).mode & 0o777).toBe(0o600);
    const oursText = readFileSync(ours, 'utf8');
    const azText = readFileSync(path.join(dir, 'az-blob-01.json'), 'utf8');
    expect(shapeOf(oursText)).toBe(shapeOf(azText));
    expect(shapeOf(oursText)).toMatch(/^\{"EncData": \{"data": \[\{"compact_jwe": "…", "tag": "hsm_backup"\}, \{"compact_jwe": "…", "tag": "base_enclave_backup"\}\], "kdf": "sp108_kdf"\}, "WrappedKey": \{"enc_key": "…", "x5t_256": "[A-Za-z0-9_-]{43}"\}\}$/);
    await expectOriginalItems(oursText);

    const one = await runCli(['sd', 'restore-blob', '--sd-file', sdFile, '--key', keyPaths[0] as string, '--transfer-key', transferCertPath, '--out', path.join(dir, 'x.json')]);
    expect(one.code).toBe(1);
    expect(one.stderr.trim()).toBe('mhsm: error: Insufficient shares available: this security domain file needs 2 of its keys, 1 given');
  }, 120_000);
});
