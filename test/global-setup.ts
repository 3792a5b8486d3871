// One CA for the whole run, made before the test workers start, so that NODE_EXTRA_CA_CERTS
// (read by Node at start-up) lets every worker and child process trust the emulators the tests
// start: each test's data directory is seeded with this CA. TLS checks stay on everywhere.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTls } from '../src/server/tls.js';

export default async function setup(): Promise<() => void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-test-ca-'));
  const { caPath } = await ensureTls(dir, ['localhost']);
  process.env.NODE_EXTRA_CA_CERTS = caPath;
  process.env.MHSM_TEST_CA_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
