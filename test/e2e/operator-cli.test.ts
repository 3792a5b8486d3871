// The operator commands against a running emulator, as a script would use them (--json parsed and
// checked) and as a person would (readable tables), with the service's errors passed through.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

let emulator: EmulatorProcess;
let scratch: string;

const mhsm = async (...args: string[]) => {
  const result = await runCli([...args, '--data-dir', emulator.dataDir]);
  return { ...result, json: () => JSON.parse(result.stdout) };
};

async function ok(...args: string[]): Promise<any> {
  const result = await mhsm(...args, '--json');
  expect(result.stderr, args.join(' ')).toBe('');
  expect(result.code, args.join(' ')).toBe(0);
  return result.json();
}

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir());
  scratch = mkdtempSync(path.join(os.tmpdir(), 'mhsm-cli-'));
});

afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

describe('mhsm key', () => {
  it('creates, shows, updates, rotates, lists, backs up, deletes, recovers, purges and restores', async () => {
    const ec = await ok('key', 'create', 'cli-ec', '--kty', 'EC', '--curve', 'P-384', '--tags', 'team=payments,env=ci');
    expect(ec.key).toMatchObject({ kty: 'EC-HSM', crv: 'P-384', key_ops: ['sign', 'verify'] });
    expect(ec.tags).toEqual({ team: 'payments', env: 'ci' });
    const rsa = await ok('key', 'create', 'cli-rsa', '--kty', 'RSA-HSM', '--size', '3072', '--ops', 'sign,verify', '--exp', '2030-01-01T00:00:00Z');
    expect(Buffer.from(rsa.key.n, 'base64url')).toHaveLength(384);
    expect(rsa.attributes.exp).toBe(Date.parse('2030-01-01T00:00:00Z') / 1000);
    const aes = await ok('key', 'create', 'cli-aes', '--kty', 'oct', '--size', '128');

    const shown = await mhsm('key', 'show', 'cli-rsa');
    expect(shown.stdout).toMatch(/^name: {7}cli-rsa\nversion: {4}[0-9a-f]{32}\ntype: {7}RSA-HSM 3072\noperations: sign, verify\nenabled: {4}true, expires 2030-01-01T00:00:00\.000Z\n/);

    const updated = await ok('key', 'update', 'cli-ec', '--enabled', 'false', '--tags', 'team=identity');
    expect(updated.attributes.enabled).toBe(false);
    expect(updated.tags).toEqual({ team: 'identity' });
    // Rotation needs a policy first, as on the service.
    const admin = await accessToken(emulator.url, emulator.admin);
    const policy = { lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P90D' } };
    expect((await callJson(emulator.url, admin, 'PUT', '/keys/cli-aes/rotationpolicy', policy)).status).toBe(200);
    const rotated = await ok('key', 'rotate', 'cli-aes');
    expect(rotated.key.kid).not.toBe(aes.key.kid);
    const oldVersion = aes.key.kid.split('/').pop();
    expect((await ok('key', 'show', 'cli-aes', '--version', oldVersion)).key.kid).toBe(aes.key.kid);

    // Listing follows nextLink past one page of 25.
    for (let i = 0; i < 26; i++) expect((await callJson(emulator.url, admin, 'POST', `/keys/bulk-${i}/create`, { kty: 'oct-HSM', key_size: 128 })).status).toBe(200);
    const listed = await ok('key', 'list');
    expect(listed).toHaveLength(29);
    const table = await mhsm('key', 'list');
    expect(table.stdout.split('\n')[0]).toMatch(/^name +enabled +expires +updated$/);
    expect(table.stdout).toMatch(/\ncli-ec +false +/);

    const file = path.join(scratch, 'cli-ec.backup');
    expect((await ok('key', 'backup', 'cli-ec', '--file', file)).bytes).toBeGreaterThan(100);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await ok('key', 'delete', 'cli-ec')).recoveryId).toMatch(/\/deletedkeys\/cli-ec$/);
    expect((await ok('key', 'list', '--deleted')).map((k: any) => k.kid.split('/').pop())).toEqual(['cli-ec']);
    expect((await ok('key', 'show', 'cli-ec', '--deleted')).deletedDate).toBeGreaterThan(0);
    await ok('key', 'recover', 'cli-ec');
    await ok('key', 'delete', 'cli-ec');
    expect(await ok('key', 'purge', 'cli-ec')).toEqual({ purged: 'cli-ec' });
    const restored = await ok('key', 'restore', '--file', file);
    expect(restored.key.kid).toBe(updated.key.kid);
  });

  it('imports a JWK file, and passes the service errors through with exit code 1', async () => {
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const file = path.join(scratch, 'key.jwk');
    writeFileSync(file, JSON.stringify(jwk));
    const imported = await ok('key', 'import', 'cli-imported', '--jwk', file, '--ops', 'sign');
    expect(imported.key).toMatchObject({ kty: 'EC-HSM', crv: 'P-256', x: jwk.x, y: jwk.y, key_ops: ['sign'] });
    expect(imported.key.d).toBeUndefined();

    const missing = await mhsm('key', 'show', 'no-such-key');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^mhsm: error: KeyNotFound: A key with \(name\/id\) no-such-key was not found in this HSM \(Activity ID: [0-9a-f-]+\)\n$/);
    const invalid = await mhsm('key', 'create', 'cli-bad', '--kty', 'RSA', '--size', '1024');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^mhsm: error: BadParameter: key_size: an RSA key must be 2048, 3072 or 4096 bits/);
  });
});

describe('mhsm role, settings and status', () => {
  it('manages custom roles and assignments by role and principal name', async () => {
    const app = JSON.parse((await runCli(['principal', 'create', '--name', 'cli-app', '--data-dir', emulator.dataDir, '--json'])).stdout);
    const role = await ok('role', 'definition', 'create', '--role-name', 'Key Reader', '--data-actions', 'Microsoft.KeyVault/managedHsm/keys/read/action');
    expect(role.properties).toMatchObject({ roleName: 'Key Reader', type: 'CustomRole' });
    expect((await ok('role', 'definition', 'list', '--custom')).map((d: any) => d.name)).toEqual([role.name]);
    expect((await mhsm('role', 'definition', 'list')).stdout).toMatch(/21dbd100-6940-42c2-9190-5d6cb909625b +Managed HSM Crypto User +AKVBuiltInRole +19/);

    const byName = await ok('role', 'assignment', 'create', '--role', 'Key Reader', '--assignee', 'cli-app', '--scope', '/keys');
    expect(byName.properties).toMatchObject({ scope: '/keys', principalId: app.objectId, roleDefinitionId: role.id });
    const byShortName = await ok('role', 'assignment', 'create', '--role', 'crypto user', '--assignee', app.clientId, '--scope', '/keys/cli-rsa');
    expect(byShortName.properties.roleDefinitionId).toMatch(/21dbd100-6940-42c2-9190-5d6cb909625b$/);
    const mine = await ok('role', 'assignment', 'list', '--scope', '/keys/cli-rsa', '--assignee', 'cli-app');
    expect(mine.map((a: any) => a.properties.scope).sort()).toEqual(['/keys', '/keys/cli-rsa']);
    expect((await mhsm('role', 'assignment', 'list', '--assignee', 'cli-app', '--scope', '/keys')).stdout).toContain('Key Reader');

    const inUse = await mhsm('role', 'definition', 'delete', role.name);
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/^mhsm: error: Conflict: /);
    await ok('role', 'assignment', 'delete', byName.name, '--scope', '/keys');
    await ok('role', 'assignment', 'delete', byShortName.name, '--scope', '/keys/cli-rsa');
    expect((await ok('role', 'definition', 'delete', role.name)).name).toBe(role.name);
    const unknown = await mhsm('role', 'assignment', 'create', '--role', 'Nobody', '--assignee', 'cli-app');
    expect(unknown.stderr).toMatch(/^mhsm: error: --role: no role definition is named 'Nobody'/);
  });

  it('lists and sets settings, and reports the status', async () => {
    expect(await ok('settings', 'list')).toEqual([{ name: 'AllowKeyManagementOperationsThroughARM', value: 'false', type: 'boolean' }]);
    expect(await ok('settings', 'set', 'AllowKeyManagementOperationsThroughARM', 'true')).toMatchObject({ value: 'true' });
    const bad = await mhsm('settings', 'set', 'AllowKeyManagementOperationsThroughARM', 'yes');
    expect(bad.stderr).toMatch(/^mhsm: error: BadParameter: value: /);

    const status = await ok('status');
    expect(status.activation).toEqual({ state: 'Active', securityDomain: 'downloaded', downloadable: true, initialRoles: 'default' });
    expect(status.token.label).toBe('mhsm');
    expect(status.counts).toMatchObject({ keys: 30, deletedKeys: 0, principals: 2 });
    expect(status.algorithms.find((a: any) => a.name === 'RSA-OAEP-256').level).toBe('fallback');
    const readable = await mhsm('status');
    expect(readable.stdout).toMatch(/^activation: {3}Active \(security domain: downloaded; initial roles: default\)\ntoken: {8}'mhsm' \(SoftHSM/);
    expect(readFileSync(path.join(emulator.dataDir, 'audit', 'audit.log'), 'utf8')).toContain('"operationName":"EmulatorStatusGet"');
  });
});
