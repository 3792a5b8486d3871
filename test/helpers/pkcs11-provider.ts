// The PKCS#11 library over the emulator (pkcs11-provider/) as applications load it: pkcs11-tool
// (Debian opensc) and OpenSSL's pkcs11 engine (libengine-pkcs11-openssl), each a process of its
// own, configured by `mhsm pkcs11 config`. Outside CI a missing library or tool skips these tests
// and says why; in CI (CI=true) it fails them.
import { execFile, execFileSync } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { PKCS11_LIBRARY } from '../../src/cli/pkcs11-commands.js';
import { runCli } from './cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from './emulator.js';
import { accessToken, callJson, type Credentials } from './rest.js';

export { PKCS11_LIBRARY };

function commandExists(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The engine's shared object, in the directory OpenSSL names for engines. */
export function pkcs11Engine(): string | undefined {
  try {
    const dir = /ENGINESDIR: "([^"]+)"/.exec(execFileSync('openssl', ['version', '-e'], { encoding: 'utf8' }))?.[1];
    const engine = dir && path.join(dir, 'pkcs11.so');
    return engine && existsSync(engine) ? engine : undefined;
  } catch {
    return undefined;
  }
}

/** What is missing for these tests, if anything. */
export function missingForProvider(): string | undefined {
  if (!existsSync(PKCS11_LIBRARY)) return `${PKCS11_LIBRARY} is not built: npm run build:provider`;
  if (!commandExists('pkcs11-tool')) return 'pkcs11-tool is not installed: apt-get install opensc';
  if (!pkcs11Engine()) return "OpenSSL's pkcs11 engine is not installed: apt-get install libengine-pkcs11-openssl";
  return undefined;
}

export const providerMissing = missingForProvider();
export const inCi = process.env.CI === 'true';
/** describe.skipIf(skipProvider): skipped outside CI when something is missing; in CI the tests run and fail. */
export const skipProvider = providerMissing !== undefined && !inCi;
if (skipProvider) console.warn(`skipping the PKCS#11 library tests: ${providerMissing}`);

export interface ProviderFixture {
  readonly emulator: EmulatorProcess;
  /** A directory of the test file's own: configurations, secrets, inputs and outputs. */
  readonly scratch: string;
}

/**
 * What every test file of the library starts from: an emulator and a scratch directory, made
 * before its tests (registered first, so the file's own beforeAll can use them) and removed after
 * them. In CI, a missing library or tool fails the file here, with what is missing.
 */
export function providerFixture(prefix: string): ProviderFixture {
  const made: { emulator?: EmulatorProcess; scratch?: string } = {};
  beforeAll(async () => {
    if (providerMissing && inCi) throw new Error(providerMissing);
    made.emulator = await startEmulatorProcess(seededDataDir());
    made.scratch = mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterAll(async () => {
    if (made.scratch) rmSync(made.scratch, { recursive: true, force: true });
    if (!made.emulator) return;
    await made.emulator.stop();
    removeDataDir(made.emulator.dataDir);
  });
  return {
    get emulator() {
      return made.emulator as EmulatorProcess;
    },
    get scratch() {
      return made.scratch as string;
    },
  };
}

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { env: { ...process.env, ...env }, timeout: 60_000, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: unknown; signal?: NodeJS.Signals }) | null;
      resolve({ code: failure ? (typeof failure.code === 'number' ? failure.code : null) : 0, signal: failure?.signal ?? null, stdout, stderr });
    });
    if (input) child.stdin?.end(input);
  });
}

/** pkcs11-tool with the library as its module, configured by the file `conf`. */
export function pkcs11Tool(conf: string, args: string[]): Promise<ToolResult> {
  return run('pkcs11-tool', ['--module', PKCS11_LIBRARY, ...args], { MHSM_PKCS11_CONF: conf });
}

/** `mhsm pkcs11 config --out FILE` for the emulator on `dataDir`; FILE's path. */
export async function writeProviderConfig(dataDir: string, out: string, extra: string[] = []): Promise<string> {
  const result = await runCli(['pkcs11', 'config', '--data-dir', dataDir, '--out', out, ...extra]);
  if (result.code !== 0) throw new Error(`mhsm pkcs11 config failed: ${result.stderr}`);
  return out;
}

/** An OpenSSL configuration that loads the pkcs11 engine with the library as its module. */
export function writeOpensslConfig(file: string): string {
  writeFileSync(
    file,
    [
      'openssl_conf = openssl_init',
      '[openssl_init]',
      'engines = engine_section',
      '[engine_section]',
      'pkcs11 = pkcs11_section',
      '[pkcs11_section]',
      'engine_id = pkcs11',
      `dynamic_path = ${pkcs11Engine()}`,
      `MODULE_PATH = ${PKCS11_LIBRARY}`,
      'init = 0',
      '',
    ].join('\n'),
  );
  return file;
}

/** The key's public half as the REST API gives it (GET /keys/NAME), as a Node key. */
export async function publicKeyOverRest(url: string, admin: Credentials, name: string): Promise<{ jwk: any; key: KeyObject }> {
  const bearer = await accessToken(url, admin);
  const response = await callJson(url, bearer, 'GET', `/keys/${name}`);
  if (response.status !== 200) throw new Error(`GET /keys/${name}: ${response.status} ${JSON.stringify(response.body)}`);
  const jwk = response.body.key;
  const kty = String(jwk.kty).replace(/-HSM$/, '');
  // Node names the curve Managed HSM calls P-256K by its SEC 2 name.
  const fields = kty === 'RSA' ? { kty, n: jwk.n, e: jwk.e } : { kty, crv: jwk.crv === 'P-256K' ? 'secp256k1' : jwk.crv, x: jwk.x, y: jwk.y };
  return { jwk, key: createPublicKey({ key: fields, format: 'jwk' }) };
}
