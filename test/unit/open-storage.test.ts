// The storage a backup or restore request names (src/hsm/backup/storage/open-storage.ts): an Azure
// Blob container by its URL and SAS (a real Azurite over HTTPS) or with the configured account key
// for useManagedIdentity, or a local directory by a file:// URL inside an allowed root. Every
// failure, at opening or from the storage, reaches the caller as the domain's HsmError with the
// storage's message and code mapping (input errors BadParameter, answers NotFound, Forbidden or
// Unavailable), never with the SAS in it.
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { BlobLeaseClient, ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/hsm/backup/storage/backup-storage.js';
import { type StorageConfig, type StorageParameters, openStorage } from '../../src/hsm/backup/storage/open-storage.js';
import { HsmError } from '../../src/hsm/errors.js';
import { type Azurite, startAzurite, trustTestCa } from '../helpers/azurite.js';
import { closedPort } from '../helpers/closed-port.js';

const WHERE = 'container backups of storage account devstoreaccount1';
const FORBIDDEN_TAIL = 'the SAS is not valid for this container, lacks a permission, or has expired';
const FOLDER_RULE = "folder: must be one path segment of 1 to 255 letters, digits, '.', '_' or '-', not starting with '.' or '-'";
const BLOB_RULE = "name: a blob name must be up to 16 '/'-separated segments of letters, digits, '.', '_' or '-', none empty or starting with '.' or '-'";
const FORM = 'https://ACCOUNT.blob.core.windows.net/CONTAINER (or https://127.0.0.1:PORT/ACCOUNT/CONTAINER for Azurite)';

interface Translated {
  code: string;
  message: string;
  /** The StorageError code of the cause, when the cause is one. */
  storageCode: string | undefined;
}

function translatedOf(error: unknown, secrets: string[]): Translated {
  if (!(error instanceof HsmError)) throw new Error(`expected an HsmError, got ${inspect(error)}`);
  const text = inspect(error, { depth: 8, showHidden: true });
  for (const sas of secrets) {
    const sig = new URLSearchParams(sas).get('sig') ?? '';
    expect(text).not.toContain(sig);
    expect(text).not.toContain(encodeURIComponent(sig));
  }
  const cause = error.cause;
  if (cause !== undefined) {
    expect(cause).toBeInstanceOf(StorageError);
    expect((cause as StorageError).message).toBe(error.message);
  }
  return { code: error.code, message: error.message, storageCode: cause instanceof StorageError ? cause.code : undefined };
}

/** What `action` throws synchronously, as an HsmError's code and message and its cause's code. */
function refusedAtOnce(action: () => unknown, ...secrets: string[]): Translated {
  try {
    action();
  } catch (error) {
    return translatedOf(error, secrets);
  }
  throw new Error('expected a refusal');
}

/** What `promise` rejects with, the same way. */
async function refused(promise: Promise<unknown>, ...secrets: string[]): Promise<Translated> {
  try {
    await promise;
  } catch (error) {
    return translatedOf(error, secrets);
  }
  throw new Error('expected a refusal');
}

describe('opening an Azure Blob container (Azurite over HTTPS)', () => {
  let azurite: Azurite;
  let untrust: () => void = () => undefined;
  let containerUrl: string;
  let rwSas: string;
  let config: StorageConfig;
  const sas = (permissions: string, container = 'backups') => azurite.containerSas(container, permissions);
  const open = (parameters: StorageParameters = {}, access: 'read' | 'write' = 'write', settings: StorageConfig = config) =>
    openStorage({ storageResourceUri: containerUrl, token: rwSas, ...parameters }, settings, access);

  beforeAll(async () => {
    azurite = await startAzurite();
    untrust = await trustTestCa(azurite.url);
    containerUrl = await azurite.createContainer('backups');
    await azurite.createContainer('other');
    rwSas = sas('rcwdl');
    config = { localRoots: [os.tmpdir()] };
  });

  afterAll(async () => {
    untrust();
    await azurite?.stop();
  });

  it('passes the container, its folders and their blobs through', async () => {
    const storage = open();
    expect(storage.where).toBe(WHERE);
    await storage.check('write');
    const folder = storage.newFolder('contoso', new Date(Date.UTC(2022, 9, 24, 22, 58, 23, 779)));
    expect({ name: folder.name, where: folder.where, uri: folder.uri }).toEqual({
      name: 'mhsm-contoso-2022102422582377',
      where: `folder mhsm-contoso-2022102422582377 of ${WHERE}`,
      uri: `${containerUrl}/mhsm-contoso-2022102422582377`,
    });
    await folder.write('manifest', Buffer.from('sealed'));
    await folder.write('keys/chunk-0000', Buffer.from('chunk'));
    expect(await folder.list()).toEqual(['keys/chunk-0000', 'manifest']);
    // A restore opens it by name, with a SAS that may only read.
    const restore = open({ token: sas('r') }, 'read');
    await restore.check('read');
    const again = restore.folder(folder.name);
    expect({ name: again.name, where: again.where, uri: again.uri }).toEqual({ name: folder.name, where: folder.where, uri: folder.uri });
    expect((await again.read('manifest')).toString()).toBe('sealed');
  });

  it('uses the account key it was configured with for useManagedIdentity', async () => {
    const storage = open({ token: undefined, useManagedIdentity: true }, 'write', { ...config, accountKey: azurite.accountKey });
    await storage.check('write');
    const folder = storage.newFolder('identity', new Date(Date.UTC(2030, 0, 1)));
    await folder.write('manifest', Buffer.from('by key'));
    expect((await folder.read('manifest')).toString()).toBe('by key');
  });

  it('refuses bad parameters at once as BadParameter, with the storage check message', () => {
    const readOnly = sas('r');
    const writeOnly = sas('cw');
    const cases: Array<[string, () => unknown, string, string]> = [
      ['no URL', () => open({ storageResourceUri: undefined }), 'BadUri', `storageResourceUri: required, the container's URL: ${FORM}`],
      ['a number for a URL', () => open({ storageResourceUri: 42 }), 'BadUri', `storageResourceUri: required, the container's URL: ${FORM}`],
      ['http', () => open({ storageResourceUri: containerUrl.replace('https:', 'http:') }), 'BadUri', `storageResourceUri: must use https, not http (${containerUrl.replace('https:', 'http:')})`],
      ['no SAS', () => open({ token: undefined }), 'BadSas', 'token: required (a container SAS) unless useManagedIdentity is true'],
      ['a SAS that cannot write, for a backup', () => open({ token: readOnly }, 'write'), 'BadSas', "token: the SAS's permissions (sp=r) must include c (create) or w (write), as a backup writes the folder's blobs"],
      ['a SAS that cannot read, for a restore', () => open({ token: writeOnly }, 'read'), 'BadSas', "token: the SAS's permissions (sp=cw) must include r (read), as a restore reads the folder's blobs"],
      [
        'useManagedIdentity without a configured key',
        () => open({ token: undefined, useManagedIdentity: true }),
        'ManagedIdentityUnavailable',
        'useManagedIdentity: the emulator has no managed identity for storage: start it with --backup-storage-key KEY (the storage account key), or pass a SAS in token',
      ],
      ['a folder name that cannot be one', () => open().folder('..'), 'BadName', FOLDER_RULE],
    ];
    for (const [label, action, storageCode, message] of cases) {
      expect(refusedAtOnce(action, rwSas, readOnly, writeOnly), label).toEqual({ code: 'BadParameter', message, storageCode });
    }
    // The same SAS is fine for the job it allows.
    expect(open({ token: readOnly }, 'read').where).toBe(WHERE);
    expect(open({ token: writeOnly }, 'write').where).toBe(WHERE);
  });

  it('refuses a bad blob name as BadParameter', async () => {
    const folder = open().folder('mhsm-x-2022102422582377');
    expect(await refused(folder.write('../escape', Buffer.from('x')))).toEqual({ code: 'BadParameter', message: BLOB_RULE, storageCode: 'BadName' });
    expect(await refused(folder.read('.hidden'))).toEqual({ code: 'BadParameter', message: BLOB_RULE, storageCode: 'BadName' });
  });

  it("reports a missing container or blob as NotFound, and the account's refusals as Forbidden", async () => {
    const missingSas = sas('rcwdl', 'missing');
    const missing = open({ storageResourceUri: `${azurite.url}/missing`, token: missingSas });
    const absent = 'container missing of storage account devstoreaccount1 does not exist (ContainerNotFound)';
    expect(await refused(missing.check('write'), missingSas)).toEqual({ code: 'NotFound', message: `could not write blobs (checking before a backup): ${absent}`, storageCode: 'NotFound' });
    expect(await refused(missing.folder('mhsm-x-2022102422582377').list(), missingSas)).toEqual({
      code: 'NotFound',
      message: `could not list folder mhsm-x-2022102422582377: ${absent}`,
      storageCode: 'NotFound',
    });
    const folder = open().newFolder('contoso', new Date(Date.UTC(2031, 0, 1)));
    expect(await refused(folder.read('manifest'), rwSas)).toEqual({
      code: 'NotFound',
      message: `could not read blob manifest: blob manifest of folder ${folder.name} does not exist in ${WHERE} (BlobNotFound)`,
      storageCode: 'NotFound',
    });

    const other = sas('rcwdl', 'other');
    const foreign = open({ token: other });
    const forbidden = (doing: string) => ({ code: 'Forbidden', message: `${WHERE} refused to ${doing} (403 AuthorizationFailure): ${FORBIDDEN_TAIL}`, storageCode: 'Forbidden' });
    expect(await refused(foreign.check('read'), other)).toEqual(forbidden('read blobs (checking before a restore)'));
    const foreignFolder = foreign.folder(folder.name);
    expect(await refused(foreignFolder.write('manifest', Buffer.from('x')), other)).toEqual(forbidden(`write blob manifest in folder ${folder.name}`));
    expect(await refused(foreignFolder.read('manifest'), other)).toEqual(forbidden('read blob manifest'));
    expect(await refused(foreignFolder.list(), other)).toEqual(forbidden(`list folder ${folder.name}`));
  });

  it('reports an unreachable account, and an answer it cannot use, as Unavailable', async () => {
    const port = await closedPort();
    const unreachable = open({ storageResourceUri: `https://127.0.0.1:${port}/devstoreaccount1/backups` });
    expect(await refused(unreachable.check('write'), rwSas)).toEqual({
      code: 'Unavailable',
      message: `could not reach ${WHERE} to write blobs (checking before a backup): connect ECONNREFUSED 127.0.0.1:${port}`,
      storageCode: 'Unreachable',
    });

    const folder = open().newFolder('contoso', new Date(Date.UTC(2032, 0, 1)));
    const admin = new ContainerClient(containerUrl, new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey));
    const leased = admin.getBlockBlobClient(`${folder.name}/manifest`);
    await leased.upload('held', 4);
    await new BlobLeaseClient(leased).acquireLease(-1);
    expect(await refused(folder.write('manifest', Buffer.from('new')), rwSas)).toEqual({
      code: 'Unavailable',
      message: `${WHERE} answered 412 LeaseIdMissing to write blob manifest in folder ${folder.name}`,
      storageCode: 'Failed',
    });
  });
});

describe('opening a local directory by a file:// URL', () => {
  let base: string;
  let rootA: string;
  let rootB: string;
  let config: StorageConfig;
  const open = (dir: string, access: 'read' | 'write' = 'write', settings: StorageConfig = config) =>
    openStorage({ storageResourceUri: pathToFileURL(dir).href }, settings, access);

  beforeAll(() => {
    base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'mhsm-open-storage-')));
    rootA = path.join(base, 'backups');
    rootB = path.join(base, 'more');
    for (const dir of [rootA, rootB, path.join(rootA, 'nested', 'deeper'), path.join(rootA, 'archive..'), path.join(base, 'backups-elsewhere')]) mkdirSync(dir, { recursive: true });
    config = { localRoots: [rootA, rootB] };
  });

  afterAll(() => {
    rmSync(base, { recursive: true, force: true });
  });

  it('opens a root itself, a directory below one, in any of the roots, and keeps the folder contract', async () => {
    for (const dir of [rootA, path.join(rootA, 'nested', 'deeper'), path.join(rootA, 'archive..'), rootB, path.join(rootB, '.')]) {
      const storage = open(dir);
      const resolved = path.resolve(dir);
      expect(storage.where, dir).toBe(`local directory ${resolved}`);
      await storage.check('write');
      await storage.check('read');
      const folder = storage.newFolder('contoso', new Date(Date.UTC(2022, 9, 24, 22, 58, 23, 779)));
      expect({ name: folder.name, where: folder.where, uri: folder.uri }).toEqual({
        name: 'mhsm-contoso-2022102422582377',
        where: `folder mhsm-contoso-2022102422582377 in local directory ${resolved}`,
        uri: pathToFileURL(path.join(resolved, 'mhsm-contoso-2022102422582377')).href,
      });
      await folder.write('manifest', Buffer.from(dir));
      await folder.write('keys/chunk-0000', Buffer.from('chunk'));
      expect(await folder.list()).toEqual(['keys/chunk-0000', 'manifest']);
      expect(readFileSync(path.join(resolved, folder.name, 'manifest'), 'utf8')).toBe(dir);
      expect((await open(dir, 'read').folder(folder.name).read('manifest')).toString()).toBe(dir);
    }
  });

  it('refuses a directory outside the roots, naming them', () => {
    const message = `storageResourceUri: local backups go under ${rootA} or ${rootB}; start the emulator with --local-backup-root for another directory`;
    for (const dir of [base, path.join(base, 'backups-elsewhere'), os.tmpdir(), '/']) {
      expect(refusedAtOnce(() => open(dir)), dir).toEqual({ code: 'BadParameter', message, storageCode: undefined });
    }
    // Climbing out with .. is judged on the resolved path.
    expect(refusedAtOnce(() => openStorage({ storageResourceUri: `file://${rootA}/%2E%2E/backups-elsewhere` }, config, 'write'))).toEqual({ code: 'BadParameter', message, storageCode: undefined });
    expect(refusedAtOnce(() => open(rootB, 'write', { localRoots: [rootA] }))).toEqual({
      code: 'BadParameter',
      message: `storageResourceUri: local backups go under ${rootA}; start the emulator with --local-backup-root for another directory`,
      storageCode: undefined,
    });
  });

  it('refuses a file:// URL that is not an absolute local path', () => {
    for (const uri of [`file://example.com${rootA}`, `file://${rootA}/a%2Fb`]) {
      expect(refusedAtOnce(() => openStorage({ storageResourceUri: uri }, config, 'write')), uri).toEqual({
        code: 'BadParameter',
        message: 'storageResourceUri: a file:// URL must name an absolute local path',
        storageCode: undefined,
      });
    }
  });

  it("reports the directory's failures as the domain's errors", async () => {
    const absent = path.join(rootA, 'absent');
    expect(await refused(open(absent).check('write'))).toEqual({
      code: 'NotFound',
      message: `could not write to local directory ${absent}: local directory ${absent} does not exist`,
      storageCode: 'NotFound',
    });
    const folder = open(rootA).folder('mhsm-x-2022102422582377');
    expect(await refused(folder.read('manifest'))).toEqual({
      code: 'NotFound',
      message: `could not read blob manifest: blob manifest of folder mhsm-x-2022102422582377 in local directory ${rootA} does not exist`,
      storageCode: 'NotFound',
    });
    expect(await refused(folder.write('../x', Buffer.from('x')))).toEqual({ code: 'BadParameter', message: BLOB_RULE, storageCode: 'BadName' });
    expect(refusedAtOnce(() => open(rootA).folder('-x'))).toEqual({ code: 'BadParameter', message: FOLDER_RULE, storageCode: 'BadName' });
  });
});
