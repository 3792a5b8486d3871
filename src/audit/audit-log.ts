// The audit log: one JSON line per data-plane request in DATA/audit/audit.log, rotated by size
// (audit.log.1 is the newest rotated file), optionally copied to stdout. Lines go through a write
// stream: a request never waits for the disk.
import { type WriteStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { AuditEntry } from './audit-entry.js';

export interface AuditLogOptions {
  /** Rotate once the current file would grow past this many bytes. */
  maxBytes?: number;
  /** How many rotated files to keep. */
  keep?: number;
  /** Also write each line to stdout. */
  stdout?: boolean;
}

export const AUDIT_FILE = 'audit.log';
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const DEFAULT_KEEP = 5;

export function auditDirectory(dataDir: string): string {
  return path.join(dataDir, 'audit');
}

export class AuditLog {
  readonly file: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #stdout: boolean;
  #stream: WriteStream;
  #bytes: number;

  constructor(dataDir: string, options: AuditLogOptions = {}) {
    const dir = auditDirectory(dataDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, AUDIT_FILE);
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#keep = options.keep ?? DEFAULT_KEEP;
    this.#stdout = options.stdout ?? false;
    this.#bytes = existsSync(this.file) ? statSync(this.file).size : 0;
    this.#stream = this.#open();
  }

  #open(): WriteStream {
    const stream = createWriteStream(this.file, { flags: 'a', mode: 0o600 });
    stream.on('error', (error) => process.stderr.write(`mhsm: audit log: ${error.message}\n`));
    return stream;
  }

  record(entry: AuditEntry): void {
    const line = `${JSON.stringify(entry)}\n`;
    const bytes = Buffer.byteLength(line);
    // A stream still opening its file has no descriptor yet to carry over a rename: rotate later.
    if (this.#bytes > 0 && this.#bytes + bytes > this.#maxBytes && !this.#stream.pending) this.#rotate();
    this.#stream.write(line);
    this.#bytes += bytes;
    if (this.#stdout) process.stdout.write(line);
  }

  /**
   * audit.log → audit.log.1 → … → audit.log.{keep}; the oldest goes. The open stream keeps its
   * descriptor, so what it still has to write lands in audit.log.1; a new audit.log is opened.
   */
  #rotate(): void {
    this.#bytes = 0;
    const old = this.#stream;
    try {
      if (existsSync(this.file)) {
        rmSync(`${this.file}.${this.#keep}`, { force: true });
        for (let n = this.#keep - 1; n >= 1; n--) {
          if (existsSync(`${this.file}.${n}`)) renameSync(`${this.file}.${n}`, `${this.file}.${n + 1}`);
        }
        renameSync(this.file, `${this.file}.1`);
      }
    } catch (error) {
      process.stderr.write(`mhsm: audit log rotation failed: ${(error as Error).message}\n`);
    }
    this.#stream = this.#open();
    old.end();
  }

  /** Writes out what is buffered and closes the file. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#stream.end(() => resolve());
    });
  }
}
