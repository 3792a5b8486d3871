// The audit log: one JSON line per data-plane request in DATA/audit/audit.log, rotated by size
// (audit.log.1 is the newest rotated file), optionally copied to stdout. Lines go through a write
// stream: a request never waits for the disk. Refusals of unauthenticated callers are folded
// (refusal-folding.ts), and rotated files are kept for a minimum time even past `keep`, so that
// the history of authenticated operations survives a flood.
import { type WriteStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { AuditEntry } from './audit-entry.js';
import { REFUSAL_FOLDING, RefusalFolding, type RefusalFoldingOptions } from './refusal-folding.js';

export interface AuditLogOptions {
  /** Rotate once the current file would grow past this many bytes. */
  maxBytes?: number;
  /** How many rotated files to keep. */
  keep?: number;
  /** Also write each line to stdout. */
  stdout?: boolean;
  /** Rotated files younger than this are kept even past `keep` (up to MAX_AUDIT_FILES). */
  minRetentionMs?: number;
  refusals?: RefusalFoldingOptions;
}

export const AUDIT_FILE = 'audit.log';
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const DEFAULT_KEEP = 5;
const DEFAULT_MIN_RETENTION_MS = 7 * 86_400_000;
/** Rotated files kept at the most, whatever their age: the disk is finite too. */
export const MAX_AUDIT_FILES = 20;

export function auditDirectory(dataDir: string): string {
  return path.join(dataDir, 'audit');
}

export class AuditLog {
  readonly file: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #stdout: boolean;
  readonly #minRetentionMs: number;
  readonly #refusals: RefusalFolding;
  readonly #summaryTimer: NodeJS.Timeout;
  #stream: WriteStream;
  #bytes: number;
  #pending: string[] = [];

  constructor(dataDir: string, options: AuditLogOptions = {}) {
    const dir = auditDirectory(dataDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, AUDIT_FILE);
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#keep = options.keep ?? DEFAULT_KEEP;
    this.#stdout = options.stdout ?? false;
    this.#minRetentionMs = options.minRetentionMs ?? DEFAULT_MIN_RETENTION_MS;
    this.#bytes = existsSync(this.file) ? statSync(this.file).size : 0;
    this.#stream = this.#open();
    const refusals = options.refusals ?? REFUSAL_FOLDING;
    this.#refusals = new RefusalFolding((entry) => this.#write(entry), refusals);
    this.#summaryTimer = setInterval(() => this.#refusals.flush(false), refusals.windowMs);
    this.#summaryTimer.unref();
  }

  #open(): WriteStream {
    const stream = createWriteStream(this.file, { flags: 'a', mode: 0o600 });
    stream.on('error', (error) => process.stderr.write(`mhsm: audit log: ${error.message}\n`));
    return stream;
  }

  record(entry: AuditEntry): void {
    this.#refusals.record(entry);
  }

  /**
   * Lines of one turn of the event loop go to the file together, at the end of the turn: one
   * write per turn, not one per request (until then they are in memory, as they are in the
   * stream's own buffer while a write is under way).
   */
  #write(entry: AuditEntry): void {
    this.#pending.push(`${JSON.stringify(entry)}\n`);
    if (this.#pending.length === 1) setImmediate(this.#flushPending);
  }

  readonly #flushPending = (): void => {
    const lines = this.#pending;
    if (lines.length === 0) return;
    this.#pending = [];
    let chunk = '';
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      // A stream still opening its file has no descriptor yet to carry over a rename: rotate later.
      if (this.#bytes > 0 && this.#bytes + bytes > this.#maxBytes && !this.#stream.pending) {
        if (chunk) this.#stream.write(chunk);
        chunk = '';
        this.#rotate();
      }
      chunk += line;
      this.#bytes += bytes;
    }
    this.#stream.write(chunk);
    if (this.#stdout) process.stdout.write(lines.join(''));
  };

  /**
   * audit.log → audit.log.1 → … → audit.log.N. Past `keep` files, the oldest go unless they are
   * younger than the minimum retention; past MAX_AUDIT_FILES they go whatever their age. The open
   * stream keeps its descriptor, so what it still has to write lands in audit.log.1; a new
   * audit.log is opened.
   */
  #rotate(): void {
    this.#bytes = 0;
    const old = this.#stream;
    try {
      if (existsSync(this.file)) {
        let last = 0;
        while (last < MAX_AUDIT_FILES && existsSync(`${this.file}.${last + 1}`)) last++;
        const now = Date.now();
        // The oldest files beyond `keep` that have outlived the minimum retention, or that would
        // pass the cap, are removed before the others move up.
        for (let n = last; n >= this.#keep; n--) {
          // mtimeMs has a fraction that Date.now() lacks: a file written within this millisecond
          // is 0 ms old, not less.
          const expired = now - Math.floor(statSync(`${this.file}.${n}`).mtimeMs) >= this.#minRetentionMs;
          if (n >= MAX_AUDIT_FILES || expired) {
            rmSync(`${this.file}.${n}`, { force: true });
            last = n - 1;
          } else {
            break;
          }
        }
        for (let n = last; n >= 1; n--) renameSync(`${this.file}.${n}`, `${this.file}.${n + 1}`);
        renameSync(this.file, `${this.file}.1`);
      }
    } catch (error) {
      process.stderr.write(`mhsm: audit log rotation failed: ${(error as Error).message}\n`);
    }
    this.#stream = this.#open();
    old.end();
  }

  /** Resolves once the current file is open: a line recorded after it can rotate the file. */
  opened(): Promise<void> {
    this.#flushPending();
    const stream = this.#stream;
    return stream.pending ? new Promise((resolve) => stream.once('ready', () => resolve())) : Promise.resolve();
  }

  /** Writes out what is buffered and closes the file. */
  close(): Promise<void> {
    clearInterval(this.#summaryTimer);
    this.#refusals.flush(true);
    this.#flushPending();
    return new Promise((resolve) => {
      this.#stream.end(() => resolve());
    });
  }
}
