// One emulator per data directory. `mhsm start` takes DATA/mhsm.lock before it touches anything
// else there: the file names the holder's pid and when that process started (so that a pid the
// system reused for another program does not count), is made with O_EXCL, and goes when the
// holder exits. After a SIGKILL the file stays, names a process that is gone, and the next start
// takes it over.
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export const LOCK_FILE = 'mhsm.lock';
/** Where `mhsm` commands find the running emulator (written once it listens). */
export const SERVER_FILE = 'server.json';

/** The data directory cannot be used: one line says why. */
export class DataDirError extends Error {}

interface LockContent {
  pid: number;
  /** The process's start time as the kernel counts it (field 22 of /proc/PID/stat), where known. */
  started: string | null;
}

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(holder: LockContent): boolean {
  if (holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const started = startTimeOf(holder.pid);
  return holder.started === null || started === null || started === holder.started;
}

function readHolder(file: string): LockContent | undefined {
  try {
    const content = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockContent>;
    return typeof content.pid === 'number' ? { pid: content.pid, started: content.started ?? null } : undefined;
  } catch {
    return undefined; // half-written by a process killed while writing it: nobody holds it
  }
}

/** DATA/server.json: the URL and pid of the emulator listening on this data directory, if one is. */
export function runningServer(dataDir: string): { url: string; pid: number } | undefined {
  try {
    const server = JSON.parse(readFileSync(path.join(dataDir, SERVER_FILE), 'utf8')) as { url?: unknown; pid?: unknown };
    return typeof server.url === 'string' && typeof server.pid === 'number' ? { url: server.url, pid: server.pid } : undefined;
  } catch {
    return undefined; // not listening (yet)
  }
}

/** Written once the emulator listens, where `mhsm` commands find it (0600). */
export function writeServerFile(dataDir: string, url: string): void {
  writeFileSync(path.join(dataDir, SERVER_FILE), `${JSON.stringify({ url, pid: process.pid })}\n`, { mode: 0o600 });
}

function runningUrl(dataDir: string, pid: number): string {
  const server = runningServer(dataDir);
  return server?.pid === pid ? server.url : 'not listening yet';
}

const REASONS: Record<string, string> = {
  ENOTDIR: 'it (or a directory above it) is a file',
  EEXIST: 'it is a file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  SQLITE_FULL: 'the disk is full',
  SQLITE_READONLY: 'the file system is read-only',
};

const DISK_OR_PERMISSION = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'SQLITE_FULL', 'SQLITE_READONLY']);

/** Says, in words a user can act on, why the directory cannot be used. */
function explain(dataDir: string, error: unknown): DataDirError {
  const code = (error as NodeJS.ErrnoException).code;
  return new DataDirError(`cannot use the data directory ${dataDir}: ${(code && REASONS[code]) ?? (error as Error).message}`, { cause: error });
}

/** A start that failed for want of disk or permission is told as the data directory's problem; other failures as they are. */
export function asDataDirProblem(dataDir: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && DISK_OR_PERMISSION.has(code) ? explain(dataDir, error) : error;
}

export interface DataDirLock {
  /** Whether the directory held nothing before this start (a failed first start then removes what it made). */
  readonly fresh: boolean;
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE);
  let fresh: boolean;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (!statSync(dataDir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    fresh = readdirSync(dataDir).filter((name) => name !== LOCK_FILE).length === 0;
  } catch (error) {
    throw explain(dataDir, error);
  }
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw explain(dataDir, error);
      const holder = readHolder(file);
      if (holder && alive(holder)) {
        throw new DataDirError(`the data directory ${dataDir} is in use by the emulator with pid ${holder.pid} (${runningUrl(dataDir, holder.pid)}): stop it first, or start with another --data-dir`);
      }
      rmSync(file, { force: true }); // a stale lock: its holder is gone
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify({ pid: process.pid, started: startTimeOf(process.pid) } satisfies LockContent)}\n`);
    } catch (error) {
      closeSync(fd);
      rmSync(file, { force: true });
      throw explain(dataDir, error);
    }
    closeSync(fd);
    break;
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    if (readHolder(file)?.pid !== process.pid) return; // not ours any more
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.on('exit', release);
  return { fresh, release };
}

/** After a failed first start: removes everything it made, so that no later start trusts half of it. */
export function removeFirstStart(dataDir: string): void {
  for (const name of readdirSync(dataDir)) {
    if (name !== LOCK_FILE) rmSync(path.join(dataDir, name), { recursive: true, force: true });
  }
}

/** Removes server.json only if this process wrote it. */
export function removeServerFile(dataDir: string): void {
  if (runningServer(dataDir)?.pid === process.pid) rmSync(path.join(dataDir, SERVER_FILE), { force: true });
}
