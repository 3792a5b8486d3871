// The storage a backup or restore request names, opened for its job: an Azure Blob Storage
// container (Azurite included) by its URL and SAS, or a local directory by a file:// URL inside
// one of the roots the emulator was allowed to write (DATA/backups, or --local-backup-root). Its
// failures become the domain's errors: input errors a 400 before the job starts, the storage's
// answers the job's failure, never with the SAS in the message.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HsmError, type HsmErrorCode } from '../../errors.js';
import { openAzureBlobStorage } from './azure-blob-storage.js';
import { type BackupFolderStore, type BackupStorage, StorageError, type StorageErrorCode } from './backup-storage.js';
import { openLocalFolderStorage } from './local-folder-storage.js';

export interface StorageParameters {
  storageResourceUri?: unknown;
  token?: unknown;
  useManagedIdentity?: unknown;
}

export interface StorageConfig {
  /** The account key for useManagedIdentity (--backup-storage-key). */
  accountKey?: string | undefined;
  /** Directories under which file:// folders may be. */
  localRoots: readonly string[];
}

const CODES: Readonly<Record<StorageErrorCode, HsmErrorCode>> = {
  BadUri: 'BadParameter',
  BadSas: 'BadParameter',
  BadName: 'BadParameter',
  ManagedIdentityUnavailable: 'BadParameter',
  NotFound: 'NotFound',
  Forbidden: 'Forbidden',
  Unreachable: 'Unavailable',
  Failed: 'Unavailable',
};

function domainError(error: unknown): unknown {
  return error instanceof StorageError ? new HsmError(CODES[error.code], error.message, { cause: error }) : error;
}

async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw domainError(error);
  }
}

function wrapFolder(folder: BackupFolderStore): BackupFolderStore {
  return {
    name: folder.name,
    where: folder.where,
    uri: folder.uri,
    write: (name, data) => translated(() => folder.write(name, data)),
    read: (name) => translated(() => folder.read(name)),
    list: () => translated(() => folder.list()),
  };
}

function localDirectory(uri: string, config: StorageConfig): string {
  let dir: string;
  try {
    dir = path.resolve(fileURLToPath(uri));
  } catch {
    throw new HsmError('BadParameter', 'storageResourceUri: a file:// URL must name an absolute local path');
  }
  const inside = config.localRoots.some((root) => {
    const relative = path.relative(path.resolve(root), dir);
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  });
  if (!inside) {
    throw new HsmError('BadParameter', `storageResourceUri: local backups go under ${config.localRoots.join(' or ')}; start the emulator with --local-backup-root for another directory`);
  }
  return dir;
}

/** `access`: what the job will do, so that a SAS without the permissions for it is refused at once. */
export function openStorage(parameters: StorageParameters, config: StorageConfig, access: 'read' | 'write'): BackupStorage {
  try {
    const uri = parameters.storageResourceUri;
    const storage =
      typeof uri === 'string' && uri.startsWith('file:')
        ? openLocalFolderStorage(localDirectory(uri, config))
        : openAzureBlobStorage({ storageResourceUri: uri, token: parameters.token, useManagedIdentity: parameters.useManagedIdentity, accountKey: config.accountKey, access });
    return {
      where: storage.where,
      check: (access) => translated(() => storage.check(access)),
      newFolder: (hsmName, now) => wrapFolder(storage.newFolder(hsmName, now)),
      folder: (name) => {
        try {
          return wrapFolder(storage.folder(name));
        } catch (error) {
          throw domainError(error);
        }
      },
    };
  } catch (error) {
    throw domainError(error);
  }
}
