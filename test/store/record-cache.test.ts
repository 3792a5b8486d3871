// The store keeps the key records it read in memory (record-cache.ts): what getKey and getVersion
// answer must be what the database holds after every write of the store's own, after a full
// restore's commit, and after another connection's commit from the next turn of the event loop on.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecordCache } from '../../src/store/record-cache.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { keyVersionRecord as version } from '../helpers/key-version.js';
import { storePerTest } from '../helpers/temp-store.js';

const temp = storePerTest('mhsm-record-cache-');
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const DAYS = { recoverableDays: 7 };

describe("the store's answers after its own writes", () => {
  it('a new version, an update, a deletion, a recovery and a rotation policy are seen at once', () => {
    const { store } = temp;
    const first = version('k');
    store.addVersion(first, DAYS);
    expect(store.getVersion('k')?.version).toBe(first.version);
    expect(store.getVersion('K', first.version)?.enabled).toBe(true);
    expect(store.getKey('k')?.deletedDate).toBeNull();

    store.updateVersion('k', first.version, { enabled: false, tags: { a: 'b' }, updated: 2000 });
    expect(store.getVersion('k', first.version)).toMatchObject({ enabled: false, tags: { a: 'b' } });
    expect(store.getVersion('k')?.enabled).toBe(false);

    const second = version('k', { created: 3000 });
    store.addVersion(second, DAYS);
    expect(store.getVersion('k')?.version).toBe(second.version);

    store.markDeleted('k', 10, 20);
    expect(store.getKey('k')).toMatchObject({ deletedDate: 10, scheduledPurgeDate: 20 });
    store.markRecovered('k');
    expect(store.getKey('k')?.deletedDate).toBeNull();

    store.setRotationPolicy('k', { lifetimeActions: [] });
    expect(store.getKey('k')?.rotationPolicy).toEqual({ lifetimeActions: [] });

    store.removeKey('k');
    expect(store.getKey('k')).toBeUndefined();
    expect(store.getVersion('k')).toBeUndefined();
  });

  it('a replaced key, a key made again under its name, and dropped rows are seen at once', () => {
    const { store } = temp;
    const old = version('r');
    store.addVersion(old, DAYS);
    expect(store.getVersion('r')?.version).toBe(old.version);
    const fresh = version('r');
    store.replaceKey({ name: 'r', recoverableDays: 30, rotationPolicy: undefined, deletedDate: null, scheduledPurgeDate: null }, [fresh]);
    expect(store.getVersion('r')?.version).toBe(fresh.version);
    expect(store.getVersion('r', old.version)).toBeUndefined();
    expect(store.getKey('r')?.recoverableDays).toBe(30);

    const made = version('m');
    expect(store.getKey('m')).toBeUndefined();
    expect(store.addKey([made], { recoverableDays: 7, rotationPolicy: undefined })).toBe(true);
    expect(store.getVersion('m')?.version).toBe(made.version);
  });

  it('a full restore, once committed, is what getKey and getVersion answer', () => {
    const { store } = temp;
    const before = version('x');
    store.addVersion(before, DAYS);
    expect(store.getVersion('x')?.version).toBe(before.version);
    const staged = store.stageRestore();
    const restored = version('x');
    staged.add([{ key: { name: 'x', recoverableDays: 90, rotationPolicy: undefined, deletedDate: null, scheduledPurgeDate: null }, versions: [restored] }]);
    expect(store.getVersion('x')?.version).toBe(before.version);
    staged.commit({ roleDefinitions: [], roleAssignments: [] });
    expect(store.getVersion('x')?.version).toBe(restored.version);
    expect(store.getKey('x')?.recoverableDays).toBe(90);
  });

  it('hands out frozen records: a caller cannot change what the next one reads', () => {
    const { store } = temp;
    store.addVersion(version('f', { tags: { team: 'a' } }), DAYS);
    const read = store.getVersion('f');
    expect(() => {
      (read as { enabled: boolean }).enabled = false;
    }).toThrow(TypeError);
    expect(() => {
      (read?.tags as Record<string, string>).team = 'b';
    }).toThrow(TypeError);
    expect(store.getVersion('f')).toMatchObject({ enabled: true, tags: { team: 'a' } });
  });
});

describe('after another connection writes', () => {
  it('from the next turn of the event loop on, its changes are what the store answers', async () => {
    const { store, dir } = temp;
    const first = version('shared');
    store.addVersion(first, DAYS);
    expect(store.getVersion('shared')?.enabled).toBe(true);
    const other = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
    try {
      other.updateVersion('shared', first.version, { enabled: false, updated: 2000 });
      await nextTurn();
      expect(store.getVersion('shared')?.enabled).toBe(false);
      other.removeKey('shared');
      await nextTurn();
      expect(store.getKey('shared')).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});

describe('RecordCache', () => {
  it('reads once while nothing changes, again after clear() or a change by others, and never keeps undefined', () => {
    let othersVersion = 1;
    let reads = 0;
    const cache = new RecordCache<{ n: number }>(() => othersVersion);
    const read = () => ({ n: ++reads });
    expect(cache.get('a', read)).toEqual({ n: 1 });
    expect(cache.get('a', read)).toEqual({ n: 1 });
    cache.clear();
    expect(cache.get('a', read)).toEqual({ n: 2 });
    othersVersion = 2;
    expect(cache.get('a', read)).toEqual({ n: 3 });
    expect(cache.get('missing', () => undefined)).toBeUndefined();
    expect(cache.size).toBe(1);
  });

  it('holds at most its limit, dropping the oldest first', () => {
    const cache = new RecordCache<number>(() => 0);
    for (let i = 0; i < 20_001; i++) cache.get(`k${i}`, () => i);
    expect(cache.size).toBe(20_000);
    expect(cache.get('k0', () => -1)).toBe(-1);
    expect(cache.get('k20000', () => -1)).toBe(20_000);
  });
});
