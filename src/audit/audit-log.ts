// The audit log: one JSON line per data-plane request in DATA/audit/audit.log, rotated by size
// (audit.log.1 is the newest rotated file), optionally copied to stdout. Writes are buffered and
// asynchronous (sonic-boom): a request never waits for the disk.
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import SonicBoomModule from 'sonic-boom';
import type { AuditEntry } from './audit-entry.js';

export interface AuditLogOptions {
  /** Rotate once the current file would grow past this many bytes. */
  maxBytes?: number;
  /** How many rotated files to keep. */
  keep?: number;
  /** Also write each line to stdout. */
  stdout?: boolean;
}

// sonic-boom is CommonJS: its class is the module's default export at run time.
const SonicBoom = SonicBoomModule as unknown as typeof SonicBoomModule.SonicBoom;
type SonicBoom = InstanceType<typeof SonicBoom>;

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
  readonly #destination: SonicBoom;
  #bytes: number;

  constructor(dataDir: string, options: AuditLogOptions = {}) {
    const dir = auditDirectory(dataDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, AUDIT_FILE);
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#keep = options.keep ?? DEFAULT_KEEP;
    this.#stdout = options.stdout ?? false;
    this.#bytes = existsSync(this.file) ? statSync(this.file).size : 0;
    this.#destination = new SonicBoom({ dest: this.file, append: true, mkdir: true, mode: 0o600, sync: false });
  }

  record(entry: AuditEntry): void {
    const line = `${JSON.stringify(entry)}\n`;
    const bytes = Buffer.byteLength(line);
    if (this.#bytes > 0 && this.#bytes + bytes > this.#maxBytes) this.#rotate();
    this.#destination.write(line);
    this.#bytes += bytes;
    if (this.#stdout) process.stdout.write(line);
  }

  /** audit.log → audit.log.1 → … → audit.log.{keep}; the oldest goes. The open file moves with its name. */
  #rotate(): void {
    rmSync(`${this.file}.${this.#keep}`, { force: true });
    for (let n = this.#keep - 1; n >= 1; n--) {
      if (existsSync(`${this.file}.${n}`)) renameSync(`${this.file}.${n}`, `${this.file}.${n + 1}`);
    }
    renameSync(this.file, `${this.file}.1`);
    this.#destination.reopen();
    this.#bytes = 0;
  }

  /** Writes out what is buffered and closes the file. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#destination.once('close', () => resolve());
      this.#destination.end();
    });
  }
}
