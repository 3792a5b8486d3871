// The service's published limits: keys per HSM, versions per key, custom role definitions, role
// assignments at the HSM and at a key. Each is enforced with a 403 naming the limit and its flag,
// leaves nothing behind, and --service-limit NAME=N moves it (here lowered, to reach it quickly).
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_LIMITS } from '../../src/server/emulator.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

let emulator: EmulatorProcess;
let bearer: string;
const PROVIDER = '/providers/Microsoft.Authorization';
const CRYPTO_USER = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b';

const call = (method: string, route: string, body?: unknown) => callJson(emulator.url, bearer, method, route, body);

async function expectLimit(response: { status: number; body: any }, flag: string): Promise<void> {
  expect(response.status).toBe(403);
  expect(response.body.error.code).toBe('Forbidden');
  expect(response.body.error.message).toContain(`--service-limit ${flag}=N`);
}

const assign = (scope: string, principalId = randomUUID()) =>
  call('PUT', `${scope === '/' ? '' : scope}${PROVIDER}/roleAssignments/${randomUUID()}`, { properties: { roleDefinitionId: CRYPTO_USER, principalId } });

let rootAssignments: number;

beforeAll(async () => {
  // The initial administrator's own assignments at the root count toward its limit.
  const probe = await startEmulatorProcess(seededDataDir());
  const probeBearer = await accessToken(probe.url, probe.admin);
  rootAssignments = (await callJson(probe.url, probeBearer, 'GET', `${PROVIDER}/roleAssignments`)).body.value.length;
  await probe.stop();
  removeDataDir(probe.dataDir);
  const limits = ['keys=3', 'key-versions=2', 'role-definitions=1', `role-assignments=${rootAssignments + 1}`, 'key-role-assignments=1'];
  emulator = await startEmulatorProcess(seededDataDir(), limits.flatMap((limit) => ['--service-limit', limit]));
  bearer = await accessToken(emulator.url, emulator.admin);
}, 60_000);

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

it('are the published ones unless raised', () => {
  expect(SERVICE_LIMITS).toEqual({ keys: 5000, keyVersions: 100, roleDefinitions: 50, rootAssignments: 50, keyAssignments: 10 });
});

describe('keys', () => {
  it('per HSM count soft-deleted keys too, and a refused create, import or restore leaves nothing', async () => {
    for (const name of ['k1', 'k2']) expect((await call('POST', `/keys/${name}/create`, { kty: 'EC-HSM' })).status).toBe(200);
    const backup = await call('POST', '/keys/k2/backup');
    expect((await call('DELETE', '/keys/k2')).status).toBe(200);
    expect((await call('POST', '/keys/k3/create', { kty: 'oct-HSM' })).status).toBe(200);
    await expectLimit(await call('POST', '/keys/k4/create', { kty: 'EC-HSM' }), 'keys');
    await expectLimit(await call('PUT', '/keys/k4', { key: { kty: 'oct-HSM', k: Buffer.alloc(32, 1).toString('base64url') } }), 'keys');
    expect((await call('GET', '/keys/k4')).status).toBe(404);
    // Purged, k2's name is free: its backup restores, and then the HSM is full again.
    expect((await call('DELETE', '/deletedkeys/k2')).status).toBe(204);
    expect((await call('POST', '/keys/restore', { value: backup.body.value })).status).toBe(200);
    await call('DELETE', '/keys/k2');
    await call('DELETE', '/deletedkeys/k2');
    expect((await call('POST', '/keys/k5/create', { kty: 'EC-HSM' })).status).toBe(200);
    await expectLimit(await call('POST', '/keys/restore', { value: backup.body.value }), 'keys');
    expect((await call('GET', '/keys/k2')).status).toBe(404);
  });

  it('per key limit versions, rotation included', async () => {
    expect((await call('POST', '/keys/k1/create', { kty: 'EC-HSM' })).status).toBe(200);
    await expectLimit(await call('POST', '/keys/k1/create', { kty: 'EC-HSM' }), 'key-versions');
    expect((await call('PUT', '/keys/k1/rotationpolicy', { lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }] })).status).toBe(200);
    await expectLimit(await call('POST', '/keys/k1/rotate'), 'key-versions');
    expect((await call('GET', '/keys/k1/versions')).body.value).toHaveLength(2);
  });
});

describe('restores', () => {
  async function job(kind: 'backup' | 'restore', started: { status: number; body: any }): Promise<any> {
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    for (let i = 0; i < 300; i++) {
      const polled = await call('GET', `/${kind}/${started.body.jobId}/pending`);
      if (polled.body.endTime !== null) return polled.body;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the ${kind} job did not end`);
  }

  it('a selective restore of a key the HSM has no room for fails, and leaves nothing', async () => {
    const storage = { storageResourceUri: `file://${path.join(emulator.dataDir, 'backups')}` };
    const backup = await job('backup', await call('POST', '/backup', storage));
    expect(backup.status).toBe('Succeeded');
    const folder = String(backup.azureStorageBlobContainerUri).split('/').pop();
    // k5 goes; k6 takes its room: the HSM is full again, without k5.
    await call('DELETE', '/keys/k5');
    expect((await call('DELETE', '/deletedkeys/k5')).status).toBe(204);
    expect((await call('POST', '/keys/k6/create', { kty: 'EC-HSM' })).status).toBe(200);
    const restore = await job('restore', await call('PUT', '/keys/k5/restore', { sasTokenParameters: storage, folder }));
    expect(restore.status).toBe('Failed');
    expect(restore.error.code).toBe('Forbidden');
    expect(restore.error.message).toContain('--service-limit keys=N');
    expect((await call('GET', '/keys/k5')).status).toBe(404);
    // A key that exists is replaced in place: no room needed.
    expect((await job('restore', await call('PUT', '/keys/k3/restore', { sasTokenParameters: storage, folder }))).status).toBe('Succeeded');
  });
});

describe('local RBAC', () => {
  it('limits custom role definitions; updating one that exists is not a new one', async () => {
    const definition = (roleName: string) => ({ properties: { roleName, permissions: [{ dataActions: ['Microsoft.KeyVault/managedHsm/keys/read/action'] }] } });
    const name = randomUUID();
    expect((await call('PUT', `${PROVIDER}/roleDefinitions/${name}`, definition('one'))).status).toBe(201);
    expect((await call('PUT', `${PROVIDER}/roleDefinitions/${name}`, definition('one, renamed'))).status).toBe(201);
    await expectLimit(await call('PUT', `${PROVIDER}/roleDefinitions/${randomUUID()}`, definition('two')), 'role-definitions');
  });

  it('limits role assignments at the HSM and at each key', async () => {
    expect((await assign('/')).status).toBe(201);
    await expectLimit(await assign('/'), 'role-assignments');
    await expectLimit(await assign('/keys'), 'role-assignments');
    expect((await assign('/keys/k1')).status).toBe(201);
    await expectLimit(await assign('/keys/k1'), 'key-role-assignments');
    // Another key's scope has its own count.
    expect((await assign('/keys/k3')).status).toBe(201);
    const listed = (await call('GET', `${PROVIDER}/roleAssignments`)).body.value;
    expect(listed).toHaveLength(rootAssignments + 3);
  });
});
