// What a backup or restore request names as its storage, checked before any job starts
// (src/hsm/backup/storage/): the SAS token, the container URL, folder and blob names, the folder
// name a backup gets, signature redaction, and the local folder store's files, each rule with its
// exact message. Against Azurite and the service's wire answers: test/e2e/backup-storage.test.ts.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageError, backupFolderName, checkBlobName, checkFolderName, redactSas } from '../../src/hsm/backup/storage/backup-storage.js';
import { parseContainerUri } from '../../src/hsm/backup/storage/container-uri.js';
import { openLocalFolderStorage } from '../../src/hsm/backup/storage/local-folder-storage.js';
import { checkSasAllows, parseSasToken } from '../../src/hsm/backup/storage/sas-token.js';

const NOW = new Date('2030-06-15T12:00:00Z');
const SIG = 'sig=abc%2Bdef%2F123%3D';
const GOOD = `sv=2021-08-06&sp=crdw&se=2030-06-16T00:00:00Z&sr=c&${SIG}`;

function refusal(run: () => unknown): { code: string; message: string; field: string | undefined } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    const e = error as StorageError;
    return { code: e.code, message: e.message, field: e.field };
  }
  throw new Error('expected a refusal');
}

const sasRefusal = (token: unknown) => {
  const { code, message, field } = refusal(() => parseSasToken(token, NOW));
  expect({ code, field }).toEqual({ code: 'BadSas', field: 'token' });
  return message;
};

describe('the SAS token', () => {
  it('is parsed with or without its ?, keeping the query as given', () => {
    const sas = parseSasToken(GOOD, NOW);
    expect(sas).toEqual({ query: GOOD, permissions: 'crdw', expiresOn: new Date('2030-06-16T00:00:00Z') });
    expect(parseSasToken(`?${GOOD}`, NOW).query).toBe(GOOD);
    // Names in any case; a start time is checked but not needed; dates alone and fractions accepted.
    expect(parseSasToken(`SP=r&SE=2030-07-01&Sig=AAAA&st=2030-06-01T00:00Z`, NOW)).toMatchObject({ permissions: 'r', expiresOn: new Date('2030-07-01T00:00:00Z') });
    expect(parseSasToken(`sp=r&se=2030-06-15T13:00:00.1234567Z&sig=AAAA`, NOW).permissions).toBe('r');
    expect(parseSasToken(`sp=r&se=2030-06-15T12:00:01Z&sig=AA%3D%3D&skoid=x-y&sdd=2`, NOW).permissions).toBe('r');
  });

  it('refuses what is not one, naming the rule', () => {
    const pairs = 'the SAS must be a query string of name=value pairs joined by &, without spaces or unencoded special characters';
    expect(sasRefusal(42)).toBe('token: the SAS must be a string');
    expect(sasRefusal(undefined)).toBe('token: the SAS must be a string');
    expect(sasRefusal('')).toBe('token: the SAS must not be empty');
    expect(sasRefusal('?')).toBe('token: the SAS must not be empty');
    expect(sasRefusal(`${GOOD}&x=${'a'.repeat(8192)}`)).toBe('token: the SAS must be at most 8192 characters');
    const longest = `sp=r&se=2030-07-01&sig=AAAA&x=${'a'.repeat(8192 - 30)}`;
    expect(longest).toHaveLength(8192);
    expect(() => parseSasToken(longest, NOW)).not.toThrow();
    expect(sasRefusal(`${longest}a`)).toBe('token: the SAS must be at most 8192 characters');
    for (const token of [`${GOOD}&flag`, `${GOOD}&=value`, `${GOOD}&`, `${GOOD}&a b=1`, `${GOOD}&x=a b`, `${GOOD}&x=<`, `${GOOD}&1x=1`, `${GOOD}&x=%zz`, `${GOOD}&x="`]) {
      expect(sasRefusal(token), token).toBe(`token: ${pairs}`);
    }
    expect(sasRefusal(`${GOOD}&x=%E0%A4%A`)).toBe(`token: ${pairs}`);
    expect(sasRefusal(`${GOOD}&x=%C0%AF`)).toBe('token: the SAS must be a query string of name=value pairs joined by & (a value is not valid percent-encoding)');
    expect(sasRefusal(`${GOOD}&SP=r`)).toBe("token: the SAS has the field 'sp' more than once");
    expect(sasRefusal('sp=r&se=2030-07-01')).toBe("token: the SAS has no 'sig' (signature) field");
    expect(sasRefusal('sp=r&se=2030-07-01&sig=')).toBe("token: the SAS has no 'sig' (signature) field");
    expect(sasRefusal('sp=r&se=2030-07-01&sig=ab-c')).toBe("token: the SAS's 'sig' must be base64");
    expect(sasRefusal('sp=r&se=2030-07-01&sig=abc===')).toBe("token: the SAS's 'sig' must be base64");
    expect(sasRefusal('se=2030-07-01&sig=AAAA')).toBe("token: the SAS has no 'sp' (permissions) field");
    expect(sasRefusal('sp=R&se=2030-07-01&sig=AAAA')).toBe("token: the SAS's 'sp' must be permission letters such as crdw");
    expect(sasRefusal('sp=r1&se=2030-07-01&sig=AAAA')).toBe("token: the SAS's 'sp' must be permission letters such as crdw");
    expect(sasRefusal('sp=1r&se=2030-07-01&sig=AAAA')).toBe("token: the SAS's 'sp' must be permission letters such as crdw");
    expect(sasRefusal('sp=r&sig=AAAA')).toBe("token: the SAS has no 'se' (expiry) field");
    for (const se of ['2030-07-01T00:00:00', '2030-07-01 00:00:00Z', 'tomorrow', '2030-13-45T00:00:00Z', '2030-07-01T00Z', 'x2030-07-01']) {
      expect(sasRefusal(`sp=r&se=${encodeURIComponent(se)}&sig=AAAA`), se).toBe("token: the SAS's 'se' must be a UTC time such as 2030-01-31T12:00:00Z");
    }
    expect(sasRefusal('sp=r&se=2030-07-01&sig=AAAA&st=yesterday')).toBe("token: the SAS's 'st' must be a UTC time such as 2030-01-31T12:00:00Z");
  });

  it('is refused once expired, to the second', () => {
    expect(sasRefusal('sp=r&se=2030-06-15T12:00:00Z&sig=AAAA')).toBe('token: the SAS expired at 2030-06-15T12:00:00.000Z (field se)');
    expect(sasRefusal('sp=r&se=2030-06-15&sig=AAAA')).toBe('token: the SAS expired at 2030-06-15T00:00:00.000Z (field se)');
    expect(parseSasToken('sp=r&se=2030-06-15T12:00:01Z&sig=AAAA', NOW).expiresOn.toISOString()).toBe('2030-06-15T12:00:01.000Z');
  });

  it('never shows the signature in a refusal', () => {
    for (const token of [`${GOOD}&SIG=x`, `sp=R&se=2030-07-01&${SIG}`, `sp=r&se=2000-01-01&${SIG}`, `${GOOD}&x=a b`]) {
      const message = sasRefusal(token);
      expect(message).not.toContain('abc');
      expect(message).not.toContain('def');
    }
  });

  it('must allow what the job needs', () => {
    const allows = (sp: string, access: 'read' | 'write') => checkSasAllows(parseSasToken(`sp=${sp}&se=2030-07-01&sig=AAAA`, NOW), access);
    for (const sp of ['c', 'w', 'cw', 'rcw', 'crdw', 'racwdl']) expect(() => allows(sp, 'write'), sp).not.toThrow();
    for (const sp of ['r', 'rl', 'rd']) {
      expect(refusal(() => allows(sp, 'write')), sp).toEqual({ code: 'BadSas', field: 'token', message: `token: the SAS's permissions (sp=${sp}) must include c (create) or w (write), as a backup writes the folder's blobs` });
    }
    for (const sp of ['r', 'rl', 'crdw']) expect(() => allows(sp, 'read'), sp).not.toThrow();
    for (const sp of ['cw', 'l', 'd']) {
      expect(refusal(() => allows(sp, 'read')), sp).toEqual({ code: 'BadSas', field: 'token', message: `token: the SAS's permissions (sp=${sp}) must include r (read), as a restore reads the folder's blobs` });
    }
  });

  it('has its signatures redacted from any text, plain or percent-encoded', () => {
    expect(redactSas(`https://a.blob.core.windows.net/c?sp=r&${SIG}&se=x`)).toBe('https://a.blob.core.windows.net/c?sp=r&sig=REDACTED&se=x');
    expect(redactSas('token sig%3Dabc%2B and SIG=def "sig=ghi" end')).toBe('token sig%3DREDACTED and SIG=REDACTED "sig=REDACTED" end');
    expect(redactSas('nothing here')).toBe('nothing here');
  });
});

describe('the container URL', () => {
  const uriRefusal = (value: unknown) => {
    const { code, message, field } = refusal(() => parseContainerUri(value));
    expect({ code, field }).toEqual({ code: 'BadUri', field: 'storageResourceUri' });
    return message;
  };
  const FORM = 'https://ACCOUNT.blob.core.windows.net/CONTAINER (or https://127.0.0.1:PORT/ACCOUNT/CONTAINER for Azurite)';

  it('takes Azure form and path style on an IP address or localhost', () => {
    expect(parseContainerUri('https://contoso.blob.core.windows.net/backups')).toEqual({ url: 'https://contoso.blob.core.windows.net/backups', accountName: 'contoso', containerName: 'backups' });
    expect(parseContainerUri('https://contoso.blob.core.windows.net/backups/')).toEqual({ url: 'https://contoso.blob.core.windows.net/backups', accountName: 'contoso', containerName: 'backups' });
    expect(parseContainerUri('https://127.0.0.1:10000/devstoreaccount1/my-backups')).toEqual({ url: 'https://127.0.0.1:10000/devstoreaccount1/my-backups', accountName: 'devstoreaccount1', containerName: 'my-backups' });
    expect(parseContainerUri('https://localhost:10000/dev%20account/abc')).toEqual({ url: 'https://localhost:10000/dev%20account/abc', accountName: 'dev account', containerName: 'abc' });
    expect(parseContainerUri('https://[::1]:10000/acct/abc')).toMatchObject({ url: 'https://[::1]:10000/acct/abc', accountName: 'acct', containerName: 'abc' });
    expect(parseContainerUri(`https://a.blob.core.windows.net/${'a'.repeat(63)}`).containerName).toHaveLength(63);
  });

  it('refuses every other form, without echoing a query', () => {
    expect(uriRefusal(undefined)).toBe(`storageResourceUri: required, the container's URL: ${FORM}`);
    expect(uriRefusal('')).toBe(`storageResourceUri: required, the container's URL: ${FORM}`);
    expect(uriRefusal(7)).toBe(`storageResourceUri: required, the container's URL: ${FORM}`);
    expect(uriRefusal('contoso/backups')).toBe(`storageResourceUri: must be an absolute URL: ${FORM}`);
    expect(uriRefusal('http://contoso.blob.core.windows.net/backups')).toBe('storageResourceUri: must use https, not http (http://contoso.blob.core.windows.net/backups)');
    expect(uriRefusal('ftp://h/a/b')).toBe('storageResourceUri: must use https, not ftp (ftp://h/a/b)');
    expect(uriRefusal('https://user:pw@contoso.blob.core.windows.net/backups')).toBe('storageResourceUri: must not hold a user name or password');
    expect(uriRefusal('https://user@contoso.blob.core.windows.net/backups')).toBe('storageResourceUri: must not hold a user name or password');
    const query = uriRefusal(`https://contoso.blob.core.windows.net/backups?${GOOD}`);
    expect(query).toBe('storageResourceUri: must not carry a query string or fragment: pass the SAS in token (https://contoso.blob.core.windows.net/backups)');
    expect(uriRefusal('https://contoso.blob.core.windows.net/backups#x')).toBe('storageResourceUri: must not carry a query string or fragment: pass the SAS in token (https://contoso.blob.core.windows.net/backups)');
    expect(uriRefusal('https://contoso.blob.core.windows.net/ba%E0ck')).toBe('storageResourceUri: has a path that is not valid percent-encoding (https://contoso.blob.core.windows.net/ba%E0ck)');
    expect(uriRefusal('https://127.0.0.1:10000/')).toBe(`storageResourceUri: must name a storage account: ${FORM} (https://127.0.0.1:10000/)`);
    expect(uriRefusal('https://127.0.0.1:10000/acct')).toBe(`storageResourceUri: must name a container: ${FORM} (https://127.0.0.1:10000/acct)`);
    expect(uriRefusal('https://contoso.blob.core.windows.net/')).toBe(`storageResourceUri: must name a container: ${FORM} (https://contoso.blob.core.windows.net/)`);
    expect(uriRefusal('https://contoso.blob.core.windows.net//x')).toBe(`storageResourceUri: must name a container: ${FORM} (https://contoso.blob.core.windows.net//x)`);
    expect(uriRefusal('https://contoso.blob.core.windows.net/backups/folder')).toBe("storageResourceUri: must be the container's URL, without a folder or blob path (https://contoso.blob.core.windows.net/backups/folder)");
    expect(uriRefusal('https://127.0.0.1/a/b/c')).toBe("storageResourceUri: must be the container's URL, without a folder or blob path (https://127.0.0.1/a/b/c)");
    const rule = (name: string) => `storageResourceUri: the container name '${name}' must be 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit`;
    for (const name of ['ab', 'Backups', 'a--b', '-abc', 'abc-', 'a_b', 'a'.repeat(64)]) {
      expect(uriRefusal(`https://contoso.blob.core.windows.net/${name}`), name).toBe(rule(name));
    }
  });
});

describe('folder and blob names', () => {
  const folderRule = "folder: must be one path segment of 1 to 255 letters, digits, '.', '_' or '-', not starting with '.' or '-'";
  const blobRule = "name: a blob name must be up to 16 '/'-separated segments of letters, digits, '.', '_' or '-', none empty or starting with '.' or '-'";

  it('takes one safe segment for a folder', () => {
    for (const name of ['mhsm-contoso-2022102422582377', 'a', '_x', 'A.b-c_d', 'x'.repeat(255)]) expect(() => checkFolderName(name), name).not.toThrow();
    for (const name of ['', '.', '..', '.hidden', '-x', 'a/b', 'a\\b', 'a b', 'x'.repeat(256), 'é']) {
      expect(refusal(() => checkFolderName(name)), name).toEqual({ code: 'BadName', field: 'folder', message: folderRule });
    }
    expect(refusal(() => checkFolderName(5 as unknown as string, 'backupFolder'))).toEqual({ code: 'BadName', field: 'backupFolder', message: folderRule.replace('folder:', 'backupFolder:') });
  });

  it('takes up to 16 safe segments for a blob', () => {
    for (const name of ['a', 'keys/k1', Array(16).fill('s').join('/')]) expect(() => checkBlobName(name), name).not.toThrow();
    for (const name of ['', '/a', 'a/', 'a//b', '../x', 'a/./b', 'a/.tmp', Array(17).fill('s').join('/'), 42]) {
      expect(refusal(() => checkBlobName(name as string)), String(name)).toEqual({ code: 'BadName', field: 'name', message: blobRule });
    }
  });

  it('names a backup folder mhsm-NAME-yyyyMMddHHmmss and hundredths, in UTC', () => {
    expect(backupFolderName('contoso', new Date('2022-10-24T22:58:23.779Z'))).toBe('mhsm-contoso-2022102422582377');
    expect(backupFolderName('a', new Date('2001-02-03T04:05:06.009Z'))).toBe('mhsm-a-2001020304050600');
    expect(backupFolderName('Z9-x', new Date('0999-12-31T23:59:59.999Z'))).toBe('mhsm-Z9-x-0999123123595999');
    expect(backupFolderName('x'.repeat(24), NOW)).toBe(`mhsm-${'x'.repeat(24)}-2030061512000000`);
    const nameRule = { code: 'BadName', field: 'hsmName', message: 'hsmName: must be 1 to 24 letters, digits and dashes, not starting or ending with a dash' };
    for (const name of ['', '-a', 'a-', 'a_b', 'x'.repeat(25), 'a.b', 123]) expect(refusal(() => backupFolderName(name as string, NOW)), String(name)).toEqual(nameRule);
    expect(refusal(() => backupFolderName('a', new Date('nope')))).toEqual({ code: 'BadName', field: 'now', message: 'now: must be a valid date' });
    expect(refusal(() => backupFolderName('a', '2030-01-01' as unknown as Date))).toEqual({ code: 'BadName', field: 'now', message: 'now: must be a valid date' });
  });

  it('tells input errors from the storage answers', () => {
    for (const code of ['BadUri', 'BadSas', 'BadName', 'ManagedIdentityUnavailable'] as const) expect(new StorageError(code, 'm').isInputError, code).toBe(true);
    for (const code of ['NotFound', 'Forbidden', 'Unreachable', 'Failed'] as const) expect(new StorageError(code, 'm').isInputError, code).toBe(false);
    expect(new StorageError('NotFound', 'm').name).toBe('StorageError');
  });
});

describe('the local folder store', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mhsm-folder-store-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('writes 0600 blobs in 0700 folders, reads and lists them, never a leftover', async () => {
    const storage = openLocalFolderStorage(root);
    expect(storage.where).toBe(`local directory ${root}`);
    await storage.check('write');
    await storage.check('read');
    const folder = storage.newFolder('contoso', new Date('2022-10-24T22:58:23.779Z'));
    expect(folder.name).toBe('mhsm-contoso-2022102422582377');
    expect(folder.where).toBe(`folder mhsm-contoso-2022102422582377 in local directory ${root}`);
    expect(folder.uri).toBe(`file://${root}/mhsm-contoso-2022102422582377`);
    expect(await folder.list()).toEqual([]);
    await folder.write('keys/b', Buffer.from('second'));
    await folder.write('a', Buffer.from('first'));
    await folder.write('a', Buffer.from('replaced'));
    const dir = path.join(root, folder.name);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, 'a')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'keys', 'b')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['a', 'keys']);
    // What an interrupted write leaves behind is no blob.
    writeFileSync(path.join(dir, '.a.0123.tmp'), 'torn');
    expect(await folder.list()).toEqual(['a', 'keys/b']);
    const again = storage.folder(folder.name);
    expect((await again.read('a')).toString()).toBe('replaced');
    expect((await again.read('keys/b')).toString()).toBe('second');
    expect(refusal(() => storage.folder('../elsewhere')).code).toBe('BadName');
    await expect(again.read('../../etc/passwd')).rejects.toMatchObject({ code: 'BadName', field: 'name' });
    await expect(again.write('.hidden', Buffer.alloc(1))).rejects.toMatchObject({ code: 'BadName' });
  });

  it('answers NotFound for what is missing, and refuses a path that cannot be one', async () => {
    const storage = openLocalFolderStorage(root);
    const folder = storage.folder('mhsm-none-2000010100000000');
    expect(await folder.list()).toEqual([]);
    await expect(folder.read('a')).rejects.toMatchObject({
      code: 'NotFound',
      message: `could not read blob a: blob a of folder mhsm-none-2000010100000000 in local directory ${root} does not exist`,
    });
    const missing = openLocalFolderStorage(path.join(root, 'missing'));
    await expect(missing.check('read')).rejects.toMatchObject({ code: 'NotFound', message: `could not read from local directory ${root}/missing: local directory ${root}/missing does not exist` });
    await expect(missing.check('write')).rejects.toMatchObject({ code: 'NotFound', message: `could not write to local directory ${root}/missing: local directory ${root}/missing does not exist` });
    writeFileSync(path.join(root, 'a-file'), '');
    await expect(openLocalFolderStorage(path.join(root, 'a-file')).check('read')).rejects.toMatchObject({ code: 'NotFound', field: 'dir', message: `dir: ${root}/a-file is not a directory` });
    mkdirSync(path.join(root, 'blocked', 'mhsm-x-2000010100000000'), { recursive: true });
    writeFileSync(path.join(root, 'blocked', 'mhsm-x-2000010100000000', 'keys'), 'a file where a folder goes');
    await expect(openLocalFolderStorage(path.join(root, 'blocked')).folder('mhsm-x-2000010100000000').write('keys/k', Buffer.alloc(1))).rejects.toMatchObject({ code: 'Failed' });
    for (const dir of ['', 'a\0b', 5]) {
      expect(refusal(() => openLocalFolderStorage(dir as string)), String(dir)).toEqual({ code: 'BadUri', field: 'dir', message: 'dir: required, the path of an existing directory' });
    }
  });
});
