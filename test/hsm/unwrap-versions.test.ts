// Key material into and out of a backup over a real token: each version wrapped under the
// domain's trusted key; on the way back every version unwrapped and checked, or none left behind;
// and an object the HSM already holds reused only when it is provably the same key.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VersionBackup } from '../../src/hsm/backup/key-backup.js';
import { destroyAll, tokenKeysOf, unwrapVersions, wrapVersions } from '../../src/hsm/backup/unwrap-versions.js';
import { ShiftableClock } from '../../src/clock/clock.js';
import { HsmError } from '../../src/hsm/errors.js';
import { TOKEN_OBJECT_LABEL } from '../../src/hsm/key-objects.js';
import { KeyService } from '../../src/hsm/key-service.js';
import { wrapMechanismOf } from '../../src/hsm/security-domain/protection.js';
import type { SecurityDomain } from '../../src/hsm/security-domain/security-domain.js';
import type { KeyVersionRecord } from '../../src/store/key-records.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import type { TokenKey } from '../../src/token/key-spec.js';
import type { Token } from '../../src/token/token.js';
import { refusalOf } from '../helpers/refusal.js';
import { activateTestDomain } from '../helpers/test-domain.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let token: Token;
let dir: string;
let store: SqliteMetadataStore;
let keys: KeyService;
let domain: SecurityDomain;
let wrappingKey: TokenKey;
let mechanism: number;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-unwrap-'));
  store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  ({ domain } = await activateTestDomain(token, store.access, opened.testToken.soPin));
  keys = new KeyService(token, store, new ShiftableClock(() => 1_700_000_000_000), { recoverableDays: 7 });
  ({ wrappingKey } = domain.protection());
  mechanism = wrapMechanismOf(token);
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
  opened?.close();
});

/** The CKA_IDs (hex) of the emulator's key objects in the token, sorted. */
async function objectIds(): Promise<string[]> {
  return (await token.keyIdsLabelled(TOKEN_OBJECT_LABEL)).map((id) => id.toString('hex')).sort();
}

/** A key of `versions` versions, with its records and its versions wrapped for a backup. */
async function keyWithBackup(create: Parameters<KeyService['create']>[1], versions = 1): Promise<{ name: string; records: KeyVersionRecord[]; backup: VersionBackup[] }> {
  const name = unique('key');
  for (let i = 0; i < versions; i++) await keys.create(name, create);
  const records = store.versionsOldestFirst(name);
  return { name, records, backup: await wrapVersions(token, wrappingKey, mechanism, records) };
}

/** `wrapped` with one byte changed, or cut to `length` bytes. */
function altered(wrapped: string, length?: number): string {
  const bytes = Buffer.from(wrapped, 'base64url');
  if (length !== undefined) return bytes.subarray(0, length).toString('base64url');
  bytes[10] = (bytes[10] as number) ^ 1;
  return bytes.toString('base64url');
}

function withModulusChanged(version: VersionBackup): VersionBackup {
  const jwk = version.publicJwk as Record<string, string>;
  const n = Buffer.from(jwk.n as string, 'base64url');
  n[n.length - 1] = (n[n.length - 1] as number) ^ 2;
  return { ...version, publicJwk: { ...jwk, n: n.toString('base64url') } };
}

describe('wrapping for a backup', () => {
  it('gives every version oldest first with its record less the name and CKA_ID, and its material wrapped', async () => {
    const { records, backup } = await keyWithBackup({ kty: 'EC', crv: 'P-256' }, 2);
    expect(backup).toHaveLength(2);
    backup.forEach((version, index) => {
      const { name: _name, tokenId: _tokenId, ...fields } = records[index] as KeyVersionRecord;
      expect(version).toEqual({ ...fields, wrapped: expect.stringMatching(/^[A-Za-z0-9_-]{40,}$/) });
      expect(Object.keys(version)).not.toContain('tokenId');
      expect(Object.keys(version)).not.toContain('name');
    });
    // The same object wraps to the same bytes: what lets a restore recognise a key it holds.
    expect(await wrapVersions(token, wrappingKey, mechanism, records)).toEqual(backup);
    expect(backup[0]!.wrapped).not.toBe(backup[1]!.wrapped);
  });

  it('refuses a version whose key material is gone from the token, naming the key', async () => {
    const { name, records } = await keyWithBackup({ kty: 'oct', keySize: 256 });
    await token.destroyObjectsWithId(records[0]!.tokenId);
    const error = await wrapVersions(token, wrappingKey, mechanism, records).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HsmError);
    expect(await refusalOf(Promise.reject(error))).toEqual({ code: 'KeyNotFound', message: `backup key ${name}: the key material is missing from the token` });
  });
});

describe('unwrapping from a backup', () => {
  it('makes a new object for every version, under the name given, none of them kept', async () => {
    const { records, backup } = await keyWithBackup({ kty: 'RSA' }, 2);
    const before = await objectIds();
    const restored = await unwrapVersions(token, wrappingKey, mechanism, 'restored-name', backup);
    expect(restored.kept).toEqual(new Set());
    expect(restored.versions).toHaveLength(2);
    restored.versions.forEach((version, index) => {
      const { name: _name, tokenId: _tokenId, ...fields } = records[index] as KeyVersionRecord;
      expect(version).toEqual({ ...fields, name: 'restored-name', tokenId: expect.any(Buffer) });
      expect(version.tokenId.equals(records[index]!.tokenId)).toBe(false);
    });
    const made = restored.versions.map((version) => version.tokenId.toString('hex'));
    expect(await objectIds()).toEqual([...before, ...made].sort());
    // Each new object holds the version's own key: it wraps to the backup's bytes.
    expect((await wrapVersions(token, wrappingKey, mechanism, restored.versions)).map((v) => v.wrapped)).toEqual(backup.map((v) => v.wrapped));
    await destroyAll(token, tokenKeysOf(restored.versions));
    expect(await objectIds()).toEqual(before);
  });

  it('keeps the objects of versions the HSM holds unchanged, each matched by its own version id', async () => {
    const { name, records, backup } = await keyWithBackup({ kty: 'RSA' }, 2);
    const before = await objectIds();
    const restored = await unwrapVersions(token, wrappingKey, mechanism, name, backup, records);
    expect(restored.kept).toEqual(new Set(records.map((record) => record.tokenId.toString('hex'))));
    expect(restored.versions.map((version) => version.tokenId)).toEqual(records.map((record) => record.tokenId));
    expect(await objectIds()).toEqual(before);
  });

  it('makes afresh a version whose object is gone from the token', async () => {
    const { name, records, backup } = await keyWithBackup({ kty: 'oct', keySize: 128 });
    await token.destroyObjectsWithId(records[0]!.tokenId);
    const before = await objectIds();
    const restored = await unwrapVersions(token, wrappingKey, mechanism, name, backup, records);
    expect(restored.kept).toEqual(new Set());
    expect(restored.versions[0]!.tokenId.equals(records[0]!.tokenId)).toBe(false);
    expect(await objectIds()).toEqual([...before, restored.versions[0]!.tokenId.toString('hex')].sort());
    await destroyAll(token, tokenKeysOf(restored.versions));
  });

  it('makes afresh a version whose spec is not the one the HSM holds, even over the same bytes', async () => {
    // AES and HMAC keys of one size wrap alike: the object is reused only for the same spec.
    const { name, records, backup } = await keyWithBackup({ kty: 'oct', keySize: 256 });
    const asHmac: VersionBackup = { ...backup[0]!, spec: { type: 'generic-secret', bits: 256 } };
    const restored = await unwrapVersions(token, wrappingKey, mechanism, name, [asHmac], records);
    expect(restored.kept).toEqual(new Set());
    expect(restored.versions[0]!.tokenId.equals(records[0]!.tokenId)).toBe(false);
    expect(restored.versions[0]!.spec).toEqual({ type: 'generic-secret', bits: 256 });
    await destroyAll(token, tokenKeysOf(restored.versions));
  });

  it('does not reuse a held object for a version whose public key was edited, and refuses it', async () => {
    const { name, records, backup } = await keyWithBackup({ kty: 'RSA' });
    const before = await objectIds();
    expect(await refusalOf(unwrapVersions(token, wrappingKey, mechanism, name, [withModulusChanged(backup[0]!)], records))).toEqual({
      code: 'BadParameter',
      message: 'value: versions[0].publicJwk does not match the key material',
    });
    expect(await objectIds()).toEqual(before);
  });

  it.each<[string, (backup: VersionBackup[]) => VersionBackup[], { code: string; message: string }]>([
    ['a public key that is not its own', (b) => [b[0]!, withModulusChanged(b[1]!)], { code: 'BadParameter', message: 'value: versions[1].publicJwk does not match the key material' }],
    ['material of another size', (b) => [b[0]!, { ...b[1]!, spec: { type: 'rsa', bits: 3072 } }], { code: 'BadParameter', message: 'value: versions[1]: the key material is not an RSA-3072 key' }],
    ['a wrap cut short', (b) => [b[0]!, { ...b[1]!, wrapped: altered(b[1]!.wrapped, 13) }], { code: 'BadParameter', message: 'restore key target: the wrapped key has a length this algorithm cannot take' }],
  ])('destroys the versions it made when a later one has %s', async (_label, edit, refusal) => {
    const { backup } = await keyWithBackup({ kty: 'RSA' }, 2);
    const before = await objectIds();
    expect(await refusalOf(unwrapVersions(token, wrappingKey, mechanism, 'target', edit(backup)))).toEqual(refusal);
    expect(await objectIds()).toEqual(before);
  });

  it('destroys the versions it made when the token cannot unwrap a later one, and passes the token\'s error on', async () => {
    const { backup } = await keyWithBackup({ kty: 'oct', keySize: 256 }, 2);
    const before = await objectIds();
    const error = await unwrapVersions(token, wrappingKey, mechanism, 'target', [backup[0]!, { ...backup[1]!, wrapped: altered(backup[1]!.wrapped) }]).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(HsmError);
    expect(error).toMatchObject({ message: expect.stringContaining('C_UnwrapKey failed') });
    expect(await objectIds()).toEqual(before);
  });
});
