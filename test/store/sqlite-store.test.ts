import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyVersionRecord } from '../../src/store/key-records.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';

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

function version(name: string, overrides: Partial<KeyVersionRecord> = {}): KeyVersionRecord {
  return {
    name,
    version: randomBytes(16).toString('hex'),
    tokenId: randomBytes(16),
    spec: { type: 'ec', curve: 'P-256' },
    publicJwk: { kty: 'EC-HSM', crv: 'P-256', x: 'AAAA', y: 'BBBB' },
    keyOps: ['sign', 'verify'],
    enabled: true,
    notBefore: null,
    expires: null,
    exportable: false,
    releasePolicy: undefined,
    tags: {},
    created: 1000,
    updated: 1000,
    ...overrides,
  };
}

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
