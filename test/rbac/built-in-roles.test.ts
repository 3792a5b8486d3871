// The built-in roles in process, against the documented table: every GUID, name and data action
// (with the service's prefix), nothing else granted, and lookup by GUID in any case.
import { describe, expect, it } from 'vitest';
import { BUILT_IN_ROLE_LIST, builtInRole } from '../../src/rbac/built-in-roles.js';
import { covers, keyScope, parseScope } from '../../src/rbac/scopes.js';
import { DOCUMENTED_ROLES } from '../helpers/documented-roles.js';

const PREFIX = 'Microsoft.KeyVault/managedHsm/';

describe('built-in roles', () => {
  it('are exactly the nine documented ones, each granting its documented data actions and nothing more', () => {
    expect(BUILT_IN_ROLE_LIST).toHaveLength(Object.keys(DOCUMENTED_ROLES).length);
    for (const [roleName, { id, dataActions }] of Object.entries(DOCUMENTED_ROLES)) {
      const role = builtInRole(id);
      expect(role, roleName).toEqual({
        name: id,
        roleName,
        description: '',
        permissions: [{ actions: [], notActions: [], dataActions: expect.any(Array), notDataActions: [] }],
        assignableScopes: ['/'],
      });
      expect([...(role?.permissions[0]?.dataActions ?? [])].sort(), roleName).toEqual(dataActions.map((action) => `${PREFIX}${action}`).sort());
    }
  });

  it('are found by GUID in any case, and nothing else is', () => {
    const administrator = DOCUMENTED_ROLES['Managed HSM Administrator']?.id as string;
    expect(builtInRole(administrator.toUpperCase())?.roleName).toBe('Managed HSM Administrator');
    expect(builtInRole('Managed HSM Administrator')).toBeUndefined();
    expect(builtInRole('00000000-0000-0000-0000-000000000000')).toBeUndefined();
  });
});

describe('scopes', () => {
  it('reads /, /keys and /keys/{name} with any trailing slashes, and refuses the rest naming the field', () => {
    expect(parseScope('')).toBe('/');
    expect(parseScope('//')).toBe('/');
    expect(parseScope('/KEYS//')).toBe('/keys');
    expect(parseScope('/keys/Mixed-Case//')).toBe('/keys/Mixed-Case');
    for (const bad of ['keys', 'keys/a', 'x/keys', '/keys/a/b', '/keys/a_b', '/secrets']) {
      expect(() => parseScope(bad), bad).toThrow(expect.objectContaining({ code: 'BadParameter' }));
      expect(() => parseScope(bad, 'properties.scope'), bad).toThrow(`properties.scope: must be '/', '/keys' or '/keys/{key name}', not '${bad}'`);
    }
    const long = `/x${'y'.repeat(200)}`;
    expect(() => parseScope(long)).toThrow(`scope: must be '/', '/keys' or '/keys/{key name}', not '${long.slice(0, 140)}'`);
  });

  it('names the scope of a key only for a key name, and covers what lies under a scope', () => {
    expect(keyScope('my-key')).toBe('/keys/my-key');
    expect(keyScope('not_a_key')).toBe('/keys');
    expect(covers('/', '/keys/a')).toBe(true);
    expect(covers('/keys', '/keys/a')).toBe(true);
    expect(covers('/KEYS/A', '/keys/a')).toBe(true);
    expect(covers('/keys/a', '/keys/ab')).toBe(false);
    expect(covers('/keys/a', '/keys')).toBe(false);
  });
});
