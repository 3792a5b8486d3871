// The storage of full backups: a real Azurite over HTTPS (its certificate from the test run's CA)
// reached through @azure/storage-blob with real SAS tokens, and a local directory with the same
// layout. Every refusal is checked for its code, the field it names, and the absence of the SAS.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackupStorage, StorageError, backupFolderName, redactSas } from '../../src/hsm/backup/storage/backup-storage.js';
import { type AzureBlobStorageOptions, openAzureBlobStorage } from '../../src/hsm/backup/storage/azure-blob-storage.js';
import { openLocalFolderStorage } from '../../src/hsm/backup/storage/local-folder-storage.js';
import { type Azurite, azuriteInstalled, startAzurite } from '../helpers/azurite.js';
import { issueTestServerCertificate } from '../helpers/test-certificate.js';
import { closedPort } from '../helpers/closed-port.js';
import { expectNoSecret, sigOf } from '../helpers/sas-secrecy.js';

const inCi = process.env.CI === 'true';
const installed = azuriteInstalled();
// In CI a missing Azurite fails (startAzurite throws in beforeAll); elsewhere it says why it skips.
if (!installed && !inCi) console.warn('backup-storage: Azurite tests skipped: node_modules/.bin/azurite-blob is missing (npm ci)');

/** The folder of the service's recorded example: 2022-10-24 22:58:23.77 UTC. */
const RECORDED_TIME = new Date(Date.UTC(2022, 9, 24, 22, 58, 23, 779));

/** Runs `action`, expects a StorageError with `code`, and checks it keeps `sas` secret. */
async function refusal(action: () => unknown, code: StorageError['code'], secret?: string): Promise<StorageError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a StorageError ${code}`).toBeInstanceOf(StorageError);
  const error = caught as StorageError;
  expect(error.code, error.message).toBe(code);
  if (secret) expectNoSecret(error, secret);
  return error;
}

/** The contract both storages keep: write (nested, overwrite), list sorted, read back, missing blob. */
async function roundTrip(storage: BackupStorage): Promise<string> {
  await storage.check('write');
  const folder = storage.newFolder('contoso', new Date());
  const manifest = randomBytes(1000);
  const chunk = randomBytes(300_000);
  await folder.write('manifest', randomBytes(10));
  await folder.write('manifest', manifest);
  await folder.write('keys/chunk-0001', chunk);
  await folder.write('keys/chunk-0000', Buffer.alloc(0));
  expect(await folder.list()).toEqual(['keys/chunk-0000', 'keys/chunk-0001', 'manifest']);
  expect((await folder.read('manifest')).equals(manifest)).toBe(true);
  expect((await folder.read('keys/chunk-0001')).equals(chunk)).toBe(true);
  expect((await folder.read('keys/chunk-0000')).length).toBe(0);
  // The same folder, opened again by name, as a restore does.
  await storage.check('read');
  expect((await storage.folder(folder.name).read('manifest')).equals(manifest)).toBe(true);
  const missing = await refusal(() => folder.read('keys/chunk-9999'), 'NotFound');
  expect(missing.message).toMatch(/blob keys\/chunk-9999 of folder mhsm-contoso-\d{16}\b.*does not exist/);
  expect(await storage.folder('mhsm-contoso-2000010100000000').list()).toEqual([]);
  expect((await refusal(() => folder.write('../escape', Buffer.alloc(1)), 'BadName')).message).toMatch(/^name: /);
  await refusal(() => folder.write('.hidden', Buffer.alloc(1)), 'BadName');
  for (const bad of ['..', 'a/b', '', '-x']) expect((await refusal(() => storage.folder(bad), 'BadName')).field).toBe('folder');
  return folder.name;
}

describe('redactSas', () => {
  it('hides every signature, plain or percent-encoded, and keeps the rest', () => {
    expect(redactSas('https://a/b?sv=1&sig=abc%2Bd%3D&sp=r and sig=xyz== then SIG%3Dqq&x')).toBe(
      'https://a/b?sv=1&sig=REDACTED&sp=r and sig=REDACTED then SIG%3DREDACTED&x',
    );
  });
});

describe('backup folder names', () => {
  it('are mhsm-{name}-{yyyyMMddHHmmss}{hundredths}, in UTC, as the service names them', () => {
    expect(backupFolderName('timovkeyvaulthsm', RECORDED_TIME)).toBe('mhsm-timovkeyvaulthsm-2022102422582377');
    expect(backupFolderName('mhsm', new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 9)))).toBe('mhsm-mhsm-2030010203040500');
    expect(backupFolderName('a', new Date('2024-12-31T23:59:59.999+00:00'))).toBe('mhsm-a-2024123123595999');
    // Another offset, the same instant: the name is the UTC one.
    expect(backupFolderName('a', new Date('2025-01-01T01:00:00.000+02:00'))).toBe('mhsm-a-2024123123000000');
  });

  it('refuse an HSM name the emulator cannot have', () => {
    for (const name of ['', '-mhsm', 'mhsm-', 'has space', 'a'.repeat(25), '../x']) {
      const error = (() => {
        try {
          backupFolderName(name, RECORDED_TIME);
        } catch (caught) {
          return caught as StorageError;
        }
        throw new Error(`accepted ${JSON.stringify(name)}`);
      })();
      expect(error.code).toBe('BadName');
      expect(error.message).toMatch(/^hsmName: must be/);
      expect(error.field).toBe('hsmName');
    }
  });
});

describe.skipIf(!installed && !inCi)('backup storage in Azurite over HTTPS', () => {
  let azurite: Azurite;
  let containerUrl: string;
  let otherUrl: string;
  let rwSas: string;
  const open = (options: Partial<AzureBlobStorageOptions> = {}) => openAzureBlobStorage({ storageResourceUri: containerUrl, token: rwSas, ...options });

  beforeAll(async () => {
    azurite = await startAzurite();
    containerUrl = await azurite.createContainer('backups');
    otherUrl = await azurite.createContainer('other');
    // The permissions Microsoft's backup guide asks for, and l for list().
    rwSas = azurite.containerSas('backups', 'rcwdl');
  });

  afterAll(async () => {
    await azurite?.stop();
  });

  it('writes, lists and reads a backup folder through a container SAS', async () => {
    expect(containerUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/backups$/);
    const storage = open({ access: 'write' });
    expect(storage.where).toBe('container backups of storage account devstoreaccount1');
    const name = await roundTrip(storage);
    expect(name).toMatch(/^mhsm-contoso-\d{16}$/);
    const folder = storage.folder(name);
    expect(folder.uri).toBe(`${containerUrl}/${name}`);
    expect(folder.where).not.toContain(sigOf(rwSas));
    // The layout, seen by another client with the account key: FOLDER/BLOB in the container.
    const admin = new ContainerClient(containerUrl, new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey));
    const names: string[] = [];
    for await (const blob of admin.listBlobsFlat({ prefix: `${name}/` })) names.push(blob.name);
    expect(names.sort()).toEqual([`${name}/keys/chunk-0000`, `${name}/keys/chunk-0001`, `${name}/manifest`]);
    // check() left nothing behind.
    const all: string[] = [];
    for await (const blob of admin.listBlobsFlat()) all.push(blob.name);
    expect(all.every((blobName) => blobName.startsWith(`${name}/`))).toBe(true);
  });

  it('takes the SAS with a leading ? and restores through a read-only SAS (crdw has no l; restore needs only r)', async () => {
    const folder = open({ token: `?${rwSas}` }).newFolder('mhsm', RECORDED_TIME);
    await folder.write('manifest', Buffer.from('sealed'));
    const readOnly = open({ token: azurite.containerSas('backups', 'r'), access: 'read' });
    await readOnly.check('read');
    expect((await readOnly.folder(folder.name).read('manifest')).toString()).toBe('sealed');
    // list() needs l, which the storage account refuses without it.
    await refusal(() => readOnly.folder(folder.name).list(), 'Forbidden');
  });

  it('refuses bad parameters synchronously, naming the field and never echoing the SAS', () => {
    const withoutField = (field: string) => rwSas.split('&').filter((part) => !part.startsWith(`${field}=`)).join('&');
    const cases: Array<{ options: Partial<AzureBlobStorageOptions>; code: StorageError['code']; field: string; says: RegExp }> = [
      { options: { storageResourceUri: containerUrl.replace('https:', 'http:') }, code: 'BadUri', field: 'storageResourceUri', says: /must use https/ },
      { options: { storageResourceUri: 'not a url' }, code: 'BadUri', field: 'storageResourceUri', says: /absolute URL/ },
      { options: { storageResourceUri: undefined }, code: 'BadUri', field: 'storageResourceUri', says: /required/ },
      { options: { storageResourceUri: azurite.url }, code: 'BadUri', field: 'storageResourceUri', says: /must name a container/ },
      { options: { storageResourceUri: 'https://account.blob.core.windows.net/' }, code: 'BadUri', field: 'storageResourceUri', says: /must name a container/ },
      { options: { storageResourceUri: `${containerUrl}/mhsm-x-2022102422582377` }, code: 'BadUri', field: 'storageResourceUri', says: /without a folder/ },
      { options: { storageResourceUri: `${containerUrl}?${rwSas}` }, code: 'BadUri', field: 'storageResourceUri', says: /pass the SAS in token/ },
      { options: { storageResourceUri: `${azurite.url}/Backups` }, code: 'BadUri', field: 'storageResourceUri', says: /lowercase/ },
      { options: { token: 'this is not a SAS' }, code: 'BadSas', field: 'token', says: /query string/ },
      { options: { token: `${rwSas}&sig=again` }, code: 'BadSas', field: 'token', says: /more than once/ },
      { options: { token: withoutField('sig') }, code: 'BadSas', field: 'token', says: /no 'sig'/ },
      { options: { token: withoutField('se') }, code: 'BadSas', field: 'token', says: /no 'se'/ },
      { options: { token: withoutField('sp') }, code: 'BadSas', field: 'token', says: /no 'sp'/ },
      { options: { token: rwSas.replace(/se=[^&]*/, 'se=tomorrow') }, code: 'BadSas', field: 'token', says: /'se' must be a UTC time/ },
      { options: { token: azurite.containerSas('backups', 'rcwdl', -60) }, code: 'BadSas', field: 'token', says: /expired at/ },
      { options: { token: azurite.containerSas('backups', 'rl'), access: 'write' }, code: 'BadSas', field: 'token', says: /sp=rl.*c \(create\) or w \(write\)/ },
      { options: { token: azurite.containerSas('backups', 'cwl'), access: 'read' }, code: 'BadSas', field: 'token', says: /sp=cwl.*r \(read\)/ },
      { options: { token: undefined }, code: 'BadSas', field: 'token', says: /required/ },
      { options: { token: rwSas, useManagedIdentity: true }, code: 'BadSas', field: 'token', says: /useManagedIdentity: true/ },
      { options: { token: undefined, useManagedIdentity: 'yes' }, code: 'BadSas', field: 'useManagedIdentity', says: /true or false/ },
      { options: { token: undefined, useManagedIdentity: true }, code: 'ManagedIdentityUnavailable', field: 'useManagedIdentity', says: /--backup-storage-key/ },
    ];
    for (const { options, code, field, says } of cases) {
      let caught: unknown;
      try {
        open(options);
      } catch (error) {
        caught = error;
      }
      const label = JSON.stringify({ ...options, token: options.token === undefined ? undefined : '…' });
      expect(caught, label).toBeInstanceOf(StorageError);
      const error = caught as StorageError;
      expect({ code: error.code, field: error.field }, label).toEqual({ code, field });
      expect(error.message, label).toMatch(new RegExp(`^${field}: `));
      expect(error.message, label).toMatch(says);
      expect(error.isInputError, label).toBe(true);
      expectNoSecret(error, rwSas);
      if (typeof options.token === 'string' && options.token.includes('sig=')) expectNoSecret(error, options.token);
    }
  });

  it("refuses a read-only SAS for a backup's check('write'), and a SAS whose permissions were edited", async () => {
    const readOnly = azurite.containerSas('backups', 'rl');
    const denied = await refusal(() => open({ token: readOnly }).check('write'), 'BadSas', readOnly);
    expect(denied.message).toMatch(/^token: .*sp=rl/);
    // The same SAS claiming write: only the account can tell, by the signature.
    const edited = readOnly.replace('sp=rl', 'sp=rcwl');
    const forbidden = await refusal(() => open({ token: edited }).check('write'), 'Forbidden', edited);
    expect(forbidden.message).toContain('container backups of storage account devstoreaccount1');
    expect(forbidden.isInputError).toBe(false);
  });

  it("refuses another container's SAS (Forbidden), naming the container", async () => {
    const otherSas = azurite.containerSas('other', 'rcwdl');
    const storage = open({ token: otherSas });
    for (const action of [() => storage.check('write'), () => storage.check('read'), () => storage.newFolder('mhsm', new Date()).write('manifest', Buffer.from('x'))]) {
      const error = await refusal(action, 'Forbidden', otherSas);
      expect(error.message).toContain('container backups');
    }
    // The same SAS where it belongs works: the refusal above was the container, not the SAS.
    await openAzureBlobStorage({ storageResourceUri: otherUrl, token: otherSas }).check('write');
  });

  it('reports a missing container as NotFound, naming it', async () => {
    const sas = azurite.containerSas('missing', 'rcwdl');
    const storage = openAzureBlobStorage({ storageResourceUri: `${azurite.url}/missing`, token: sas });
    for (const action of [() => storage.check('write'), () => storage.check('read'), () => storage.folder('mhsm-x-2022102422582377').read('manifest')]) {
      const error = await refusal(action, 'NotFound', sas);
      expect(error.message).toContain('container missing of storage account devstoreaccount1 does not exist');
    }
  });

  it('reports a closed port and a TLS failure as Unreachable, quickly', async () => {
    const port = await closedPort();
    const started = Date.now();
    const closed = await refusal(() => openAzureBlobStorage({ storageResourceUri: `https://127.0.0.1:${port}/devstoreaccount1/backups`, token: rwSas }).check('write'), 'Unreachable', rwSas);
    expect(closed.message).toMatch(/could not reach container backups of storage account devstoreaccount1.*ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(10_000);

    // A server whose certificate names localhost only, reached as 127.0.0.1: the TLS check fails.
    const server = await tlsServer(['localhost']);
    try {
      const address = server.address() as { port: number };
      const tls = await refusal(() => openAzureBlobStorage({ storageResourceUri: `https://127.0.0.1:${address.port}/devstoreaccount1/backups`, token: rwSas }).check('read'), 'Unreachable', rwSas);
      expect(tls.message).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list|altnames/i);
    } finally {
      await new Promise((done) => server.close(done));
    }
  });

  it('uses the configured account key for useManagedIdentity, and fails with a wrong one', async () => {
    const storage = open({ token: undefined, useManagedIdentity: true, accountKey: azurite.accountKey });
    await roundTrip(storage);
    const wrongKey = randomBytes(64).toString('base64');
    await refusal(() => open({ token: undefined, useManagedIdentity: true, accountKey: wrongKey }).check('write'), 'Forbidden');
  });
});

describe('backup storage in a local directory', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-local-backups-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the same contract, with folders 0700 and blobs 0600 and no leftovers', async () => {
    const storage = openLocalFolderStorage(dir);
    const name = await roundTrip(storage);
    const folderDir = path.join(dir, name);
    expect(storage.folder(name).uri).toBe(`file://${folderDir}`);
    expect(statSync(folderDir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(folderDir, 'keys')).mode & 0o777).toBe(0o700);
    for (const file of ['manifest', 'keys/chunk-0000', 'keys/chunk-0001']) expect(statSync(path.join(folderDir, file)).mode & 0o777).toBe(0o600);
    expect(readdirSync(folderDir).sort()).toEqual(['keys', 'manifest']);
  });

  it("lists only blobs: an interrupted write's temporary file is not one", async () => {
    const folder = openLocalFolderStorage(dir).newFolder('mhsm', RECORDED_TIME);
    await folder.write('manifest', Buffer.from('x'));
    writeFileSync(path.join(dir, folder.name, '.manifest.0123.tmp'), 'torn');
    expect(await folder.list()).toEqual(['manifest']);
  });

  it('refuses a missing directory, a file, and an empty path', async () => {
    await refusal(() => openLocalFolderStorage(path.join(dir, 'absent')).check('write'), 'NotFound');
    await refusal(() => openLocalFolderStorage(path.join(dir, 'absent')).check('read'), 'NotFound');
    const file = path.join(dir, 'a-file');
    writeFileSync(file, '');
    expect((await refusal(() => openLocalFolderStorage(file).check('write'), 'NotFound')).message).toBe(`dir: ${file} is not a directory`);
    const empty = await refusal(() => openLocalFolderStorage(''), 'BadUri');
    expect(empty.message).toMatch(/^dir: /);
  });

  // root may write anywhere, so the permission check cannot be seen to refuse as root.
  it.skipIf(process.getuid?.() === 0)('refuses a directory it may not write as Forbidden', async () => {
    const readOnly = mkdtempSync(path.join(dir, 'ro-'));
    chmodSync(readOnly, 0o500);
    await refusal(() => openLocalFolderStorage(readOnly).check('write'), 'Forbidden');
    await openLocalFolderStorage(readOnly).check('read');
  });
});

async function tlsServer(names: string[]): Promise<Server> {
  const { cert, key } = await issueTestServerCertificate(names);
  const server = createHttpsServer({ cert, key }, (_request, response) => response.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
