// Local RBAC over raw HTTPS: the role-definition and role-assignment API in the shapes the
// service records, and enforcement of every built-in role on every data-plane operation.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { DOCUMENTED_ROLES } from '../helpers/documented-roles.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrincipal, type NewPrincipal } from '../../src/identity/principals.js';
import { SecretHasher } from '../../src/identity/secrets.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson, type JsonResponse } from '../helpers/rest.js';

const PROVIDER = '/providers/Microsoft.Authorization';
const DEFINITION_ID = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/';
const M = 'Microsoft.KeyVault/managedHsm/';

const TARGET = 'matrix-target';
type OperationScope = '/' | '/keys' | '/keys/matrix-target';

/**
 * Every data-plane operation, the data action the documentation names for it, the scope it
 * addresses, and a request that changes nothing when it is allowed (it names a key that does not
 * exist or carries a body the service refuses after authorization).
 */
const OPERATIONS: Array<{ name: string; action: string; scope: OperationScope; method: string; route: string; body?: unknown }> = [
  { name: 'create key', action: 'keys/create', scope: `/keys/${TARGET}`, method: 'POST', route: `/keys/${TARGET}/create`, body: { kty: 'none' } },
  { name: 'import key', action: 'keys/import/action', scope: `/keys/${TARGET}`, method: 'PUT', route: `/keys/${TARGET}`, body: {} },
  { name: 'get key', action: 'keys/read/action', scope: `/keys/${TARGET}`, method: 'GET', route: `/keys/${TARGET}` },
  { name: 'get key attestation', action: 'keys/read/action', scope: `/keys/${TARGET}`, method: 'GET', route: `/keys/${TARGET}/attestation` },
  { name: 'get key version', action: 'keys/read/action', scope: `/keys/${TARGET}`, method: 'GET', route: `/keys/${TARGET}/${'0'.repeat(32)}` },
  { name: 'list keys', action: 'keys/read/action', scope: '/keys', method: 'GET', route: '/keys' },
  { name: 'list versions', action: 'keys/read/action', scope: `/keys/${TARGET}`, method: 'GET', route: `/keys/${TARGET}/versions` },
  { name: 'update key', action: 'keys/write/action', scope: `/keys/${TARGET}`, method: 'PATCH', route: `/keys/${TARGET}`, body: {} },
  { name: 'delete key', action: 'keys/delete', scope: `/keys/${TARGET}`, method: 'DELETE', route: `/keys/${TARGET}` },
  { name: 'get rotation policy', action: 'keys/read/action', scope: `/keys/${TARGET}`, method: 'GET', route: `/keys/${TARGET}/rotationpolicy` },
  { name: 'set rotation policy', action: 'keys/write/action', scope: `/keys/${TARGET}`, method: 'PUT', route: `/keys/${TARGET}/rotationpolicy`, body: {} },
  { name: 'rotate', action: 'keys/rotate/action', scope: `/keys/${TARGET}`, method: 'POST', route: `/keys/${TARGET}/rotate` },
  { name: 'backup', action: 'keys/backup/action', scope: `/keys/${TARGET}`, method: 'POST', route: `/keys/${TARGET}/backup` },
  { name: 'restore', action: 'keys/restore/action', scope: '/keys', method: 'POST', route: '/keys/restore', body: { value: 'AAAA' } },
  { name: 'release', action: 'keys/release/action', scope: `/keys/${TARGET}`, method: 'POST', route: `/keys/${TARGET}/release`, body: {} },
  ...(['encrypt', 'decrypt', 'wrap', 'unwrap', 'sign', 'verify'] as const).map((op) => ({
    name: op,
    action: `keys/${op}/action`,
    scope: `/keys/${TARGET}` as const,
    method: 'POST',
    route: `/keys/${TARGET}/${op === 'wrap' || op === 'unwrap' ? `${op}key` : op}`,
    body: { alg: 'RS256', value: 'AAAA', digest: 'AAAA' },
  })),
  { name: 'get deleted key', action: 'keys/deletedKeys/read/action', scope: `/keys/${TARGET}`, method: 'GET', route: `/deletedkeys/${TARGET}` },
  { name: 'list deleted keys', action: 'keys/deletedKeys/read/action', scope: '/keys', method: 'GET', route: '/deletedkeys' },
  { name: 'recover', action: 'keys/deletedKeys/recover/action', scope: `/keys/${TARGET}`, method: 'POST', route: `/deletedkeys/${TARGET}/recover` },
  { name: 'purge', action: 'keys/deletedKeys/delete', scope: `/keys/${TARGET}`, method: 'DELETE', route: `/deletedkeys/${TARGET}` },
  { name: 'random bytes', action: 'rng/action', scope: '/', method: 'POST', route: '/rng', body: { count: 0 } },
  { name: 'list role definitions', action: 'roleDefinitions/read/action', scope: '/', method: 'GET', route: `${PROVIDER}/roleDefinitions` },
  { name: 'get role definition', action: 'roleDefinitions/read/action', scope: '/', method: 'GET', route: `${PROVIDER}/roleDefinitions/${randomUUID()}` },
  { name: 'set role definition', action: 'roleDefinitions/write/action', scope: '/', method: 'PUT', route: `${PROVIDER}/roleDefinitions/not-a-guid`, body: {} },
  { name: 'delete role definition', action: 'roleDefinitions/delete/action', scope: '/', method: 'DELETE', route: `${PROVIDER}/roleDefinitions/${randomUUID()}` },
  { name: 'list role assignments', action: 'roleAssignments/read/action', scope: '/', method: 'GET', route: `${PROVIDER}/roleAssignments` },
  { name: 'get role assignment', action: 'roleAssignments/read/action', scope: '/', method: 'GET', route: `${PROVIDER}/roleAssignments/${randomUUID()}` },
  { name: 'create role assignment', action: 'roleAssignments/write/action', scope: '/', method: 'PUT', route: `${PROVIDER}/roleAssignments/not-a-guid`, body: {} },
  { name: 'delete role assignment', action: 'roleAssignments/delete/action', scope: '/', method: 'DELETE', route: `${PROVIDER}/roleAssignments/${randomUUID()}` },
  { name: 'list key role assignments', action: 'roleAssignments/read/action', scope: '/keys', method: 'GET', route: `/keys${PROVIDER}/roleAssignments` },
  { name: 'get settings', action: 'settings/read/action', scope: '/', method: 'GET', route: '/settings' },
  { name: 'get setting', action: 'settings/read/action', scope: '/', method: 'GET', route: '/settings/AllowKeyManagementOperationsThroughARM' },
  { name: 'update setting', action: 'settings/write/action', scope: '/', method: 'PATCH', route: '/settings/AllowKeyManagementOperationsThroughARM', body: { value: 'maybe' } },
  // The emulator's own endpoints, for administrators through the settings actions.
  { name: 'emulator status', action: 'settings/read/action', scope: '/', method: 'GET', route: '/emulator/status' },
  { name: 'emulator clock', action: 'settings/read/action', scope: '/', method: 'GET', route: '/emulator/clock' },
  { name: 'emulator clock shift', action: 'settings/write/action', scope: '/', method: 'POST', route: '/emulator/clock/shift', body: { days: 0 } },
  { name: 'emulator network rules', action: 'settings/read/action', scope: '/', method: 'GET', route: '/emulator/network' },
  { name: 'set network rules', action: 'settings/write/action', scope: '/', method: 'PUT', route: '/emulator/network', body: { defaultAction: 'Maybe' } },
];

// The target key's own scope too: a per-key assignment must grant exactly what it names there.
const ASSIGNMENT_SCOPES = ['/', '/keys', `/keys/${TARGET}`, '/keys/matrix-other'] as const;

function covers(assigned: string, target: string): boolean {
  return assigned === '/' || target === assigned || target.startsWith(`${assigned}/`);
}

let emulator: EmulatorProcess;
let admin: string;
const principals = new Map<string, NewPrincipal>();

const asAdmin = (method: string, route: string, body?: unknown) => callJson(emulator.url, admin, method, route, body);

function expectDenied(response: JsonResponse, action: string, scope: string): void {
  expect(response.status).toBe(403);
  expect(response.body.error.code).toBe('AccessDenied');
  expect(response.body.error.message).toMatch(new RegExp(`^Not authorized to access ${M}${action} on ${scope} \\(Activity ID: `));
}

async function assign(principalId: string, roleId: string, scope: string): Promise<string> {
  const name = randomUUID();
  const prefix = scope === '/' ? '' : scope;
  const response = await asAdmin('PUT', `${prefix}${PROVIDER}/roleAssignments/${name}`, {
    properties: { roleDefinitionId: `${DEFINITION_ID}${roleId}`, principalId },
  });
  expect(response.status).toBe(201);
  return name;
}

beforeAll(async () => {
  const dataDir = seededDataDir();
  // Principals are registered in the data directory before start, as `mhsm principal create` does.
  const store = new SqliteMetadataStore(path.join(dataDir, 'metadata.db'));
  for (const role of [...Object.keys(DOCUMENTED_ROLES), 'custom', 'scoped', 'doomed']) {
    principals.set(role, createPrincipal(store.access, SecretHasher.open(dataDir), role, Math.floor(Date.now() / 1000)));
  }
  await store.close();
  emulator = await startEmulatorProcess(dataDir);
  admin = await accessToken(emulator.url, emulator.admin);
});

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

const tokenOf = async (role: string) => {
  const principal = principals.get(role) as NewPrincipal;
  return accessToken(emulator.url, { tenantId: emulator.admin.tenantId, clientId: principal.clientId, clientSecret: principal.clientSecret });
};

describe('role definitions', () => {
  it('lists the 9 built-in roles with their GUIDs, names and data actions, at "/" written either way', async () => {
    for (const route of [`${PROVIDER}/roleDefinitions`, `//${PROVIDER}/roleDefinitions`]) {
      const response = await asAdmin('GET', route);
      expect(response.status).toBe(200);
      expect(response.body.nextLink).toBeUndefined();
      const builtIn = (response.body.value as any[]).filter((d) => d.properties.type === 'AKVBuiltInRole');
      expect(builtIn.map((d) => d.properties.roleName).sort()).toEqual(Object.keys(DOCUMENTED_ROLES).sort());
      for (const definition of builtIn) {
        const documented = DOCUMENTED_ROLES[definition.properties.roleName as string];
        expect(definition).toEqual({
          id: `${DEFINITION_ID}${documented?.id}`,
          name: documented?.id,
          type: 'Microsoft.Authorization/roleDefinitions',
          properties: {
            roleName: definition.properties.roleName,
            description: '',
            type: 'AKVBuiltInRole',
            permissions: [{ actions: [], notActions: [], dataActions: documented?.dataActions.map((a) => `${M}${a}`), notDataActions: [] }],
            assignableScopes: ['/'],
          },
        });
      }
    }
    const filtered = await asAdmin('GET', `${PROVIDER}/roleDefinitions?$filter=${encodeURIComponent("roleName eq 'Managed HSM Crypto User'")}`);
    expect(filtered.body.value.map((d: any) => d.name)).toEqual(['21dbd100-6940-42c2-9190-5d6cb909625b']);
  });

  it('creates (201), updates (201), reads and deletes (200) a custom role; refuses non-GUID and built-in names', async () => {
    const name = randomUUID();
    const route = `${PROVIDER}/roleDefinitions/${name}`;
    const permissions = [{ actions: [], notActions: [], dataActions: [`${M}keys/read/action`], notDataActions: [] }];
    const created = await asAdmin('PUT', route, {
      properties: { roleName: 'key reader', description: 'reads keys', type: 'CustomRole', permissions, assignableScopes: ['/'] },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: `${DEFINITION_ID}${name}`,
      name,
      type: 'Microsoft.Authorization/roleDefinitions',
      properties: { roleName: 'key reader', description: 'reads keys', type: 'CustomRole', permissions, assignableScopes: ['/'] },
    });
    // The Python client leaves out what it was not given; the service fills in empty values.
    const updated = await asAdmin('PUT', route, { properties: { permissions: [{ dataActions: [`${M}keys/sign/action`] }] } });
    expect(updated.status).toBe(201);
    expect(updated.body.properties).toMatchObject({ roleName: '', description: '', type: 'CustomRole', assignableScopes: ['/'] });
    expect((await asAdmin('GET', route)).body.properties.permissions[0].dataActions).toEqual([`${M}keys/sign/action`]);

    const bad = await asAdmin('PUT', `${PROVIDER}/roleDefinitions/not-a-guid`, { properties: { permissions } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'BadParameter', message: expect.stringMatching(/^Role definition name must be a GUID/) });
    for (const method of ['PUT', 'DELETE']) {
      const builtIn = await asAdmin(method, `${PROVIDER}/roleDefinitions/${DOCUMENTED_ROLES['Managed HSM Crypto User']?.id}`, { properties: { permissions } });
      expect(builtIn.status).toBe(400);
      expect(builtIn.body.error.message).toMatch(/built-in role/);
    }
    const noPermissions = await asAdmin('PUT', `${PROVIDER}/roleDefinitions/${randomUUID()}`, { properties: { roleName: 'x' } });
    expect(noPermissions.status).toBe(400);
    expect(noPermissions.body.error.message).toMatch(/^properties\.permissions: /);

    const deleted = await asAdmin('DELETE', route);
    expect(deleted.status).toBe(200);
    expect(deleted.body.name).toBe(name);
    const gone = await asAdmin('GET', route);
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatchObject({ code: 'RoleDefinitionNotFound', message: expect.stringMatching(/^Requested role definition not found/) });
    expect((await asAdmin('DELETE', route)).status).toBe(404);
  });
});

describe('role assignments', () => {
  it('bootstraps the initial administrator with Administrator, Crypto Officer and Crypto User at "/"', async () => {
    const response = await asAdmin('GET', `${PROVIDER}/roleAssignments?$filter=${encodeURIComponent(`principalId eq '${emulator.admin.objectId}'`)}`);
    expect(response.status).toBe(200);
    expect(response.body.value.map((a: any) => a.properties.roleDefinitionId).sort()).toEqual(
      ['a290e904-7015-4bba-90c8-60543313cdb4', '515eb02d-2335-4d2d-92f2-b1cbdf9c3778', '21dbd100-6940-42c2-9190-5d6cb909625b'].map((id) => `${DEFINITION_ID}${id}`).sort(),
    );
    for (const assignment of response.body.value) expect(assignment.properties.scope).toBe('/');
  });

  it('creates (201), reads, lists with $filter and deletes (200) assignments at /, /keys and /keys/{name}', async () => {
    const principalId = principals.get('scoped')?.objectId as string;
    const auditor = DOCUMENTED_ROLES['Managed HSM Crypto Auditor']?.id as string;
    const names: Record<string, string> = {};
    for (const scope of ['/', '/keys', '/keys/some-key']) {
      const name = randomUUID();
      names[scope] = name;
      const prefix = scope === '/' ? '' : scope;
      const created = await asAdmin('PUT', `${prefix}${PROVIDER}/roleAssignments/${name}`, { properties: { roleDefinitionId: `${DEFINITION_ID}${auditor}`, principalId } });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        // The service's id names no scope (recorded at /keys); properties.scope does.
        id: `${PROVIDER}/roleAssignments/${name}`,
        name,
        type: 'Microsoft.Authorization/roleAssignments',
        properties: { scope, roleDefinitionId: `${DEFINITION_ID}${auditor}`, principalId },
      });
      const read = await asAdmin('GET', `${prefix}${PROVIDER}/roleAssignments/${name}`);
      expect(read.body).toEqual(created.body);
    }
    const mine = `principalId eq '${principalId}'`;
    const list = async (prefix: string, filter: string) =>
      ((await asAdmin('GET', `${prefix}${PROVIDER}/roleAssignments?$filter=${encodeURIComponent(filter)}`)).body.value as any[]).map((a) => a.properties.scope).sort();
    expect(await list('', mine)).toEqual(['/', '/keys', '/keys/some-key']);
    expect(await list('/keys', mine)).toEqual(['/', '/keys', '/keys/some-key']);
    expect(await list('/keys', `atScope() and ${mine}`)).toEqual(['/', '/keys']);
    expect(await list('/keys/other-key', mine)).toEqual(['/', '/keys']);

    const conflicting = await asAdmin('PUT', `${PROVIDER}/roleAssignments/${randomUUID()}`, { properties: { roleDefinitionId: `${DEFINITION_ID}${auditor}`, principalId } });
    expect(conflicting.status).toBe(409);
    for (const [body, message] of [
      [{ properties: { roleDefinitionId: `${DEFINITION_ID}${auditor}` } }, /^properties\.principalId: required/],
      [{ properties: { roleDefinitionId: `${DEFINITION_ID}${auditor}`, principalId: 'someone' } }, /^properties\.principalId must be a GUID/],
      [{ properties: { roleDefinitionId: 'reader', principalId } }, /^properties\.roleDefinitionId: must end in the GUID/],
      [{}, /^properties: required/],
    ] as const) {
      const refused = await asAdmin('PUT', `${PROVIDER}/roleAssignments/${randomUUID()}`, body);
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(message);
    }
    const unknownRole = await asAdmin('PUT', `${PROVIDER}/roleAssignments/${randomUUID()}`, { properties: { roleDefinitionId: `${DEFINITION_ID}${randomUUID()}`, principalId } });
    expect(unknownRole.status).toBe(404);
    expect(unknownRole.body.error.code).toBe('RoleDefinitionNotFound');
    const badScope = await asAdmin('GET', `/keys/bad_name${PROVIDER}/roleAssignments`);
    expect(badScope.status).toBe(400);

    for (const [scope, name] of Object.entries(names)) {
      const prefix = scope === '/' ? '' : scope;
      const deleted = await asAdmin('DELETE', `${prefix}${PROVIDER}/roleAssignments/${name}`);
      expect(deleted.status).toBe(200);
      expect(deleted.body.name).toBe(name);
    }
    const gone = await asAdmin('GET', `${PROVIDER}/roleAssignments/${names['/']}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatchObject({ code: 'RoleAssignmentNotFound', message: expect.stringMatching(/^Requested role assignment not found/) });
  });
});

describe('enforcement', () => {
  it('grants every built-in role exactly its documented data actions at /, /keys, /keys/{the key} and /keys/{another key}', async () => {
    const tokens = new Map<string, string>();
    for (const role of Object.keys(DOCUMENTED_ROLES)) tokens.set(role, await tokenOf(role));
    const mismatches: string[] = [];
    let checked = 0;
    for (const scope of ASSIGNMENT_SCOPES) {
      const assignments: string[] = [];
      for (const [role, { id }] of Object.entries(DOCUMENTED_ROLES)) {
        assignments.push(await assign(principals.get(role)?.objectId as string, id, scope));
      }
      for (const [role, { dataActions }] of Object.entries(DOCUMENTED_ROLES)) {
        for (const operation of OPERATIONS) {
          const expected = dataActions.includes(operation.action) && covers(scope, operation.scope);
          const response = await callJson(emulator.url, tokens.get(role) as string, operation.method, operation.route, operation.body);
          expect(response.status).toBeLessThan(500);
          const denied = response.status === 403 && response.body?.error?.code === 'AccessDenied';
          if (denied) expectDenied(response, operation.action, operation.scope);
          checked++;
          if (denied === expected) {
            mismatches.push(
              `| ${role.padEnd(44)} | ${scope.padEnd(18)} | ${operation.name.padEnd(26)} | expected ${expected ? 'allowed' : 'denied '} | got ${response.status} ${response.body?.error?.code ?? ''} |`,
            );
          }
        }
      }
      const prefix = scope === '/' ? '' : scope;
      for (const name of assignments) expect((await asAdmin('DELETE', `${prefix}${PROVIDER}/roleAssignments/${name}`)).status).toBe(200);
    }
    expect(checked).toBe(ASSIGNMENT_SCOPES.length * Object.keys(DOCUMENTED_ROLES).length * OPERATIONS.length);
    expect(mismatches, `authorization mismatches:\n| role | assigned at | operation | expected | got |\n${mismatches.join('\n')}`).toEqual([]);
  });

  it('subtracts notDataActions, and a removed assignment stops working on the next request', async () => {
    const principal = principals.get('custom') as NewPrincipal;
    const roleId = randomUUID();
    const defined = await asAdmin('PUT', `${PROVIDER}/roleDefinitions/${roleId}`, {
      properties: {
        roleName: 'keys except delete',
        permissions: [{ dataActions: [`${M}keys/*`], notDataActions: [`${M}keys/delete`, `${M}keys/deletedKeys/*`] }],
      },
    });
    expect(defined.status).toBe(201);
    const assignment = await assign(principal.objectId, roleId, '/keys');
    const token = await tokenOf('custom');
    const created = await callJson(emulator.url, token, 'POST', '/keys/custom-role-key/create', { kty: 'EC-HSM', crv: 'P-256' });
    expect(created.status).toBe(200);
    expect((await callJson(emulator.url, token, 'GET', '/keys/custom-role-key')).status).toBe(200);
    expectDenied(await callJson(emulator.url, token, 'DELETE', '/keys/custom-role-key'), 'keys/delete', '/keys/custom-role-key');
    expectDenied(await callJson(emulator.url, token, 'GET', '/deletedkeys'), 'keys/deletedKeys/read/action', '/keys');
    expectDenied(await callJson(emulator.url, token, 'POST', '/rng', { count: 8 }), 'rng/action', '/');

    // A definition in use cannot go; the assignment first.
    expect((await asAdmin('DELETE', `${PROVIDER}/roleDefinitions/${roleId}`)).status).toBe(409);
    // An assignment is reached only through its own scope.
    expect((await asAdmin('DELETE', `${PROVIDER}/roleAssignments/${assignment}`)).status).toBe(404);
    expect((await asAdmin('GET', `/keys/custom-role-key${PROVIDER}/roleAssignments/${assignment}`)).status).toBe(404);
    expect((await asAdmin('DELETE', `/KEYS${PROVIDER}/roleAssignments/${assignment}`)).status).toBe(200);
    expectDenied(await callJson(emulator.url, token, 'GET', '/keys/custom-role-key'), 'keys/read/action', '/keys/custom-role-key');
    expect((await asAdmin('DELETE', `${PROVIDER}/roleDefinitions/${roleId}`)).status).toBe(200);
  });
});
