import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { keyVersionRecord as version } from '../helpers/key-version.js';

let dir: string;
let file: string;
let store: SqliteMetadataStore;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-store-'));
  file = path.join(dir, 'metadata.db');
  store = new SqliteMetadataStore(file);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});


describe('SqliteMetadataStore', () => {
  it('keeps versions of a key and finds the newest, whatever the case of the name', () => {
    const first = version('Signer', { tags: { team: 'a' } });
    const second = version('Signer', { created: 2000, updated: 2000 });
    store.addVersion(first, { recoverableDays: 90 });
    store.addVersion(second, { recoverableDays: 7 });
    expect(store.getKey('SIGNER')).toEqual({ name: 'Signer', recoverableDays: 90, rotationPolicy: undefined, deletedDate: null, scheduledPurgeDate: null });
    expect(store.getVersion('signer')).toEqual(second);
    expect(store.getVersion('signer', first.version)).toEqual(first);
    expect(store.getVersion('signer', 'nope')).toBeUndefined();
    expect(store.getVersion('other')).toBeUndefined();
  });

  it('pages keys by name and versions by id, and leaves deleted keys out of the key list', () => {
    for (const name of ['c', 'a', 'B', 'd', 'e']) store.addVersion(version(name), { recoverableDays: 90 });
    store.addVersion(version('a', { created: 5 }), { recoverableDays: 90 });
    const first = store.listKeys(2);
    expect(first.items.map((v) => v.name)).toEqual(['a', 'B']);
    expect(first.next).toBe('B');
    const second = store.listKeys(2, first.next);
    expect(second.items.map((v) => v.name)).toEqual(['c', 'd']);
    const third = store.listKeys(2, second.next);
    expect(third.items.map((v) => v.name)).toEqual(['e']);
    expect(third.next).toBeUndefined();

    store.markDeleted('c', 100, 100 + 90 * 86400);
    expect(store.listKeys(10).items.map((v) => v.name)).toEqual(['a', 'B', 'd', 'e']);
    const deleted = store.listDeletedKeys(10);
    expect(deleted.items.map((d) => [d.key.name, d.key.deletedDate, d.key.scheduledPurgeDate])).toEqual([['c', 100, 100 + 90 * 86400]]);
    store.markRecovered('C');
    expect(store.listDeletedKeys(10).items).toEqual([]);

    const versions = store.listVersions('a', 1);
    expect(versions.items).toHaveLength(1);
    expect(store.listVersions('a', 1, versions.next).items).toHaveLength(1);
    expect(store.listVersions('nobody', 5)).toEqual({ items: [], next: undefined });
  });

  it('updates the fields it is given and nothing else', () => {
    const v = version('k', { tags: { a: '1' }, notBefore: 5 });
    store.addVersion(v, { recoverableDays: 90 });
    const updated = store.updateVersion('k', v.version, { enabled: false, tags: { b: '2' }, expires: 99, updated: 3000 });
    expect(updated).toEqual({ ...v, enabled: false, tags: { b: '2' }, expires: 99, updated: 3000 });
    expect(store.updateVersion('k', v.version, { notBefore: null, releasePolicy: { immutable: true }, updated: 3001 })).toMatchObject({
      notBefore: null,
      releasePolicy: { immutable: true },
      enabled: false,
    });
    store.setRotationPolicy('k', { lifetimeActions: [] });
    expect(store.getKey('k')?.rotationPolicy).toEqual({ lifetimeActions: [] });
  });

  it('removes a key with all its versions and returns them, and refuses a token id used twice', () => {
    const a = version('gone');
    const b = version('gone');
    store.addVersion(a, { recoverableDays: 90 });
    store.addVersion(b, { recoverableDays: 90 });
    store.addVersion(version('kept'), { recoverableDays: 90 });
    expect(store.tokenIds()).toHaveLength(3);
    expect(store.removeKey('GONE').map((v) => v.version)).toEqual([a.version, b.version]);
    expect(store.getKey('gone')).toBeUndefined();
    expect(store.tokenIds()).toHaveLength(1);
    expect(() => store.addVersion(version('dup', { tokenId: store.tokenIds()[0] as Buffer }), { recoverableDays: 90 })).toThrow(/UNIQUE/);
    expect(store.getKey('dup')).toBeUndefined();
  });

  it('persists across reopening, and passes its integrity check', async () => {
    const v = version('durable', { spec: { type: 'rsa', bits: 3072 }, publicJwk: null, exportable: true, releasePolicy: { data: 'x' } });
    store.addVersion(v, { recoverableDays: 7 });
    await store.close();
    store = new SqliteMetadataStore(file);
    expect(store.getVersion('durable')).toEqual(v);
    expect(store.getKey('durable')?.recoverableDays).toBe(7);
    expect(store.integrityCheck()).toBe('ok');
  });

  it('checkpoints the WAL on a worker thread, not on the writing connection', async () => {
    for (let i = 0; i < 200; i++) store.addVersion(version(`wal-${i}`), { recoverableDays: 90 });
    const wal = `${file}-wal`;
    const { statSync } = await import('node:fs');
    expect(statSync(wal).size).toBeGreaterThan(0);
    const deadline = Date.now() + 5000;
    while (store.checkpoints === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.checkpoints).toBeGreaterThan(0);
    await store.close();
    expect(statSync(wal, { throwIfNoEntry: false })?.size ?? 0).toBe(0);
    store = new SqliteMetadataStore(file);
    expect(store.listKeys(25).items).toHaveLength(25);
  });
});

describe('full restores through generations', () => {
  const key = (name: string) => ({ name, recoverableDays: 7, rotationPolicy: undefined, deletedDate: null, scheduledPurgeDate: null });
  const names = () => store.listKeys(25).items.map((v) => v.name);

  it('stages keys unseen, swaps them in with one commit, and leaves the replaced rows to be taken', () => {
    store.addVersion(version('old-a'), { recoverableDays: 7 });
    store.addVersion(version('old-b'), { recoverableDays: 7 });
    const replaced = store.tokenIds();
    const staged = store.stageRestore();
    staged.add([{ key: key('new-a'), versions: [version('new-a'), version('new-a')] }]);
    staged.add([{ key: { ...key('gone'), deletedDate: 5, scheduledPurgeDate: 9 }, versions: [version('gone')] }]);
    // Written during the staging: replaced like the rest.
    store.addVersion(version('during'), { recoverableDays: 7 });
    expect(names()).toEqual(['during', 'old-a', 'old-b']);
    expect(() => store.stageRestore()).toThrow(/already/);
    staged.commit({ roleDefinitions: [], roleAssignments: [{ name: 'a1', scope: '/', principalId: 'p', roleDefinitionName: 'r' }] });
    expect(names()).toEqual(['new-a']);
    expect(store.versionsOldestFirst('new-a')).toHaveLength(2);
    expect(store.getKey('gone')?.deletedDate).toBe(5);
    expect(store.access.roleAssignments().map((a) => a.name)).toEqual(['a1']);
    expect(store.counts()).toEqual({ keys: 1, deletedKeys: 1, versions: 3 });
    // A key made after the swap is the new generation's.
    store.addVersion(version('after'), { recoverableDays: 7 });
    const taken = store.takeStaleVersions(2);
    expect(taken).toMatchObject({ more: true });
    const rest = store.takeStaleVersions(100);
    expect(rest.more).toBe(false);
    const takenIds = [...taken.versions, ...rest.versions].map((v) => v.tokenId.toString('hex')).sort();
    expect(takenIds).toHaveLength(3);
    for (const id of replaced) expect(takenIds).toContain(id.toString('hex'));
    expect(store.takeStaleVersions(100)).toEqual({ versions: [], more: false });
    expect(names()).toEqual(['after', 'new-a']);
  });

  it('a discarded or never committed restore changes nothing, and its rows go', () => {
    store.addVersion(version('kept'), { recoverableDays: 7 });
    const staged = store.stageRestore();
    staged.add([{ key: key('staged'), versions: [version('staged')] }]);
    // What clean-up takes while a restore is staged is never the staged rows.
    expect(store.takeStaleVersions(100)).toEqual({ versions: [], more: false });
    staged.discard();
    expect(() => staged.add([])).toThrow(/already/);
    expect(names()).toEqual(['kept']);
    expect(store.takeStaleVersions(100).versions.map((v) => v.name)).toEqual(['staged']);
    // A crash before the commit: start-up drops the staged rows.
    store.stageRestore().add([{ key: key('crashed'), versions: [version('crashed'), version('crashed')] }]);
    expect(store.dropUncommitted()).toBe(2);
    expect(store.counts()).toEqual({ keys: 1, deletedKeys: 0, versions: 1 });
  });

  it('refuses to stage while the rows of an unfinished restore are still there', () => {
    const staged = store.stageRestore();
    staged.add([{ key: key('x'), versions: [version('x')] }]);
    staged.discard();
    expect(() => store.stageRestore()).toThrow(/still being removed/);
    store.takeStaleVersions(100);
    expect(() => store.stageRestore().discard()).not.toThrow();
  });

  it('reads a snapshot of one instant, a page at a time, while writes go on', async () => {
    for (let i = 0; i < 1_100; i++) store.addVersion(version(`k-${String(i).padStart(4, '0')}`), { recoverableDays: 7 });
    store.addVersion(version('k-0000'), { recoverableDays: 7 });
    const reading = store.readSnapshot();
    // Between two pages: neither of these is in the snapshot.
    store.addVersion(version('zz-later'), { recoverableDays: 7 });
    store.removeKey('k-0001');
    const snapshot = await reading;
    expect(snapshot.keys).toHaveLength(1_100);
    expect(snapshot.versions).toHaveLength(1_101);
    expect(snapshot.keys.map((k) => k.name)).toEqual([...snapshot.keys.map((k) => k.name)].sort());
    expect(snapshot.versions.filter((v) => v.name === 'k-0000')).toHaveLength(2);
    expect(snapshot.keys.some((k) => k.name === 'zz-later')).toBe(false);
    expect(snapshot.keys.some((k) => k.name === 'k-0001')).toBe(true);
  });
});

describe('schema steps', () => {
  it('moves the keys of a data directory made before generations into the current one', async () => {
    await store.close();
    rmSync(file, { force: true });
    // The schema of the first two steps, with a key in it, as an older emulator left it.
    const Database = (await import('better-sqlite3')).default;
    const { MIGRATIONS } = await import('../../src/store/sqlite-schema.js');
    const old = new Database(file);
    old.exec(`${MIGRATIONS[0]}\n${MIGRATIONS[1]}`);
    old.pragma('user_version = 2');
    old.prepare("INSERT INTO keys (name, recoverable_days, deleted_date, scheduled_purge_date) VALUES ('Older', 7, 5, 9)").run();
    const older = version('Older');
    old.prepare(
      `INSERT INTO key_versions (name, version, seq, token_id, spec, public_jwk, key_ops, enabled, exportable, tags, created, updated)
       VALUES ('Older', ?, 1, ?, '{"type":"ec","curve":"P-256"}', NULL, '["sign"]', 1, 0, '{"t":"1"}', 1, 2)`,
    ).run(older.version, older.tokenId);
    old.close();
    store = new SqliteMetadataStore(file);
    expect(store.getKey('older')).toMatchObject({ name: 'Older', deletedDate: 5 });
    expect(store.getVersion('OLDER')).toMatchObject({ version: older.version, tags: { t: '1' }, updated: 2 });
    expect(store.tokenIds()).toEqual([older.tokenId]);
    expect(store.integrityCheck()).toBe('ok');
    // Cascades still hold.
    expect(store.removeKey('older')).toHaveLength(1);
    expect(store.counts()).toEqual({ keys: 0, deletedKeys: 0, versions: 0 });
  });
});
