// Full backup and restore over a real token, store and folder: the HSM comes back exactly as it
// was backed up (keys of every kind with their versions, deleted state, policies, roles), a
// selective restore brings one key, and a backup that was tampered with changes nothing.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FolderBlobs, FullBackup } from '../../src/hsm/backup/full-backup.js';
import { ShiftableClock } from '../../src/hsm/clock.js';
import { KeyService } from '../../src/hsm/key-service.js';
import type { SecurityDomain } from '../../src/hsm/security-domain/security-domain.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import type { Token } from '../../src/token/token.js';
import { activateTestDomain } from '../helpers/test-domain.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let token: Token;
let dir: string;
let store: SqliteMetadataStore;
let keys: KeyService;
let domain: SecurityDomain;
let full: FullBackup;
const ADMIN = '00000000-0000-0000-0000-00000000a0a0';

/** A folder on disk, one file per blob. */
function folderAt(root: string): FolderBlobs & { root: string } {
  mkdirSync(root, { recursive: true });
  return {
    root,
    write: async (name, data) => writeFileSync(path.join(root, name), data),
    read: async (name) => readFileSync(path.join(root, name)),
  };
}

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-full-backup-'));
  store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  ({ domain } = await activateTestDomain(token, store.access, opened.testToken.soPin));
  keys = new KeyService(token, store, new ShiftableClock(() => 1_700_000_000_000), { recoverableDays: 7 });
  full = new FullBackup(token, store, domain, { hsmName: 'test', keepAssignmentsOf: ADMIN, rbacChanged: () => {} });
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
  opened?.close();
});

async function tokenObjects(): Promise<number> {
  return (await token.keyIdsLabelled('mhsm-key')).length;
}

function state() {
  const snapshot = store.snapshot();
  return { ...snapshot, versions: snapshot.versions.map(({ tokenId: _tokenId, ...rest }) => rest) };
}

describe('full backup and restore', () => {
  it('brings the HSM back exactly as it was backed up, and its keys work', async () => {
    await keys.create('rsa', { kty: 'RSA', keySize: 2048 });
    await keys.create('rsa', { kty: 'RSA', keySize: 3072, tags: { v: '2' } });
    await keys.create('ec', { kty: 'EC', crv: 'P-384' });
    await keys.create('aes', { kty: 'oct-HSM', keySize: 256 });
    await keys.create('gone', { kty: 'EC' });
    keys.delete('gone');
    keys.setRotationPolicy('ec', { lifetimeActions: [{ trigger: { timeAfterCreate: 'P90D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P1Y' } });
    store.access.putRoleDefinition({ name: '11111111-1111-4111-8111-111111111111', roleName: 'custom', description: '', permissions: [{ actions: [], notActions: [], dataActions: ['Microsoft.KeyVault/managedHsm/keys/read/action'], notDataActions: [] }], assignableScopes: ['/'] });
    store.access.addRoleAssignment({ name: '22222222-2222-4222-8222-222222222222', scope: '/keys', principalId: 'someone', roleDefinitionName: '11111111-1111-4111-8111-111111111111' });
    const before = state();
    const objectsBefore = await tokenObjects();
    const sealed = await keys.encrypt('aes', undefined, 'encrypt', 'A256GCM', { plaintext: Buffer.from('kept') });

    const folder = folderAt(path.join(dir, 'backup-1'));
    expect(await full.backup(folder)).toEqual({ keys: 4, versions: 5 });
    const files = readdirSync(folder.root);
    expect(files.sort()).toEqual(['access', 'keys-00000', 'manifest']);
    for (const file of files) expect(readFileSync(path.join(folder.root, file)).toString('latin1')).not.toMatch(/rsa|custom|someone|RSA-HSM/);

    // Changes after the backup, all undone by the restore.
    await keys.create('newer', { kty: 'EC' });
    keys.delete('rsa');
    keys.recover('gone');
    store.access.removeRoleAssignment('22222222-2222-4222-8222-222222222222');
    expect(await full.restore(folder)).toMatch(/Number of keys restored: 4/);
    expect(state()).toEqual(before);
    expect(await tokenObjects()).toBe(objectsBefore);
    const digest = Buffer.alloc(32, 1);
    const signature = await keys.sign('rsa', undefined, 'RS256', digest);
    expect((await keys.verify('rsa', undefined, 'RS256', digest, signature.value)).value).toBe(true);
    const opened = await keys.decrypt('aes', undefined, 'decrypt', 'A256GCM', { ciphertext: sealed.result.value, iv: sealed.result.iv, tag: sealed.result.tag });
    expect(opened.value.toString()).toBe('kept');
    expect(keys.getDeleted('gone').key.deletedDate).not.toBeNull();
  });

  it('refuses a folder with an edited, missing or foreign blob, changing nothing', async () => {
    const folder = folderAt(path.join(dir, 'backup-2'));
    await full.backup(folder);
    const other = folderAt(path.join(dir, 'backup-3'));
    await keys.create('only-in-3', { kty: 'EC' });
    await full.backup(other);
    const before = state();
    const objects = await tokenObjects();
    const chunk = readFileSync(path.join(folder.root, 'keys-00000'));
    const attempts: Array<[string, () => void, () => void]> = [
      ['an edited chunk', () => writeFileSync(path.join(folder.root, 'keys-00000'), Buffer.concat([chunk.subarray(0, 40), Buffer.from([chunk[40]! ^ 1]), chunk.subarray(41)])), () => writeFileSync(path.join(folder.root, 'keys-00000'), chunk)],
      ['a missing chunk', () => rmSync(path.join(folder.root, 'keys-00000')), () => writeFileSync(path.join(folder.root, 'keys-00000'), chunk)],
      ['a chunk of another backup', () => writeFileSync(path.join(folder.root, 'keys-00000'), readFileSync(path.join(other.root, 'keys-00000'))), () => writeFileSync(path.join(folder.root, 'keys-00000'), chunk)],
      ['an edited manifest', () => writeFileSync(path.join(folder.root, 'manifest'), Buffer.from('{"format":"mhsm-full-backup/1"}')), () => undefined],
    ];
    for (const [what, spoil, mend] of attempts) {
      spoil();
      await expect(full.restore(folder), what).rejects.toMatchObject({ code: 'BadParameter' });
      expect(state(), what).toEqual(before);
      expect(await tokenObjects(), what).toBe(objects);
      mend();
    }
  });

  it('restores one key with all its versions from a full backup, and leaves the other keys alone', async () => {
    await keys.create('picked', { kty: 'RSA' });
    await keys.create('picked', { kty: 'RSA', tags: { v: '2' } });
    const folder = folderAt(path.join(dir, 'backup-4'));
    await full.backup(folder);
    const versionsBefore = keys.listVersions('picked', undefined).items.map((v) => v.version.version).sort();
    keys.delete('picked');
    await keys.purge('picked');
    await keys.create('unrelated', { kty: 'EC' });
    expect(await full.restoreKey(folder, 'PICKED')).toBe('Number of successful key versions restored: 2, Number of key versions could not overwrite: 0');
    expect(keys.listVersions('picked', undefined).items.map((v) => v.version.version).sort()).toEqual(versionsBefore);
    expect(keys.get('unrelated').key.name).toBe('unrelated');
    await expect(full.restoreKey(folder, 'no-such-key')).rejects.toMatchObject({ code: 'KeyNotFound' });
  });
});
