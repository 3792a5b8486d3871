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
  // Until the first twenty are on disk (not a guessed pause): the last of them is in the file.
  for (let i = 0; i < 500 && !(existsSync(log.file) && readFileSync(log.file, 'utf8').includes('"r-19"')); i++) await new Promise((r) => setTimeout(r, 5));
  rmSync(log.file);
  for (let n = 20; n < 40; n++) log.record(entry(n));
  await log.close();
  const files = [log.file, `${log.file}.1`, `${log.file}.2`, `${log.file}.3`].filter(existsSync);
  const ids = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).requestId as string));
  // Every line after the removal is in the files that were kept (the newest 3 rotations and the
  // current one hold more than those twenty lines), once.
  const after = Array.from({ length: 20 }, (_, i) => `r-${20 + i}`);
  expect(ids.filter((id) => after.includes(id)).sort()).toEqual([...after].sort());
  expect(existsSync(`${log.file}.4`)).toBe(false);
});

it('keeps rotated files younger than the minimum retention past `keep`, up to the cap, and drops old ones', async () => {
  const rotate = async (log: AuditLog, batches: number) => {
    for (let b = 0; b < batches; b++) {
      for (let n = 0; n < 5; n++) log.record(entry(b * 10 + n));
      // A rotation waits for the new file to be open: until it is (not a guessed pause).
      await log.opened();
    }
    await log.close();
  };
  const young = new AuditLog(dir, { maxBytes: 300, keep: 2 });
  await rotate(young, 8);
  expect(existsSync(`${young.file}.5`)).toBe(true);
  const capped = new AuditLog(path.join(dir, 'capped'), { maxBytes: 300, keep: 2 });
  await rotate(capped, 30);
  expect(existsSync(`${capped.file}.20`)).toBe(true);
  expect(existsSync(`${capped.file}.21`)).toBe(false);
  const expiring = new AuditLog(path.join(dir, 'expiring'), { maxBytes: 300, keep: 2, minRetentionMs: 0 });
  await rotate(expiring, 8);
  expect(existsSync(`${expiring.file}.2`)).toBe(true);
  expect(existsSync(`${expiring.file}.3`)).toBe(false);
});

it('writes the lines of a turn together, in the order recorded, and close() writes what is still pending', async () => {
  const log = new AuditLog(dir, {});
  for (let n = 0; n < 50; n++) log.record(entry(n));
  // Not yet on disk within the turn that recorded them: written once, at its end.
  const ids = () => (existsSync(log.file) ? readFileSync(log.file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).requestId as string) : []);
  expect(ids()).toEqual([]);
  for (let i = 0; i < 500 && ids().length < 50; i++) await new Promise((r) => setTimeout(r, 5));
  expect(ids()).toEqual(Array.from({ length: 50 }, (_, n) => `r-${n}`));
  // Recorded and closed in the same turn: close() still writes them.
  log.record(entry(50));
  log.record(entry(51));
  await log.close();
  expect(ids().slice(-2)).toEqual(['r-50', 'r-51']);
});
