// The blobs of a full backup folder (src/hsm/backup/full-backup-format.ts): their names, their
// SHA-256 references in the manifest, and the checks that refuse a blob that is not JSON, not of
// this format, of another backup, not the one the manifest names, or a manifest without its parts.
// Every refusal is the one folder refusal with what was wrong in brackets.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  FOLDER_REFUSAL,
  FULL_BACKUP_FORMAT,
  type Manifest,
  blobRef,
  checkRef,
  chunkBlobName,
  decodeBlob,
  encodeBlob,
  isManifest,
} from '../../src/hsm/backup/full-backup-format.js';
import { refusal } from '../helpers/refusal.js';

const ID = '0123456789abcdef0123456789abcdef';
const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

it('names the folder refusal after the request field and the rule', () => {
  expect(FOLDER_REFUSAL).toBe('folderToRestore: the folder does not hold a full backup made by a Managed HSM emulator of this security domain');
});

it('names key chunks by their index, five digits', () => {
  expect([0, 7, 12, 99999].map(chunkBlobName)).toEqual(['keys-00000', 'keys-00007', 'keys-00012', 'keys-99999']);
});

it('encodes a blob as UTF-8 JSON', () => {
  const value = { format: FULL_BACKUP_FORMAT, backupId: ID, hsm: 'hsm-é' };
  const encoded = encodeBlob(value);
  expect(encoded.equals(Buffer.from('{"format":"mhsm-full-backup/1","backupId":"0123456789abcdef0123456789abcdef","hsm":"hsm-é"}', 'utf8'))).toBe(true);
});

describe('a blob reference', () => {
  it('is the blob name with the base64url SHA-256 of its bytes', () => {
    const data = Buffer.from('sealed bytes');
    expect(blobRef('keys-00000', data)).toEqual({ blob: 'keys-00000', sha256: createHash('sha256').update(data).digest('base64url') });
  });

  it('accepts the very bytes it names', () => {
    const data = Buffer.from('sealed bytes');
    expect(() => checkRef(blobRef('access', data), data)).not.toThrow();
  });

  it.each([
    ['one byte changed', Buffer.from('sealed bytez')],
    ['a byte more', Buffer.from('sealed bytes!')],
    ['nothing', Buffer.alloc(0)],
  ])('refuses other bytes than it names (%s), naming the blob', (_what, other) => {
    const ref = blobRef('keys-00003', Buffer.from('sealed bytes'));
    expect(refusal(() => checkRef(ref, other))).toEqual({ code: 'BadParameter', message: `${FOLDER_REFUSAL} (keys-00003 is not the blob the manifest names)` });
  });
});

describe('decoding a blob', () => {
  it('returns a blob of this format and this backup', () => {
    const value = { format: FULL_BACKUP_FORMAT, backupId: ID, index: 0, keys: [] };
    expect(decodeBlob(json(value), ID, 'keys-00000')).toEqual(value);
  });

  it('takes any backup id when none is expected (the manifest, which names it)', () => {
    const value = { format: FULL_BACKUP_FORMAT, backupId: 'whatever', chunks: [] };
    expect(decodeBlob(json(value), undefined, 'the manifest')).toEqual(value);
  });

  it('refuses what is not JSON, naming the blob', () => {
    expect(refusal(() => decodeBlob(Buffer.from('{"format":'), ID, 'keys-00001'))).toEqual({
      code: 'BadParameter',
      message: `${FOLDER_REFUSAL} (keys-00001 is not JSON)`,
    });
  });

  it.each([
    ['null', null, undefined],
    ['a number', 7, undefined],
    ['another format', { format: 'mhsm-full-backup/2', backupId: ID }, undefined],
    ['no format', { backupId: ID }, undefined],
    ['no backup id', { format: FULL_BACKUP_FORMAT }, undefined],
    ['a backup id that is not a string', { format: FULL_BACKUP_FORMAT, backupId: 12 }, undefined],
    ['the id of another backup', { format: FULL_BACKUP_FORMAT, backupId: 'ffffffffffffffffffffffffffffffff' }, ID],
    ['the expected id in another case', { format: FULL_BACKUP_FORMAT, backupId: ID.toUpperCase() }, ID],
  ])('refuses %s, naming the blob', (_what, value, expected) => {
    expect(refusal(() => decodeBlob(json(value), expected, 'the role blob'))).toEqual({
      code: 'BadParameter',
      message: `${FOLDER_REFUSAL} (the role blob is not of this backup)`,
    });
  });
});

describe('a manifest', () => {
  const complete: Manifest = {
    format: FULL_BACKUP_FORMAT,
    backupId: ID,
    hsm: 'test',
    created: '2030-01-01T00:00:00.000Z',
    keyCount: 1,
    versionCount: 1,
    chunks: [{ blob: 'keys-00000', sha256: 'abc' }],
    access: { blob: 'access', sha256: 'def' },
    keyIndex: { k: 0 },
  };

  it('is complete with its chunk list, role blob and key index', () => {
    expect(isManifest(complete)).toBe(true);
    expect(isManifest({ ...complete, chunks: [], keyIndex: {} })).toBe(true);
  });

  it.each([
    ['no chunk list', { chunks: undefined }],
    ['a chunk list that is not a list', { chunks: { 0: { blob: 'keys-00000', sha256: 'abc' } } }],
    ['no role blob', { access: undefined }],
    ['a null role blob', { access: null }],
    ['a role blob that is a name only', { access: 'access' }],
    ['no key index', { keyIndex: undefined }],
    ['a key index that is a string', { keyIndex: 'k' }],
    ['a null chunk', { chunks: [{ blob: 'keys-00000', sha256: 'abc' }, null] }],
    ['a chunk without a name', { chunks: [{ blob: 'keys-00000', sha256: 'abc' }, { sha256: 'abc' }] }],
    ['a chunk without a digest', { chunks: [{ blob: 'keys-00000', sha256: 'abc' }, { blob: 'keys-00001' }] }],
    ['a chunk whose digest is not a string', { chunks: [{ blob: 'keys-00000', sha256: 5 }] }],
  ])('is incomplete with %s', (_what, change) => {
    expect(isManifest({ ...complete, ...change } as unknown as Manifest)).toBe(false);
  });
});
