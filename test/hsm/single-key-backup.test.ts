// Single-key backups over a real token and store: sealed under the domain, checked on restore,
// and nothing left behind by a refused one.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SingleKeyBackup } from '../../src/hsm/backup/single-key-backup.js';
import { BACKUP_FORMAT, type KeyBackup, decodeBackup, encodeBackup } from '../../src/hsm/backup/key-backup.js';
import { ShiftableClock } from '../../src/clock/clock.js';
import { HsmError } from '../../src/hsm/errors.js';
import { KeyService } from '../../src/hsm/key-service.js';
import { SealRefused, Sealer } from '../../src/hsm/security-domain/sealer.js';
import type { SecurityDomain } from '../../src/hsm/security-domain/security-domain.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import type { Token } from '../../src/token/token.js';
import { refusalOf } from '../helpers/refusal.js';
import { activateTestDomain } from '../helpers/test-domain.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let token: Token;
let dir: string;
let store: SqliteMetadataStore;
let keys: KeyService;
let clock: ShiftableClock;
let domain: SecurityDomain;
let backups: SingleKeyBackup;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-backup-'));
  store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  ({ domain } = await activateTestDomain(token, store.access, opened.testToken.soPin));
  clock = new ShiftableClock(() => 1_700_000_000_000);
  keys = new KeyService(token, store, clock, { recoverableDays: 7 });
  backups = new SingleKeyBackup(token, store, keys, domain);
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
  opened?.close();
});

/** What the token and the store hold, to show that a refusal changed neither. */
async function holdings(): Promise<{ rows: number; objects: number }> {
  return { rows: store.tokenIds().length, objects: (await token.keyIdsLabelled('mhsm-key')).length };
}

/** The backup's content, opened with the domain's own sealer (what only the HSM can do). */
async function openBackup(blob: Buffer): Promise<KeyBackup> {
  return decodeBackup(await domain.protection().sealer.unseal(blob, 'key-backup', 'value'));
}

async function sealBackup(backup: KeyBackup): Promise<Buffer> {
  return domain.protection().sealer.seal(encodeBackup(backup), 'key-backup');
}

describe('round trip', () => {
  it.each([
    ['RSA', { kty: 'RSA', keySize: 2048 }, 'RS256', 32],
    ['EC P-521', { kty: 'EC', crv: 'P-521' }, 'ES512', 64],
    ['EC P-256K', { kty: 'EC', crv: 'P-256K' }, 'ES256K', 32],
  ] as const)('%s: every version comes back with its ids, public key and usable private key', async (_label, create, alg, digestBytes) => {
    const name = unique('backed-up');
    const first = await keys.create(name, create);
    const second = await keys.create(name, { ...create, tags: { n: '2' } });
    const blob = await backups.backup(name);
    // Sealed: neither the name, the token ids nor the public key can be read from it.
    for (const visible of [name, first.version.tokenId.toString('hex'), String(first.version.publicJwk?.x ?? first.version.publicJwk?.n).slice(0, 16)]) {
      expect(blob.toString('latin1')).not.toContain(visible);
      expect(blob.toString('base64url')).not.toContain(Buffer.from(visible).toString('base64url').slice(0, 12));
    }
    keys.delete(name);
    await keys.purge(name);

    const restored = await backups.restore(blob);
    expect(restored.version.version).toBe(second.version.version);
    expect(restored.version.publicJwk).toEqual(second.version.publicJwk);
    expect(restored.version.tags).toEqual({ n: '2' });
    expect(keys.get(name, first.version.version).version.publicJwk).toEqual(first.version.publicJwk);
    const digest = Buffer.alloc(digestBytes, 3);
    const { value } = await keys.sign(name, first.version.version, alg, digest);
    expect((await keys.verify(name, first.version.version, alg, digest, value)).value).toBe(true);
    expect(await token.keyProtection({ id: restored.version.tokenId, spec: restored.version.spec })).toMatchObject({ sensitive: true, wrapWithTrusted: true, extractable: true });
  });

  it('restores an AES key that then decrypts what it encrypted before, and an HMAC key that verifies', async () => {
    const name = unique('aes-backup');
    await keys.create(name, { kty: 'oct', keySize: 256 });
    const sealed = await keys.encrypt(name, undefined, 'encrypt', 'A256GCM', { plaintext: Buffer.from('before backup') });
    const blob = await backups.backup(name);
    keys.delete(name);
    await keys.purge(name);
    await backups.restore(blob);
    const { value } = await keys.decrypt(name, undefined, 'decrypt', 'A256GCM', { ciphertext: sealed.result.value, iv: sealed.result.iv, tag: sealed.result.tag });
    expect(value.toString()).toBe('before backup');

    const hmac = unique('hmac-backup');
    await keys.create(hmac, { kty: 'oct-HSM', keySize: 256, keyOps: ['sign', 'verify'] });
    const digest = Buffer.alloc(32, 9);
    const mac = await keys.sign(hmac, undefined, 'HS256', digest);
    const hmacBlob = await backups.backup(hmac);
    keys.delete(hmac);
    await keys.purge(hmac);
    await backups.restore(hmacBlob);
    expect((await keys.verify(hmac, undefined, 'HS256', digest, mac.value)).value).toBe(true);
  });
});

describe('refusals leave nothing behind', () => {
  it('refuses a taken name with 409', async () => {
    const name = unique('conflicted');
    await keys.create(name, { kty: 'EC' });
    await expect(backups.restore(await backups.backup(name))).rejects.toMatchObject({ code: 'Conflict' });
  });

  it('refuses every altered byte region of the sealed blob, garbage and the unsealed format of earlier versions', async () => {
    const name = unique('tampered');
    await keys.create(name, { kty: 'RSA' });
    const blob = await backups.backup(name);
    keys.delete(name);
    await keys.purge(name);
    const before = await holdings();
    // magic, version, domain id, IV, ciphertext, tag.
    for (const offset of [0, 8, 9, 25, 40, blob.length - 20, blob.length - 1]) {
      const altered = Buffer.from(blob);
      altered[offset] = (altered[offset] as number) ^ 1;
      await expect(backups.restore(altered)).rejects.toMatchObject({ code: 'BadParameter' });
    }
    await expect(backups.restore(blob.subarray(0, blob.length - 1))).rejects.toMatchObject({ code: 'BadParameter' });
    await expect(backups.restore(Buffer.from('not a backup'))).rejects.toMatchObject({ code: 'BadParameter', message: 'Backup blob contains invalid or corrupt version.' });
    const plain = await openBackup(blob);
    await expect(backups.restore(Buffer.from(JSON.stringify({ ...plain, format: 'mhsm-key-backup/1', hsm: 'x' })))).rejects.toMatchObject({ code: 'BadParameter' });
    expect(await holdings()).toEqual(before);
    expect(keys.listVersions(name, undefined).items).toEqual([]);
    // The unaltered blob still restores: the refusals were about the edits.
    await expect(backups.restore(blob)).resolves.toMatchObject({ key: { name } });
  });

  // The seal stops these edits from outside the HSM; sealed with the domain's own key here, they
  // show that restore checks the content as create and import would.
  it.each<[string, (backup: KeyBackup) => void, RegExp]>([
    ['a substituted public modulus', (b) => void ((b.versions[0] as { publicJwk: Record<string, string> }).publicJwk.n = substituteModulus(b)), /publicJwk does not match/],
    ['wider key_ops', (b) => void (b.versions[0]!.keyOps = ['sign', 'verify', 'export', 'import']), /key_ops/],
    // With key_ops edited too, AES bytes cannot be told from HMAC bytes: only the seal stops that.
    ['an AES key passed off as HMAC', (b) => void (b.versions[0]!.spec = { type: 'generic-secret', bits: 256 }), /key_ops\[0\]: 'encrypt' is not an operation/],
    ['an AES size that the material is not', (b) => void (b.versions[0]!.spec = { type: 'aes', bits: 128 }), /not a 128-bit key/],
    ['recoverableDays -5', (b) => void (b.recoverableDays = -5), /recoverableDays/],
    ['an invalid name', (b) => void (b.name = 'not a valid/name'), /key name/],
    ['an RSA size that the material is not', (b) => void (b.versions[0]!.spec = { type: 'rsa', bits: 4096 }), /not an RSA-4096 key/],
    ['exportable without a release policy', (b) => void (b.versions[0]!.exportable = true), /release policy/],
    ['a repeated version id', (b) => void b.versions.push({ ...b.versions[0]! }), /distinct/],
  ])('refuses %s', async (_label, edit, message) => {
    const rsa = !_label.includes('AES');
    const name = unique('edited');
    await keys.create(name, rsa ? { kty: 'RSA' } : { kty: 'oct', keySize: 256 });
    const backup = await openBackup(await backups.backup(name));
    keys.delete(name);
    await keys.purge(name);
    const before = await holdings();
    edit(backup);
    await expect(backups.restore(await sealBackup(backup))).rejects.toMatchObject({ code: 'BadParameter', message: expect.stringMatching(message) });
    expect(await holdings()).toEqual(before);
    expect(store.getKey(backup.name)).toBeUndefined();
  });

  it('refuses an EC backup whose public point is not the private key\'s', async () => {
    const name = unique('ec-edited');
    await keys.create(name, { kty: 'EC', crv: 'P-256' });
    const other = await keys.create(unique('ec-other'), { kty: 'EC', crv: 'P-256' });
    const backup = await openBackup(await backups.backup(name));
    keys.delete(name);
    await keys.purge(name);
    const before = await holdings();
    (backup.versions[0] as { publicJwk: Record<string, string> }).publicJwk = other.version.publicJwk as Record<string, string>;
    await expect(backups.restore(await sealBackup(backup))).rejects.toMatchObject({ code: 'BadParameter', message: expect.stringMatching(/publicJwk does not match/) });
    expect(await holdings()).toEqual(before);
  });

  it('refuses a backup of the current format that is not sealed', async () => {
    const name = unique('unsealed');
    await keys.create(name, { kty: 'EC' });
    const plain = encodeBackup(await openBackup(await backups.backup(name)));
    keys.delete(name);
    await keys.purge(name);
    const before = await holdings();
    await expect(backups.restore(plain)).rejects.toMatchObject({ code: 'BadParameter', message: 'Backup blob contains invalid or corrupt version.' });
    expect(await holdings()).toEqual(before);
  });

  it('lets one of several restores of one name win, and the others leave nothing behind', async () => {
    const name = unique('raced');
    await keys.create(name, { kty: 'RSA' });
    await keys.create(name, { kty: 'RSA' });
    const blob = await backups.backup(name);
    keys.delete(name);
    await keys.purge(name);
    const before = await holdings();
    const results = await Promise.allSettled([backups.restore(blob), backups.restore(blob), backups.restore(blob)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'Conflict' });
    expect(keys.listVersions(name, undefined).items).toHaveLength(2);
    expect(await holdings()).toEqual({ rows: before.rows + 2, objects: before.objects + 2 });
  });

  it('refuses a backup of more than 100 versions', async () => {
    const name = unique('many');
    await keys.create(name, { kty: 'EC' });
    const backup = await openBackup(await backups.backup(name));
    const first = backup.versions[0]!;
    backup.versions = Array.from({ length: 101 }, (_, i) => ({ ...first, version: i.toString(16).padStart(32, '0') }));
    keys.delete(name);
    await keys.purge(name);
    await expect(backups.restore(await sealBackup(backup))).rejects.toMatchObject({ code: 'BadParameter', message: expect.stringContaining('at most 100 versions') });
  });

  it('has the format it says', async () => {
    const name = unique('format');
    await keys.create(name, { kty: 'EC' });
    expect((await openBackup(await backups.backup(name))).format).toBe(BACKUP_FORMAT);
  });
});

/** What `promise` rejects with. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: unknown) => error,
  );
}

/** A key of `count` versions, backed up, then deleted and purged: its name is free again. */
async function purgedBackup(create: Parameters<KeyService['create']>[1], count = 1): Promise<{ name: string; blob: Buffer }> {
  const name = unique('purged');
  for (let i = 0; i < count; i++) await keys.create(name, create);
  const blob = await backups.backup(name);
  keys.delete(name);
  await keys.purge(name);
  return { name, blob };
}

describe('what a refused restore says', () => {
  it('refuses a taken name with 409 naming the key, a soft-deleted one too', async () => {
    const name = unique('taken');
    await keys.create(name, { kty: 'EC' });
    const blob = await backups.backup(name);
    const conflict = { code: 'Conflict', message: `Key ${name} already exists; delete and purge it before restoring` };
    expect(await refusalOf(backups.restore(blob))).toEqual(conflict);
    keys.delete(name);
    expect(await refusalOf(backups.restore(blob))).toEqual(conflict);
  });

  it('refuses a taken name before it looks at the key material', async () => {
    const name = unique('taken-first');
    await keys.create(name, { kty: 'EC' });
    const backup = await openBackup(await backups.backup(name));
    backup.versions[0]!.wrapped = flipped(backup.versions[0]!.wrapped);
    const before = await holdings();
    expect(await refusalOf(backups.restore(await sealBackup(backup)))).toEqual({ code: 'Conflict', message: `Key ${name} already exists; delete and purge it before restoring` });
    expect(await holdings()).toEqual(before);
  });

  it('tells a backup of another security domain apart from a corrupt one', async () => {
    const { name, blob } = await purgedBackup({ kty: 'EC' });
    const plaintext = encodeBackup(await openBackup(blob));
    // Another HSM's sealer: its own key and its own domain id.
    const other = await keys.create(unique('other-sealing'), { kty: 'oct', keySize: 256 });
    const otherKey = { id: other.version.tokenId, spec: other.version.spec };
    const ownId = domain.protection().sealer.domainId;
    const foreign = await new Sealer(token, otherKey, randomBytes(ownId.length)).seal(plaintext, 'key-backup');
    const before = await holdings();
    const error = await rejectionOf(backups.restore(foreign));
    expect(error).toBeInstanceOf(SealRefused);
    expect(error).toMatchObject({
      code: 'BadParameter',
      reason: 'other-domain',
      message: 'value: made by an HSM of another security domain; it can be restored only into an HSM holding the domain that made it',
    });
    // The same id with another key is no domain's seal at all: the service's words for a corrupt blob.
    const forged = await new Sealer(token, otherKey, ownId).seal(plaintext, 'key-backup');
    const corrupt = await rejectionOf(backups.restore(forged));
    expect(corrupt).not.toBeInstanceOf(SealRefused);
    expect(corrupt).toMatchObject({ code: 'BadParameter', message: 'Backup blob contains invalid or corrupt version.', verbatim: true, cause: expect.objectContaining({ reason: 'altered' }) });
    expect(await holdings()).toEqual(before);
    expect(store.getKey(name)).toBeUndefined();
  });

  it('answers a corrupt blob in the service\'s own words, verbatim, keeping why as the cause', async () => {
    const sealedNonsense = await domain.protection().sealer.seal(Buffer.from('{"not":"a backup"}'), 'key-backup');
    for (const [blob, cause] of [
      [Buffer.from('not a backup'), { reason: 'not-sealed', message: 'value: not a blob sealed by a Managed HSM emulator' }],
      [sealedNonsense, { code: 'BadParameter', message: 'value: not a key backup made by a Managed HSM emulator' }],
    ] as const) {
      const error = await rejectionOf(backups.restore(blob));
      expect(error).toBeInstanceOf(HsmError);
      expect(error).toMatchObject({ code: 'BadParameter', message: 'Backup blob contains invalid or corrupt version.', verbatim: true, cause: expect.objectContaining(cause) });
    }
  });

  it.each<[string, (backup: KeyBackup) => void]>([
    ['material the token cannot unwrap', (b) => void (b.versions[1]!.wrapped = flipped(b.versions[1]!.wrapped))],
    ['RSA material declared an EC key', (b) => void Object.assign(b.versions[1]!, { spec: { type: 'ec', curve: 'P-256' }, keyOps: ['sign', 'verify'] })],
  ])('refuses a backup with %s, leaving nothing behind', async (_label, edit) => {
    const { name, blob } = await purgedBackup({ kty: 'RSA' }, 2);
    const backup = await openBackup(blob);
    edit(backup);
    const before = await holdings();
    const error = await rejectionOf(backups.restore(await sealBackup(backup)));
    expect(error).toBeInstanceOf(HsmError);
    expect(error).toMatchObject({ code: 'BadParameter', message: 'value: this backup cannot be restored into this HSM', verbatim: false });
    // The token's own error is kept for the log.
    expect((error as Error).cause).toMatchObject({ message: expect.stringContaining('C_UnwrapKey failed') });
    expect(await holdings()).toEqual(before);
    expect(store.getKey(name)).toBeUndefined();
  });

  it('lets only one of two restores into an HSM with room for one more key in, and the other leaves nothing behind', async () => {
    const first = await purgedBackup({ kty: 'EC', crv: 'P-256' }, 4);
    const second = await purgedBackup({ kty: 'EC', crv: 'P-256' }, 4);
    const { keys: held, deletedKeys } = store.counts();
    const limit = held + deletedKeys + 1;
    const limited = new KeyService(token, store, clock, { recoverableDays: 7, limits: { keys: limit, keyVersions: 100 } });
    const restorer = new SingleKeyBackup(token, store, limited, domain);
    const before = await holdings();
    // Both pass the check made before unwrapping; the one that commits second must be stopped.
    const results = await Promise.allSettled([restorer.restore(first.blob), restorer.restore(second.blob)]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.reason).toMatchObject({ code: 'Forbidden', message: `This HSM holds ${limit} keys, its limit (${limit}; raise it with --service-limit keys=N)` });
    expect(store.counts().keys + store.counts().deletedKeys).toBe(limit);
    expect(await holdings()).toEqual({ rows: before.rows + 4, objects: before.objects + 4 });
  });
});

function flipped(wrapped: string): string {
  const bytes = Buffer.from(wrapped, 'base64url');
  bytes[10] = (bytes[10] as number) ^ 1;
  return bytes.toString('base64url');
}

function substituteModulus(backup: KeyBackup): string {
  const n = Buffer.from((backup.versions[0]!.publicJwk as Record<string, string>).n as string, 'base64url');
  n[n.length - 1] = (n[n.length - 1] as number) ^ 2;
  return n.toString('base64url');
}
