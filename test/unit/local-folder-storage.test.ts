// The local directory as backup storage (src/hsm/backup/storage/local-folder-storage.ts), over
// real temporary folders: what a listing shows, what a failed write leaves, and how each refusal
// of the file system is told (NotFound, Forbidden, Failed) with its exact message and its cause.
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/hsm/backup/storage/backup-storage.js';
import { openLocalFolderStorage } from '../../src/hsm/backup/storage/local-folder-storage.js';

const roots: string[] = [];
function tempRoot(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-local-store-'));
  roots.push(dir);
  return dir;
}

/**
 * A directory this process may read but not change: immutable for root (who passes every mode
 * check; the kernel answers EPERM), mode 0500 for anyone else (EACCES). Undefined where neither
 * can be had.
 */
function readOnlyDirectory(): { dir: string; code: string; release(): void } | undefined {
  const dir = tempRoot();
  if (process.getuid?.() === 0) {
    try {
      execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
    } catch {
      return undefined;
    }
    return { dir, code: 'EPERM', release: () => execFileSync('chattr', ['-i', dir], { stdio: 'ignore' }) };
  }
  chmodSync(dir, 0o500);
  return { dir, code: 'EACCES', release: () => chmodSync(dir, 0o700) };
}

/** The code the kernel gives for making a file in /sys (sysfs takes none), if it refuses. */
function sysfsRefusal(): string | undefined {
  try {
    closeSync(openSync('/sys/.mhsm-probe', 'wx'));
    unlinkSync('/sys/.mhsm-probe');
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
}

/** A read-only file system (a small tmpfs mounted read-only; root only), where the machine lets one be mounted. */
function readOnlyMount(): { dir: string; release(): void } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = tempRoot();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return { dir, release: () => execFileSync('umount', ['-l', dir], { stdio: 'ignore' }) };
}

const readOnly = readOnlyDirectory();
const readOnlyFs = readOnlyMount();
afterAll(() => {
  readOnly?.release();
  readOnlyFs?.release();
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

async function storageRefusal(promise: Promise<unknown>): Promise<{ code: string; message: string; field: string | undefined; cause: unknown }> {
  const error = await promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  const { code, message, field, cause } = error as StorageError;
  return { code, message, field, cause };
}

const FOLDER = 'mhsm-contoso-2030061512000000';

describe('listing', () => {
  it('names every blob under the folder, sorted as whole names rather than folder by folder', async () => {
    const root = tempRoot();
    const folder = openLocalFolderStorage(root).folder(FOLDER);
    // A walk gives x/1 right after x; as names, x-1 and x.1 come before x/1, and x0 after it.
    const names = ['z', 'x0', 'x/2', 'x/1', 'x.1', 'x-1', 'keys/k9', 'keys/k10', 'keys/deep/k', 'b', 'a.2', 'a.10', 'A', '_'];
    for (const name of names) await folder.write(name, Buffer.from(name));
    expect(await folder.list()).toEqual(['A', '_', 'a.10', 'a.2', 'b', 'keys/deep/k', 'keys/k10', 'keys/k9', 'x-1', 'x.1', 'x/1', 'x/2', 'x0', 'z']);
  });

  it('follows no link: neither a file nor a folder elsewhere is listed through one', async () => {
    const root = tempRoot();
    const elsewhere = tempRoot();
    writeFileSync(path.join(elsewhere, 'secret'), 'not a blob of this folder');
    const folder = openLocalFolderStorage(root).folder(FOLDER);
    await folder.write('own', Buffer.from('blob'));
    symlinkSync(elsewhere, path.join(root, FOLDER, 'linked-folder'));
    symlinkSync(path.join(elsewhere, 'secret'), path.join(root, FOLDER, 'linked-file'));
    expect(await folder.list()).toEqual(['own']);
  });

  it('answers NotFound, with the file system\'s error as cause, for a folder that is a file', async () => {
    const root = tempRoot();
    writeFileSync(path.join(root, FOLDER), 'a file where the folder goes');
    const refusal = await storageRefusal(openLocalFolderStorage(root).folder(FOLDER).list());
    expect(refusal).toMatchObject({
      code: 'NotFound',
      message: `could not list folder ${FOLDER}: folder ${FOLDER} in local directory ${root} does not exist`,
      field: undefined,
    });
    expect(refusal.cause).toMatchObject({ code: 'ENOTDIR', syscall: 'scandir' });
  });
});

describe('writing', () => {
  it('leaves no descriptor open on the blob it wrote', async () => {
    const root = tempRoot();
    const folder = openLocalFolderStorage(root).folder(FOLDER);
    for (const name of ['a', 'keys/b', 'a']) await folder.write(name, Buffer.from(name));
    const open = readdirSync('/proc/self/fd').map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    });
    expect(open.filter((target) => target.startsWith(path.join(root, FOLDER)))).toEqual([]);
    expect(readFileSync(path.join(root, FOLDER, 'a'), 'utf8')).toBe('a');
  });

  it('fails a write it cannot finish with the reason, and removes what it had begun', async () => {
    const root = tempRoot();
    const folder = openLocalFolderStorage(root).folder(FOLDER);
    await folder.write('keys/k', Buffer.from('held'));
    const dir = path.join(root, FOLDER);
    // 'keys' is a folder: the new file is written beside it, and its rename in place fails.
    const refusal = await storageRefusal(folder.write('keys', Buffer.from('new')));
    const escaped = dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(refusal.code).toBe('Failed');
    expect(refusal.message).toMatch(
      new RegExp(`^could not write blob keys in folder ${FOLDER} of local directory ${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: EISDIR: illegal operation on a directory, rename '${escaped}/\\.keys\\.[0-9a-f]{12}\\.tmp' -> '${escaped}/keys'$`),
    );
    expect(refusal.cause).toMatchObject({ code: 'EISDIR', syscall: 'rename' });
    expect(readdirSync(dir)).toEqual(['keys']);
    expect(readdirSync(path.join(dir, 'keys'))).toEqual(['k']);
    expect(await folder.read('keys/k')).toEqual(Buffer.from('held'));
  });

  it('answers NotFound with the cause for a read of a missing blob', async () => {
    const root = tempRoot();
    const refusal = await storageRefusal(openLocalFolderStorage(root).folder(FOLDER).read('keys/none'));
    expect(refusal).toMatchObject({ code: 'NotFound', message: `could not read blob keys/none: blob keys/none of folder ${FOLDER} in local directory ${root} does not exist` });
    expect(refusal.cause).toMatchObject({ code: 'ENOENT', syscall: 'open' });
  });
});

describe('permissions', () => {
  it.runIf(readOnly !== undefined)('checks for reading and for writing apart: a read-only directory may be read from, not written to', async () => {
    const { dir, code } = readOnly!;
    const storage = openLocalFolderStorage(dir);
    await expect(storage.check('read')).resolves.toBeUndefined();
    const refused = await storageRefusal(storage.check('write'));
    expect(refused).toMatchObject({ code: 'Forbidden', message: `could not write to local directory ${dir}: ${code} (permission denied)`, field: undefined });
    expect(refused.cause).toMatchObject({ code, syscall: 'access' });
    expect(await storageRefusal(storage.folder(FOLDER).write('a', Buffer.from('x')))).toMatchObject({
      code: 'Forbidden',
      message: `could not write blob a in folder ${FOLDER} of local directory ${dir}: ${code} (permission denied)`,
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  it.runIf(readOnlyFs !== undefined)('refuses writing to a read-only file system as to a read-only directory', async () => {
    const { dir } = readOnlyFs!;
    const storage = openLocalFolderStorage(dir);
    await expect(storage.check('read')).resolves.toBeUndefined();
    const refused = await storageRefusal(storage.check('write'));
    expect(refused).toMatchObject({ code: 'Forbidden', message: `could not write to local directory ${dir}: EROFS (permission denied)`, field: undefined });
    expect(refused.cause).toMatchObject({ code: 'EROFS' });
  });

  const sysCode = existsSync('/sys') ? sysfsRefusal() : undefined;
  it.runIf(sysCode === 'EACCES' || sysCode === 'EPERM')('answers Forbidden, naming the code, when the system refuses to make a file', async () => {
    const refused = await storageRefusal(openLocalFolderStorage('/').folder('sys').write('a', Buffer.from('x')));
    expect(refused).toMatchObject({ code: 'Forbidden', message: `could not write blob a in folder sys of local directory /: ${sysCode} (permission denied)` });
    expect(refused.cause).toMatchObject({ code: sysCode, syscall: 'open' });
  });
});

describe('names', () => {
  it('refuses a folder name that is not one safe segment, naming the field folder', () => {
    const storage = openLocalFolderStorage(tempRoot());
    for (const name of ['..', '../elsewhere', 'a/b', '.hidden']) {
      let caught: unknown;
      try {
        storage.folder(name);
      } catch (error) {
        caught = error;
      }
      expect(caught, name).toBeInstanceOf(StorageError);
      expect({ code: (caught as StorageError).code, field: (caught as StorageError).field, message: (caught as StorageError).message }, name).toEqual({
        code: 'BadName',
        field: 'folder',
        message: "folder: must be one path segment of 1 to 255 letters, digits, '.', '_' or '-', not starting with '.' or '-'",
      });
    }
  });
});
