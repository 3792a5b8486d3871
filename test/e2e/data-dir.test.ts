// One emulator per data directory, and first starts that fail cleanly: a second start is refused
// at once naming the running one, a lock left by a SIGKILL does not block the next start, a data
// directory that is a file or a busy port gives one line, and a first start that failed leaves
// nothing behind that a later start would trust.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

const running: EmulatorProcess[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const emulator of running) await emulator.stop();
  for (const dir of dirs) removeDataDir(dir);
});

async function started(dataDir: string): Promise<EmulatorProcess> {
  const emulator = await startEmulatorProcess(dataDir);
  running.push(emulator);
  return emulator;
}

async function answers(emulator: EmulatorProcess): Promise<number> {
  return (await callJson(emulator.url, await accessToken(emulator.url, emulator.admin), 'GET', '/keys')).status;
}

function holderPid(dataDir: string): number {
  return (JSON.parse(readFileSync(path.join(dataDir, 'mhsm.lock'), 'utf8')) as { pid: number }).pid;
}

describe('one emulator per data directory', () => {
  it('refuses a second start at once, naming the running one, which goes on serving', async () => {
    const dataDir = seededDataDir();
    dirs.push(dataDir);
    const first = await started(dataDir);
    const pid = holderPid(dataDir);
    const second = await runCli(['start', '--data-dir', dataDir, '--port', '0']);
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toContain(`in use by the emulator with pid ${pid} (${first.url})`);
    expect(second.stdout).not.toMatch(/listening/);
    expect(JSON.parse(readFileSync(path.join(dataDir, 'server.json'), 'utf8'))).toMatchObject({ url: first.url, pid });
    expect(await answers(first)).toBe(200);
  });

  it('starts after the holder was killed with SIGKILL, and releases the lock on a clean stop', async () => {
    const dataDir = seededDataDir();
    dirs.push(dataDir);
    const first = await startEmulatorProcess(dataDir);
    process.kill(holderPid(dataDir), 'SIGKILL');
    await first.stop(); // waits for the exit
    expect(existsSync(path.join(dataDir, 'mhsm.lock'))).toBe(true);
    const again = await startEmulatorProcess(dataDir);
    expect(await answers(again)).toBe(200);
    expect(await again.stop()).toBe(0);
    expect(existsSync(path.join(dataDir, 'mhsm.lock'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'server.json'))).toBe(false);
  });
});

describe('first starts that cannot go on', () => {
  it('names a data directory that is a file, in one line', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'mhsm-file-'));
    dirs.push(parent);
    const file = path.join(parent, 'not-a-dir');
    writeFileSync(file, 'x');
    for (const dataDir of [file, path.join(file, 'below')]) {
      const result = await runCli(['start', '--data-dir', dataDir, '--port', '0']);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toMatch(new RegExp(`^mhsm: error: cannot use the data directory ${dataDir}: it (\\(or a directory above it\\) )?is a file$`));
    }
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  it('names a busy port and how to choose another, and leaves the new data directory empty', async () => {
    const busy = await started(seededDataDir());
    dirs.push(busy.dataDir);
    const port = new URL(busy.url).port;
    const parent = mkdtempSync(path.join(os.tmpdir(), 'mhsm-port-'));
    dirs.push(parent);
    const dataDir = path.join(parent, 'data');
    const result = await runCli(['start', '--data-dir', dataDir, '--port', port]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`mhsm: error: port ${port} on localhost is in use: choose another with --port or MHSM_PORT, or --port 0 for any free one`);
    // The token, CA and administrator it made before the port failed are gone with it.
    expect(readdirSync(dataDir)).toEqual([]);
    // A later start makes all of it anew.
    await started(dataDir);
    expect(readdirSync(dataDir)).toEqual(expect.arrayContaining(['admin.json', 'ca.pem', 'metadata.db', 'softhsm', 'mhsm.lock', 'server.json']));
  });
});

/** A small tmpfs of its own: a disk that fills, or that is read-only (where mount is allowed: root with CAP_SYS_ADMIN; skipped elsewhere). */
function smallFileSystem(kilobytes: number, readOnly: boolean): string | undefined {
  const at = mkdtempSync(path.join(os.tmpdir(), 'mhsm-fs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kilobytes}k`, 'tmpfs', at], { stdio: 'ignore' });
  } catch {
    rmSync(at, { recursive: true, force: true });
    return undefined;
  }
  mkdirSync(path.join(at, 'data'));
  if (readOnly) execFileSync('mount', ['-o', 'remount,ro', at]);
  mounts.push(at);
  return at;
}
const mounts: string[] = [];
afterAll(() => {
  for (const at of mounts) {
    execFileSync('umount', [at]);
    rmSync(at, { recursive: true, force: true });
  }
});

describe('a data directory on a disk that cannot take it', () => {
  it('says the disk is full, naming the directory, and leaves nothing half-made', async (context) => {
    const at = smallFileSystem(192, false);
    if (!at) return context.skip();
    const dataDir = path.join(at, 'data');
    const result = await runCli(['start', '--data-dir', dataDir, '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`mhsm: error: cannot use the data directory ${dataDir}: the disk is full`);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('says the file system is read-only, naming the directory', async (context) => {
    const at = smallFileSystem(1024, true);
    if (!at) return context.skip();
    const dataDir = path.join(at, 'data');
    const result = await runCli(['start', '--data-dir', dataDir, '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(`mhsm: error: cannot use the data directory ${dataDir}: the file system is read-only`);
  });
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
