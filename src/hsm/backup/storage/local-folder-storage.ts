// Backups in a local directory, with the container's layout (DIR/FOLDER/BLOB, one file per blob),
// for `mhsm backup start --dir PATH` without a storage emulator. The directory plays the
// container: it must exist. Folders are 0700 and blobs 0600, as the emulator's other secrets'
// files: a backup holds only material sealed under the security domain, but who may read it
// should still be its owner alone.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BackupFolderStore, type BackupStorage, StorageError, backupFolderName, checkBlobName, checkFolderName } from './backup-storage.js';

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function fromFsError(error: unknown, doing: string, missing: string): StorageError {
  if (error instanceof StorageError) return error;
  const code = errno(error);
  const options = { cause: error };
  if (code === 'ENOENT' || code === 'ENOTDIR') return new StorageError('NotFound', `could not ${doing}: ${missing} does not exist`, undefined, options);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new StorageError('Forbidden', `could not ${doing}: ${code} (permission denied)`, undefined, options);
  return new StorageError('Failed', `could not ${doing}: ${error instanceof Error ? error.message : String(error)}`, undefined, options);
}

/** Every file under `dir`, as `/`-separated names relative to it; none if `dir` is missing. */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  // A walk of our own: readdir's `recursive` option differs between the Node 20 releases we run on.
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (errno(error) === 'ENOENT') return [];
    throw error;
  }
  const names: string[] = [];
  for (const entry of entries) {
    if (entry.isFile()) names.push(`${prefix}${entry.name}`);
    else if (entry.isDirectory()) names.push(...(await filesUnder(path.join(dir, entry.name), `${prefix}${entry.name}/`)));
  }
  return names;
}

/** Opens a local directory as backup storage; `dir` must be a non-empty path (it is checked by check()). */
export function openLocalFolderStorage(dir: string): BackupStorage {
  if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0')) throw new StorageError('BadUri', 'dir: required, the path of an existing directory', 'dir');
  const root = path.resolve(dir);
  const where = `local directory ${root}`;

  const folderStore = (folder: string): BackupFolderStore => {
    const folderDir = path.join(root, folder);
    const fileOf = (name: string) => {
      checkBlobName(name);
      return path.join(folderDir, ...name.split('/'));
    };
    return {
      name: folder,
      where: `folder ${folder} in ${where}`,
      uri: pathToFileURL(folderDir).href,
      async write(name, data) {
        const file = fileOf(name);
        // Written beside its place under a name no blob can have (a segment starting with '.'),
        // flushed, then renamed: a crash leaves the old blob or the new one, never a torn one.
        const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
        try {
          await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
          const handle = await open(temporary, 'wx', 0o600);
          try {
            await handle.writeFile(data);
            await handle.sync();
          } finally {
            await handle.close();
          }
          await rename(temporary, file);
        } catch (error) {
          await rm(temporary, { force: true }).catch(() => undefined);
          throw fromFsError(error, `write blob ${name} in folder ${folder} of ${where}`, where);
        }
      },
      async read(name) {
        const file = fileOf(name);
        try {
          return await readFile(file);
        } catch (error) {
          throw fromFsError(error, `read blob ${name}`, `blob ${name} of folder ${folder} in ${where}`);
        }
      },
      async list() {
        try {
          // Only names a blob can have: the leftovers of an interrupted write start with '.'.
          return (await filesUnder(folderDir)).filter((name) => isBlobName(name)).sort();
        } catch (error) {
          throw fromFsError(error, `list folder ${folder}`, `folder ${folder} in ${where}`);
        }
      },
    };
  };

  return {
    where,
    async check(needed) {
      try {
        const info = await stat(root);
        if (!info.isDirectory()) throw new StorageError('NotFound', `dir: ${root} is not a directory`, 'dir');
        await access(root, needed === 'write' ? constants.W_OK | constants.X_OK : constants.R_OK | constants.X_OK);
      } catch (error) {
        throw fromFsError(error, needed === 'write' ? `write to ${where}` : `read from ${where}`, where);
      }
    },
    newFolder: (hsmName, now) => folderStore(backupFolderName(hsmName, now)),
    folder(name) {
      checkFolderName(name, 'folder');
      return folderStore(name);
    },
  };
}

function isBlobName(name: string): boolean {
  try {
    checkBlobName(name);
    return true;
  } catch {
    return false;
  }
}
