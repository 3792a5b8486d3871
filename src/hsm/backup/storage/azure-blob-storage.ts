// Backups in an Azure Blob Storage container (or Azurite), through @azure/storage-blob, reached with
// the request's SAS or, for useManagedIdentity, with the account key the emulator was started with
// (it has no managed identity of its own: --backup-storage-key stands in for one).
import { createRequire } from 'node:module';
import type { ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import {
  type BackupAccess,
  type BackupFolderStore,
  type BackupStorage,
  StorageError,
  backupFolderName,
  checkBlobName,
  checkFolderName,
} from './backup-storage.js';
import { fromStorageFailure, storageErrorCode, storageStatus } from './azure-storage-errors.js';
import { type ContainerUri, parseContainerUri } from './container-uri.js';
import { type SasToken, checkSasAllows, parseSasToken } from './sas-token.js';

type StorageBlobSdk = typeof import('@azure/storage-blob');
let loadedSdk: StorageBlobSdk | undefined;

/**
 * The SDK, loaded on first use rather than at start: it is a quarter of a second of every start
 * (bench:cost), for a feature most runs never use. The first backup to Azure storage pays it once.
 */
function storageBlob(): StorageBlobSdk {
  loadedSdk ??= createRequire(import.meta.url)('@azure/storage-blob') as StorageBlobSdk;
  return loadedSdk;
}

export interface AzureBlobStorageOptions {
  /** The request's storageResourceUri: the container's URL. Taken as `unknown`: it is checked here. */
  storageResourceUri: unknown;
  /** The request's SAS token, with or without a leading `?`. */
  token?: unknown;
  useManagedIdentity?: unknown;
  /** The storage account key the emulator was configured with (--backup-storage-key), for useManagedIdentity. */
  accountKey?: string | undefined;
  /** The job this storage is for, if known: its SAS permissions are then checked at once (a synchronous 400). */
  access?: BackupAccess;
}

/**
 * Few, short retries: the SDK's default (4 tries, 4 s apart and growing) makes an unreachable
 * account take half a minute to report; a job still rides out a brief hiccup.
 */
const PIPELINE: StoragePipelineOptions = {
  retryOptions: { maxTries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 2_000, tryTimeoutInMs: 60_000 },
};

/**
 * The blob check() probes, at the container's root, outside any backup folder. A write probe is a
 * Put Blob conditional on an ETag no blob has: the account checks the SAS and the container, then
 * answers 412 without writing, so checking leaves nothing behind and needs no delete permission.
 */
const PROBE_BLOB = 'mhsm-emulator-access-check';
const PROBE_ETAG = '"0x0-mhsm-emulator-access-check"';

function identityField(options: AzureBlobStorageOptions): boolean {
  const { useManagedIdentity, token } = options;
  if (useManagedIdentity !== undefined && typeof useManagedIdentity !== 'boolean') {
    throw new StorageError('BadSas', 'useManagedIdentity: must be true or false', 'useManagedIdentity');
  }
  if (useManagedIdentity === true && token !== undefined && token !== null) {
    throw new StorageError('BadSas', 'token: must not be given with useManagedIdentity: true (use one or the other)', 'token');
  }
  return useManagedIdentity === true;
}

function containerClient(options: AzureBlobStorageOptions, container: ContainerUri): { client: ContainerClient; sas?: SasToken } {
  if (identityField(options)) {
    if (typeof options.accountKey !== 'string' || options.accountKey.length === 0) {
      throw new StorageError(
        'ManagedIdentityUnavailable',
        'useManagedIdentity: the emulator has no managed identity for storage: start it with --backup-storage-key KEY (the storage account key), or pass a SAS in token',
        'useManagedIdentity',
      );
    }
    const { ContainerClient, StorageSharedKeyCredential } = storageBlob();
    const credential = new StorageSharedKeyCredential(container.accountName, options.accountKey);
    return { client: new ContainerClient(container.url, credential, PIPELINE) };
  }
  if (options.token === undefined || options.token === null) {
    throw new StorageError('BadSas', 'token: required (a container SAS) unless useManagedIdentity is true', 'token');
  }
  // Storage accounts judge a SAS's expiry by real time, not by the emulator's (shiftable) clock.
  const sas = parseSasToken(options.token, new Date());
  if (options.access) checkSasAllows(sas, options.access);
  const { AnonymousCredential, ContainerClient } = storageBlob();
  return { client: new ContainerClient(`${container.url}?${sas.query}`, new AnonymousCredential(), PIPELINE), sas };
}

/** Opens a container; throws a StorageError (BadUri, BadSas, ManagedIdentityUnavailable) for bad parameters. */
export function openAzureBlobStorage(options: AzureBlobStorageOptions): BackupStorage {
  const container = parseContainerUri(options.storageResourceUri);
  const { client, sas } = containerClient(options, container);
  const where = `container ${container.containerName} of storage account ${container.accountName}`;

  const folderStore = (folder: string): BackupFolderStore => {
    const folderWhere = `folder ${folder} of ${where}`;
    const blob = (name: string) => {
      checkBlobName(name);
      return client.getBlockBlobClient(`${folder}/${name}`);
    };
    return {
      name: folder,
      where: folderWhere,
      uri: `${container.url}/${folder}`,
      async write(name, data) {
        const target = blob(name);
        try {
          await target.uploadData(data, { blobHTTPHeaders: { blobContentType: 'application/octet-stream' } });
        } catch (error) {
          throw fromStorageFailure(error, { doing: `write blob ${name} in folder ${folder}`, container: where });
        }
      },
      async read(name) {
        const target = blob(name);
        try {
          return await target.downloadToBuffer();
        } catch (error) {
          throw fromStorageFailure(error, { doing: `read blob ${name}`, container: where, blob: `blob ${name} of folder ${folder}` });
        }
      },
      async list() {
        const prefix = `${folder}/`;
        const names: string[] = [];
        try {
          for await (const item of client.listBlobsFlat({ prefix })) names.push(item.name.slice(prefix.length));
        } catch (error) {
          throw fromStorageFailure(error, { doing: `list folder ${folder}`, container: where });
        }
        return names.sort();
      },
    };
  };

  return {
    where,
    async check(access) {
      if (sas) {
        checkSasAllows(sas, access);
        if (sas.expiresOn.getTime() <= Date.now()) throw new StorageError('BadSas', `token: the SAS expired at ${sas.expiresOn.toISOString()} (field se)`, 'token');
      }
      const probe = client.getBlockBlobClient(PROBE_BLOB);
      try {
        if (access === 'write') await probe.upload(Buffer.alloc(0), 0, { conditions: { ifMatch: PROBE_ETAG } });
        else await probe.getProperties();
      } catch (error) {
        const status = storageStatus(error);
        const code = storageErrorCode(error);
        // The answers of an account that let the request through: the probe blob is (still) missing.
        if (access === 'write' && status === 412) return;
        if (access === 'read' && status === 404 && code === 'BlobNotFound') return;
        throw fromStorageFailure(error, { doing: access === 'write' ? 'write blobs (checking before a backup)' : 'read blobs (checking before a restore)', container: where });
      }
    },
    newFolder: (hsmName, now) => folderStore(backupFolderName(hsmName, now)),
    folder(name) {
      checkFolderName(name, 'folder');
      return folderStore(name);
    },
  };
}
