// A single-key backup's content, before any token work (src/hsm/backup/key-backup.ts and the content
// checks of restore-checks.ts): its structure, and each of the service's rules a restore holds it
// to, one broken at a time, with the exact message. A sealed backup cannot be edited; these checks
// hold one made by another version, or by a fault, to the rules create and import keep.
import { describe, expect, it } from 'vitest';
import { BACKUP_FORMAT, type KeyBackup, type VersionBackup, decodeBackup, encodeBackup } from '../../src/hsm/backup/key-backup.js';
import { MAX_RESTORED_VERSIONS, checkBackupContent, isTime } from '../../src/hsm/backup/restore-checks.js';
import { keyVersionRecord } from '../helpers/key-version.js';
import { refusal } from '../helpers/refusal.js';

const hexId = (n: number) => n.toString(16).padStart(32, '0');
function aesVersion(n: number, changes: Partial<VersionBackup> = {}): VersionBackup {
  // What a backup holds of a version: the store's record less this token's CKA_ID and the name.
  const { name: _name, tokenId: _tokenId, ...fields } = keyVersionRecord('restored', {
    version: hexId(n),
    spec: { type: 'aes', bits: 256 },
    publicJwk: null,
    keyOps: ['encrypt', 'decrypt'],
    created: 1_900_000_000,
    updated: 1_900_000_000,
  });
  return { ...fields, wrapped: 'AAAA', ...changes };
}
const ecVersion = (changes: Partial<VersionBackup> = {}) => aesVersion(9, { spec: { type: 'ec', curve: 'P-256' }, publicJwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, keyOps: ['sign', 'verify'], ...changes });
function backup(changes: Partial<KeyBackup> = {}): KeyBackup {
  return { format: BACKUP_FORMAT, name: 'restored', recoverableDays: 90, rotationPolicy: null, versions: [aesVersion(1), aesVersion(2)], ...changes };
}
const refused = (content: KeyBackup) => {
  const { code, message } = refusal(() => checkBackupContent(content));
  expect(code).toBe('BadParameter');
  return message;
};

const WRONG = { keyOps: 'encrypt', spec: null, tags: 'x', version: 5, wrapped: 5 };

describe('the structure', () => {
  it('round-trips through JSON, and refuses anything else as not a backup', () => {
    const good = backup();
    expect(decodeBackup(encodeBackup(good))).toEqual(JSON.parse(JSON.stringify(good)));
    const notOne = { code: 'BadParameter', message: 'value: not a key backup made by a Managed HSM emulator' };
    const broken: unknown[] = [
      'not json',
      null,
      { ...good, format: 'mhsm-key-backup/1' },
      { ...good, name: 5 },
      { ...good, recoverableDays: '90' },
      { ...good, versions: {} },
      { ...good, versions: [] },
      { ...good, versions: [null] },
      { ...good, versions: [aesVersion(1), { ...aesVersion(2), enabled: 'yes' }] },
    ];
    for (const field of ['version', 'spec', 'wrapped', 'keyOps', 'enabled', 'exportable', 'created', 'updated', 'tags'] as const) {
      broken.push({ ...good, versions: [{ ...aesVersion(1), [field]: field in WRONG ? WRONG[field as keyof typeof WRONG] : 'wrong' }] });
      const without = { ...aesVersion(1) } as Record<string, unknown>;
      delete without[field];
      broken.push({ ...good, versions: [without] });
    }
    for (const content of broken) {
      const bytes = Buffer.from(typeof content === 'string' ? content : JSON.stringify(content));
      expect(refusal(() => decodeBackup(bytes)), bytes.toString().slice(0, 120)).toEqual(notOne);
    }
  });
});

describe('the rules a restore holds the content to', () => {
  it('passes a backup that keeps them', () => {
    expect(() => checkBackupContent(backup())).not.toThrow();
    expect(() => checkBackupContent(backup({ recoverableDays: 7, versions: [ecVersion()] }))).not.toThrow();
    expect(() => checkBackupContent(backup({ versions: [aesVersion(1, { notBefore: 10, expires: 11, tags: { a: 'b' } })] }))).not.toThrow();
    expect(() => checkBackupContent(backup({ versions: [aesVersion(1, { exportable: true, releasePolicy: { data: 'x' } })] }))).not.toThrow();
    expect(() => checkBackupContent(backup({ rotationPolicy: { lifetimeActions: [], created: 1, updated: 2 } }))).not.toThrow();
    expect(() => checkBackupContent(backup({ rotationPolicy: { lifetimeActions: [], expiryTime: 'P90D', created: 1, updated: 2 } }))).not.toThrow();
    expect(() => checkBackupContent(backup({ versions: Array.from({ length: MAX_RESTORED_VERSIONS }, (_, i) => aesVersion(i)) }))).not.toThrow();
  });

  it('refuses each broken one by name', () => {
    expect(refused(backup({ name: 'bad name!' }))).toMatch(/name/);
    for (const days of [6, 91, 30.5, Number.NaN]) {
      expect(refused(backup({ recoverableDays: days })), String(days)).toBe(`value: recoverableDays must be a whole number from 7 to 90, not ${days}`);
    }
    expect(refused(backup({ rotationPolicy: 'P1D' }))).toBe('value: rotationPolicy is not a rotation policy');
    expect(refused(backup({ rotationPolicy: { lifetimeActions: [], updated: 2 } }))).toBe('value: rotationPolicy is not a rotation policy');
    expect(refused(backup({ rotationPolicy: { lifetimeActions: [], created: 1 } }))).toBe('value: rotationPolicy is not a rotation policy');
    expect(() => checkBackupContent(backup({ rotationPolicy: { lifetimeActions: 'x', created: 1, updated: 2 } }))).toThrow();
    // The stored policy's expiry is checked as the rotation-policy API checks it.
    expect(refused(backup({ rotationPolicy: { lifetimeActions: [], expiryTime: 'P1X', created: 1, updated: 2 } }))).toMatch(/^attributes\.expiryTime: /);
    expect(refused(backup({ versions: Array.from({ length: MAX_RESTORED_VERSIONS + 1 }, (_, i) => aesVersion(i)) }))).toBe('value: a backup brings at most 100 versions, not 101');
    const idRule = (i: number) => `value: versions[${i}].version must be a distinct 32-digit hex id`;
    expect(refused(backup({ versions: [aesVersion(1), aesVersion(1)] }))).toBe(idRule(1));
    for (const id of [`x${hexId(1)}`, `${hexId(1)}x`, hexId(1).toUpperCase().replace('1', 'A'), hexId(1).slice(1)]) {
      expect(refused(backup({ versions: [aesVersion(2), aesVersion(1, { version: id })] })), id).toBe(idRule(1));
    }
    expect(refused(backup({ versions: [aesVersion(1, { spec: { type: 'aes', bits: 100 } as never })] }))).toMatch(/^value: versions\[0\]\.spec: ./);
    expect(refused(backup({ versions: [aesVersion(1, { keyOps: ['encrypt', 'encrypt'] })] }))).toBe('value: versions[0].keyOps must not repeat an operation');
    expect(() => checkBackupContent(backup({ versions: [aesVersion(1, { keyOps: ['fly'] })] }))).toThrow();
    expect(() => checkBackupContent(backup({ versions: [aesVersion(1, { tags: { ['x'.repeat(600)]: 'y' } })] }))).toThrow();
    const times = 'value: versions[0]: nbf and exp must be times or null';
    for (const changes of [{ notBefore: '1' }, { expires: Number.POSITIVE_INFINITY }, { notBefore: undefined }, { expires: Number.NaN }]) {
      expect(refused(backup({ versions: [aesVersion(1, changes as never)] })), JSON.stringify(changes)).toBe(times);
    }
    for (const [notBefore, expires] of [[10, 10], [10, 9]]) {
      expect(refused(backup({ versions: [aesVersion(1, { notBefore, expires })] }))).toBe('value: versions[0]: exp must be later than nbf');
    }
    // Without a start, any expiry is later: 0 and a time before 1970 too.
    for (const expires of [5, 0, -5]) expect(() => checkBackupContent(backup({ versions: [aesVersion(1, { notBefore: null, expires })] })), String(expires)).not.toThrow();
    expect(() => checkBackupContent(backup({ versions: [aesVersion(1, { notBefore: 5, expires: null })] }))).not.toThrow();
    for (const releasePolicy of [undefined, null]) {
      expect(refused(backup({ versions: [aesVersion(1, { exportable: true, releasePolicy })] }))).toBe('value: versions[0]: an exportable key needs a release policy');
    }
    expect(() => checkBackupContent(backup({ versions: [aesVersion(1, { exportable: false, releasePolicy: null })] }))).not.toThrow();
    const pairRule = 'value: versions[0].publicJwk must be present for a key pair and absent otherwise';
    expect(refused(backup({ versions: [ecVersion({ publicJwk: null })] }))).toBe(pairRule);
    expect(refused(backup({ versions: [ecVersion({ publicJwk: 'x' as never })] }))).toBe(pairRule);
    expect(refused(backup({ versions: [aesVersion(1, { publicJwk: { kty: 'oct' } })] }))).toBe(pairRule);
  });

  it('takes as a time a finite number or null, nothing else', () => {
    for (const value of [null, 0, -1, 1.5, 1_900_000_000]) expect(isTime(value), String(value)).toBe(true);
    for (const value of [undefined, '1', Number.NaN, Number.POSITIVE_INFINITY, {}, true]) expect(isTime(value), String(value)).toBe(false);
  });
});
