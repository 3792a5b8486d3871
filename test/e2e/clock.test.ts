// Clock control: `mhsm clock shift` moves the running emulator's time forward, purging soft-deleted
// keys past retention, firing rotation policies, applying exp and ageing tokens; administrators
// only; never backwards, also across a restart.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

let emulator: EmulatorProcess;
let admin: string;
const DAY = 86_400;

const cli = async (...args: string[]) => {
  const result = await runCli([...args, '--data-dir', emulator.dataDir]);
  return { ...result, json: () => JSON.parse(result.stdout) };
};

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir(), ['--recoverable-days', '7']);
  admin = await accessToken(emulator.url, emulator.admin);
});

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

it('moves time forward: purges, rotations, exp and token lifetimes follow, and a restart keeps it', async () => {
  const call = (method: string, route: string, body?: unknown, bearer = admin) => callJson(emulator.url, bearer, method, route, body);
  const now = Math.floor(Date.now() / 1000);
  expect((await call('POST', '/keys/short-lived/create', { kty: 'EC-HSM', crv: 'P-256' })).status).toBe(200);
  expect((await call('DELETE', '/keys/short-lived')).status).toBe(200);
  expect((await call('POST', '/keys/rotating/create', { kty: 'EC-HSM', crv: 'P-256' })).status).toBe(200);
  const policy = { lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P90D' } };
  expect((await call('PUT', '/keys/rotating/rotationpolicy', policy)).status).toBe(200);
  expect((await call('POST', '/keys/expiring/create', { kty: 'EC-HSM', crv: 'P-256', attributes: { exp: now + 10 * DAY } })).status).toBe(200);
  const digest = createHash('sha256').update('x').digest('base64url');
  expect((await call('POST', '/keys/expiring/sign', { alg: 'ES256', value: digest })).status).toBe(200);

  const shown = await cli('clock', 'show', '--json');
  expect(shown.code).toBe(0);
  expect(shown.json()).toMatchObject({ offsetSeconds: 0 });

  const shifted = await cli('clock', 'shift', '--days', '31', '--json');
  expect(shifted.stderr).toBe('');
  const result = shifted.json();
  expect(result.offsetSeconds).toBe(31 * DAY);
  expect(Date.parse(result.now) / 1000).toBeGreaterThanOrEqual(now + 31 * DAY);
  expect(result.purged).toEqual(['short-lived']);
  expect(result.rotated).toEqual(['rotating']);

  // The token issued before the shift has expired; a new one works.
  const stale = await call('GET', '/keys/rotating');
  expect(stale.status).toBe(401);
  admin = await accessToken(emulator.url, emulator.admin);
  expect((await call('GET', '/keys/rotating/versions')).body.value).toHaveLength(2);
  expect((await call('GET', '/deletedkeys/short-lived')).status).toBe(404);
  const expired = await call('POST', '/keys/expiring/sign', { alg: 'ES256', value: digest });
  expect(expired.status).toBe(403);
  expect(expired.body.error.message).toMatch(/expired/);

  // Readable output, and refusals.
  expect((await cli('clock', 'show')).stdout).toMatch(/^emulator time: \S+Z \(31\.00 days ahead of this machine\)\n$/);
  const backwards = await cli('clock', 'shift', '--days', '-1');
  expect(backwards.code).toBe(1);
  expect(backwards.stderr).toMatch(/^mhsm: error: BadParameter: days: must be a positive number/);
  const both = await call('POST', '/emulator/clock/shift', { days: 1, seconds: 5 });
  expect(both.status).toBe(400);

  // Administrators only: a Crypto User may not move time.
  const user = JSON.parse((await runCli(['principal', 'create', '--name', 'clock-user', '--data-dir', emulator.dataDir, '--json'])).stdout);
  expect(
    (await call('PUT', `/providers/Microsoft.Authorization/roleAssignments/${randomUUID()}`, {
      properties: { roleDefinitionId: 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b', principalId: user.objectId },
    })).status,
  ).toBe(201);
  const denied = await cli('clock', 'shift', '--days', '1', '--client-id', user.clientId, '--client-secret', user.clientSecret);
  expect(denied.code).toBe(1);
  expect(denied.stderr).toMatch(/^mhsm: error: AccessDenied: Not authorized to access Microsoft\.KeyVault\/managedHsm\/settings\/write\/action on \//);

  // A restart keeps the offset: time does not go back.
  expect(await emulator.stop()).toBe(0);
  emulator = await startEmulatorProcess(emulator.dataDir);
  expect((await cli('clock', 'show', '--json')).json().offsetSeconds).toBe(31 * DAY);
});
