// Single-key backups over a real token and store: sealed under the domain, checked on restore,
// and nothing left behind by a refused one.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SingleKeyBackup } from '../../src/hsm/backup/single-key-backup.js';
import { BACKUP_FORMAT, type KeyBackup, decodeBackup, encodeBackup } from '../../src/hsm/backup/key-backup.js';
import { ShiftableClock } from '../../src/clock/clock.js';
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
let backups: SingleKeyBackup;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-backup-'));
  store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  ({ domain } = await activateTestDomain(token, store.access, opened.testToken.soPin));
  keys = new KeyService(token, store, new ShiftableClock(() => 1_700_000_000_000), { recoverableDays: 7 });
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

function substituteModulus(backup: KeyBackup): string {
  const n = Buffer.from((backup.versions[0]!.publicJwk as Record<string, string>).n as string, 'base64url');
  n[n.length - 1] = (n[n.length - 1] as number) ^ 2;
  return n.toString('base64url');
}
