// `mhsm audit tail [-n N] [--follow] [--json]`: the newest lines of DATA/audit/audit.log, as a
// readable table or as the JSON lines themselves; --follow keeps printing, across rotations.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { AuditEntry } from '../audit/audit-entry.js';
import { AUDIT_FILE, MAX_AUDIT_FILES, auditDirectory } from '../audit/audit-log.js';
import { ConfigError, DEFAULT_DATA_DIR, resolveDataDir } from './config.js';

type Flags = { dataDir?: string; lines: string; follow?: boolean; json?: boolean };

const FOLLOW_INTERVAL_MS = 200;
/** As many as the emulator keeps at the most. */
const ROTATED_FILES_LOOKED_AT = MAX_AUDIT_FILES;

function readable(line: string): string {
  let entry: AuditEntry;
  try {
    entry = JSON.parse(line) as AuditEntry;
  } catch {
    return line;
  }
  const caller = entry.identity ? entry.identity.claim.appid : '-';
  const key = entry.properties.key ? `${entry.properties.key.name}${entry.properties.key.version ? `/${entry.properties.key.version}` : ''}` : '';
  return [entry.time, String(entry.properties.httpStatusCode), entry.operationName.padEnd(22), caller.padEnd(36), `${entry.durationMs} ms`.padStart(9), key]
    .join('  ')
    .trimEnd();
}

function printer(json: boolean): (line: string) => void {
  return (line) => console.log(json ? line : readable(line));
}

/** Reads `path` from `position` to its end; returns the text and the new position. */
function readFrom(path: string, position: number): { text: string; position: number } {
  const size = statSync(path).size;
  if (size <= position) return { text: '', position };
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(size - position);
    const read = readSync(fd, buffer, 0, buffer.length, position);
    return { text: buffer.subarray(0, read).toString('utf8'), position: position + read };
  } finally {
    closeSync(fd);
  }
}

/** Prints what is appended to `file` from `offset` on, until interrupted, across rotations. */
function follow(file: string, offset: number, print: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    // A file is known by its inode and birth time: a removed file's inode number comes back soon.
    const identity = (f: string) => {
      const stat = statSync(f);
      return { id: `${stat.ino}:${stat.birthtimeMs}`, born: stat.birthtimeMs };
    };
    let reading = existsSync(file) ? identity(file) : { id: '', born: Date.now() };
    let position = offset;
    let partial = '';
    const emit = (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line !== '') print(line);
    };
    const timer = setInterval(() => {
      if (!existsSync(file)) return;
      const current = identity(file);
      if (current.id !== reading.id) {
        // Rotated, perhaps several times since the last look: the rest of the file we were
        // reading is now audit.log.N, and the files rotated after it come whole, oldest first.
        const rotated = Array.from({ length: ROTATED_FILES_LOOKED_AT }, (_, i) => `${file}.${i + 1}`)
          .filter((f) => existsSync(f))
          .map((f) => ({ f, ...identity(f) }));
        const ours = rotated.findIndex((r) => r.id === reading.id);
        if (ours >= 0) emit(readFrom((rotated[ours] as { f: string }).f, position).text);
        const newer = rotated.filter((r, i) => (ours >= 0 ? i < ours : r.born >= reading.born && r.id !== reading.id));
        for (const r of newer.reverse()) emit(readFrom(r.f, 0).text);
        partial = '';
        reading = current;
        position = 0;
      } else if (statSync(file).size < position) {
        position = 0; // truncated in place
      }
      const next = readFrom(file, position);
      position = next.position;
      emit(next.text);
    }, FOLLOW_INTERVAL_MS);
    const stop = () => {
      clearInterval(timer);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function addAuditCommands(program: Command): void {
  program
    .command('audit')
    .description('the audit log of data-plane requests')
    .command('tail')
    .description('print the newest audit lines (time, status, operation, caller, duration, key)')
    .option('--data-dir <dir>', `data directory (MHSM_DATA_DIR, default ${DEFAULT_DATA_DIR})`)
    .option('-n, --lines <n>', 'how many lines', '20')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--json', 'print the JSON lines as they are')
    .action(async (flags: Flags) => {
      const count = Number(flags.lines);
      if (!Number.isInteger(count) || count < 0) throw new ConfigError(`--lines must be a whole number, not '${flags.lines}'`);
      const file = path.join(auditDirectory(resolveDataDir(flags.dataDir)), AUDIT_FILE);
      if (!existsSync(file) && !flags.follow) throw new ConfigError(`no audit log at ${file}: the emulator has not run on this data directory`);
      const print = printer(flags.json ?? false);
      const content = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
      const lines = content.toString('utf8').split('\n').filter((line) => line !== '');
      for (const line of count === 0 ? [] : lines.slice(-count)) print(line);
      if (flags.follow) await follow(file, content.length, print);
    });
}
