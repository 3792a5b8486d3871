// The security domain end to end, over HTTPS with the mhsm command: an HSM that waits for its
// activation, activation by download, the first-start ceremony, and recovery of one HSM's domain
// into a new one (by our restore blob and by the Azure CLI's), after which the first HSM's key
// backups restore there with the same ids, and into an HSM of another domain they do not.
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { ceremonyPayload } from '../helpers/test-domain.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

const running: EmulatorProcess[] = [];
const work = mkdtempSync(path.join(os.tmpdir(), 'mhsm-sd-e2e-'));

async function start(args: string[] = []): Promise<EmulatorProcess & { bearer: string; call: (method: string, route: string, body?: unknown) => ReturnType<typeof callJson> }> {
  const emulator = await startEmulatorProcess(seededDataDir(), args);
  running.push(emulator);
  const bearer = await accessToken(emulator.url, emulator.admin);
  return { ...emulator, bearer, call: (method, route, body) => callJson(emulator.url, bearer, method, route, body) };
}

afterAll(async () => {
  for (const emulator of running) {
    await emulator.stop();
    removeDataDir(emulator.dataDir);
  }
  rmSync(work, { recursive: true, force: true });
});

/** The offline tools (sd keys, sd restore-blob) take no data directory. */
async function mhsm(dataDir: string | undefined, ...args: string[]) {
  const result = await runCli(dataDir === undefined ? args : [...args, '--data-dir', dataDir]);
  if (result.code !== 0) throw new Error(`mhsm ${args.join(' ')} failed (${result.code}):\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** Gives the initial administrator of a manually activated HSM the crypto roles. */
async function grantCryptoRoles(emulator: EmulatorProcess): Promise<void> {
  for (const role of ['Managed HSM Crypto Officer', 'Managed HSM Crypto User']) {
    await mhsm(emulator.dataDir, 'role', 'assignment', 'create', '--role', role, '--assignee', emulator.admin.objectId, '--scope', '/');
  }
}

describe('an HSM started with --manual-activation', () => {
  let hsm: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    hsm = await start(['--manual-activation']);
  });

  it('answers only the security domain and the emulator endpoints until activated', async () => {
    expect(hsm.output()).toMatch(/security domain: not activated/);
    for (const [method, route, body] of [
      ['GET', '/keys'],
      ['POST', '/keys/k1/create', { kty: 'EC' }],
      ['GET', '/providers/Microsoft.Authorization/roleDefinitions'],
      ['GET', '/settings'],
      ['POST', '/rng', { count: 8 }],
    ] as const) {
      const answer = await hsm.call(method, route, body);
      expect(answer.status, `${method} ${route}`).toBe(403);
      expect(answer.body.error).toMatchObject({ code: 'Forbidden', message: expect.stringMatching(/^The managed HSM is not activated/) });
    }
    expect((await hsm.call('GET', '/emulator/status')).body.activation).toMatchObject({ state: 'NotActivated', securityDomain: 'none' });
    expect((await hsm.call('GET', '/securitydomain/download/pending')).body).toMatchObject({ status: 'Failed' });
    const transfer = await hsm.call('GET', '/securitydomain/upload');
    expect(transfer.status).toBe(200);
    expect(transfer.body.key_format).toBe('jwk');
    expect(typeof transfer.body.transfer_key).toBe('string');
    expect(JSON.parse(transfer.body.transfer_key)).toMatchObject({ kty: 'RSA', key_ops: ['encrypt'], alg: 'RSA-OAEP-256', kid: `${hsm.url}/transfer_key` });
  });

  it('refuses a download to a principal other than the initial administrator, and to bad input', async () => {
    const created = JSON.parse(await mhsm(hsm.dataDir, 'principal', 'create', '--name', 'not-the-admin', '--json'));
    const other = await accessToken(hsm.url, { tenantId: hsm.admin.tenantId, clientId: created.clientId, clientSecret: created.clientSecret });
    const denied = await callJson(hsm.url, other, 'POST', '/securitydomain/download', { certificates: [], required: 2 });
    expect(denied.status).toBe(403);
    const bad = await hsm.call('POST', '/securitydomain/download', { certificates: [{ kty: 'RSA' }], required: 2 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^certificates: required, an array of 3 to 10/);
    expect((await hsm.call('GET', '/emulator/status')).body.activation.state).toBe('NotActivated');
  });

  it('is activated by mhsm sd download, after which keys can be made', async () => {
    await mhsm(undefined, 'sd', 'keys', '--count', '3', '--out', path.join(work, 'manual-keys'));
    const certs = [1, 2, 3].flatMap((i) => ['--cert', path.join(work, 'manual-keys', `sd-key-${i}.cer`)]);
    const out = path.join(work, 'manual-sd.json');
    expect(await mhsm(hsm.dataDir, 'sd', 'download', ...certs, '--quorum', '2', '--out', out)).toMatch(/recoverable with 2 of the 3 keys/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(out, 'utf8')).SharedKeys).toMatchObject({ key_algorithm: 'shamir_share', required: 2 });
    expect((await hsm.call('GET', '/securitydomain/download/pending')).body).toEqual({ status: 'Success', status_details: 'The resource is active.' });
    expect(await mhsm(hsm.dataDir, 'sd', 'status')).toMatch(/^activation: Active \(security domain: downloaded\)/);
    // Activated, but the administrator holds only the Administrator role, as in the service.
    expect((await hsm.call('POST', '/keys/k1/create', { kty: 'EC' })).body.error.code).toBe('AccessDenied');
    await grantCryptoRoles(hsm);
    expect((await hsm.call('POST', '/keys/k1/create', { kty: 'EC' })).status).toBe(200);
    // A second download, by the same certificates, gives a new file (of the same domain).
    const again = path.join(work, 'manual-sd-2.json');
    await mhsm(hsm.dataDir, 'sd', 'download', ...certs, '--quorum', '3', '--out', again);
    expect(JSON.parse(readFileSync(again, 'utf8')).SharedKeys.required).toBe(3);
    expect(readFileSync(again, 'utf8')).not.toBe(readFileSync(out, 'utf8'));
  });
});

/** The audit lines of a data directory, once `count` lines of `last` have been written. */
async function auditLines(dataDir: string, last: string, count: number): Promise<any[]> {
  for (let i = 0; i < 100; i++) {
    const lines = readFileSync(path.join(dataDir, 'audit', 'audit.log'), 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
    if (lines.filter((line) => line.operationName === last).length >= count) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no ${last} line in the audit log`);
}

interface KeyCase {
  name: string;
  create: Record<string, unknown>;
  versions: number;
  /** How each version is checked in the other HSM. */
  check: 'sign' | 'aes' | 'hmac';
  alg: string;
}

const KEYS: KeyCase[] = [
  { name: 'rsa-2048', create: { kty: 'RSA-HSM', key_size: 2048 }, versions: 2, check: 'sign', alg: 'RS256' },
  { name: 'rsa-3072', create: { kty: 'RSA-HSM', key_size: 3072 }, versions: 1, check: 'sign', alg: 'PS384' },
  { name: 'ec-p256', create: { kty: 'EC-HSM', crv: 'P-256' }, versions: 2, check: 'sign', alg: 'ES256' },
  { name: 'ec-p384', create: { kty: 'EC-HSM', crv: 'P-384' }, versions: 1, check: 'sign', alg: 'ES384' },
  { name: 'ec-p521', create: { kty: 'EC-HSM', crv: 'P-521' }, versions: 1, check: 'sign', alg: 'ES512' },
  { name: 'ec-p256k', create: { kty: 'EC-HSM', crv: 'P-256K' }, versions: 1, check: 'sign', alg: 'ES256K' },
  { name: 'aes-128', create: { kty: 'oct-HSM', key_size: 128 }, versions: 1, check: 'aes', alg: 'A128GCM' },
  { name: 'aes-256', create: { kty: 'oct-HSM', key_size: 256 }, versions: 2, check: 'aes', alg: 'A256GCM' },
  { name: 'hmac-256', create: { kty: 'oct-HSM', key_size: 256, key_ops: ['sign', 'verify'] }, versions: 1, check: 'hmac', alg: 'HS256' },
];

const DIGEST_HASH: Record<string, string> = { RS256: 'sha256', PS384: 'sha384', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', ES256K: 'sha256', HS256: 'sha256' };
const CURVE: Record<string, string> = { 'P-256': 'P-256', 'P-384': 'P-384', 'P-521': 'P-521', 'P-256K': 'secp256k1' };

/** Verifies a signature with the public key as the first HSM published it, in node:crypto. */
function verifiesWith(jwk: Record<string, string>, alg: string, message: Buffer, signature: Buffer): boolean {
  const hash = DIGEST_HASH[alg] as string;
  if ((jwk.kty as string).startsWith('RSA')) {
    const key = createPublicKey({ key: { kty: 'RSA', n: jwk.n as string, e: jwk.e as string }, format: 'jwk' });
    return verify(hash, message, alg.startsWith('PS') ? { key, padding: 6, saltLength: Number(hash.slice(3)) / 8 } : key, signature);
  }
  const key = createPublicKey({ key: { kty: 'EC', crv: CURVE[jwk.crv as string] as string, x: jwk.x as string, y: jwk.y as string }, format: 'jwk' });
  return verify(hash, message, { key, dsaEncoding: 'ieee-p1363' }, signature);
}

describe('recovery of one HSM into a new one', () => {
  let a: Awaited<ReturnType<typeof start>>;
  const backups = new Map<string, string>();
  const published = new Map<string, Record<string, string>>(); // name/version -> public JWK
  const encrypted = new Map<string, { value: string; iv: string; tag: string; plaintext: string }>();
  const macs = new Map<string, { digest: string; value: string }>();

  beforeAll(async () => {
    a = await start();
    for (const key of KEYS) {
      for (let v = 0; v < key.versions; v++) {
        const made = await a.call('POST', `/keys/${key.name}/create`, key.create);
        expect(made.status, JSON.stringify(made.body)).toBe(200);
        const version = (made.body.key.kid as string).split('/').pop() as string;
        published.set(`${key.name}/${version}`, made.body.key);
        if (key.check === 'aes') {
          const plaintext = randomBytes(40).toString('base64url');
          const sealed = await a.call('POST', `/keys/${key.name}/${version}/encrypt`, { alg: key.alg, value: plaintext });
          encrypted.set(`${key.name}/${version}`, { ...sealed.body, plaintext });
        }
        if (key.check === 'hmac') {
          const digest = randomBytes(32).toString('base64url');
          macs.set(`${key.name}/${version}`, { digest, value: (await a.call('POST', `/keys/${key.name}/${version}/sign`, { alg: key.alg, value: digest })).body.value });
        }
      }
      backups.set(key.name, (await a.call('POST', `/keys/${key.name}/backup`)).body.value);
    }
  });

  it('ran the ceremony on its first start and keeps the files it needs, private ones 0600', () => {
    expect(a.output()).toMatch(/security domain: activated on first start with 3 keys and quorum 2/);
    const dir = path.join(a.dataDir, 'security-domain');
    expect(readdirSync(dir).sort()).toEqual(['sd-key-1.cer', 'sd-key-1.pem', 'sd-key-2.cer', 'sd-key-2.pem', 'sd-key-3.cer', 'sd-key-3.pem', 'security-domain.json']);
    for (const file of ['sd-key-1.pem', 'sd-key-2.pem', 'sd-key-3.pem', 'security-domain.json']) expect(statSync(path.join(dir, file)).mode & 0o777).toBe(0o600);
  });

  async function checkRecovered(b: Awaited<ReturnType<typeof start>>): Promise<void> {
    await grantCryptoRoles(b);
    for (const key of KEYS) {
      const restored = await b.call('POST', '/keys/restore', { value: backups.get(key.name) });
      expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    }
    for (const [id, jwk] of published) {
      const [name, version] = id.split('/') as [string, string];
      const key = KEYS.find((k) => k.name === name) as KeyCase;
      const got = await b.call('GET', `/keys/${name}/${version}`);
      expect(got.status).toBe(200);
      // Same key ids (but for the host) and the same public key.
      expect(new URL(got.body.key.kid).pathname).toBe(new URL(jwk.kid as string).pathname);
      expect({ ...got.body.key, kid: undefined }).toEqual({ ...jwk, kid: undefined });
      if (key.check === 'sign') {
        const message = randomBytes(64);
        const digest = createHash(DIGEST_HASH[key.alg] as string).update(message).digest('base64url');
        const signed = await b.call('POST', `/keys/${name}/${version}/sign`, { alg: key.alg, value: digest });
        expect(verifiesWith(jwk, key.alg, message, Buffer.from(signed.body.value, 'base64url')), `${id} ${key.alg}`).toBe(true);
      } else if (key.check === 'aes') {
        const sealed = encrypted.get(id) as { value: string; iv: string; tag: string; plaintext: string };
        const opened = await b.call('POST', `/keys/${name}/${version}/decrypt`, { alg: key.alg, value: sealed.value, iv: sealed.iv, tag: sealed.tag });
        expect(opened.body.value).toBe(sealed.plaintext);
      } else {
        const mac = macs.get(id) as { digest: string; value: string };
        expect((await b.call('POST', `/keys/${name}/${version}/verify`, { alg: key.alg, digest: mac.digest, value: mac.value })).body.value).toBe(true);
      }
    }
  }

  it('recovers into a fresh HSM through mhsm sd restore-blob: same kids, signatures that verify with the first HSM\'s keys', async () => {
    const b = await start(['--manual-activation']);
    const dir = path.join(a.dataDir, 'security-domain');
    const transferKey = path.join(work, 'b-transfer.pem');
    await mhsm(b.dataDir, 'sd', 'transfer-key', '--out', transferKey);
    const blob = path.join(work, 'b-blob.json');
    await mhsm(undefined, 'sd', 'restore-blob', '--sd-file', path.join(dir, 'security-domain.json'), '--key', path.join(dir, 'sd-key-3.pem'), '--key', path.join(dir, 'sd-key-1.pem'), '--transfer-key', transferKey, '--out', blob);
    expect(await mhsm(b.dataDir, 'sd', 'upload', '--blob', blob)).toMatch(/upload: Success/);
    expect((await b.call('GET', '/emulator/status')).body.activation).toMatchObject({ state: 'Active', securityDomain: 'uploaded' });
    await checkRecovered(b);
    // An upload into an HSM that has its domain is refused.
    const again = await b.call('POST', '/securitydomain/upload', { value: readFileSync(blob, 'utf8') });
    expect(again.status).toBe(409);

    // One audit line per security-domain call, and none of the domain's secrets in any line.
    await b.call('GET', '/securitydomain/upload/pending');
    const lines = await auditLines(b.dataDir, 'SecurityDomainUploadStatus', 2);
    const operations = lines.map((line) => line.operationName).filter((name: string) => name.startsWith('SecurityDomain'));
    expect(operations).toEqual(['SecurityDomainTransferKeyGet', 'SecurityDomainUpload', 'SecurityDomainUploadStatus', 'SecurityDomainUpload', 'SecurityDomainUploadStatus']);
    const secrets: Array<[string, string]> = [];
    const domainFile = JSON.parse(readFileSync(path.join(dir, 'security-domain.json'), 'utf8'));
    for (const share of domainFile.SharedKeys.enc_shares) secrets.push(['a share\'s key', share.enc_key.split('.')[1]], ['a share', share.enc_key.split('.')[3]]);
    secrets.push(['the domain data', domainFile.EncData.data[0].compact_jwe.split('.')[3]]);
    const restoreBlob = JSON.parse(readFileSync(blob, 'utf8'));
    secrets.push(['the blob key', restoreBlob.WrappedKey.enc_key.split('.')[1]], ['the blob data', restoreBlob.EncData.data[0].compact_jwe.split('.')[3]]);
    for (const i of [1, 2, 3]) secrets.push([`private key ${i}`, readFileSync(path.join(dir, `sd-key-${i}.pem`), 'utf8').split('\n')[5] as string]);
    const payload = ceremonyPayload(dir, [1, 3]);
    for (const [what, value] of [['wrapping key', payload.wrappingKey], ['sealing key', payload.sealingKey], ['master key', payload.masterKey]] as const) {
      secrets.push([what, value.toString('hex')], [what, value.toString('base64')], [what, value.toString('base64url')]);
    }
    const log = [a.dataDir, b.dataDir].map((d) => readdirSync(path.join(d, 'audit')).map((f) => readFileSync(path.join(d, 'audit', f), 'utf8')).join('\n')).join('\n');
    expect(secrets.filter(([, value]) => value.length >= 16 && log.includes(value.slice(0, 40))).map(([what]) => what)).toEqual([]);
  });

  it('recovers into a fresh HSM through the Azure CLI\'s restore-blob', async () => {
    const az = ['/usr/bin/az', 'az'].find((candidate) => {
      try {
        execFileSync(candidate, ['--version'], { stdio: 'ignore', env: { ...process.env, AZURE_CONFIG_DIR: work } });
        return true;
      } catch {
        return false;
      }
    });
    if (!az) {
      if (process.env.CI === 'true') throw new Error('the Azure CLI (Debian package azure-cli) is needed for this test in CI');
      console.warn('skipped: the Azure CLI is not installed (apt-get install azure-cli)');
      return;
    }
    const c = await start(['--manual-activation']);
    const transfer = path.join(work, 'c-transfer.pem');
    await mhsm(c.dataDir, 'sd', 'transfer-key', '--out', transfer);
    const dir = path.join(a.dataDir, 'security-domain');
    const blob = path.join(work, 'c-blob.json');
    execFileSync(
      az,
      ['keyvault', 'security-domain', 'restore-blob', '--sd-file', path.join(dir, 'security-domain.json'), '--sd-exchange-key', transfer, '--sd-wrapping-keys', path.join(dir, 'sd-key-2.pem'), path.join(dir, 'sd-key-3.pem'), '--sd-file-restore-blob', blob],
      { env: { ...process.env, AZURE_CONFIG_DIR: mkdtempSync(path.join(work, 'az-')) }, stdio: 'pipe', timeout: 120_000 },
    );
    expect(existsSync(blob)).toBe(true);
    const uploaded = await c.call('POST', '/securitydomain/upload', { value: readFileSync(blob, 'utf8') });
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(202);
    expect(uploaded.body).toEqual({ status: 'InProgress', status_details: '' });
    expect((await c.call('GET', '/securitydomain/upload/pending')).body).toEqual({ status: 'Success', status_details: 'The resource is active.' });
    await checkRecovered(c);
  }, 180_000);

  it('refuses the backups in an HSM of another domain, creating nothing', async () => {
    const other = await start();
    await grantCryptoRoles(other).catch(() => undefined); // already held by default
    for (const key of KEYS) {
      const refused = await other.call('POST', '/keys/restore', { value: backups.get(key.name) });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/^value: made by an HSM of another security domain/);
    }
    expect((await other.call('GET', '/keys')).body.value).toEqual([]);
    expect((await other.call('GET', '/emulator/status')).body.counts.keyVersions).toBe(0);
  });
});
