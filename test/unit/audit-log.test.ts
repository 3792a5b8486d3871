import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/audit/audit-entry.js';
import { AuditLog } from '../../src/audit/audit-log.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-audit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const entry = (n: number) => ({ time: new Date().toISOString(), operationName: 'KeyGet', requestId: `r-${n}` }) as unknown as AuditEntry;

it('keeps writing when the current file was removed under it, losing no line after', async () => {
  const log = new AuditLog(dir, { maxBytes: 600, keep: 3 });
  for (let n = 0; n < 20; n++) log.record(entry(n));
  await new Promise((r) => setTimeout(r, 100));
  rmSync(log.file);
  for (let n = 20; n < 40; n++) log.record(entry(n));
  await log.close();
  const files = [log.file, `${log.file}.1`, `${log.file}.2`, `${log.file}.3`].filter(existsSync);
  const ids = new Set(files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).requestId)));
  // Lines after the removal are all in the files that were kept (the newest 3 rotations and the current one).
  expect([36, 37, 38, 39].every((n) => ids.has(`r-${n}`))).toBe(true);
  expect(existsSync(`${log.file}.4`)).toBe(false);
});
