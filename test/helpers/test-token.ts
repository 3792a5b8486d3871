// A fresh SoftHSM2 token in a temporary data directory, provisioned exactly as `mhsm start`
// provisions its embedded token. One per test file (each file runs in its own process).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type EmbeddedToken, provisionEmbeddedToken } from '../../src/token/embedded-softhsm.js';

export interface TestToken extends EmbeddedToken {
  dataDir: string;
  remove(): void;
}

export async function createTestToken(): Promise<TestToken> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-test-'));
  try {
    const embedded = await provisionEmbeddedToken(dataDir);
    return { ...embedded, dataDir, remove: () => rmSync(dataDir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(
      `cannot provision a SoftHSM2 test token (${(error as Error).message}). ` +
        'The token-backed tests need SoftHSM2: apt-get install -y softhsm2 (or set MHSM_PKCS11_MODULE).',
      { cause: error },
    );
  }
}
