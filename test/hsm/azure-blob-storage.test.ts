// Backups in an Azure Blob Storage container (src/hsm/backup/storage/azure-blob-storage.ts), against
// a real Azurite over HTTPS reached with real container SAS tokens or the account key: what opening
// refuses at once, what the account's answers become (exact codes and messages), and that no
// message or cause ever holds the SAS signature.
import { inspect } from 'node:util';
import { BlobLeaseClient, ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AzureBlobStorageOptions, openAzureBlobStorage } from '../../src/hsm/backup/storage/azure-blob-storage.js';
import { StorageError } from '../../src/hsm/backup/storage/backup-storage.js';
import { type Azurite, startAzurite, trustTestCa } from '../helpers/azurite.js';
import { closedPort } from '../helpers/closed-port.js';
import { expectNoSecret, sigOf } from '../helpers/sas-secrecy.js';

const WHERE = 'container backups of storage account devstoreaccount1';
const FORBIDDEN_TAIL = 'the SAS is not valid for this container, lacks a permission, or has expired';
/** The folder of the service's recorded example: 2022-10-24 22:58:23.77 UTC. */
const RECORDED_TIME = new Date(Date.UTC(2022, 9, 24, 22, 58, 23, 779));
const FOLDER_RULE = "folder: must be one path segment of 1 to 255 letters, digits, '.', '_' or '-', not starting with '.' or '-'";
const BLOB_RULE = "name: a blob name must be up to 16 '/'-separated segments of letters, digits, '.', '_' or '-', none empty or starting with '.' or '-'";

interface Refused {
  code: string;
  message: string;
  field: string | undefined;
  error: StorageError;
}

/** What `action` throws or rejects with, checked to be a StorageError that keeps every given SAS secret. */
async function refusal(action: () => unknown, ...secrets: string[]): Promise<Refused> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof StorageError)) throw new Error(`expected a StorageError, got ${inspect(caught)}`);
  for (const sas of secrets) expectNoSecret(caught, sas);
  return { code: caught.code, message: caught.message, field: caught.field, error: caught };
}

/** The same, for a refusal thrown synchronously. */
function syncRefusal(action: () => unknown, ...secrets: string[]): Refused {
  try {
    action();
  } catch (error) {
    if (!(error instanceof StorageError)) throw new Error(`expected a StorageError, got ${inspect(error)}`);
    for (const sas of secrets) expectNoSecret(error, sas);
    return { code: error.code, message: error.message, field: error.field, error };
  }
  throw new Error('expected a refusal');
}

describe('backup storage in an Azure Blob container (Azurite over HTTPS)', () => {
  let azurite: Azurite;
  let untrust: () => void = () => undefined;
  let containerUrl: string;
  let otherUrl: string;
  let admin: ContainerClient;
  let rwSas: string;
  const open = (options: Partial<AzureBlobStorageOptions> = {}) => openAzureBlobStorage({ storageResourceUri: containerUrl, token: rwSas, ...options });
  const sas = (permissions: string, container = 'backups') => azurite.containerSas(container, permissions);
  const blobsIn = async (client: ContainerClient, prefix?: string) => {
    const names: string[] = [];
    for await (const blob of client.listBlobsFlat(prefix === undefined ? {} : { prefix })) names.push(blob.name);
    return names.sort();
  };

  beforeAll(async () => {
    azurite = await startAzurite();
    untrust = await trustTestCa(azurite.url);
    containerUrl = await azurite.createContainer('backups');
    otherUrl = await azurite.createContainer('other');
    admin = new ContainerClient(containerUrl, new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey));
    rwSas = sas('rcwdl');
  });

  afterAll(async () => {
    untrust();
    await azurite?.stop();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('describes the container, its folders and their URLs without the SAS', () => {
    const storage = open();
    expect(storage.where).toBe(WHERE);
    const folder = storage.newFolder('contoso', RECORDED_TIME);
    expect(folder.name).toBe('mhsm-contoso-2022102422582377');
    expect(folder.where).toBe(`folder mhsm-contoso-2022102422582377 of ${WHERE}`);
    expect(folder.uri).toBe(`${containerUrl}/mhsm-contoso-2022102422582377`);
    const again = storage.folder('mhsm-contoso-2022102422582377');
    expect({ name: again.name, where: again.where, uri: again.uri }).toEqual({ name: folder.name, where: folder.where, uri: folder.uri });
    for (const text of [storage.where, folder.where, folder.uri]) expect(text).not.toContain(sigOf(rwSas));
  });

  it("writes blobs under the folder, reads them back, and lists only that folder's blobs, sorted and relative to it", async () => {
    const storage = open({ access: 'write' });
    const folder = storage.newFolder('contoso', new Date(Date.UTC(2031, 0, 2, 3, 4, 5, 60)));
    const neighbour = storage.newFolder('contoso', new Date(Date.UTC(2031, 0, 2, 3, 4, 5, 70)));
    await neighbour.write('manifest', Buffer.from('another backup'));
    expect(await folder.list()).toEqual([]);
    const chunk = Buffer.alloc(300_000, 7);
    await folder.write('manifest', Buffer.from('first'));
    await folder.write('manifest', Buffer.from('sealed manifest'));
    await folder.write('keys/chunk-0001', chunk);
    await folder.write('keys/chunk-0000', Buffer.alloc(0));
    expect(await folder.list()).toEqual(['keys/chunk-0000', 'keys/chunk-0001', 'manifest']);
    expect((await folder.read('manifest')).toString()).toBe('sealed manifest');
    expect((await folder.read('keys/chunk-0001')).equals(chunk)).toBe(true);
    expect((await folder.read('keys/chunk-0000')).length).toBe(0);
    // Opened again by name, as a restore does, through a SAS that may only read.
    expect((await open({ token: sas('r'), access: 'read' }).folder(folder.name).read('manifest')).toString()).toBe('sealed manifest');
    // The layout another client sees: FOLDER/BLOB, stored as opaque bytes.
    expect(await blobsIn(admin, `${folder.name}/`)).toEqual([`${folder.name}/keys/chunk-0000`, `${folder.name}/keys/chunk-0001`, `${folder.name}/manifest`]);
    expect((await admin.getBlockBlobClient(`${folder.name}/manifest`).getProperties()).contentType).toBe('application/octet-stream');
  });

  it('refuses folder and blob names that are not safe segments, before any request', async () => {
    const storage = open();
    for (const bad of ['..', 'a/b', '', '-x', '.hidden']) {
      expect(syncRefusal(() => storage.folder(bad))).toMatchObject({ code: 'BadName', message: FOLDER_RULE, field: 'folder' });
    }
    const folder = storage.folder('mhsm-x-2022102422582377');
    for (const bad of ['../escape', '.hidden', 'a//b', '']) {
      expect(await refusal(() => folder.write(bad, Buffer.from('x')))).toMatchObject({ code: 'BadName', message: BLOB_RULE, field: 'name' });
      expect(await refusal(() => folder.read(bad))).toMatchObject({ code: 'BadName', message: BLOB_RULE, field: 'name' });
    }
    expect(await blobsIn(admin, 'mhsm-x-2022102422582377/')).toEqual([]);
  });

  it("check('write') and check('read') pass with the permissions a backup and a restore need, leaving nothing behind", async () => {
    for (const permissions of ['c', 'w', 'rcwdl']) await open({ token: sas(permissions), access: 'write' }).check('write');
    for (const permissions of ['r', 'rcwdl']) await open({ token: sas(permissions), access: 'read' }).check('read');
    const before = await blobsIn(admin);
    expect(before.every((name) => name.startsWith('mhsm-'))).toBe(true);
    expect(before).not.toContain('mhsm-emulator-access-check');
  });

  it('refuses bad parameters synchronously with BadSas or ManagedIdentityUnavailable, naming the field, never echoing the SAS', () => {
    const readList = sas('rl');
    const writeList = sas('cwl');
    const expired = azurite.containerSas('backups', 'rcwdl', -60);
    const expiredAt = new Date(new URLSearchParams(expired).get('se') ?? '').toISOString();
    const cases: Array<{ label: string; options: Partial<AzureBlobStorageOptions>; code: string; field: string; message: string }> = [
      { label: 'useManagedIdentity a string', options: { token: undefined, useManagedIdentity: 'yes' }, code: 'BadSas', field: 'useManagedIdentity', message: 'useManagedIdentity: must be true or false' },
      { label: 'useManagedIdentity null', options: { useManagedIdentity: null }, code: 'BadSas', field: 'useManagedIdentity', message: 'useManagedIdentity: must be true or false' },
      { label: 'useManagedIdentity 1', options: { useManagedIdentity: 1, accountKey: azurite.accountKey }, code: 'BadSas', field: 'useManagedIdentity', message: 'useManagedIdentity: must be true or false' },
      { label: 'a SAS and useManagedIdentity', options: { useManagedIdentity: true, accountKey: azurite.accountKey }, code: 'BadSas', field: 'token', message: 'token: must not be given with useManagedIdentity: true (use one or the other)' },
      { label: 'an empty SAS and useManagedIdentity', options: { token: '', useManagedIdentity: true, accountKey: azurite.accountKey }, code: 'BadSas', field: 'token', message: 'token: must not be given with useManagedIdentity: true (use one or the other)' },
      { label: 'useManagedIdentity without a key', options: { token: undefined, useManagedIdentity: true }, code: 'ManagedIdentityUnavailable', field: 'useManagedIdentity', message: 'useManagedIdentity: the emulator has no managed identity for storage: start it with --backup-storage-key KEY (the storage account key), or pass a SAS in token' },
      { label: 'useManagedIdentity with an empty key', options: { token: undefined, useManagedIdentity: true, accountKey: '' }, code: 'ManagedIdentityUnavailable', field: 'useManagedIdentity', message: 'useManagedIdentity: the emulator has no managed identity for storage: start it with --backup-storage-key KEY (the storage account key), or pass a SAS in token' },
      { label: 'no SAS', options: { token: undefined }, code: 'BadSas', field: 'token', message: 'token: required (a container SAS) unless useManagedIdentity is true' },
      { label: 'a null SAS', options: { token: null }, code: 'BadSas', field: 'token', message: 'token: required (a container SAS) unless useManagedIdentity is true' },
      { label: 'no SAS, useManagedIdentity false', options: { token: undefined, useManagedIdentity: false, accountKey: azurite.accountKey }, code: 'BadSas', field: 'token', message: 'token: required (a container SAS) unless useManagedIdentity is true' },
      { label: 'an expired SAS', options: { token: expired }, code: 'BadSas', field: 'token', message: `token: the SAS expired at ${expiredAt} (field se)` },
      { label: 'a SAS without c or w for a backup', options: { token: readList, access: 'write' }, code: 'BadSas', field: 'token', message: "token: the SAS's permissions (sp=rl) must include c (create) or w (write), as a backup writes the folder's blobs" },
      { label: 'a SAS without r for a restore', options: { token: writeList, access: 'read' }, code: 'BadSas', field: 'token', message: "token: the SAS's permissions (sp=cwl) must include r (read), as a restore reads the folder's blobs" },
    ];
    for (const { label, options, code, field, message } of cases) {
      const refused = syncRefusal(() => open(options), rwSas, readList, writeList, expired);
      expect({ code: refused.code, field: refused.field, message: refused.message }, label).toEqual({ code, field, message });
      expect(refused.error.isInputError, label).toBe(true);
    }
  });

  it('opens whatever the SAS allows when the job is not said, and leaves the permission check to check()', async () => {
    const readList = sas('rl');
    const storage = open({ token: readList });
    const refused = await refusal(() => storage.check('write'), readList);
    expect(refused).toMatchObject({
      code: 'BadSas',
      field: 'token',
      message: "token: the SAS's permissions (sp=rl) must include c (create) or w (write), as a backup writes the folder's blobs",
    });
    await storage.check('read');
    const writeOnly = sas('cw');
    expect(await refusal(() => open({ token: writeOnly }).check('read'), writeOnly)).toMatchObject({
      code: 'BadSas',
      field: 'token',
      message: "token: the SAS's permissions (sp=cw) must include r (read), as a restore reads the folder's blobs",
    });
  });

  it('takes the SAS with or without its leading ?, and useManagedIdentity: false beside a SAS', async () => {
    const folder = open({ token: `?${rwSas}` }).newFolder('mhsm', new Date(Date.UTC(2031, 1, 1)));
    await folder.write('manifest', Buffer.from('with ?'));
    await open({ useManagedIdentity: false }).check('write');
    expect((await open({ useManagedIdentity: false }).folder(folder.name).read('manifest')).toString()).toBe('with ?');
  });

  it("refuses a SAS in check() once it has expired, by the real clock, without asking the account", async () => {
    const token = sas('rcwdl');
    const expiresOn = new Date(new URLSearchParams(token).get('se') ?? '');
    const storage = open({ token });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(expiresOn);
    for (const access of ['write', 'read'] as const) {
      expect(await refusal(() => storage.check(access), token)).toMatchObject({
        code: 'BadSas',
        field: 'token',
        message: `token: the SAS expired at ${expiresOn.toISOString()} (field se)`,
      });
    }
  });

  it('uses the configured account key for useManagedIdentity, and reports a wrong key as Forbidden', async () => {
    for (const token of [undefined, null]) {
      const storage = open({ token, useManagedIdentity: true, accountKey: azurite.accountKey });
      expect(storage.where).toBe(WHERE);
      await storage.check('write');
      await storage.check('read');
      const folder = storage.newFolder('identity', new Date(Date.UTC(2032, 0, 1, 0, 0, token === null ? 1 : 0)));
      await folder.write('manifest', Buffer.from('by key'));
      expect(await folder.list()).toEqual(['manifest']);
      expect((await folder.read('manifest')).toString()).toBe('by key');
    }
    const wrong = open({ token: undefined, useManagedIdentity: true, accountKey: Buffer.alloc(64, 1).toString('base64') });
    expect(await refusal(() => wrong.check('write'))).toMatchObject({
      code: 'Forbidden',
      message: `${WHERE} refused to write blobs (checking before a backup) (403 AuthorizationFailure): ${FORBIDDEN_TAIL}`,
    });
    expect(await refusal(() => wrong.check('read'))).toMatchObject({
      code: 'Forbidden',
      message: `${WHERE} refused to read blobs (checking before a restore) (403 AuthorizationFailure): ${FORBIDDEN_TAIL}`,
    });
  });

  it("reports the account's refusals as Forbidden, with the operation, the status and the service's code", async () => {
    const writer = open().newFolder('contoso', new Date(Date.UTC(2033, 0, 1)));
    await writer.write('manifest', Buffer.from('x'));
    const f = writer.name;
    const other = sas('rcwdl', 'other');
    const readList = sas('rl');
    const writeList = sas('cwl');
    const readOnly = sas('r');
    // The same SAS with its permissions edited: only the signature tells.
    const edited = sas('rl').replace('sp=rl', 'sp=rcwl');
    const forbidden = (doing: string, code: string) => `${WHERE} refused to ${doing} (403 ${code}): ${FORBIDDEN_TAIL}`;
    const cases: Array<[string, string, (storage: ReturnType<typeof open>) => Promise<unknown>, string]> = [
      ["another container's SAS, check('write')", other, (s) => s.check('write'), forbidden('write blobs (checking before a backup)', 'AuthorizationFailure')],
      ["another container's SAS, check('read')", other, (s) => s.check('read'), forbidden('read blobs (checking before a restore)', 'AuthorizationFailure')],
      ["another container's SAS, write", other, (s) => s.folder(f).write('manifest', Buffer.from('y')), forbidden(`write blob manifest in folder ${f}`, 'AuthorizationFailure')],
      ["another container's SAS, read", other, (s) => s.folder(f).read('manifest'), forbidden('read blob manifest', 'AuthorizationFailure')],
      ["another container's SAS, list", other, (s) => s.folder(f).list(), forbidden(`list folder ${f}`, 'AuthorizationFailure')],
      ['a SAS without c or w, write', readList, (s) => s.folder(f).write('manifest', Buffer.from('y')), forbidden(`write blob manifest in folder ${f}`, 'AuthorizationPermissionMismatch')],
      ['a SAS without r, read', writeList, (s) => s.folder(f).read('manifest'), forbidden('read blob manifest', 'AuthorizationPermissionMismatch')],
      ['a SAS without l, list', readOnly, (s) => s.folder(f).list(), forbidden(`list folder ${f}`, 'AuthorizationPermissionMismatch')],
      ["an edited SAS, check('write')", edited, (s) => s.check('write'), forbidden('write blobs (checking before a backup)', 'AuthorizationFailure')],
    ];
    for (const [label, token, action, message] of cases) {
      const refused = await refusal(() => action(open({ token })), token, rwSas);
      expect({ code: refused.code, message: refused.message, field: refused.field }, label).toEqual({ code: 'Forbidden', message, field: undefined });
      expect(refused.error.isInputError, label).toBe(false);
    }
    // The refused write changed nothing; the other container's SAS works where it belongs.
    expect((await writer.read('manifest')).toString()).toBe('x');
    await openAzureBlobStorage({ storageResourceUri: otherUrl, token: other }).check('write');
    await openAzureBlobStorage({ storageResourceUri: otherUrl, token: other }).check('read');
  });

  it('reports a missing container, and a missing blob, as NotFound naming what is missing', async () => {
    const token = azurite.containerSas('missing', 'rcwdl');
    const storage = openAzureBlobStorage({ storageResourceUri: `${azurite.url}/missing`, token });
    expect(storage.where).toBe('container missing of storage account devstoreaccount1');
    const f = 'mhsm-x-2022102422582377';
    const absent = 'container missing of storage account devstoreaccount1 does not exist (ContainerNotFound)';
    const cases: Array<[(s: typeof storage) => Promise<unknown>, string]> = [
      [(s) => s.check('write'), `could not write blobs (checking before a backup): ${absent}`],
      [(s) => s.check('read'), `could not read blobs (checking before a restore): ${absent}`],
      [(s) => s.folder(f).read('manifest'), `could not read blob manifest: ${absent}`],
      [(s) => s.folder(f).write('manifest', Buffer.from('x')), `could not write blob manifest in folder ${f}: ${absent}`],
      [(s) => s.folder(f).list(), `could not list folder ${f}: ${absent}`],
    ];
    for (const [action, message] of cases) expect(await refusal(() => action(storage), token)).toMatchObject({ code: 'NotFound', message, field: undefined });

    const folder = open().newFolder('contoso', new Date(Date.UTC(2034, 0, 1)));
    await folder.write('manifest', Buffer.from('x'));
    expect(await refusal(() => folder.read('keys/chunk-9999'), rwSas)).toMatchObject({
      code: 'NotFound',
      message: `could not read blob keys/chunk-9999: blob keys/chunk-9999 of folder ${folder.name} does not exist in ${WHERE} (BlobNotFound)`,
    });
  });

  it('reports any other answer as Failed, with its status and code', async () => {
    const folder = open().newFolder('contoso', new Date(Date.UTC(2035, 0, 1)));
    // A blob leased by someone else: the account answers 412 to a write without the lease id.
    const leased = admin.getBlockBlobClient(`${folder.name}/manifest`);
    await leased.upload('held', 4);
    await new BlobLeaseClient(leased).acquireLease(-1);
    expect(await refusal(() => folder.write('manifest', Buffer.from('new')), rwSas)).toMatchObject({
      code: 'Failed',
      message: `${WHERE} answered 412 LeaseIdMissing to write blob manifest in folder ${folder.name}`,
      field: undefined,
    });
    expect((await folder.read('manifest')).toString()).toBe('held');
  });

  it('reports an account nobody answers for as Unreachable, after a few quick retries', async () => {
    const port = await closedPort();
    const storage = openAzureBlobStorage({ storageResourceUri: `https://127.0.0.1:${port}/devstoreaccount1/backups`, token: rwSas });
    const f = 'mhsm-x-2022102422582377';
    const reach = (doing: string) => `could not reach ${WHERE} to ${doing}: connect ECONNREFUSED 127.0.0.1:${port}`;
    const cases: Array<[(s: typeof storage) => Promise<unknown>, string]> = [
      [(s) => s.check('write'), reach('write blobs (checking before a backup)')],
      [(s) => s.check('read'), reach('read blobs (checking before a restore)')],
      [(s) => s.folder(f).write('manifest', Buffer.from('x')), reach(`write blob manifest in folder ${f}`)],
      [(s) => s.folder(f).read('manifest'), reach('read blob manifest')],
      [(s) => s.folder(f).list(), reach(`list folder ${f}`)],
    ];
    for (const [action, message] of cases) {
      const started = Date.now();
      expect(await refusal(() => action(storage), rwSas)).toMatchObject({ code: 'Unreachable', message, field: undefined });
      expect(Date.now() - started).toBeLessThan(5_000);
    }
  });
});
