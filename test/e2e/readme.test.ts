// The README holds: its JavaScript snippet runs verbatim from a directory of its own against a
// running emulator, and its command list names every command `mhsm` has.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');
let emulator: EmulatorProcess;
let app: string;

/** The first fenced block of `language` after `heading`. */
function blockAfter(heading: string, language: string): string {
  const from = readme.indexOf(heading);
  expect(from, heading).toBeGreaterThanOrEqual(0);
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(readme.slice(from));
  expect(match, `a ${language} block after ${heading}`).not.toBeNull();
  return (match as RegExpExecArray)[1] as string;
}

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir());
  // An application's own directory, with the two packages installed (here: the project's).
  app = mkdtempSync(path.join(os.tmpdir(), 'mhsm-readme-app-'));
  symlinkSync(new URL('node_modules', root).pathname, path.join(app, 'node_modules'));
  writeFileSync(path.join(app, 'app.mjs'), blockAfter('## Using it from the official SDKs', 'js'));
});

afterAll(async () => {
  await emulator?.stop();
  if (emulator) removeDataDir(emulator.dataDir);
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the README', () => {
  it("runs its JavaScript snippet verbatim from another directory: a key id and a 64-byte signature", async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        ['app.mjs'],
        { cwd: app, env: { PATH: process.env.PATH ?? '', MHSM_DATA_DIR: emulator.dataDir, NODE_EXTRA_CA_CERTS: path.join(emulator.dataDir, 'ca.pem') }, timeout: 60_000 },
        (error, out, err) => resolve({ code: error ? 1 : 0, stdout: out, stderr: err }),
      ),
    );
    expect(code, stderr).toBe(0);
    expect(stdout.trim()).toMatch(new RegExp(`^${emulator.url.replace(/[.]/g, '\\.')}/keys/signing-key/[0-9a-f]{32} 64$`));
  });

  it('lists every command of mhsm', () => {
    const list = blockAfter('## The `mhsm` command', 'sh');
    const names = buildProgram().commands.map((command) => command.name());
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) expect(list, name).toMatch(new RegExp(`(mhsm\\.js|\\|)\\s+${name}\\b`));
  });
});
