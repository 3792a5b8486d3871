// What AccessControl keeps between decisions and when it lets go of it: another connection's
// writes to the same SQLite file (the `mhsm` CLI) are seen at the next decision in a later turn of
// the event loop (the store asks SQLite once a turn whether others wrote), the server's own
// writes that bypass it (a full restore) after reload(); and the initial administrator's
// assignments, made once per data directory and recorded in a marker.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { AccessControl } from '../../src/rbac/access-control.js';
import { BUILT_IN_ROLES } from '../../src/rbac/built-in-roles.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { storePerTest } from '../helpers/temp-store.js';

const M = 'Microsoft.KeyVault/managedHsm/';
const READ = `${M}keys/read/action`;
const SIGN = `${M}keys/sign/action`;
const temp = storePerTest('mhsm-rbac-cache-');
let store: SqliteMetadataStore;
let access: AccessControl;

beforeEach(() => {
  store = temp.store;
  access = new AccessControl(store.access);
});

/** A request that arrives after the other connection's commit is read in a later turn. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A second connection to the test's database, as the `mhsm` CLI opens it, closed after `work`. */
async function withOtherConnection(work: (other: AccessControl, otherStore: SqliteMetadataStore) => Promise<void> | void): Promise<void> {
  const otherStore = new SqliteMetadataStore(path.join(temp.dir, 'metadata.db'));
  try {
    await work(new AccessControl(otherStore.access), otherStore);
  } finally {
    await otherStore.close();
  }
}

describe('decisions after another connection writes', () => {
  it('see an assignment made and then deleted by another connection at the next decision', async () => {
    const principal = randomUUID();
    const name = randomUUID();
    expect(access.isAllowed(principal, READ, '/keys/k')).toBe(false);
    await withOtherConnection(async (other) => {
      other.createRoleAssignment(name, '/', { roleDefinitionId: BUILT_IN_ROLES.cryptoUser.name, principalId: principal });
      await nextTurn();
      expect(access.isAllowed(principal, READ, '/keys/k')).toBe(true);
      other.deleteRoleAssignment(name, '/');
      await nextTurn();
      expect(access.isAllowed(principal, READ, '/keys/k')).toBe(false);
    });
  });

  it('see a custom role definition changed by another connection at the next decision', async () => {
    const principal = randomUUID();
    const role = randomUUID();
    access.setRoleDefinition(role, { permissions: [{ dataActions: [READ] }] });
    access.createRoleAssignment(randomUUID(), '/', { roleDefinitionId: role, principalId: principal });
    expect(access.isAllowed(principal, READ, '/keys/k')).toBe(true);
    expect(access.isAllowed(principal, SIGN, '/keys/k')).toBe(false);
    await withOtherConnection(async (other) => {
      other.setRoleDefinition(role, { permissions: [{ dataActions: [SIGN] }] });
      await nextTurn();
      expect(access.isAllowed(principal, READ, '/keys/k')).toBe(false);
      expect(access.isAllowed(principal, SIGN, '/keys/k')).toBe(true);
    });
  });
});

describe('decisions after the own connection writes past AccessControl', () => {
  // A full restore replaces the rows on the server's own connection, which changes nothing that
  // tells the caches apart from their own reads; the restore calls reload().
  it('keep the assignments they read until reload()', () => {
    const principal = randomUUID();
    expect(access.isAllowed(principal, READ, '/keys/k')).toBe(false);
    store.access.addRoleAssignment({ name: randomUUID(), scope: '/', principalId: principal, roleDefinitionName: BUILT_IN_ROLES.cryptoUser.name });
    expect(access.isAllowed(principal, READ, '/keys/k')).toBe(false);
    access.reload();
    expect(access.isAllowed(principal, READ, '/keys/k')).toBe(true);
  });

  it('keep the role definitions they compiled until reload()', () => {
    const principal = randomUUID();
    const role = randomUUID();
    const definition = access.setRoleDefinition(role, { permissions: [{ dataActions: [READ] }] });
    access.createRoleAssignment(randomUUID(), '/', { roleDefinitionId: role, principalId: principal });
    expect(access.isAllowed(principal, READ, '/keys/k')).toBe(true);
    store.access.putRoleDefinition({ name: role, roleName: definition.roleName, description: '', assignableScopes: ['/'], permissions: [{ actions: [], notActions: [], dataActions: [SIGN], notDataActions: [] }] });
    expect(access.isAllowed(principal, READ, '/keys/k')).toBe(true);
    expect(access.isAllowed(principal, SIGN, '/keys/k')).toBe(false);
    access.reload();
    expect(access.isAllowed(principal, READ, '/keys/k')).toBe(false);
    expect(access.isAllowed(principal, SIGN, '/keys/k')).toBe(true);
  });
});

describe('the initial administrator', () => {
  const roleNamesOf = (principal: string) => store.access.roleAssignmentsOf(principal).map((a) => [a.scope, a.principalId, a.roleDefinitionName]);

  it('is given Administrator, Crypto Officer and Crypto User at / by default, recorded as default', () => {
    const admin = randomUUID();
    access.bootstrap(admin, false);
    expect(roleNamesOf(admin)).toEqual([
      ['/', admin, BUILT_IN_ROLES.administrator.name],
      ['/', admin, BUILT_IN_ROLES.cryptoOfficer.name],
      ['/', admin, BUILT_IN_ROLES.cryptoUser.name],
    ]);
    expect(store.access.marker('initial-role-assignments')).toBe('default');
    // Usable at once, at any key.
    expect(access.isAllowed(admin, READ, '/keys/any')).toBe(true);
  });

  it('is given only Administrator at / with manual activation, recorded as manual-activation', () => {
    const admin = randomUUID();
    access.bootstrap(admin, true);
    expect(roleNamesOf(admin)).toEqual([['/', admin, BUILT_IN_ROLES.administrator.name]]);
    expect(store.access.marker('initial-role-assignments')).toBe('manual-activation');
    expect(access.isAllowed(admin, READ, '/keys/any')).toBe(false);
  });

  it('is bootstrapped once per data directory: a later start finds the marker and assigns nothing', () => {
    const admin = randomUUID();
    access.bootstrap(admin, true);
    const later = randomUUID();
    new AccessControl(store.access).bootstrap(later, false);
    expect(roleNamesOf(later)).toEqual([]);
    expect(roleNamesOf(admin)).toHaveLength(1);
    expect(store.access.marker('initial-role-assignments')).toBe('manual-activation');
  });
});
