// Full backup and restore over a real token, store and folder: the HSM comes back exactly as it
// was backed up (keys of every kind with their versions, deleted state, policies, roles), a
// selective restore brings one key, and a backup that was tampered with changes nothing.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FolderBlobs, type FullBackupOptions, FullBackup } from '../../src/hsm/backup/full-backup.js';
import {
  type AccessBlob,
  FOLDER_REFUSAL,
  type KeysChunk,
  type Manifest,
  blobRef,
  chunkBlobName,
  encodeBlob,
} from '../../src/hsm/backup/full-backup-format.js';
import { ShiftableClock } from '../../src/clock/clock.js';
import { HsmError } from '../../src/hsm/errors.js';
import { KeyService } from '../../src/hsm/key-service.js';
import { TokenCleanup } from '../../src/hsm/token-cleanup.js';
import type { SecurityDomain } from '../../src/hsm/security-domain/security-domain.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import type { Token } from '../../src/token/token.js';
import { activateTestDomain } from '../helpers/test-domain.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';
import { refusalOf } from '../helpers/refusal.js';

let opened: OpenTestToken | undefined;
let token: Token;
let dir: string;
let store: SqliteMetadataStore;
let keys: KeyService;
let domain: SecurityDomain;
let full: FullBackup;
let cleanup: TokenCleanup;
const ADMIN = '00000000-0000-0000-0000-00000000a0a0';
/** The HSMs of their own some tests make (freshHsm), closed at the end. */
const fresh: FreshHsm[] = [];

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
  for (const hsm of fresh.splice(0)) {
    await hsm.cleanup.stop();
    await hsm.store.close();
  }
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

/** An HSM of its own (store, keys, clean-up) under the same token and domain, for a test that needs to know every key in it. */
interface FreshHsm {
  store: SqliteMetadataStore;
  keys: KeyService;
  cleanup: TokenCleanup;
  full: FullBackup;
  /** Another FullBackup over the same HSM, through another token object or with other options. */
  fullWith(options?: Partial<FullBackupOptions>, via?: Token): FullBackup;
  folder(name: string): FolderBlobs & { root: string };
  state(): ReturnType<typeof state>;
  /** The key objects in the token once this HSM's clean-up is done. */
  objects(): Promise<number>;
}


function freshHsm(): FreshHsm {
  const root = mkdtempSync(path.join(dir, 'hsm-'));
  const own = new SqliteMetadataStore(path.join(root, 'metadata.db'));
  const ownCleanup = new TokenCleanup(token, own);
  const fullWith = (options: Partial<FullBackupOptions> = {}, via: Token = token) =>
    new FullBackup(via, own, domain, { hsmName: 'fresh', keepAssignmentsOf: ADMIN, rbacChanged: () => {}, roleAssignments: () => own.access.roleAssignments(), cleanup: ownCleanup, ...options });
  const hsm: FreshHsm = {
    store: own,
    keys: new KeyService(token, own, new ShiftableClock(() => 1_700_000_000_000), { recoverableDays: 7 }),
    cleanup: ownCleanup,
    full: fullWith(),
    fullWith,
    folder: (name) => folderAt(path.join(root, name)),
    state: () => stateOf(own),
    objects: async () => {
      await ownCleanup.idle();
      return (await token.keyIdsLabelled('mhsm-key')).length;
    },
  };
  fresh.push(hsm);
  return hsm;
}

async function stateOf(of: SqliteMetadataStore) {
  const snapshot = await of.readSnapshot();
  return { ...snapshot, versions: snapshot.versions.map(({ tokenId: _tokenId, ...rest }) => rest) };
}

/** The token, with some of its calls preceded or replaced (a race or a token fault that cannot be timed otherwise). */
function tokenWith(overrides: Partial<Pick<Token, 'wrapKey' | 'unwrapKey'>>): Token {
  return new Proxy(token, {
    get(target, property) {
      const override = (overrides as Record<PropertyKey, unknown>)[property];
      if (override) return override;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

interface OpenedBackup {
  manifest: Manifest;
  chunks: KeysChunk[];
  access: AccessBlob;
}

async function unsealedBlob<T>(folder: FolderBlobs, name: string): Promise<T> {
  return JSON.parse((await domain.protection().sealer.unseal(await folder.read(name), 'full-backup', 'test')).toString('utf8')) as T;
}

async function openBackup(folder: FolderBlobs): Promise<OpenedBackup> {
  const manifest = await unsealedBlob<Manifest>(folder, 'manifest');
  const chunks: KeysChunk[] = [];
  for (const ref of manifest.chunks) chunks.push(await unsealedBlob<KeysChunk>(folder, ref.blob));
  return { manifest, chunks, access: await unsealedBlob<AccessBlob>(folder, manifest.access.blob) };
}

let forgedFolders = 0;

/**
 * A copy of a backup with its content edited and sealed again under the domain, as only the
 * HSM could make it: what the restore refuses is then what it checks past the seal.
 * `manifest` edits the manifest after the blobs and their references are written.
 */
async function forged(
  source: FolderBlobs,
  edit: { blobs?: (backup: OpenedBackup) => void; manifest?: (manifest: Manifest, folder: FolderBlobs) => Promise<void> | void },
): Promise<FolderBlobs & { root: string }> {
  const backup = await openBackup(source);
  edit.blobs?.(backup);
  const folder = folderAt(path.join(dir, `forged-${++forgedFolders}`));
  const sealer = domain.protection().sealer;
  const write = async (name: string, value: unknown) => {
    const sealed = await sealer.seal(encodeBlob(value), 'full-backup');
    await folder.write(name, sealed);
    return blobRef(name, sealed);
  };
  const chunks = [];
  for (const [index, chunk] of backup.chunks.entries()) chunks.push(await write(chunkBlobName(index), chunk));
  const manifest: Manifest = { ...backup.manifest, chunks, access: await write('access', backup.access) };
  await edit.manifest?.(manifest, folder);
  await folder.write('manifest', await sealer.seal(encodeBlob(manifest), 'full-backup'));
  return folder;
}

const keyOf = (backup: OpenedBackup, name: string) => {
  const entry = backup.chunks.flatMap((chunk) => chunk.keys).find((candidate) => candidate.key.name === name);
  if (!entry) throw new Error(`no key ${name} in the backup`);
  return entry;
};

const digest = Buffer.alloc(32, 9);

async function signs(keyService: KeyService, name: string): Promise<boolean> {
  const signature = await keyService.sign(name, undefined, 'ES256', digest);
  return (await keyService.verify(name, undefined, 'ES256', digest, signature.value)).value;
}

describe('full backup of a whole HSM', () => {
  it('of an HSM without keys writes no key blob, and restoring it leaves an HSM without keys', async () => {
    const empty = freshHsm();
    const folder = empty.folder('empty');
    expect(await empty.full.backup(folder)).toEqual({ keys: 0, versions: 0 });
    expect(readdirSync(folder.root).sort()).toEqual(['access', 'manifest']);
    const manifest = await empty.full.manifest(folder);
    expect(manifest).toMatchObject({ hsm: 'fresh', keyCount: 0, versionCount: 0, chunks: [], keyIndex: {} });

    const other = freshHsm();
    await other.keys.create('will-go', { kty: 'EC' });
    const objects = await other.objects();
    expect(await other.full.restore(folder)).toBe('Number of keys restored: 0, Number of key versions restored: 0');
    expect((await other.state()).keys).toEqual([]);
    expect(await other.objects()).toBe(objects - 1);
  });

  it('indexes every key by its lower-case name to the chunk that holds it', async () => {
    const hsm = freshHsm();
    await hsm.keys.create('Mixed-Case', { kty: 'EC' });
    await hsm.keys.create('plain', { kty: 'oct-HSM', keySize: 128 });
    await hsm.keys.create('plain', { kty: 'oct-HSM', keySize: 128 });
    const folder = hsm.folder('indexed');
    expect(await hsm.full.backup(folder)).toEqual({ keys: 2, versions: 3 });
    const manifest = await hsm.full.manifest(folder);
    expect(manifest).toMatchObject({ keyCount: 2, versionCount: 3, keyIndex: { 'mixed-case': 0, plain: 0 } });
    expect(manifest.chunks.map((ref) => ref.blob)).toEqual(['keys-00000']);
  });

  it('leaves out a key whose material is gone from the token since the snapshot (purged meanwhile)', async () => {
    const hsm = freshHsm();
    await hsm.keys.create('stays', { kty: 'EC' });
    await hsm.keys.create('vanished', { kty: 'EC' });
    await token.destroyLabelledObjectsWithIds('mhsm-key', [hsm.keys.get('vanished').version.tokenId]);
    const folder = hsm.folder('without-vanished');
    expect(await hsm.full.backup(folder)).toEqual({ keys: 1, versions: 1 });
    const backup = await openBackup(folder);
    expect(backup.manifest.keyIndex).toEqual({ stays: 0 });
    expect(backup.chunks[0]!.keys.map((entry) => entry.key.name)).toEqual(['stays']);
  });

  const tokenFault = (code: string) => Object.assign(new Error(`C_WrapKey returned ${code}`), { name: 'Pkcs11Error', code, rv: 0x30, fn: 'C_WrapKey' });

  it.each([
    ['a refusal of the token', tokenFault('CKR_KEY_SIZE_RANGE'), { code: 'BadParameter', message: 'backup key second: the key size does not fit this algorithm on this token' }],
    ['a device error', tokenFault('CKR_DEVICE_ERROR'), { code: 'CKR_DEVICE_ERROR', message: 'C_WrapKey returned CKR_DEVICE_ERROR' }],
  ])('fails, writing no manifest, when wrapping a key fails with %s', async (_what, fault, expected) => {
    const hsm = freshHsm();
    await hsm.keys.create('first', { kty: 'EC' });
    await hsm.keys.create('second', { kty: 'EC' });
    const failing = hsm.keys.get('second').version.tokenId;
    const faulty = tokenWith({
      wrapKey: (async (wrappingKey, mechanism, key) => {
        if (key.id.equals(failing)) throw fault;
        return token.wrapKey(wrappingKey, mechanism, key);
      }) as Token['wrapKey'],
    });
    const folder = hsm.folder('failed');
    expect(await refusalOf(hsm.fullWith({}, faulty).backup(folder))).toEqual(expected);
    expect(readdirSync(folder.root)).not.toContain('manifest');
  });
});

describe('what a restore checks past the seal', () => {
  let hsm: FreshHsm;
  let source: FolderBlobs & { root: string };
  let before: Awaited<ReturnType<typeof state>>;
  let objects: number;

  beforeAll(async () => {
    hsm = freshHsm();
    await hsm.keys.create('alpha', { kty: 'EC' });
    await hsm.keys.create('beta', { kty: 'oct-HSM', keySize: 128 });
    source = hsm.folder('source');
    await hsm.full.backup(source);
    before = await hsm.state();
    objects = await hsm.objects();
  });

  it('restores a backup sealed again unchanged', async () => {
    const folder = await forged(source, {});
    expect(await hsm.full.restore(folder)).toBe('Number of keys restored: 2, Number of key versions restored: 2');
    expect(await hsm.state()).toEqual(before);
    expect(await hsm.objects()).toBe(objects);
  });

  const other = 'ffffffffffffffffffffffffffffffff';
  const refused: Array<[string, () => Promise<FolderBlobs>, { code: string; message: string }]> = [
    [
      'a manifest that is not sealed',
      async () => {
        const folder = await forged(source, {});
        await folder.write('manifest', Buffer.from(JSON.stringify((await openBackup(source)).manifest)));
        return folder;
      },
      { code: 'BadParameter', message: 'folderToRestore: not a blob sealed by a Managed HSM emulator' },
    ],
    ['a manifest of another format', () => forged(source, { manifest: (m) => void ((m as { format: string }).format = 'mhsm-full-backup/0') }), { code: 'BadParameter', message: `${FOLDER_REFUSAL} (the manifest is not of this backup)` }],
    ['a manifest without its key index', () => forged(source, { manifest: (m) => void delete (m as Partial<Manifest>).keyIndex }), { code: 'BadParameter', message: `${FOLDER_REFUSAL} (the manifest is incomplete)` }],
    ['a role blob of another backup', () => forged(source, { blobs: (b) => void (b.access.backupId = other) }), { code: 'BadParameter', message: `${FOLDER_REFUSAL} (the role blob is not of this backup)` }],
    ['a key chunk of another backup', () => forged(source, { blobs: (b) => void (b.chunks[0]!.backupId = other) }), { code: 'BadParameter', message: `${FOLDER_REFUSAL} (keys-00000 is not of this backup)` }],
    [
      'a key chunk sealed for another purpose',
      () =>
        forged(source, {
          manifest: async (m, folder) => {
            const sealed = await domain.protection().sealer.seal(encodeBlob((await openBackup(source)).chunks[0]), 'key-backup');
            await folder.write('keys-00000', sealed);
            m.chunks[0] = blobRef('keys-00000', sealed);
          },
        }),
      { code: 'BadParameter', message: "folderToRestore: the blob's seal does not verify: it was altered, or is not a full-backup" },
    ],
    ['a key chunk without its key list', () => forged(source, { blobs: (b) => void delete (b.chunks[0] as Partial<KeysChunk>).keys }), { code: 'BadParameter', message: `${FOLDER_REFUSAL} (keys-00000 holds no keys)` }],
    [
      'a key that appears twice (in another case)',
      () => forged(source, { blobs: (b) => void b.chunks[0]!.keys.push({ ...keyOf(b, 'beta'), key: { ...keyOf(b, 'beta').key, name: 'BETA' } }) }),
      { code: 'BadParameter', message: `${FOLDER_REFUSAL} (key BETA appears twice)` },
    ],
    ['a key that breaks the rules of a single-key backup', () => forged(source, { blobs: (b) => void (keyOf(b, 'alpha').key.recoverableDays = 3) }), { code: 'BadParameter', message: 'value: recoverableDays must be a whole number from 7 to 90, not 3' }],
    ...(
      [
        ['a deleted date without a purge date', 1_700_000_000, null],
        ['a purge date without a deleted date', null, 1_700_600_000],
        ['a deleted date that is not a time', '2023-11-14', 1_700_600_000],
        ['a purge date that is not a time', 1_700_000_000, 'later'],
      ] as const
    ).map(
      ([what, deletedDate, scheduledPurgeDate]) =>
        [
          `a key with ${what}`,
          () => forged(source, { blobs: (b) => void Object.assign(keyOf(b, 'alpha').key, { deletedDate, scheduledPurgeDate }) }),
          { code: 'BadParameter', message: `${FOLDER_REFUSAL} (key alpha has no valid deleted state)` },
        ] as [string, () => Promise<FolderBlobs>, { code: string; message: string }],
    ),
    ['a manifest that counts a key more', () => forged(source, { manifest: (m) => void (m.keyCount = 3) }), { code: 'BadParameter', message: `${FOLDER_REFUSAL} (the manifest counts 3 keys and 2 versions, the blobs hold 2 and 2)` }],
    ['a manifest that counts a version more', () => forged(source, { manifest: (m) => void (m.versionCount = 3) }), { code: 'BadParameter', message: `${FOLDER_REFUSAL} (the manifest counts 2 keys and 3 versions, the blobs hold 2 and 2)` }],
    ['a manifest that counts a key fewer', () => forged(source, { manifest: (m) => void (m.keyCount = 1) }), { code: 'BadParameter', message: `${FOLDER_REFUSAL} (the manifest counts 1 keys and 2 versions, the blobs hold 2 and 2)` }],
  ];

  it.each(refused)('refuses %s, changing nothing', async (_what, make, expected) => {
    const folder = await make();
    expect(await refusalOf(hsm.full.restore(folder))).toEqual(expected);
    expect(await hsm.state()).toEqual(before);
    expect(await hsm.objects()).toBe(objects);
  });
});

describe('a full restore', () => {
  it("keeps the initial administrator's current role assignments beside the backup's, each once, and drops the others made since", async () => {
    const hsm = freshHsm();
    const assignment = (name: string, principalId: string) => ({ name, scope: '/', principalId, roleDefinitionName: '21dbd100-6940-42c2-9190-5d6cb909625b' });
    const someone = assignment('22222222-2222-4222-8222-222222222222', 'someone');
    const adminBoth = assignment('abababab-abab-4bab-8bab-abababababab', ADMIN);
    hsm.store.access.addRoleAssignment(someone);
    hsm.store.access.addRoleAssignment(adminBoth);
    const folder = hsm.folder('rbac');
    await hsm.full.backup(folder);

    const adminSince = assignment('cdcdcdcd-cdcd-4dcd-8dcd-cdcdcdcdcdcd', ADMIN.toUpperCase());
    const otherSince = assignment('efefefef-efef-4fef-8fef-efefefefefef', 'someone-else');
    hsm.store.access.addRoleAssignment(adminSince);
    hsm.store.access.addRoleAssignment(otherSince);
    hsm.store.access.removeRoleAssignment(someone.name);
    let told = 0;
    await hsm.fullWith({ rbacChanged: () => void told++ }).restore(folder);
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(hsm.store.access.roleAssignments().sort(byName)).toEqual([someone, adminBoth, adminSince].sort(byName));
    expect(told).toBe(1);
  });

  it('is refused while another restore of the HSM is staging its keys', async () => {
    const hsm = freshHsm();
    await hsm.keys.create('one', { kty: 'EC' });
    const folder = hsm.folder('concurrent');
    await hsm.full.backup(folder);
    let staging!: () => void;
    const reachedChunks = new Promise<void>((resolve) => (staging = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held: FolderBlobs = {
      write: folder.write,
      read: async (name) => {
        if (name.startsWith('keys-')) {
          staging();
          await gate;
        }
        return folder.read(name);
      },
    };
    const first = hsm.full.restore(held);
    await reachedChunks;
    const second = await hsm.full.restore(folder).catch((error: unknown) => error as HsmError);
    expect(second).toBeInstanceOf(HsmError);
    expect({ code: (second as HsmError).code, message: (second as HsmError).message }).toEqual({
      code: 'Conflict',
      message: 'The keys a previous restore replaced are still being removed: try again in a moment',
    });
    // The store's reason goes to the log as the cause.
    expect(((second as HsmError).cause as Error).message).toBe('a full restore is already being staged');
    release();
    expect(await first).toBe('Number of keys restored: 1, Number of key versions restored: 1');
    expect(await hsm.full.restore(folder)).toBe('Number of keys restored: 1, Number of key versions restored: 1');
  });

  it('is refused when a key whose object it kept is purged before its row is staged, leaving no object it made', async () => {
    const hsm = freshHsm();
    await hsm.keys.create('k1', { kty: 'EC' });
    await hsm.keys.create('k2', { kty: 'EC' });
    const folder = hsm.folder('purged-meanwhile');
    await hsm.full.backup(folder);
    hsm.keys.delete('k2');
    await hsm.keys.purge('k2');
    const objects = await hsm.objects();
    // k1 is unchanged (its object kept); k2 is unwrapped afresh, and k1 is purged just then.
    let purged = false;
    const racing = tokenWith({
      unwrapKey: (async (...args: Parameters<Token['unwrapKey']>) => {
        if (!purged) {
          purged = true;
          hsm.keys.delete('k1');
          await hsm.keys.purge('k1');
        }
        return token.unwrapKey(...args);
      }) as Token['unwrapKey'],
    });
    expect(await refusalOf(hsm.fullWith({}, racing).restore(folder))).toEqual({ code: 'Conflict', message: 'A key was purged while the restore was reading it: start the restore again' });
    expect(purged).toBe(true);
    expect((await hsm.state()).keys).toEqual([]);
    expect(await hsm.objects()).toBe(objects - 1);
    expect(hsm.store.takeStaleVersions(10)).toEqual({ versions: [], more: false });
  });

  it('refused inside a chunk destroys the objects it made for that chunk and keeps those it found unchanged', async () => {
    const hsm = freshHsm();
    await hsm.keys.create('a-kept', { kty: 'EC' });
    await hsm.keys.create('b-made', { kty: 'EC' });
    await hsm.keys.create('c-bad', { kty: 'EC' });
    const source = hsm.folder('chunk-failure');
    await hsm.full.backup(source);
    // The last key of the chunk claims the public key of the first: its material does not pair with it.
    const folder = await forged(source, { blobs: (b) => void (keyOf(b, 'c-bad').versions[0]!.publicJwk = keyOf(b, 'a-kept').versions[0]!.publicJwk) });
    hsm.keys.delete('b-made');
    await hsm.keys.purge('b-made');
    const before = await hsm.state();
    const objects = await hsm.objects();
    expect(await refusalOf(hsm.full.restore(folder))).toEqual({ code: 'BadParameter', message: 'value: versions[0].publicJwk does not match the key material' });
    expect(await hsm.state()).toEqual(before);
    expect(await hsm.objects()).toBe(objects);
    expect(await signs(hsm.keys, 'a-kept')).toBe(true);
    expect(await signs(hsm.keys, 'c-bad')).toBe(true);
  });
});

describe('a selective restore', () => {
  it('restores the key named, not the first of its chunk, and refuses a name the backup lacks', async () => {
    const hsm = freshHsm();
    await hsm.keys.create('first', { kty: 'EC' });
    await hsm.keys.create('second', { kty: 'EC' });
    await hsm.keys.create('second', { kty: 'EC' });
    const folder = hsm.folder('selective');
    await hsm.full.backup(folder);
    const firstBefore = hsm.keys.get('first').version;
    hsm.keys.delete('second');
    await hsm.keys.purge('second');
    expect(await hsm.full.restoreKey(folder, 'Second')).toBe('Number of successful key versions restored: 2, Number of key versions could not overwrite: 0');
    expect(hsm.keys.get('first').version).toEqual(firstBefore);
    expect(await signs(hsm.keys, 'second')).toBe(true);
    expect(await refusalOf(hsm.full.restoreKey(folder, 'no-such-key'))).toEqual({ code: 'KeyNotFound', message: 'The backup in this folder has no key named no-such-key' });
  });

  it('refuses a key the manifest indexes to a chunk that does not hold it', async () => {
    const hsm = freshHsm();
    await hsm.keys.create('present', { kty: 'EC' });
    const source = hsm.folder('ghost');
    await hsm.full.backup(source);
    const folder = await forged(source, { manifest: (m) => void (m.keyIndex.ghost = 0) });
    const before = await hsm.state();
    expect(await refusalOf(hsm.full.restoreKey(folder, 'ghost'))).toEqual({ code: 'KeyNotFound', message: 'The backup in this folder has no key named ghost' });
    expect(await hsm.state()).toEqual(before);
  });

  it('refused after unwrapping destroys the objects it made and keeps those it found unchanged', async () => {
    const hsm = freshHsm();
    await hsm.keys.create('both', { kty: 'EC' });
    const older = hsm.folder('older');
    await hsm.full.backup(older);
    await hsm.keys.create('both', { kty: 'EC' });
    const newer = hsm.folder('newer');
    await hsm.full.backup(newer);
    // Back to the older backup: the first version's object is kept, the second version is gone.
    await hsm.full.restore(older);
    const before = await hsm.state();
    const objects = await hsm.objects();
    const checks: number[] = [];
    const limited = hsm.fullWith({
      assertRoomForRestore: (name, versions) => {
        checks.push(versions);
        if (checks.length === 2) throw new HsmError('Forbidden', `This HSM has no room for key ${name}`);
      },
    });
    expect(await refusalOf(limited.restoreKey(newer, 'both'))).toEqual({ code: 'Forbidden', message: 'This HSM has no room for key both' });
    expect(checks).toEqual([2, 2]);
    expect(await hsm.state()).toEqual(before);
    expect(await hsm.objects()).toBe(objects);
    expect(await signs(hsm.keys, 'both')).toBe(true);
  });
});
