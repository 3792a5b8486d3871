// The emulator inside a test suite: `const hsm = await startEmulator()` in a global setup, then
// `new KeyClient(hsm.url, hsm.credential, hsm.clientOptions)`, and `await hsm.stop()` at the end.
// It runs as a child process (the token and its native module stay out of the test process);
// the clients trust its CA through clientOptions, in this process only: no NODE_EXTRA_CA_CERTS,
// and TLS verification is never off.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmulatorCredential, type TokenCredential } from './credential.js';
import { type EmulatorChild, spawnEmulator } from './emulator-process.js';

export type { AccessToken, ClientCredentials, TokenCredential } from './credential.js';
export { EmulatorCredential } from './credential.js';
export { type EmulatorChild, mhsmScript, type SpawnOptions, spawnEmulator } from './emulator-process.js';

export interface StartEmulatorOptions {
  /** The data directory; by default a new temporary one, removed by stop(). */
  dataDir?: string;
  /** 0 (the default) for any free port. */
  port?: number;
  /** The real service's first start: the HSM waits for its security domain (see docs/using-it.md). */
  manualActivation?: boolean;
  /** A vendor PKCS#11 module instead of the embedded SoftHSM2, with its token's label and PINs. */
  module?: string;
  tokenLabel?: string;
  pin?: string;
  soPin?: string;
  /** More `mhsm start` options. */
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export interface Emulator {
  url: string;
  /** The emulator's CA certificate (PEM). */
  ca: string;
  dataDir: string;
  /** The initial administrator: tenantId, clientId, clientSecret, objectId. */
  admin: { tenantId: string; clientId: string; clientSecret: string; objectId: string };
  /** Tokens of the initial administrator, for any official client. */
  credential: TokenCredential;
  /** Options for any official client's constructor: trust the CA, accept the localhost URL. */
  clientOptions: { tlsOptions: { ca: string }; disableChallengeResourceVerification: true };
  pid: number;
  output(): string;
  /** Ends it (SIGTERM by default) and returns its exit code; removes the data directory it made. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startEmulator(options: StartEmulatorOptions = {}): Promise<Emulator> {
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'mhsm-'));
  const args = [
    ...(options.port === undefined ? [] : ['--port', String(options.port)]),
    ...(options.manualActivation ? ['--manual-activation'] : []),
    ...(options.module === undefined ? [] : ['--module', options.module]),
    ...(options.tokenLabel === undefined ? [] : ['--token-label', options.tokenLabel]),
    ...(options.args ?? []),
  ];
  // PINs go through the environment: flags show in ps.
  const env = { ...options.env, ...(options.pin === undefined ? {} : { MHSM_PIN: options.pin }), ...(options.soPin === undefined ? {} : { MHSM_SO_PIN: options.soPin }) };
  let child: EmulatorChild;
  try {
    child = await spawnEmulator({ dataDir, args, env, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
  } catch (error) {
    if (temporary) rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const ca = readFileSync(path.join(dataDir, 'ca.pem'), 'utf8');
  const admin = JSON.parse(readFileSync(path.join(dataDir, 'admin.json'), 'utf8')) as Emulator['admin'];
  return {
    url: child.url,
    ca,
    dataDir,
    admin,
    credential: new EmulatorCredential(child.url, admin, ca),
    clientOptions: { tlsOptions: { ca }, disableChallengeResourceVerification: true },
    pid: child.pid,
    output: child.output,
    async stop(signal) {
      const code = await child.stop(signal);
      if (temporary) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}
