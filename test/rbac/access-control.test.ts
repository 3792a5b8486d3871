import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AccessControl, roleDefinitionGuid } from '../../src/rbac/access-control.js';
import { BUILT_IN_ROLES } from '../../src/rbac/built-in-roles.js';
import { covers, parseScope } from '../../src/rbac/scopes.js';
import type { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { refusal } from '../helpers/refusal.js';
import { storePerTest } from '../helpers/temp-store.js';

const M = 'Microsoft.KeyVault/managedHsm/';
const SIGN = `${M}keys/sign/action`;
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

describe('custom role definitions as given', () => {
  const listRule = (field: string) => ({ code: 'BadParameter', message: `${field}: must be an array of at most 256 non-empty strings` });
  const set = (input: Record<string, unknown>) => access.setRoleDefinition(randomUUID(), { permissions: [{ dataActions: [`${M}keys/read/action`] }], ...input });

  it('take up to 256 actions in a list, each up to 512 characters, and refuse one more of either', () => {
    const many = Array.from({ length: 256 }, (_, i) => `${M}keys/${i}`);
    expect(set({ permissions: [{ dataActions: many }] }).permissions[0]?.dataActions).toEqual(many);
    const longest = `${M}${'a'.repeat(512 - M.length)}`;
    expect(longest).toHaveLength(512);
    expect(set({ permissions: [{ notDataActions: [longest] }] }).permissions[0]?.notDataActions).toEqual([longest]);
    expect(refusal(() => set({ permissions: [{ dataActions: [...many, `${M}keys/more`] }] }))).toEqual(listRule('properties.permissions[0].dataActions'));
    expect(refusal(() => set({ permissions: [{ notDataActions: [`${longest}a`] }] }))).toEqual(listRule('properties.permissions[0].notDataActions'));
  });

  it('take up to 16 permissions and refuse 17', () => {
    const sixteen = Array.from({ length: 16 }, (_, i) => ({ dataActions: [`${M}keys/${i}`] }));
    expect(set({ permissions: sixteen }).permissions).toHaveLength(16);
    expect(refusal(() => set({ permissions: [...sixteen, {}] }))).toEqual({ code: 'BadParameter', message: 'properties.permissions: must be an array of 1 to 16 permission objects' });
  });

  it('read a null action list as an empty one, and refuse a null permission', () => {
    expect(set({ permissions: [{ actions: null, notActions: null, dataActions: null, notDataActions: null }] }).permissions).toEqual([
      { actions: [], notActions: [], dataActions: [], notDataActions: [] },
    ]);
    expect(refusal(() => set({ permissions: [{}, null] }))).toEqual({ code: 'BadParameter', message: 'properties.permissions[1]: must be an object' });
    // A null list of assignable scopes names none, and none is not ["/"].
    expect(refusal(() => set({ assignableScopes: null }))).toEqual({ code: 'BadParameter', message: 'properties.assignableScopes: must be ["/"]' });
  });

  it('are assignable at / only: every listed scope must be /, each read as a scope', () => {
    expect(set({ assignableScopes: ['/', '//'] }).assignableScopes).toEqual(['/']);
    expect(refusal(() => set({ assignableScopes: ['/', '/keys'] }))).toEqual({ code: 'BadParameter', message: 'properties.assignableScopes: must be ["/"]' });
    expect(refusal(() => set({ assignableScopes: ['/', '/secrets'] }))).toEqual({
      code: 'BadParameter',
      message: "properties.assignableScopes: must be '/', '/keys' or '/keys/{key name}', not '/secrets'",
    });
  });

  it('and role assignments are named by a GUID and nothing around it', () => {
    const guid = randomUUID();
    for (const name of [`x${guid}`, `${guid}x`, `${guid}/`]) {
      expect(refusal(() => access.setRoleDefinition(name, { permissions: [{}] }))).toEqual({ code: 'BadParameter', message: 'Role definition name must be a GUID' });
      expect(refusal(() => access.createRoleAssignment(name, '/', { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name, principalId: guid }))).toEqual({
        code: 'BadParameter',
        message: 'Role assignment name must be a GUID',
      });
      expect(refusal(() => access.createRoleAssignment(guid, '/', { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name, principalId: name }))).toEqual({
        code: 'BadParameter',
        message: 'properties.principalId must be a GUID',
      });
    }
    expect(roleDefinitionGuid(`roleDefinitions/x${guid}`)).toBeUndefined();
    expect(roleDefinitionGuid(`roleDefinitions/${guid}0`)).toBeUndefined();
    expect(store.access.roleAssignments()).toEqual([]);
  });
});

describe('action matching', () => {
  const principal = randomUUID();
  /** Whether a role whose data actions are `patterns` lets the principal perform `action`. */
  function grants(patterns: string[], action: string): boolean {
    const role = randomUUID();
    access.setRoleDefinition(role, { permissions: [{ dataActions: patterns }] });
    const assignment = access.createRoleAssignment(randomUUID(), '/', { roleDefinitionId: role, principalId: principal });
    const allowed = access.isAllowed(principal, action, '/keys/k');
    access.deleteRoleAssignment(assignment.name, '/');
    access.deleteRoleDefinition(role);
    return allowed;
  }

  it('needs every middle piece of a pattern, apart from and before its last piece', () => {
    expect(grants([`${M}a*b*b`], `${M}abb`)).toBe(true);
    expect(grants([`${M}a*b*b`], `${M}ab`)).toBe(false);
    expect(grants([`${M}a*q*z`], `${M}az`)).toBe(false);
    expect(grants([`${M}a*q*z`], `${M}a-q-z`)).toBe(true);
  });

  it('folds case by lower case alone, the same with a wildcard as without: a long s is no s', () => {
    expect(grants([`${M}keys/ſign/action`], SIGN)).toBe(false);
    expect(grants([`${M}keys/ſign*`], SIGN)).toBe(false);
    expect(grants([`${M}keys/SIGN*`], SIGN)).toBe(true);
  });

  it('lets authorize() pass, returning nothing, what isAllowed() grants', () => {
    access.createRoleAssignment(randomUUID(), '/keys/k', { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name, principalId: principal });
    expect(access.isAllowed(principal, SIGN, '/keys/k')).toBe(true);
    expect(access.authorize(principal, SIGN, '/keys/k')).toBeUndefined();
  });
});

describe('role assignments', () => {
  it("count toward the HSM scope's limit what is at / and /keys, not what is at keys", () => {
    const limited = new AccessControl(store.access, { roleDefinitions: 50, rootAssignments: 2, keyAssignments: 1 });
    const make = (scope: string) => limited.createRoleAssignment(randomUUID(), scope, { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name, principalId: randomUUID() });
    make('/keys/a');
    make('/keys/b');
    make('/');
    make('/keys');
    expect(refusal(() => make('/'))).toEqual({
      code: 'Forbidden',
      message: "There are 2 role assignments at the HSM's scope, the limit (2; raise it with --service-limit role-assignments=N)",
    });
    expect(refusal(() => make('/keys/A'))).toEqual({
      code: 'Forbidden',
      message: "There are 1 role assignments at this key's scope, the limit (1; raise it with --service-limit key-role-assignments=N)",
    });
    expect(store.access.roleAssignments()).toHaveLength(4);
  });

  it('refuse an assignment at a scope that is none, naming the scope', () => {
    for (const scope of ['/secrets', '/keys/a/b']) {
      expect(refusal(() => access.createRoleAssignment(randomUUID(), scope, { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name, principalId: randomUUID() }))).toEqual({
        code: 'BadParameter',
        message: `scope: must be '/', '/keys' or '/keys/{key name}', not '${scope}'`,
      });
    }
    expect(store.access.roleAssignments()).toEqual([]);
  });
});
