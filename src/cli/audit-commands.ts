// `mhsm audit tail [-n N] [--follow] [--json]`: the newest lines of DATA/audit/audit.log, as a
// readable table or as the JSON lines themselves; --follow keeps printing, across rotations.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { AuditEntry } from '../audit/audit-entry.js';
import { AUDIT_FILE, auditDirectory } from '../audit/audit-log.js';
import { ConfigError, DEFAULT_DATA_DIR, resolveDataDir } from './config.js';

type Flags = { dataDir?: string; lines: string; follow?: boolean; json?: boolean };

const FOLLOW_INTERVAL_MS = 200;

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

/** Prints what is appended to `file` from `offset` on, until interrupted. */
function follow(file: string, offset: number, print: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    let position = offset;
    let inode = existsSync(file) ? statSync(file).ino : 0;
    let partial = '';
    const timer = setInterval(() => {
      if (!existsSync(file)) return;
      const stat = statSync(file);
      if (stat.ino !== inode || stat.size < position) {
        inode = stat.ino; // rotated: the new file from its start
        position = 0;
        partial = '';
      }
      if (stat.size === position) return;
      const fd = openSync(file, 'r');
      try {
        const buffer = Buffer.alloc(stat.size - position);
        readSync(fd, buffer, 0, buffer.length, position);
        position = stat.size;
        const lines = (partial + buffer.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) if (line !== '') print(line);
      } finally {
        closeSync(fd);
      }
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
