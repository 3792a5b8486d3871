// Disaster recovery end to end: an HSM backs up to Azure Blob Storage (Azurite, over HTTPS, with
// a container SAS), a new HSM on a new token is given its security domain and restores the whole
// backup: same keys and versions, signatures that verify with the first HSM's public keys, the
// deleted state, the rotation policies and the role assignments. A selective restore brings one
// key; an HSM of another domain refuses the backup; refusals are the documented ones.
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, verify } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Azurite, azuriteInstalled, startAzurite } from '../helpers/azurite.js';
import { runCli } from '../helpers/cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

const PROVIDER = '/providers/Microsoft.Authorization';
type Hsm = EmulatorProcess & { call: (method: string, route: string, body?: unknown) => ReturnType<typeof callJson> };

const running: EmulatorProcess[] = [];
let azurite: Azurite;
let container: string;
let sas: string;

if (!azuriteInstalled() && process.env.CI === 'true') throw new Error('Azurite (npm devDependency azurite) is needed for this test in CI');

async function start(args: string[] = []): Promise<Hsm> {
  const emulator = await startEmulatorProcess(seededDataDir(), args);
  running.push(emulator);
  const bearer = await accessToken(emulator.url, emulator.admin);
  return { ...emulator, call: (method, route, body) => callJson(emulator.url, bearer, method, route, body) };
}

async function mhsm(dataDir: string | undefined, ...args: string[]): Promise<string> {
  const result = await runCli(dataDir === undefined ? args : [...args, '--data-dir', dataDir]);
  if (result.code !== 0) throw new Error(`mhsm ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** Polls a job until it ends. */
async function finished(hsm: Hsm, kind: 'backup' | 'restore', started: { status: number; body: any }): Promise<any> {
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  expect(started.body).toMatchObject({ status: 'InProgress', jobId: expect.stringMatching(/^[0-9a-f]{32}$/), startTime: expect.any(Number), endTime: null });
  for (let i = 0; i < 600; i++) {
    const polled = await hsm.call('GET', `/${kind}/${started.body.jobId}/pending`);
    if (polled.body.endTime !== null) return polled.body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the ${kind} job did not end`);
}

/** Gives an HSM's administrator the crypto roles (a manually activated HSM's has only Administrator). */
async function grantCrypto(hsm: Hsm): Promise<void> {
  for (const role of ['Managed HSM Crypto Officer', 'Managed HSM Crypto User']) {
    await mhsm(hsm.dataDir, 'role', 'assignment', 'create', '--role', role, '--assignee', hsm.admin.objectId, '--scope', '/');
  }
}

/** A new HSM on a new token that holds `source`'s security domain. */
async function recovered(source: Hsm): Promise<Hsm> {
  const hsm = await start(['--manual-activation']);
  const dir = path.join(source.dataDir, 'security-domain');
  const transfer = path.join(hsm.dataDir, 'transfer.pem');
  const blob = path.join(hsm.dataDir, 'blob.json');
  await mhsm(hsm.dataDir, 'sd', 'transfer-key', '--out', transfer);
  await mhsm(undefined, 'sd', 'restore-blob', '--sd-file', path.join(dir, 'security-domain.json'), '--key', path.join(dir, 'sd-key-1.pem'), '--key', path.join(dir, 'sd-key-2.pem'), '--transfer-key', transfer, '--out', blob);
  await mhsm(hsm.dataDir, 'sd', 'upload', '--blob', blob);
  return hsm;
}

const KEYS: Array<{ name: string; create: Record<string, unknown>; versions: number; alg?: string }> = [
  { name: 'rsa', create: { kty: 'RSA-HSM', key_size: 2048 }, versions: 2, alg: 'RS256' },
  { name: 'ec256', create: { kty: 'EC-HSM', crv: 'P-256' }, versions: 2, alg: 'ES256' },
  { name: 'ec384', create: { kty: 'EC-HSM', crv: 'P-384' }, versions: 1, alg: 'ES384' },
  { name: 'ec256k', create: { kty: 'EC-HSM', crv: 'P-256K' }, versions: 1, alg: 'ES256K' },
  { name: 'aes', create: { kty: 'oct-HSM', key_size: 256 }, versions: 2 },
  { name: 'hmac', create: { kty: 'oct-HSM', key_size: 256, key_ops: ['sign', 'verify'] }, versions: 1 },
];
const HASH: Record<string, string> = { RS256: 'sha256', ES256: 'sha256', ES384: 'sha384', ES256K: 'sha256' };
const CURVE: Record<string, string> = { 'P-256': 'P-256', 'P-384': 'P-384', 'P-256K': 'secp256k1' };

function verifies(jwk: Record<string, string>, alg: string, message: Buffer, signature: Buffer): boolean {
  const hash = HASH[alg] as string;
  const key = (jwk.kty as string).startsWith('RSA')
    ? createPublicKey({ key: { kty: 'RSA', n: jwk.n as string, e: jwk.e as string }, format: 'jwk' })
    : createPublicKey({ key: { kty: 'EC', crv: CURVE[jwk.crv as string] as string, x: jwk.x as string, y: jwk.y as string }, format: 'jwk' });
  return verify(hash, message, (jwk.kty as string).startsWith('RSA') ? key : { key, dsaEncoding: 'ieee-p1363' }, signature);
}

beforeAll(async () => {
  azurite = await startAzurite();
  container = await azurite.createContainer('backups');
  sas = azurite.containerSas('backups', 'racwdl');
}, 60_000);

afterAll(async () => {
  for (const emulator of running) {
    await emulator.stop();
    removeDataDir(emulator.dataDir);
  }
  await azurite?.stop();
});

const importedRsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
const importedAesKey = randomBytes(32);

/** A value as it could appear in a blob: its bytes, and its base64, base64url and hex texts. */
function encodings(value: Buffer): string[] {
  return [value.toString('latin1'), value.toString('base64'), value.toString('base64url'), value.toString('hex')].map((text) => text.slice(0, 24));
}

describe('disaster recovery through Azure Blob Storage', () => {
  let a: Hsm;
  let folderUri: string;
  const published = new Map<string, Record<string, string>>();
  let assignmentName: string;
  let roleId: string;

  beforeAll(async () => {
    a = await start();
    for (const key of KEYS) {
      for (let v = 0; v < key.versions; v++) {
        const made = await a.call('POST', `/keys/${key.name}/create`, key.create);
        expect(made.status, JSON.stringify(made.body)).toBe(200);
        published.set(`${key.name}/${(made.body.key.kid as string).split('/').pop()}`, made.body.key);
      }
    }
    // Imported keys: their plaintext is known, so the scan of the blobs can look for it.
    const imported = await a.call('PUT', '/keys/imported-rsa', { key: { ...importedRsa, kty: 'RSA-HSM', key_ops: ['sign', 'verify'] } });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    const importedAes = await a.call('PUT', '/keys/imported-aes', { key: { kty: 'oct-HSM', k: importedAesKey.toString('base64url'), key_ops: ['encrypt', 'decrypt'] } });
    expect(importedAes.status, JSON.stringify(importedAes.body)).toBe(200);
    expect((await a.call('POST', '/keys/deleted-one/create', { kty: 'EC-HSM' })).status).toBe(200);
    expect((await a.call('DELETE', '/keys/deleted-one')).status).toBe(200);
    const policy = { lifetimeActions: [{ trigger: { timeAfterCreate: 'P90D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P1Y' } };
    expect((await a.call('PUT', '/keys/ec256/rotationpolicy', policy)).status).toBe(200);
    roleId = randomUUID();
    expect((await a.call('PUT', `${PROVIDER}/roleDefinitions/${roleId}`, { properties: { roleName: 'reader', permissions: [{ dataActions: ['Microsoft.KeyVault/managedHsm/keys/read/action'] }] } })).status).toBe(201);
    assignmentName = randomUUID();
    const assigned = await a.call('PUT', `/keys${PROVIDER}/roleAssignments/${assignmentName}`, {
      properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${roleId}`, principalId: a.admin.objectId },
    });
    expect(assigned.status).toBe(201);

    const done = await finished(a, 'backup', await a.call('POST', '/backup', { storageResourceUri: container, token: sas }));
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'Succeeded', error: null, azureStorageBlobContainerUri: expect.stringMatching(new RegExp(`^${container}/mhsm-mhsm-\\d{16}$`)) });
    folderUri = done.azureStorageBlobContainerUri;
  }, 120_000);

  /** The secrets no blob may hold, in every form they could take. */
  async function secretsOf(hsm: EmulatorProcess): Promise<Array<[string, string]>> {
    const pins = JSON.parse(readFileSync(path.join(hsm.dataDir, 'softhsm', 'pins.json'), 'utf8')) as { userPin: string; soPin: string };
    const bearer = await accessToken(hsm.url, hsm.admin);
    return [
      ['the client secret', hsm.admin.clientSecret],
      ['the user PIN', pins.userPin],
      ['the SO PIN', pins.soPin],
      ['the SAS signature', decodeURIComponent(new URLSearchParams(sas).get('sig') as string)],
      ['a bearer token', bearer.slice(-40)],
      ['the storage account key', azurite.accountKey],
      ...['d', 'p', 'q', 'dp', 'dq', 'qi'].flatMap((part) => encodings(Buffer.from(importedRsa[part] as string, 'base64url')).map((text): [string, string] => [`the imported RSA key's ${part}`, text])),
      ...encodings(importedAesKey).map((text): [string, string] => ['the imported AES key', text]),
      ...['rsa', 'ec256k', 'deleted-one', 'reader', 'imported-rsa'].map((name): [string, string] => [`the name ${name}`, name]),
      ...[...published.values()].flatMap((jwk): Array<[string, string]> => (jwk.n ?? jwk.x ? [['a public key', ((jwk.n ?? jwk.x) as string).slice(0, 24)]] : [])),
    ];
  }

  /** Every blob under `prefix` in the container, checked for every secret; returns their names. */
  async function scanBlobs(prefix: string, owners: readonly EmulatorProcess[] = [a]): Promise<string[]> {
    const service = new BlobServiceClient(azurite.url, new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey));
    const client = service.getContainerClient('backups');
    const secrets = (await Promise.all(owners.map(secretsOf))).flat();
    const blobs: string[] = [];
    for await (const blob of client.listBlobsFlat({ prefix })) {
      blobs.push(blob.name);
      const content = (await client.getBlobClient(blob.name).downloadToBuffer()).toString('latin1');
      for (const [what, secret] of secrets) {
        expect(secret.length, what).toBeGreaterThanOrEqual(3);
        expect(content.includes(secret), `${blob.name} holds ${what}`).toBe(false);
      }
    }
    return blobs.sort();
  }

  it('writes only sealed blobs: no key material, key name, public key, PIN, SAS or token is readable in any of them', async () => {
    const folder = folderUri.split('/').pop() as string;
    expect(await scanBlobs(`${folder}/`)).toEqual([`${folder}/access`, `${folder}/keys-00000`, `${folder}/manifest`]);
  });

  it('lets the Backup User role alone back up and the Restore role alone restore, and neither read a key', async () => {
    const roles = { backup: '7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8', restore: '6efe6056-5259-49d2-8b3d-d3d73544b20b' };
    const callers: Record<string, (method: string, route: string, body?: unknown) => ReturnType<typeof callJson>> = {};
    for (const [role, id] of Object.entries(roles)) {
      const principal = JSON.parse(await mhsm(a.dataDir, 'principal', 'create', '--name', `${role}-only`, '--json')) as { clientId: string; clientSecret: string; objectId: string };
      const assigned = await a.call('PUT', `${PROVIDER}/roleAssignments/${randomUUID()}`, {
        properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${id}`, principalId: principal.objectId },
      });
      expect(assigned.status).toBe(201);
      const bearer = await accessToken(a.url, { tenantId: a.admin.tenantId, clientId: principal.clientId, clientSecret: principal.clientSecret });
      callers[role] = (method, route, body) => callJson(a.url, bearer, method, route, body);
    }
    const backupUser = callers.backup as (typeof callers)[string];
    const restorer = callers.restore as (typeof callers)[string];
    const started = await backupUser('POST', '/backup', { storageResourceUri: container, token: sas });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    let done: any;
    for (let i = 0; i < 300 && !done?.endTime; i++) {
      done = (await backupUser('GET', `/backup/${started.body.jobId}/pending`)).body;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(done).toMatchObject({ status: 'Succeeded' });
    expect((await restorer('POST', '/backup', { storageResourceUri: container, token: sas })).status).toBe(403);
    expect((await backupUser('PUT', '/restore', { sasTokenParameters: { storageResourceUri: container, token: sas }, folderToRestore: 'x' })).status).toBe(403);
    const restoring = await restorer('PUT', '/keys/aes/restore', { sasTokenParameters: { storageResourceUri: container, token: sas }, folder: (done.azureStorageBlobContainerUri as string).split('/').pop() });
    expect(restoring.status, JSON.stringify(restoring.body)).toBe(202);
    for (let i = 0; i < 300; i++) {
      const polled = (await restorer('GET', `/restore/${restoring.body.jobId}/pending`)).body;
      if (polled.endTime) {
        expect(polled.status).toBe('Succeeded');
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const caller of [backupUser, restorer]) expect((await caller('GET', '/keys/aes')).status).toBe(403);
  }, 120_000);

  it('backs up and restores with useManagedIdentity through the storage key it was started with', async () => {
    const withKey = await start(['--backup-storage-key', azurite.accountKey]);
    expect((await withKey.call('POST', '/keys/mi-key/create', { kty: 'EC-HSM' })).status).toBe(200);
    const done = await finished(withKey, 'backup', await withKey.call('POST', '/backup', { storageResourceUri: container, useManagedIdentity: true }));
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'Succeeded' });
    expect((await withKey.call('DELETE', '/keys/mi-key')).status).toBe(200);
    const restored = await finished(
      withKey,
      'restore',
      await withKey.call('PUT', '/restore', { sasTokenParameters: { storageResourceUri: container, useManagedIdentity: true }, folderToRestore: (done.azureStorageBlobContainerUri as string).split('/').pop() }),
    );
    expect(restored, JSON.stringify(restored)).toMatchObject({ status: 'Succeeded' });
    expect((await withKey.call('GET', '/keys/mi-key')).status).toBe(200);
    expect(withKey.output()).not.toContain(azurite.accountKey);
  }, 120_000);

  it('restores into a new HSM of the same domain: same keys, versions, deleted state, policies and roles', async () => {
    const b = await recovered(a);
    const folder = folderUri.split('/').pop() as string;
    const done = await finished(b, 'restore', await b.call('PUT', '/restore', { sasTokenParameters: { storageResourceUri: container, token: sas }, folderToRestore: folder }));
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'Succeeded', error: null, statusDetails: null });
    await grantCrypto(b);
    for (const [id, jwk] of published) {
      const [name, version] = id.split('/') as [string, string];
      const got = await b.call('GET', `/keys/${name}/${version}`);
      expect(got.status, id).toBe(200);
      expect({ ...got.body.key, kid: undefined }).toEqual({ ...jwk, kid: undefined });
      const alg = KEYS.find((k) => k.name === name)?.alg;
      if (alg) {
        const message = randomBytes(48);
        const signed = await b.call('POST', `/keys/${name}/${version}/sign`, { alg, value: createHash(HASH[alg] as string).update(message).digest('base64url') });
        expect(verifies(jwk, alg, message, Buffer.from(signed.body.value, 'base64url')), id).toBe(true);
      }
    }
    expect((await b.call('GET', '/deletedkeys/deleted-one')).status).toBe(200);
    expect((await b.call('GET', '/keys/ec256/rotationpolicy')).body.lifetimeActions).toEqual([{ trigger: { timeAfterCreate: 'P90D' }, action: { type: 'Rotate' } }]);
    const assignments = (await b.call('GET', `/keys${PROVIDER}/roleAssignments`)).body.value.map((x: any) => x.name);
    expect(assignments).toContain(assignmentName);
    expect((await b.call('GET', `${PROVIDER}/roleDefinitions/${roleId}`)).body.properties.roleName).toBe('reader');
  }, 120_000);

  it('restores one key with all its versions into an HSM that has other keys, which stay', async () => {
    const c = await recovered(a);
    await grantCrypto(c);
    expect((await c.call('POST', '/keys/local-only/create', { kty: 'EC-HSM' })).status).toBe(200);
    const folder = folderUri.split('/').pop() as string;
    const done = await finished(c, 'restore', await c.call('PUT', '/keys/rsa/restore', { sasTokenParameters: { storageResourceUri: container, token: sas }, folder }));
    expect(done).toMatchObject({ status: 'Succeeded', statusDetails: 'Number of successful key versions restored: 2, Number of key versions could not overwrite: 0' });
    expect((await c.call('GET', '/keys/rsa/versions')).body.value).toHaveLength(2);
    expect((await c.call('GET', '/keys/local-only')).status).toBe(200);
    expect((await c.call('GET', '/keys/ec256')).status).toBe(404);
  }, 120_000);

  it('fails the restore in an HSM of another domain, changing nothing', async () => {
    const other = await start();
    expect((await other.call('POST', '/keys/mine/create', { kty: 'EC-HSM' })).status).toBe(200);
    const folder = folderUri.split('/').pop() as string;
    const done = await finished(other, 'restore', await other.call('PUT', '/restore', { sasTokenParameters: { storageResourceUri: container, token: sas }, folderToRestore: folder }));
    expect(done).toMatchObject({ status: 'Failed', error: { code: 'BadParameter', message: expect.stringMatching(/another security domain/) } });
    expect((await other.call('GET', '/keys')).body.value.map((k: any) => k.kid.split('/').pop())).toEqual(['mine']);
  });

  it('refuses a second job while one runs, bad storage parameters, and reports what the storage refuses', async () => {
    const [first, second] = await Promise.all([
      a.call('POST', '/backup', { storageResourceUri: container, token: sas }),
      a.call('POST', '/backup', { storageResourceUri: container, token: sas }),
    ]);
    expect([first.status, second.status].sort()).toEqual([202, 409]);
    await finished(a, 'backup', first.status === 202 ? first : second);
    const malformed = await a.call('POST', '/backup', { storageResourceUri: container, token: 'not a sas' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/^token:/);
    const readOnly = await a.call('POST', '/backup', { storageResourceUri: container, token: azurite.containerSas('backups', 'rl') });
    expect(readOnly.status).toBe(400);
    expect((await a.call('POST', '/backup', { storageResourceUri: 'ftp://nowhere/x', token: sas })).status).toBe(400);
    expect((await a.call('POST', '/backup', { storageResourceUri: container, useManagedIdentity: true })).body.error.message).toMatch(/--backup-storage-key/);
    expect((await a.call('PUT', '/restore', { sasTokenParameters: { storageResourceUri: container, token: sas }, folderToRestore: '../escape' })).status).toBe(400);
    const missing = await finished(a, 'backup', await a.call('POST', '/backup', { storageResourceUri: `${azurite.url}/no-such-container`, token: azurite.containerSas('no-such-container', 'racwdl') }));
    expect(missing).toMatchObject({ status: 'Failed', error: { code: 'NotFound' } });
    expect(JSON.stringify(missing)).not.toContain(sas.slice(sas.indexOf('sig=') + 4, sas.indexOf('sig=') + 20));
    const noFolder = await finished(a, 'restore', await a.call('PUT', '/restore', { sasTokenParameters: { storageResourceUri: container, token: sas }, folderToRestore: 'mhsm-mhsm-2000010100000000' }));
    expect(noFolder.status).toBe('Failed');
  }, 120_000);

  it('backs up and restores through the mhsm command, to a local directory too', async () => {
    const stdout = await mhsm(a.dataDir, 'backup', 'start', '--dir', path.join(a.dataDir, 'backups'));
    const folder = /folder: (\S+)/.exec(stdout)?.[1] as string;
    expect(folder).toMatch(/^file:\/\/.*\/backups\/mhsm-mhsm-\d{16}$/);
    expect(await mhsm(a.dataDir, 'backup', 'restore', '--dir', fileURLToPath(folder), '--key', 'aes')).toMatch(/Number of successful key versions restored: 2/);
    const outside = await runCli(['backup', 'start', '--dir', '/tmp', '--data-dir', a.dataDir]);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toMatch(/--local-backup-root/);
  }, 120_000);

  it('is driven by the official Python KeyVaultBackupClient', async () => {
    const PYTHON = '/usr/bin/python3';
    const script = fileURLToPath(new URL('./python/backup.py', import.meta.url));
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        PYTHON,
        [script],
        {
          env: { ...process.env, MHSM_URL: a.url, MHSM_ADMIN: path.join(a.dataDir, 'admin.json'), MHSM_CONTAINER: container, MHSM_SAS: sas, REQUESTS_CA_BUNDLE: readCaBundle(a) },
          timeout: 120_000,
        },
        (error, out, err) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: out, stderr: err }),
      );
    });
    expect(`${stdout}${stderr}`, stderr).toMatch(/python backup client: ok/);
    expect(code).toBe(0);
  }, 180_000);

  it('holds no secret in any blob that any backup of this file wrote', async () => {
    const blobs = await scanBlobs('', running);
    expect(blobs.filter((name) => name.endsWith('/manifest')).length).toBeGreaterThanOrEqual(3);
  });
});

/** The Python clients (requests) trust one bundle: the emulator's CA, which also signed Azurite's certificate. */
function readCaBundle(emulator: EmulatorProcess): string {
  readFileSync(path.join(emulator.dataDir, 'ca.pem'));
  return path.join(emulator.dataDir, 'ca.pem');
}
