// The local RBAC role API in process (src/rbac/access-control.ts), one rule at a time: role
// definitions (list and filter, get, set with each check, delete), role assignments (list and
// filters, create with each check, duplicates, delete) and the service's limits, each refusal with
// its code and message, over a real SQLite store.
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AccessControl, RBAC_LIMITS, roleDefinitionGuid } from '../../src/rbac/access-control.js';
import { BUILT_IN_ROLES } from '../../src/rbac/built-in-roles.js';
import type { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { refusal } from '../helpers/refusal.js';
import { storePerTest } from '../helpers/temp-store.js';

const M = 'Microsoft.KeyVault/managedHsm/';
const AUDITOR = BUILT_IN_ROLES.cryptoAuditor.name;
const temp = storePerTest('mhsm-role-api-');
let store: SqliteMetadataStore;
let access: AccessControl;

const permissions = [{ dataActions: [`${M}keys/read/action`] }];

beforeEach(() => {
  store = temp.store;
  access = new AccessControl(store.access, { roleDefinitions: 2, rootAssignments: 3, keyAssignments: 1 });
});

describe('role definitions', () => {
  it('list the built-in ones, then the custom ones, and filter by role name without case', () => {
    const builtIn = access.listRoleDefinitions();
    expect(builtIn.every((definition) => definition.type === 'AKVBuiltInRole')).toBe(true);
    expect(builtIn.map((definition) => definition.name)).toContain(AUDITOR);
    const name = randomUUID();
    access.setRoleDefinition(name, { roleName: 'Key Reader', permissions });
    const all = access.listRoleDefinitions();
    expect(all).toHaveLength(builtIn.length + 1);
    expect(all.at(-1)).toMatchObject({ name, roleName: 'Key Reader', type: 'CustomRole' });
    expect(access.listRoleDefinitions({ roleName: 'key reader' }).map((d) => d.name)).toEqual([name]);
    expect(access.listRoleDefinitions({ roleName: 'MANAGED HSM CRYPTO AUDITOR' }).map((d) => d.name)).toEqual([AUDITOR]);
    expect(access.listRoleDefinitions({ roleName: 'nobody' })).toEqual([]);
  });

  it('are got by GUID in any case; a name that is none is not found', () => {
    expect(access.getRoleDefinition(AUDITOR.toUpperCase())).toMatchObject({ name: AUDITOR, type: 'AKVBuiltInRole' });
    const name = randomUUID();
    access.setRoleDefinition(name, { permissions });
    expect(access.getRoleDefinition(name.toUpperCase())).toMatchObject({ name, type: 'CustomRole', roleName: '', description: '', assignableScopes: ['/'] });
    for (const missing of [randomUUID(), 'does_not_exist']) {
      expect(refusal(() => access.getRoleDefinition(missing))).toEqual({ code: 'RoleDefinitionNotFound', message: 'Requested role definition not found' });
    }
  });

  it('are set with a GUID name, never a built-in one', () => {
    expect(refusal(() => access.setRoleDefinition('definition-name', { permissions }))).toEqual({ code: 'BadParameter', message: 'Role definition name must be a GUID' });
    expect(refusal(() => access.setRoleDefinition(AUDITOR, { permissions }))).toEqual({
      code: 'BadParameter',
      message: 'Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID.',
    });
    const upper = randomUUID().toUpperCase();
    expect(access.setRoleDefinition(upper, { permissions }).name).toBe(upper.toLowerCase());
  });

  it('check each property, naming it', () => {
    const set = (input: Record<string, unknown>) => refusal(() => access.setRoleDefinition(randomUUID(), { permissions, ...input }));
    expect(set({ roleName: 7 })).toEqual({ code: 'BadParameter', message: 'properties.roleName: must be a string of at most 512 characters' });
    expect(set({ roleName: 'r'.repeat(513) }).message).toBe('properties.roleName: must be a string of at most 512 characters');
    expect(set({ description: false })).toEqual({ code: 'BadParameter', message: 'properties.description: must be a string of at most 2048 characters' });
    expect(set({ description: 'd'.repeat(2049) }).message).toBe('properties.description: must be a string of at most 2048 characters');
    expect(set({ type: 'AKVBuiltInRole' })).toEqual({ code: 'BadParameter', message: "properties.type: must be 'CustomRole'" });
    expect(set({ assignableScopes: ['/keys'] })).toEqual({ code: 'BadParameter', message: 'properties.assignableScopes: must be ["/"]' });
    expect(set({ assignableScopes: [] }).message).toBe('properties.assignableScopes: must be ["/"]');
    expect(set({ assignableScopes: '/' })).toEqual({ code: 'BadParameter', message: 'properties.assignableScopes: must be an array of at most 256 non-empty strings' });
    expect(set({ permissions: [] })).toEqual({ code: 'BadParameter', message: 'properties.permissions: must be an array of 1 to 16 permission objects' });
    expect(set({ permissions: Array.from({ length: 17 }, () => ({})) }).message).toBe('properties.permissions: must be an array of 1 to 16 permission objects');
    expect(set({ permissions: [{}, 'x'] })).toEqual({ code: 'BadParameter', message: 'properties.permissions[1]: must be an object' });
    expect(set({ permissions: [[]] }).message).toBe('properties.permissions[0]: must be an object');
    expect(set({ permissions: [{ dataActions: [''] }] })).toEqual({ code: 'BadParameter', message: 'properties.permissions[0].dataActions: must be an array of at most 256 non-empty strings' });
    expect(set({ permissions: [{ notDataActions: ['a'.repeat(513)] }] }).message).toBe('properties.permissions[0].notDataActions: must be an array of at most 256 non-empty strings');
    expect(set({ permissions: [{ actions: Array.from({ length: 257 }, () => 'a') }] }).message).toBe('properties.permissions[0].actions: must be an array of at most 256 non-empty strings');
    expect(set({ permissions: [{ notActions: [3] }] }).message).toBe('properties.permissions[0].notActions: must be an array of at most 256 non-empty strings');
    expect(store.access.customRoleDefinitions()).toEqual([]);
  });

  it('take what they are given, and the defaults for the rest', () => {
    const name = randomUUID();
    const made = access.setRoleDefinition(name, {
      roleName: 'r'.repeat(512),
      description: 'd'.repeat(2048),
      type: 'CustomRole',
      assignableScopes: ['/'],
      permissions: [{ actions: ['a'], notActions: ['b'], dataActions: [`${M}keys/*`], notDataActions: [`${M}keys/delete`] }, {}],
    });
    expect(made).toEqual({
      name,
      roleName: 'r'.repeat(512),
      description: 'd'.repeat(2048),
      type: 'CustomRole',
      assignableScopes: ['/'],
      permissions: [
        { actions: ['a'], notActions: ['b'], dataActions: [`${M}keys/*`], notDataActions: [`${M}keys/delete`] },
        { actions: [], notActions: [], dataActions: [], notDataActions: [] },
      ],
    });
    expect(access.setRoleDefinition(randomUUID(), { roleName: null, description: null, permissions })).toMatchObject({ roleName: '', description: '' });
  });

  it('are limited in number; updating one that exists is not one more', () => {
    const [a, b] = [randomUUID(), randomUUID()];
    access.setRoleDefinition(a, { permissions });
    access.setRoleDefinition(b, { permissions });
    access.setRoleDefinition(a.toUpperCase(), { roleName: 'again', permissions });
    expect(refusal(() => access.setRoleDefinition(randomUUID(), { permissions }))).toEqual({
      code: 'Forbidden',
      message: 'This HSM has 2 custom role definitions, its limit (2; raise it with --service-limit role-definitions=N)',
    });
    expect(RBAC_LIMITS).toEqual({ roleDefinitions: 50, rootAssignments: 50, keyAssignments: 10 });
  });

  it('are deleted unless built in or still assigned, and answer what they were', () => {
    expect(refusal(() => access.deleteRoleDefinition(AUDITOR))).toEqual({ code: 'BadParameter', message: 'Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID.' });
    expect(refusal(() => access.deleteRoleDefinition(randomUUID())).code).toBe('RoleDefinitionNotFound');
    const name = randomUUID();
    access.setRoleDefinition(name, { roleName: 'gone soon', permissions });
    const assignment = randomUUID();
    access.createRoleAssignment(assignment, '/', { roleDefinitionId: name, principalId: randomUUID() });
    expect(refusal(() => access.deleteRoleDefinition(name))).toEqual({ code: 'Conflict', message: 'The role definition is used by 1 role assignment(s); delete them first' });
    access.deleteRoleAssignment(assignment, '/');
    expect(access.deleteRoleDefinition(name)).toMatchObject({ name, roleName: 'gone soon', type: 'CustomRole' });
    expect(refusal(() => access.getRoleDefinition(name)).code).toBe('RoleDefinitionNotFound');
  });

  it('are named by id in their full and bare forms', () => {
    expect(roleDefinitionGuid(`Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${AUDITOR.toUpperCase()}`)).toBe(AUDITOR);
    expect(roleDefinitionGuid(AUDITOR)).toBe(AUDITOR);
    expect(roleDefinitionGuid('')).toBeUndefined();
    expect(roleDefinitionGuid('roleDefinitions/not-a-guid')).toBeUndefined();
  });
});

describe('role assignments', () => {
  const principal = randomUUID();
  const create = (scope: string, input: Record<string, unknown> = {}, name: string = randomUUID()) =>
    access.createRoleAssignment(name, scope, { roleDefinitionId: AUDITOR, principalId: principal, ...input });

  it('check the name, the role and the principal, naming each', () => {
    expect(refusal(() => access.createRoleAssignment('some-uuid', '/', { roleDefinitionId: AUDITOR, principalId: principal }))).toEqual({
      code: 'BadParameter',
      message: 'Role assignment name must be a GUID',
    });
    expect(refusal(() => create('/', { roleDefinitionId: 7 }))).toEqual({ code: 'BadParameter', message: 'properties.roleDefinitionId: required, a role definition id' });
    expect(refusal(() => create('/', { principalId: undefined }))).toEqual({ code: 'BadParameter', message: 'properties.principalId: required, the object id of a principal' });
    expect(refusal(() => create('/', { principalId: 'someone' }))).toEqual({ code: 'BadParameter', message: 'properties.principalId must be a GUID' });
    expect(refusal(() => create('/', { roleDefinitionId: 'roleDefinitions/reader' }))).toEqual({
      code: 'BadParameter',
      message: 'properties.roleDefinitionId: must end in the GUID of a role definition',
    });
    expect(refusal(() => create('/', { roleDefinitionId: randomUUID() })).code).toBe('RoleDefinitionNotFound');
    expect(store.access.roleAssignments()).toEqual([]);
  });

  it('are made with lower-case names and principal, and the same one again is the same answer', () => {
    const name = randomUUID().toUpperCase();
    const made = create('/keys', { principalId: principal.toUpperCase() }, name);
    expect(made).toEqual({ name: name.toLowerCase(), scope: '/keys', principalId: principal.toLowerCase(), roleDefinitionName: AUDITOR });
    expect(create('/keys', { principalId: principal.toUpperCase() }, name)).toEqual(made);
    expect(store.access.roleAssignments()).toHaveLength(1);
  });

  it('refuse a name taken by another assignment, and the same role twice at one scope', () => {
    const name = randomUUID();
    create('/', {}, name);
    expect(refusal(() => create('/keys', {}, name))).toEqual({ code: 'Conflict', message: 'A role assignment with this name already exists with another principal, role or scope' });
    expect(refusal(() => create('/', { principalId: randomUUID() }, name)).code).toBe('Conflict');
    expect(refusal(() => create('/', { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name }, name)).code).toBe('Conflict');
    expect(refusal(() => create('/'))).toEqual({ code: 'Conflict', message: `The role assignment already exists as ${name}` });
    // Another role at the scope, or the role at another scope, is another assignment.
    expect(create('/', { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name }).roleDefinitionName).toBe(BUILT_IN_ROLES.cryptoUser.name);
    expect(create('/keys').scope).toBe('/keys');
  });

  it('list those at, above and below a scope, or at and above it, and by principal without case', () => {
    const other = randomUUID();
    const root = create('/');
    const keys = create('/keys', { principalId: other });
    const key = create('/keys/k');
    const names = (list: Array<{ name: string }>) => list.map((a) => a.name).sort();
    expect(names(access.listRoleAssignments('/'))).toEqual(names([root, keys, key]));
    expect(names(access.listRoleAssignments('/keys'))).toEqual(names([root, keys, key]));
    expect(names(access.listRoleAssignments('/keys', { atScope: true }))).toEqual(names([root, keys]));
    expect(names(access.listRoleAssignments('/keys/k', { atScope: true }))).toEqual(names([root, keys, key]));
    expect(names(access.listRoleAssignments('/keys/other'))).toEqual(names([root, keys]));
    expect(names(access.listRoleAssignments('/', { principalId: other.toUpperCase() }))).toEqual([keys.name]);
    expect(names(access.listRoleAssignments('/keys', { atScope: true, principalId: principal }))).toEqual([root.name]);
  });

  it('are limited at the root scopes together, and at each key apart', () => {
    create('/');
    create('/keys');
    create('/', { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name });
    expect(refusal(() => create('/keys', { principalId: randomUUID() }))).toEqual({
      code: 'Forbidden',
      message: "There are 3 role assignments at the HSM's scope, the limit (3; raise it with --service-limit role-assignments=N)",
    });
    create('/keys/a');
    create('/keys/b');
    expect(refusal(() => create('/keys/a', { principalId: randomUUID() }))).toEqual({
      code: 'Forbidden',
      message: "There are 1 role assignments at this key's scope, the limit (1; raise it with --service-limit key-role-assignments=N)",
    });
    // Assignments at keys count only there: the root is still full, and no more.
    expect(refusal(() => create('/', { principalId: randomUUID() })).code).toBe('Forbidden');
    expect(store.access.roleAssignments()).toHaveLength(5);
  });

  it('are got and deleted only through their own scope', () => {
    const made = create('/keys/k');
    expect(access.getRoleAssignment(made.name.toUpperCase(), '/keys/K')).toEqual(made);
    for (const [name, scope] of [[made.name, '/'], [made.name, '/keys'], ['not-a-guid', '/keys/k'], [randomUUID(), '/keys/k']] as const) {
      expect(refusal(() => access.getRoleAssignment(name, scope))).toEqual({ code: 'RoleAssignmentNotFound', message: 'Requested role assignment not found' });
      expect(refusal(() => access.deleteRoleAssignment(name, scope)).code).toBe('RoleAssignmentNotFound');
    }
    expect(access.deleteRoleAssignment(made.name, '/keys/k')).toEqual(made);
    expect(store.access.roleAssignments()).toEqual([]);
  });
});

describe('action patterns', () => {
  /** Whether a role whose only data action is `pattern` grants `action`. */
  function grants(pattern: string, action: string): boolean {
    const role = randomUUID();
    const principal = randomUUID();
    access.setRoleDefinition(role, { permissions: [{ dataActions: [pattern] }] });
    access.createRoleAssignment(randomUUID(), '/keys/k', { roleDefinitionId: role, principalId: principal });
    const allowed = access.isAllowed(principal, action, '/keys/k');
    for (const assignment of store.access.roleAssignmentsOf(principal)) access.deleteRoleAssignment(assignment.name, assignment.scope);
    access.deleteRoleDefinition(role);
    return allowed;
  }

  it('match an exact action without case, and nothing else', () => {
    expect(grants(`${M}KEYS/READ/action`, `${M}keys/read/action`)).toBe(true);
    expect(grants(`${M}keys/read/action`, `${M}keys/read/actions`)).toBe(false);
    expect(grants(`${M}keys/read/action`, `${M}keys/read`)).toBe(false);
  });

  it("match '*' as any run of characters, the empty one included, at either end or between", () => {
    expect(grants(`${M}keys/*`, `${M}keys/read/action`)).toBe(true);
    expect(grants(`${M}KEYS/*`, `${M}keys/read/action`)).toBe(true);
    expect(grants(`*/read/action`, `${M}keys/read/action`)).toBe(true);
    expect(grants(`${M}keys/*/action`, `${M}keys/read/action`)).toBe(true);
    // The pieces may meet: a*b takes ab; the middle piece may sit right before the last one.
    expect(grants(`${M}a*b`, `${M}ab`)).toBe(true);
    expect(grants(`${M}a*x*b`, `${M}axb`)).toBe(true);
    // ...but not overlap: ab*ba is not aba, and a*xy*b needs its xy before the b.
    expect(grants(`${M}ab*ba`, `${M}aba`)).toBe(false);
    expect(grants(`${M}a*xy*b`, `${M}axb`)).toBe(false);
    expect(grants(`${M}a*x*b`, `${M}ab`)).toBe(false);
    expect(grants(`${M}keys/*/action`, `${M}keys/read/actions`)).toBe(false);
    expect(grants(`${M}keys/*`, `${M}rng/action`)).toBe(false);
  });

  it('grant through a definition only what no notDataActions of the same permission takes away', () => {
    const role = randomUUID();
    const principal = randomUUID();
    access.setRoleDefinition(role, { permissions: [{ dataActions: [`${M}keys/*`], notDataActions: [`${M}keys/delete`] }, { dataActions: [`${M}rng/action`] }] });
    access.createRoleAssignment(randomUUID(), '/', { roleDefinitionId: role, principalId: principal });
    expect(access.isAllowed(principal, `${M}keys/read/action`, '/keys/k')).toBe(true);
    expect(access.isAllowed(principal, `${M}keys/delete`, '/keys/k')).toBe(false);
    expect(access.isAllowed(principal, `${M}rng/action`, '/')).toBe(true);
    expect(refusal(() => access.authorize(principal, `${M}keys/delete`, '/keys/k'))).toEqual({ code: 'AccessDenied', message: `Not authorized to access ${M}keys/delete on /keys/k` });
  });
});
