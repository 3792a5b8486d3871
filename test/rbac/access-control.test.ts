import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AccessControl, roleDefinitionGuid } from '../../src/rbac/access-control.js';
import { BUILT_IN_ROLES } from '../../src/rbac/built-in-roles.js';
import { covers, parseScope } from '../../src/rbac/scopes.js';
import type { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { storePerTest } from '../helpers/temp-store.js';

const M = 'Microsoft.KeyVault/managedHsm/';
const temp = storePerTest('mhsm-rbac-');
let store: SqliteMetadataStore;
let access: AccessControl;

beforeEach(() => {
  store = temp.store;
  access = new AccessControl(store.access);
});

describe('scopes', () => {
  it('reads the three scope forms and refuses anything else, naming the field', () => {
    expect(parseScope('')).toBe('/');
    expect(parseScope('/')).toBe('/');
    expect(parseScope('/KEYS/')).toBe('/keys');
    expect(parseScope('/keys/My-Key')).toBe('/keys/My-Key');
    for (const bad of ['/secrets', '/keys/a/b', '/keys/bad_name', 'keys']) expect(() => parseScope(bad)).toThrow(/^scope: must be/);
  });

  it('covers a scope and what lies under it, without case, and nothing beside it', () => {
    expect(covers('/', '/keys/a')).toBe(true);
    expect(covers('/keys', '/keys/A')).toBe(true);
    expect(covers('/keys/a', '/keys/A')).toBe(true);
    expect(covers('/keys/a', '/keys/ab')).toBe(false);
    expect(covers('/keys', '/')).toBe(false);
    expect(covers('/keys/a', '/keys')).toBe(false);
  });
});

describe('AccessControl', () => {
  const principal = randomUUID();

  it('denies by default and grants through an assignment whose scope covers the target', () => {
    expect(access.isAllowed(principal, `${M}keys/read/action`, '/keys/k')).toBe(false);
    access.createRoleAssignment(randomUUID(), '/keys/k', { roleDefinitionId: BUILT_IN_ROLES.cryptoAuditor.name, principalId: principal });
    expect(access.isAllowed(principal, `${M}keys/read/action`, '/keys/k')).toBe(true);
    expect(access.isAllowed(principal, `${M}keys/read/action`, '/keys/other')).toBe(false);
    expect(access.isAllowed(principal, `${M}keys/sign/action`, '/keys/k')).toBe(false);
    expect(() => access.authorize(principal, `${M}keys/sign/action`, '/keys/k')).toThrow(`Not authorized to access ${M}keys/sign/action on /keys/k`);
  });

  it('matches wildcards without case and subtracts notDataActions within the definition', () => {
    const role = randomUUID();
    access.setRoleDefinition(role, { permissions: [{ dataActions: [`${M}KEYS/*`], notDataActions: [`${M}keys/*/action`] }] });
    access.createRoleAssignment(randomUUID(), '/', { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${role}`, principalId: principal });
    expect(access.isAllowed(principal, `${M}keys/create`, '/keys/x')).toBe(true);
    expect(access.isAllowed(principal, `${M}keys/delete`, '/keys/x')).toBe(true);
    expect(access.isAllowed(principal, `${M}keys/sign/action`, '/keys/x')).toBe(false);
    expect(access.isAllowed(principal, `${M}rng/action`, '/')).toBe(false);
    // A regular-expression character in a pattern is a literal.
    access.setRoleDefinition(role, { permissions: [{ dataActions: [`${M}keys/rea.`] }] });
    expect(access.isAllowed(principal, `${M}keys/read`, '/keys/x')).toBe(false);
  });

  it('matches a pattern of many stars in linear time', () => {
    const role = randomUUID();
    access.setRoleDefinition(role, { permissions: [{ dataActions: [`${'*'.repeat(200)}z`, `${M}*/*/sign*`] }] });
    access.createRoleAssignment(randomUUID(), '/', { roleDefinitionId: role, principalId: principal });
    const started = performance.now();
    expect(access.isAllowed(principal, `${M}keys/read/action`, '/keys/x')).toBe(false);
    expect(performance.now() - started).toBeLessThan(50);
    expect(access.isAllowed(principal, `${M}keys/sign/action`, '/keys/x')).toBe(false);
    expect(access.isAllowed(principal, `${M}keys/x/sign/action`, '/keys/x')).toBe(true);
    expect(access.isAllowed(principal, `${M}keys/read/actionz`, '/keys/x')).toBe(true);
  });

  it('reaches an assignment only through its own scope, without case', () => {
    const name = randomUUID();
    const input = { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name, principalId: principal };
    access.createRoleAssignment(name, '/keys/k1', input);
    expect(() => access.getRoleAssignment(name, '/')).toThrow('Requested role assignment not found');
    expect(() => access.deleteRoleAssignment(name, '/keys/k2')).toThrow('Requested role assignment not found');
    // The same PUT again, with the scope in another case, is the same assignment.
    expect(access.createRoleAssignment(name, '/keys/K1', input).scope).toBe('/keys/k1');
    expect(access.deleteRoleAssignment(name, '/keys/K1').name).toBe(name);
  });

  it('bootstraps once: the administrator roles, or only Administrator with manual activation', () => {
    const admin = randomUUID();
    access.bootstrap(admin, true);
    access.bootstrap(admin, false);
    expect(store.access.roleAssignmentsOf(admin).map((a) => a.roleDefinitionName)).toEqual([BUILT_IN_ROLES.administrator.name]);
  });

  it('reads role definition ids in their full and bare forms', () => {
    const guid = randomUUID();
    expect(roleDefinitionGuid(`Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${guid.toUpperCase()}`)).toBe(guid);
    expect(roleDefinitionGuid(guid)).toBe(guid);
    expect(roleDefinitionGuid('Managed HSM Crypto User')).toBeUndefined();
  });
});
