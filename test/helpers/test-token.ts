// A fresh SoftHSM2 token in a temporary data directory, provisioned exactly as `mhsm start`
// provisions its embedded token. One per test file (each file runs in its own process).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { afterAll, beforeAll } from 'vitest';
import { type EmbeddedToken, provisionEmbeddedToken } from '../../src/token/embedded-softhsm.js';
import { type NativeModule, loadNativeModule } from '../../src/native/addon.js';
import { Token } from '../../src/token/token.js';
import { openUserSession, slotByLabel } from './pkcs11.js';

export interface TestToken extends EmbeddedToken {
  dataDir: string;
  remove(): void;
}

/**
 * In the mutation run (test/mutation-setup.ts) test files run in worker threads of one process,
 * where SoftHSM2 sees one configuration and so one token directory: the token of the file before
 * is removed from it first, so that the label (always the embedded token's) finds this one.
 */
function clearSharedTokenDirectory(): void {
  const shared = process.env.MHSM_MUTATION_TOKEN_DIR;
  if (isMainThread || !shared) return;
  for (const entry of readdirSync(shared)) rmSync(path.join(shared, entry), { recursive: true, force: true });
}

/**
 * The token suites can run against another module than a fresh SoftHSM2 token: MHSM_TEST_TOKEN_MODULE,
 * _LABEL and _PIN name it (test/pkcs11-provider/token-layer.test.ts runs test/token/token.test.ts
 * so against libmhsm-pkcs11.so). Nothing is provisioned then, and nothing removed but the scratch directory.
 */
function namedTestToken(): TestToken | undefined {
  const modulePath = process.env.MHSM_TEST_TOKEN_MODULE;
  if (!modulePath) return undefined;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-test-'));
  const label = process.env.MHSM_TEST_TOKEN_LABEL ?? '';
  const pin = process.env.MHSM_TEST_TOKEN_PIN ?? '';
  return { modulePath, label, pin, soPin: pin, configPath: '', tokenDir: '', pinsPath: '', dataDir, remove: () => rmSync(dataDir, { recursive: true, force: true }) };
}

export async function createTestToken(): Promise<TestToken> {
  const named = namedTestToken();
  if (named) return named;
  clearSharedTokenDirectory();
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

export interface OpenTestToken {
  testToken: TestToken;
  token: Token;
  /** Closes the token and removes its directory. */
  close(): void;
}

/** A fresh test token, opened through the token layer as the emulator opens its own. */
export async function openTestToken(): Promise<OpenTestToken> {
  const testToken = await createTestToken();
  const token = await Token.open({ modulePath: testToken.modulePath, label: testToken.label, pin: testToken.pin });
  return {
    testToken,
    token,
    close() {
      token.close();
      testToken.remove();
    },
  };
}

export interface NativeTestToken {
  token: TestToken;
  module: NativeModule;
  slot: number;
  /** A logged-in read-write session. */
  session: number;
  close(): void;
}

/** A fresh test token reached through the addon alone, with its module initialised. */
export async function openNativeTestToken(): Promise<NativeTestToken> {
  const token = await createTestToken();
  const module = loadNativeModule(token.modulePath);
  module.initialize();
  const slot = await slotByLabel(module, token.label);
  const session = await openUserSession(module, slot, token.pin);
  return {
    token,
    module,
    slot,
    session,
    close() {
      module.finalize();
      token.remove();
    },
  };
}

/** A fresh test token for the whole file, opened before its tests and removed after them. */
export function tokenPerFile(): { readonly token: Token; readonly testToken: TestToken } {
  const current = {} as { token: Token; testToken: TestToken };
  let opened: OpenTestToken | undefined;
  beforeAll(async () => {
    opened = await openTestToken();
    current.token = opened.token;
    current.testToken = opened.testToken;
  });
  afterAll(() => opened?.close());
  return current;
}
