// The key service over a real token and a temporary SQLite store.
import { createHash, generateKeyPairSync, verify as nodeVerify, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ShiftableClock } from '../../src/clock/clock.js';
import { KeyService } from '../../src/hsm/key-service.js';
import { TokenCleanup } from '../../src/hsm/token-cleanup.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import type { Token } from '../../src/token/token.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let token: Token;
let dir: string;
let store: SqliteMetadataStore;
let clock: ShiftableClock;
let keys: KeyService;
let counter = 0;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-keys-'));
  store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
  opened?.close();
});

beforeEach(() => {
  clock = new ShiftableClock(() => 1_700_000_000_000);
  keys = new KeyService(token, store, clock, { recoverableDays: 7 });
});

const unique = (prefix: string) => `${prefix}-${++counter}`;

describe('create, get, versions', () => {
  it('creates RSA-HSM, EC-HSM and oct-HSM keys with their defaults, and new versions under the same name', async () => {
    const name = unique('rsa');
    const first = await keys.create(name, { kty: 'RSA' });
    expect(first.version.spec).toEqual({ type: 'rsa', bits: 2048 });
    expect(first.version.keyOps).toEqual(['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']);
    expect(first.version.publicJwk).toMatchObject({ kty: 'RSA-HSM', e: 'AQAB' });
    expect(first.version.version).toMatch(/^[0-9a-f]{32}$/);
    expect(first.version.created).toBe(1_700_000_000);
    expect(first.key.recoverableDays).toBe(7);
    const second = await keys.create(name.toUpperCase(), { kty: 'RSA-HSM', keySize: 3072, tags: { purpose: 'test' } });
    expect(second.version.name).toBe(name);
    expect(keys.get(name).version.version).toBe(second.version.version);
    expect(keys.get(name, first.version.version).version.spec).toEqual({ type: 'rsa', bits: 2048 });
    expect(keys.listVersions(name, undefined).items).toHaveLength(2);

    const ec = await keys.create(unique('ec'), { kty: 'EC-HSM', crv: 'P-256K' });
    expect(ec.version.publicJwk).toMatchObject({ kty: 'EC-HSM', crv: 'P-256K' });
    const oct = await keys.create(unique('oct'), { kty: 'oct-HSM', keySize: 128 });
    expect(oct.version.publicJwk).toBeNull();
    // The service's defaults for an oct-HSM key, as recorded.
    expect(oct.version.keyOps).toEqual(['encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'sign', 'verify', 'deriveKey']);
    expect(await token.keyProtection({ id: oct.version.tokenId, spec: oct.version.spec })).toMatchObject({
      sensitive: true,
      extractable: true,
      wrapWithTrusted: true,
    });
  });

  it('imports a JWK whose key then signs what node:crypto verifies', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const name = unique('imported');
    const view = await keys.importKey(name, { jwk: { ...privateKey.export({ format: 'jwk' }), key_ops: ['sign', 'verify'] } });
    expect(view.version.spec).toEqual({ type: 'ec', curve: 'P-384' });
    expect(createPublicKey({ key: { ...view.version.publicJwk, kty: 'EC' }, format: 'jwk' }).equals(publicKey)).toBe(true);
    const digest = createHash('sha384').update('imported').digest();
    const { value } = await keys.sign(name, undefined, 'ES384', digest);
    expect(nodeVerify('sha384', Buffer.from('imported'), { key: publicKey, dsaEncoding: 'ieee-p1363' }, value)).toBe(true);
  });

  it('names the field and the rule for bad input, and makes nothing', async () => {
    const before = store.tokenIds().length;
    const cases: Array<[string, Parameters<KeyService['create']>[1], RegExp]> = [
      ['bad_name', { kty: 'RSA' }, /key name 'bad_name' is invalid/],
      ['x'.repeat(128), { kty: 'RSA' }, /1 to 127 letters/],
      [unique('k'), { kty: 'DSA' }, /^kty: must be one of/],
      [unique('k'), { kty: 'RSA', keySize: 1024 }, /^key_size: an RSA key must be 2048, 3072 or 4096 bits$/],
      [unique('k'), { kty: 'EC', crv: 'P-192' }, /^crv: must be one of/],
      [unique('k'), { kty: 'EC', keyOps: ['encrypt'] }, /^key_ops\[0\]: 'encrypt' is not an operation of this key type$/],
      [unique('k'), { kty: 'RSA', keyOps: ['import', 'sign'] }, /cannot be combined/],
      [unique('k'), { kty: 'RSA', tags: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v'])) }, /^tags: at most 15 tags, not 16$/],
      [unique('k'), { kty: 'RSA', tags: { t: 'v'.repeat(257) } }, /^tags\.t: a tag value must be at most 256 characters$/],
      [unique('k'), { kty: 'RSA', attributes: { nbf: 10, exp: 5 } }, /^attributes\.exp: must be later than attributes\.nbf$/],
      [unique('k'), { kty: 'RSA', attributes: { enabled: 'yes' } }, /^attributes\.enabled: must be true or false$/],
      [unique('k'), { kty: 'RSA', attributes: { exportable: true } }, /^Exportable keys must have release policy$/],
    ];
    for (const [name, input, message] of cases) {
      await expect(keys.create(name, input)).rejects.toMatchObject({ code: 'BadParameter', message: expect.stringMatching(message) });
    }
    expect(store.tokenIds()).toHaveLength(before);
  });
});

describe('state is enforced on every use', () => {
  it('refuses disabled, not-yet-valid, expired keys and operations outside key_ops', async () => {
    const name = unique('guarded');
    const { version } = await keys.create(name, { kty: 'EC', keyOps: ['sign'] });
    const digest = Buffer.alloc(32, 1);
    expect((await keys.sign(name, version.version, 'ES256', digest)).value).toHaveLength(64);
    await expect(keys.verify(name, undefined, 'ES256', digest, Buffer.alloc(64))).rejects.toMatchObject({
      code: 'Forbidden',
      message: expect.stringContaining("not permitted by this key's key_ops"),
    });
    keys.update(name, undefined, { attributes: { enabled: false } });
    await expect(keys.sign(name, undefined, 'ES256', digest)).rejects.toMatchObject({ code: 'Forbidden', message: expect.stringContaining('disabled') });
    keys.update(name, undefined, { attributes: { enabled: true, nbf: clock.now() + 60 } });
    await expect(keys.sign(name, undefined, 'ES256', digest)).rejects.toMatchObject({ message: expect.stringContaining("before the key's nbf") });
    clock.shift(120);
    expect((await keys.sign(name, undefined, 'ES256', digest)).value).toHaveLength(64);
    keys.update(name, undefined, { attributes: { exp: clock.now() + 10 } });
    clock.shift(10);
    await expect(keys.sign(name, undefined, 'ES256', digest)).rejects.toMatchObject({ message: expect.stringContaining('expired') });
    expect(() => keys.update(name, undefined, { attributes: { exp: 1 } })).toThrow(/must be later than attributes.nbf/);
    expect(() => keys.update(name, undefined, { attributes: { exportable: true } })).toThrow(/cannot be changed/);
    expect(keys.update(name, undefined, { keyOps: ['sign', 'verify'], tags: { a: 'b' } }).version).toMatchObject({ keyOps: ['sign', 'verify'], tags: { a: 'b' } });
  });
});

describe('soft delete, recover, purge', () => {
  it('hides a deleted key, keeps its name reserved, recovers it, and purges it with its token objects', async () => {
    const name = unique('doomed');
    const { version } = await keys.create(name, { kty: 'oct', keySize: 256 });
    const deleted = keys.delete(name);
    expect(deleted.key.deletedDate).toBe(clock.now());
    expect(deleted.key.scheduledPurgeDate).toBe(clock.now() + 7 * 86400);
    expect(() => keys.get(name)).toThrow(expect.objectContaining({ code: 'KeyNotFound' }));
    expect(keys.listDeleted(undefined).items.map((v) => v.key.name)).toContain(name);
    await expect(keys.create(name, { kty: 'oct' })).rejects.toMatchObject({ code: 'Conflict' });
    await expect(keys.encrypt(name, undefined, 'encrypt', 'A256GCM', { plaintext: Buffer.alloc(1) })).rejects.toMatchObject({ code: 'KeyNotFound' });

    expect(keys.recover(name).version.version).toBe(version.version);
    expect(() => keys.recover(name)).toThrow(expect.objectContaining({ code: 'KeyNotFound', message: `Deleted Key not found: ${name}` }));
    await expect(keys.purge(name)).rejects.toMatchObject({ code: 'KeyNotFound' });

    keys.delete(name);
    await keys.purge(name);
    expect(await token.hasKey({ id: version.tokenId, spec: version.spec })).toBe(false);
    expect(() => keys.getDeleted(name)).toThrow(expect.objectContaining({ code: 'KeyNotFound' }));
    expect((await keys.create(name, { kty: 'oct' })).version.name).toBe(name);
  });

  it('refuses to purge under purge protection', async () => {
    const name = unique('protected');
    await keys.create(name, { kty: 'EC' });
    keys.delete(name);
    const protectedKeys = new KeyService(token, store, clock, { recoverableDays: 7, purgeProtection: true });
    await expect(protectedKeys.purge(name)).rejects.toMatchObject({ code: 'Forbidden', message: expect.stringContaining('purge protection') });
    expect(protectedKeys.recover(name).key.deletedDate).toBeNull();
  });

  it('purges keys whose retention ran out when the clock moves past it', async () => {
    const name = unique('expiring');
    const { version } = await keys.create(name, { kty: 'EC' });
    keys.delete(name);
    expect(await keys.purgeExpired()).not.toContain(name);
    clock.shift(7 * 86400);
    expect(await keys.purgeExpired()).toContain(name);
    expect(await token.hasKey({ id: version.tokenId, spec: version.spec })).toBe(false);
  });
});

describe('rotation', () => {
  it('rotates on demand once a policy exists, keeping type, operations and tags', async () => {
    const name = unique('rotating');
    const first = await keys.create(name, { kty: 'EC', crv: 'P-384', keyOps: ['sign'], tags: { team: 'x' } });
    await expect(keys.rotate(name)).rejects.toMatchObject({ code: 'BadParameter', message: expect.stringContaining('no rotation policy') });
    keys.setRotationPolicy(name, { lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P60D' } });
    const second = await keys.rotate(name);
    expect(second.version.version).not.toBe(first.version.version);
    expect(second.version).toMatchObject({ spec: { type: 'ec', curve: 'P-384' }, keyOps: ['sign'], tags: { team: 'x' }, expires: clock.now() + 60 * 86400 });
    expect(second.version.tokenId.equals(first.version.tokenId)).toBe(false);
    expect(keys.get(name).version.version).toBe(second.version.version);
    expect(keys.setRotationPolicy(name, { lifetimeActions: [], attributes: {} })).toBeUndefined();
    expect(keys.getRotationPolicy(name)).toBeUndefined();
  });

  it('rotates keys when the clock reaches the trigger, and only then', async () => {
    const name = unique('scheduled');
    const first = await keys.create(name, { kty: 'oct', keySize: 128 });
    keys.setRotationPolicy(name, { lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }] });
    expect((await keys.maintain()).rotated).not.toContain(name);
    clock.shift(30 * 86400);
    expect((await keys.maintain()).rotated).toContain(name);
    expect(keys.get(name).version.version).not.toBe(first.version.version);
    expect((await keys.maintain()).rotated).not.toContain(name);
    expect(keys.listVersions(name, undefined).items).toHaveLength(2);
  });
});

describe('listing and random bytes', () => {
  it('pages at most 25 keys at a time and checks maxresults', async () => {
    for (let i = 0; i < 27; i++) await keys.create(unique('page'), { kty: 'oct', keySize: 128 });
    const first = keys.list(undefined);
    expect(first.items).toHaveLength(25);
    expect(first.next).toBeDefined();
    const rest = keys.list(25, first.next);
    expect(new Set([...first.items, ...rest.items].map((v) => v.key.name)).size).toBe(first.items.length + rest.items.length);
    expect(() => keys.list(26)).toThrow(/maxresults: must be a whole number from 1 to 25/);
    expect(keys.listVersions('no-such-key', 5)).toEqual({ items: [], next: undefined });
  });

  it('gives 1 to 128 random bytes', async () => {
    expect(await keys.random(128)).toHaveLength(128);
    await expect(keys.random(0)).rejects.toMatchObject({ code: 'BadParameter', message: 'GetRandomBytesRequest: count cannot be greater than 128 or less than 1' });
    await expect(keys.random(129)).rejects.toMatchObject({ code: 'BadParameter' });
    await expect(keys.random('8')).rejects.toMatchObject({ code: 'BadParameter' });
  });
});

describe('start-up reconciliation', () => {
  it('removes labelled token objects no version names, reports versions without material, and leaves other objects alone', async () => {
    const kept = await keys.create(unique('kept'), { kty: 'EC' });
    // An orphan as a crash between the token write and the commit leaves it: made, never recorded.
    const orphan = await token.generateKey({ type: 'ec', curve: 'P-256' }, { label: 'mhsm-key' });
    // Somebody else's key in the same token: not ours to remove.
    const foreign = await token.generateKey({ type: 'aes', bits: 128 }, { label: 'someone-else' });
    // A committed version whose material vanished from the token.
    const lost = await keys.create(unique('lost'), { kty: 'oct', keySize: 128 });
    await token.destroyKey({ id: lost.version.tokenId, spec: lost.version.spec });

    const cleanup = new TokenCleanup(token, store);
    const result = await keys.reconcile(cleanup);
    expect(result.orphans).toBe(1);
    await cleanup.idle();
    expect(result.missing.map((v) => v.version)).toEqual([lost.version.version]);
    expect(await token.hasKey(orphan)).toBe(false);
    expect(await token.hasKey(foreign)).toBe(true);
    expect(await token.hasKey({ id: kept.version.tokenId, spec: kept.version.spec })).toBe(true);
    expect((await keys.reconcile(cleanup)).orphans).toBe(0);
  });
});

