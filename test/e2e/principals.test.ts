// Principals made with `mhsm principal` while the emulator runs, used through the official SDK;
// the bootstrap with and without --manual-activation; role data surviving a restart.
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';
import { ceremonyPairs } from '../helpers/test-domain.js';

const PROVIDER = '/providers/Microsoft.Authorization';
const DEFINITION_ID = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/';
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
const ADMINISTRATOR = 'a290e904-7015-4bba-90c8-60543313cdb4';

interface Created {
  tenantId: string;
  displayName: string;
  clientId: string;
  objectId: string;
  clientSecret: string;
}

const running: EmulatorProcess[] = [];

async function start(dataDir: string, args: string[] = []): Promise<EmulatorProcess> {
  const emulator = await startEmulatorProcess(dataDir, args);
  running.push(emulator);
  return emulator;
}

async function stop(emulator: EmulatorProcess): Promise<void> {
  expect(await emulator.stop()).toBe(0);
  running.splice(running.indexOf(emulator), 1);
}

afterAll(async () => {
  for (const emulator of running) {
    await emulator.stop();
    removeDataDir(emulator.dataDir);
  }
});

async function createPrincipal(dataDir: string, name: string): Promise<Created> {
  const result = await runCli(['principal', 'create', '--name', name, '--data-dir', dataDir, '--json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Created;
}

function keyClient(emulator: EmulatorProcess, principal: { tenantId: string; clientId: string; clientSecret: string }): KeyClient {
  const credential = new ClientSecretCredential(principal.tenantId, principal.clientId, principal.clientSecret, {
    authorityHost: emulator.url,
    disableInstanceDiscovery: true,
  });
  return new KeyClient(emulator.url, credential, { disableChallengeResourceVerification: true });
}

describe('mhsm principal', () => {
  it('creates a principal while the emulator runs; the SDK gets tokens for it, and it needs a role to use keys', async () => {
    const emulator = await start(seededDataDir());
    const app = await createPrincipal(emulator.dataDir, 'payments-app');
    expect(app).toMatchObject({ tenantId: emulator.admin.tenantId, displayName: 'payments-app' });
    expect(app.clientSecret.length).toBeGreaterThanOrEqual(32);

    const client = keyClient(emulator, app);
    await expect(client.createEcKey('app-key', { curve: 'P-256' })).rejects.toMatchObject({
      statusCode: 403,
      code: 'AccessDenied',
      message: expect.stringContaining('Not authorized to access Microsoft.KeyVault/managedHsm/keys/create on /keys/app-key'),
    });

    const admin = await accessToken(emulator.url, emulator.admin);
    const assigned = await callJson(emulator.url, admin, 'PUT', `/keys${PROVIDER}/roleAssignments/${randomUUID()}`, {
      properties: { roleDefinitionId: `${DEFINITION_ID}${CRYPTO_USER}`, principalId: app.objectId },
    });
    expect(assigned.status).toBe(201);
    const key = await client.createEcKey('app-key', { curve: 'P-256' });
    expect(key.keyType).toBe('EC-HSM');
    // Crypto User at /keys does not reach the HSM-wide random number generator.
    const rng = await callJson(emulator.url, await accessToken(emulator.url, app), 'POST', '/rng', { count: 8 });
    expect(rng.status).toBe(403);

    // The secret is kept only as a hash, in a file only the owner reads.
    const database = path.join(emulator.dataDir, 'metadata.db');
    expect(statSync(database).mode & 0o777).toBe(0o600);
    for (const file of [database, `${database}-wal`]) {
      expect(readFileSync(file).includes(Buffer.from(app.clientSecret))).toBe(false);
    }

    const list = await runCli(['principal', 'list', '--data-dir', emulator.dataDir, '--json']);
    const listed = JSON.parse(list.stdout) as Array<Record<string, string>>;
    expect(listed.map((p) => p.displayName).sort()).toEqual(['initial administrator', 'payments-app']);
    expect(list.stdout).not.toContain(app.clientSecret);
    const duplicate = await runCli(['principal', 'create', '--name', 'payments-app', '--data-dir', emulator.dataDir]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/^mhsm: error: --name: a principal named 'payments-app' already exists\n$/);

    // A deleted principal's token, still within its lifetime, is refused from the next request on.
    const appToken = await accessToken(emulator.url, app);
    expect((await callJson(emulator.url, appToken, 'GET', '/keys/app-key')).status).toBe(200);
    const deleted = await runCli(['principal', 'delete', app.clientId, '--data-dir', emulator.dataDir]);
    expect(deleted.code).toBe(0);
    const refused = await callJson(emulator.url, appToken, 'GET', '/keys/app-key');
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toMatch(/principal this tenant does not have/);

    const adminDelete = await runCli(['principal', 'delete', emulator.admin.clientId, '--data-dir', emulator.dataDir]);
    expect(adminDelete.code).toBe(1);
    expect(adminDelete.stderr).toMatch(/initial administrator .* cannot be deleted/);
    await stop(emulator);
    removeDataDir(emulator.dataDir);
  });
});

describe('bootstrap', () => {
  it('--manual-activation: once the domain is downloaded, the administrator manages roles but cannot touch keys until it assigns itself a crypto role', async () => {
    const emulator = await start(seededDataDir(), ['--manual-activation']);
    const admin = await accessToken(emulator.url, emulator.admin);
    expect((await callJson(emulator.url, admin, 'GET', `${PROVIDER}/roleAssignments`)).body.error.message).toMatch(/^The managed HSM is not activated/);
    const certificates = (await ceremonyPairs()).map((pair) => pair.jwk);
    expect((await callJson(emulator.url, admin, 'POST', '/securitydomain/download', { certificates, required: 2 })).status).toBe(202);
    const mine = await callJson(emulator.url, admin, 'GET', `${PROVIDER}/roleAssignments`);
    expect(mine.status).toBe(200);
    expect(mine.body.value.map((a: any) => a.properties.roleDefinitionId)).toEqual([`${DEFINITION_ID}${ADMINISTRATOR}`]);
    const denied = await callJson(emulator.url, admin, 'POST', '/keys/first/create', { kty: 'oct-HSM', key_size: 256 });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: 'AccessDenied', message: expect.stringMatching(/^Not authorized to access Microsoft\.KeyVault\/managedHsm\/keys\/create on \/keys\/first/) });

    expect(
      (await callJson(emulator.url, admin, 'PUT', `${PROVIDER}/roleAssignments/${randomUUID()}`, {
        properties: { roleDefinitionId: `${DEFINITION_ID}${CRYPTO_USER}`, principalId: emulator.admin.objectId },
      })).status,
    ).toBe(201);
    expect((await callJson(emulator.url, admin, 'POST', '/keys/first/create', { kty: 'oct-HSM', key_size: 256 })).status).toBe(200);

    // Custom roles and assignments survive a restart; the bootstrap does not run twice.
    const roleId = randomUUID();
    expect((await callJson(emulator.url, admin, 'PUT', `${PROVIDER}/roleDefinitions/${roleId}`, { properties: { roleName: 'kept', permissions: [{ dataActions: ['Microsoft.KeyVault/managedHsm/keys/read/action'] }] } })).status).toBe(201);
    const before = (await callJson(emulator.url, admin, 'GET', `${PROVIDER}/roleAssignments`)).body.value;
    await stop(emulator);
    const restarted = await start(emulator.dataDir);
    const again = await accessToken(restarted.url, restarted.admin);
    expect((await callJson(restarted.url, again, 'GET', `${PROVIDER}/roleAssignments`)).body.value).toEqual(before);
    expect((await callJson(restarted.url, again, 'GET', `${PROVIDER}/roleDefinitions/${roleId}`)).body.properties.roleName).toBe('kept');
    expect((await callJson(restarted.url, again, 'GET', '/keys/first')).status).toBe(200);
    await stop(restarted);
    removeDataDir(restarted.dataDir);
  });
});
