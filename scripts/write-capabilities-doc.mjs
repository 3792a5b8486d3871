// Writes docs/capabilities/<module>-<version>.md from the probe of a fresh embedded token (or of
// the module that MHSM_MODULE, MHSM_TOKEN_LABEL and MHSM_PIN name). Run: npm run docs:capabilities
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-capabilities-'));
try {
  const run = (flag) => execFileSync(process.execPath, [path.join(root, 'bin/mhsm.js'), 'capabilities', '--data-dir', dataDir, flag], { encoding: 'utf8' });
  const { token } = JSON.parse(run('--json'));
  const name = `${token.model}-${token.library.version}`.toLowerCase().replace(/[^a-z0-9.]+/g, '-');
  const file = path.join(root, 'docs', 'capabilities', `${name}.md`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, run('--markdown'));
  console.log(`written: ${path.relative(root, file)}`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
