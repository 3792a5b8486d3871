// The tenant's principals as `mhsm principal` manages them (src/identity/principals.ts): names and
// their rule, secrets shown once and stored as hashes, lookup by any of the three names, and the
// initial administrator, who cannot be deleted; over a real SQLite store.
import { beforeEach, describe, expect, it } from 'vitest';
import { INITIAL_ADMINISTRATOR } from '../../src/identity/identity.js';
import { MANAGED_IDENTITY_HASH } from '../../src/identity/managed-identities.js';
import { PrincipalError, createManagedIdentity, createPrincipal, deletePrincipal, findPrincipal } from '../../src/identity/principals.js';
import { SecretHasher } from '../../src/identity/secrets.js';
import type { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { storePerTest } from '../helpers/temp-store.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const temp = storePerTest('mhsm-principals-');
let store: SqliteMetadataStore;
let hasher: SecretHasher;

beforeEach(() => {
  store = temp.store;
  hasher = SecretHasher.open(temp.dir);
});

function refused(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PrincipalError);
    expect((error as Error).name).toBe('PrincipalError');
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('creating', () => {
  it('gives a principal GUIDs and a secret shown once, stored only as a hash that checks', async () => {
    const created = createPrincipal(store.access, hasher, 'build agent', 1_900_000_000);
    expect(created.displayName).toBe('build agent');
    expect(created.clientId).toMatch(GUID);
    expect(created.objectId).toMatch(GUID);
    expect(created.clientId).not.toBe(created.objectId);
    expect(created.clientSecret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const stored = store.access.principalByClientId(created.clientId);
    expect(stored).toMatchObject({ objectId: created.objectId, clientId: created.clientId, displayName: 'build agent', created: 1_900_000_000 });
    expect(stored?.secretHash).not.toContain(created.clientSecret);
    expect(await hasher.check(created.clientSecret, stored?.secretHash ?? '')).toEqual({ matches: true, needsRehash: false });
    expect(createPrincipal(store.access, hasher, 'other', 1).clientSecret).not.toBe(created.clientSecret);
  });

  it('gives a managed identity no secret', () => {
    const identity = createManagedIdentity(store.access, 'web app', 5);
    expect(Object.keys(identity).sort()).toEqual(['clientId', 'displayName', 'objectId']);
    expect(store.access.principalByClientId(identity.clientId)).toMatchObject({ displayName: 'web app', secretHash: MANAGED_IDENTITY_HASH, created: 5 });
  });

  it('takes 1 to 120 letters, digits, spaces or . _ @ -, and each name once in any case', () => {
    for (const name of ['a', 'x'.repeat(120), 'ci.bot_1@contoso-dev', 'a b']) expect(() => createPrincipal(store.access, hasher, name, 0), name).not.toThrow();
    for (const name of ['', 'x'.repeat(121), 'a/b', 'semi;colon', 'tab\tname', 'new\nline', '<script>', 'Ünïcode']) {
      expect(refused(() => createPrincipal(store.access, hasher, name, 0)), JSON.stringify(name)).toBe('--name: 1 to 120 letters, digits, spaces or . _ @ -');
      expect(refused(() => createManagedIdentity(store.access, name, 0)), JSON.stringify(name)).toBe('--managed-identity: 1 to 120 letters, digits, spaces or . _ @ -');
    }
    expect(refused(() => createPrincipal(store.access, hasher, 'A B', 0))).toBe("--name: a principal named 'A B' already exists");
    expect(refused(() => createManagedIdentity(store.access, 'ci.BOT_1@contoso-dev', 0))).toBe("--managed-identity: a principal named 'ci.BOT_1@contoso-dev' already exists");
    expect(store.access.principals()).toHaveLength(4);
  });
});

describe('finding and deleting', () => {
  it('finds a principal by display name, client id or object id, in any case', () => {
    const created = createPrincipal(store.access, hasher, 'Build Agent', 0);
    createPrincipal(store.access, hasher, 'another', 0);
    for (const reference of ['Build Agent', 'build agent', created.clientId, created.clientId.toUpperCase(), created.objectId, created.objectId.toUpperCase()]) {
      expect(findPrincipal(store.access, reference).objectId, reference).toBe(created.objectId);
    }
    expect(refused(() => findPrincipal(store.access, 'nobody'))).toBe("no principal has the name, client id or object id 'nobody'");
    expect(refused(() => findPrincipal(store.access, created.clientId.slice(0, -1)))).toBe(`no principal has the name, client id or object id '${created.clientId.slice(0, -1)}'`);
  });

  it('deletes any principal but the initial administrator, by either of its marks', () => {
    const admin = { objectId: '00000000-0000-0000-0000-00000000000a', clientId: '00000000-0000-0000-0000-00000000000b' };
    store.access.addPrincipal({ ...admin, displayName: INITIAL_ADMINISTRATOR, secretHash: 'x', created: 0 });
    const created = createPrincipal(store.access, hasher, 'temporary', 0);
    expect(deletePrincipal(store.access, 'temporary', admin.objectId).objectId).toBe(created.objectId);
    expect(store.access.principalByClientId(created.clientId)).toBeUndefined();
    expect(refused(() => deletePrincipal(store.access, 'temporary', admin.objectId))).toBe("no principal has the name, client id or object id 'temporary'");
    const protectedMessage = 'the initial administrator (admin.json) cannot be deleted';
    expect(refused(() => deletePrincipal(store.access, admin.clientId, admin.objectId))).toBe(protectedMessage);
    // By its name, even when admin.json names another object id.
    expect(refused(() => deletePrincipal(store.access, INITIAL_ADMINISTRATOR, 'another-object-id'))).toBe(protectedMessage);
    // By its object id, whatever its name.
    const renamed = createPrincipal(store.access, hasher, 'renamed admin', 0);
    expect(refused(() => deletePrincipal(store.access, 'renamed admin', renamed.objectId))).toBe(protectedMessage);
    expect(store.access.principals()).toHaveLength(2);
  });
});
