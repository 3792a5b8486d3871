// Full backup and restore over a real token, store and folder: the HSM comes back exactly as it
// was backed up (keys of every kind with their versions, deleted state, policies, roles), a
// selective restore brings one key, and a backup that was tampered with changes nothing.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FolderBlobs, FullBackup } from '../../src/hsm/backup/full-backup.js';
import { ShiftableClock } from '../../src/clock/clock.js';
import { KeyService } from '../../src/hsm/key-service.js';
import { TokenCleanup } from '../../src/hsm/token-cleanup.js';
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
let cleanup: TokenCleanup;
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
  cleanup = new TokenCleanup(token, store);
  full = new FullBackup(token, store, domain, { hsmName: 'test', keepAssignmentsOf: ADMIN, rbacChanged: () => {}, roleAssignments: () => store.access.roleAssignments(), cleanup });
});

afterAll(async () => {
  await cleanup?.stop();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
  opened?.close();
});

/** The key objects in the token once the background clean-up is done. */
async function tokenObjects(): Promise<number> {
  await cleanup.idle();
  return (await token.keyIdsLabelled('mhsm-key')).length;
}

async function state() {
  const snapshot = await store.readSnapshot();
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
    const before = await state();
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
    expect(await state()).toEqual(before);
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
    const before = await state();
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
      expect(await state(), what).toEqual(before);
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

  it('restores chunk by chunk unseen until the swap; a bad later chunk leaves nothing staged behind', async () => {
    for (let i = 0; i < 260; i++) await keys.create(`many-${i}`, { kty: 'oct-HSM', keySize: 128 });
    const folder = folderAt(path.join(dir, 'backup-5'));
    await full.backup(folder);
    expect(readdirSync(folder.root).filter((name) => name.startsWith('keys-')).length).toBeGreaterThan(1);
    const before = await state();
    const objects = await tokenObjects();

    // While the first chunk is being staged, the HSM still shows its keys, and takes writes.
    let chunksRead = 0;
    let seenWhileStaging: string | undefined;
    const watched: FolderBlobs = {
      write: folder.write,
      read: async (name) => {
        if (name.startsWith('keys-') && chunksRead++ === 1) {
          seenWhileStaging = keys.get('made-while-staging') ? 'the HSM as it was' : 'the staged keys';
        }
        return folder.read(name);
      },
    };
    await keys.create('made-while-staging', { kty: 'EC' });
    await full.restore(watched);
    expect(seenWhileStaging).toBe('the HSM as it was');
    expect(() => keys.get('made-while-staging')).toThrow();
    expect(await state()).toEqual(before);
    expect(await tokenObjects()).toBe(objects);

    // The second chunk edited: the first was staged (its purged keys unwrapped afresh), then all of it goes.
    for (const name of ['many-0', 'many-1', 'many-2']) {
      keys.delete(name);
      await keys.purge(name);
    }
    const purged = await state();
    const purgedObjects = await tokenObjects();
    expect(purgedObjects).toBe(objects - 3);
    const second = readFileSync(path.join(folder.root, 'keys-00001'));
    writeFileSync(path.join(folder.root, 'keys-00001'), Buffer.concat([second.subarray(0, 60), Buffer.from([second[60]! ^ 1]), second.subarray(61)]));
    let unwrapped = 0;
    const counting = { ...folder, read: async (name: string) => {
      if (name === 'keys-00001') unwrapped = (await token.keyIdsLabelled('mhsm-key')).length - purgedObjects;
      return folder.read(name);
    } };
    await expect(full.restore(counting)).rejects.toMatchObject({ code: 'BadParameter' });
    expect(unwrapped).toBe(3);
    expect(await state()).toEqual(purged);
    expect(await tokenObjects()).toBe(purgedObjects);
    expect(store.takeStaleVersions(10)).toEqual({ versions: [], more: false });
  });

  it('keeps the objects of versions whose material has not changed, and makes only the rest', async () => {
    await keys.create('same', { kty: 'EC' });
    await keys.create('remade', { kty: 'RSA' });
    const folder = folderAt(path.join(dir, 'backup-6'));
    await full.backup(folder);
    const sameBefore = keys.get('same').version;
    const remadeBefore = keys.get('remade').version;
    keys.delete('remade');
    await keys.purge('remade');
    await keys.create('remade', { kty: 'RSA' });
    const remadeBetween = keys.get('remade').version;
    await full.restore(folder);
    await cleanup.idle();
    expect(keys.get('same').version.tokenId).toEqual(sameBefore.tokenId);
    const remadeAfter = keys.get('remade').version;
    expect(remadeAfter.version).toBe(remadeBefore.version);
    expect(remadeAfter.tokenId).not.toEqual(remadeBefore.tokenId);
    expect(await token.hasKey({ id: remadeBetween.tokenId, spec: remadeBetween.spec })).toBe(false);
    expect(await token.hasKey({ id: sameBefore.tokenId, spec: sameBefore.spec })).toBe(true);
    const digest = Buffer.alloc(32, 7);
    for (const name of ['same', 'remade']) {
      const alg = name === 'same' ? 'ES256' : 'RS256';
      const signature = await keys.sign(name, undefined, alg, digest);
      expect((await keys.verify(name, undefined, alg, digest, signature.value)).value).toBe(true);
    }
    // Purging a key whose object a restore kept destroys it: nothing else names it any more.
    keys.delete('same');
    await keys.purge('same');
    expect(await token.hasKey({ id: sameBefore.tokenId, spec: sameBefore.spec })).toBe(false);
  });
});
