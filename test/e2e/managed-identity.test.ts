// Managed identities, as applications written for Azure use them: DefaultAzureCredential from the
// JS SDK and ManagedIdentityCredential from the Python SDK reach the emulator with nothing but the
// environment `mhsm env` prints; the system-assigned identity (the oldest) and a user-assigned one
// (by client id) each get their own tokens, and local RBAC applies to them as to any principal.
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

const PROVIDER = '/providers/Microsoft.Authorization';
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
let emulator: EmulatorProcess;
let admin: string;
let environment: Record<string, string>;
let system: { clientId: string; objectId: string };
let other: { clientId: string; objectId: string };

async function mhsm(...args: string[]): Promise<string> {
  const result = await runCli([...args, '--data-dir', emulator.dataDir]);
  if (result.code !== 0) throw new Error(`mhsm ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir());
  admin = await accessToken(emulator.url, emulator.admin);
  system = JSON.parse(await mhsm('principal', 'create', '--managed-identity', 'web-app', '--json'));
  other = JSON.parse(await mhsm('principal', 'create', '--managed-identity', 'batch-job', '--json'));
  const assigned = await callJson(emulator.url, admin, 'PUT', `/keys${PROVIDER}/roleAssignments/${randomUUID()}`, {
    properties: { roleDefinitionId: `Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/${CRYPTO_USER}`, principalId: system.objectId },
  });
  expect(assigned.status).toBe(201);
  expect((await callJson(emulator.url, admin, 'POST', '/keys/mi-key/create', { kty: 'EC-HSM', crv: 'P-256' })).status).toBe(200);
  // What `eval "$(mhsm env)"` would export.
  environment = Object.fromEntries(
    (await mhsm('env')).trim().split('\n').map((line) => {
      const match = /^export ([A-Z_]+)='(.*)'$/.exec(line);
      if (!match) throw new Error(`not an export line: ${line}`);
      return [match[1] as string, match[2] as string];
    }),
  );
}, 60_000);

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

describe('managed identities', () => {
  it('prints the environment an application needs', () => {
    expect(Object.keys(environment).sort()).toEqual(['IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE']);
    expect(environment.IDENTITY_ENDPOINT).toBe(`${emulator.url}/msi/token`);
    expect(emulator.output()).toContain(`export IDENTITY_ENDPOINT=${emulator.url}/msi/token IDENTITY_HEADER="$(cat ${emulator.dataDir}/identity/managed-identity-header)"`);
    expect(emulator.output()).toContain('mhsm env');
    expect(emulator.output()).not.toContain(environment.IDENTITY_HEADER as string);
  });

  it('answers the App Service token protocol, and refuses a wrong header, a wrong version and an unknown identity', async () => {
    const ask = async (query: string, header: string | null = environment.IDENTITY_HEADER as string) => {
      const response = await fetch(`${environment.IDENTITY_ENDPOINT}?${query}`, { headers: header === null ? {} : { 'X-IDENTITY-HEADER': header } });
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    const granted = await ask('api-version=2019-08-01&resource=https://managedhsm.azure.net');
    expect(granted.status).toBe(200);
    expect(granted.body).toMatchObject({ token_type: 'Bearer', resource: 'https://managedhsm.azure.net', client_id: system.clientId, expires_on: expect.stringMatching(/^\d+$/) });
    const claims = JSON.parse(Buffer.from((granted.body.access_token as string).split('.')[1] as string, 'base64url').toString());
    expect(claims).toMatchObject({ oid: system.objectId, aud: 'https://managedhsm.azure.net' });
    expect((await ask(`api-version=2019-08-01&resource=https://managedhsm.azure.net&client_id=${other.clientId}`)).body.client_id).toBe(other.clientId);
    expect((await ask('api-version=2019-08-01&resource=https://managedhsm.azure.net', 'wrong')).status).toBe(401);
    expect((await ask('api-version=2019-08-01&resource=https://managedhsm.azure.net', null)).status).toBe(401);
    expect((await ask('api-version=2017-09-01&resource=https://managedhsm.azure.net')).status).toBe(400);
    expect((await ask('api-version=2019-08-01')).body.error.message).toMatch(/^resource:/);
    expect((await ask(`api-version=2019-08-01&resource=https://managedhsm.azure.net&client_id=${randomUUID()}`)).status).toBe(404);
    // A managed identity has no secret: the client-credentials grant refuses it.
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: system.clientId, client_secret: 'managed-identity', scope: 'https://managedhsm.azure.net/.default' });
    expect((await fetch(`${emulator.url}/${emulator.admin.tenantId}/oauth2/v2.0/token`, { method: 'POST', body: form })).status).toBe(401);
  });

  it('serves DefaultAzureCredential from the JS SDK, and RBAC applies to each identity', async () => {
    const script = fileURLToPath(new URL('./js/managed-identity.mjs', import.meta.url));
    const result = await run(process.execPath, [script], { ...environment, MHSM_URL: emulator.url, MHSM_OTHER_CLIENT_ID: other.clientId });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({ signatureLength: 64, verified: true, other: 403 });
  }, 120_000);

  it('serves ManagedIdentityCredential from the Python SDK', async (context) => {
    const PYTHON = '/usr/bin/python3';
    try {
      execFileSync(PYTHON, ['-c', 'import azure.identity, azure.keyvault.keys'], { stdio: 'ignore' });
    } catch {
      if (process.env.CI === 'true') throw new Error('the Python clients (Debian python3-azure) are needed for this test in CI');
      context.skip();
    }
    const script = fileURLToPath(new URL('./python/managed_identity.py', import.meta.url));
    const result = await run(PYTHON, [script], { ...environment, MHSM_URL: emulator.url, MHSM_OTHER_CLIENT_ID: other.clientId });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toEqual({ signatureLength: 64, verified: true, other: 403 });
  }, 120_000);

  it("serves EnvironmentCredential from the JS SDK with the administrator's credentials `mhsm env --admin` prints", async () => {
    const lines = (await mhsm('env', '--admin')).trim().split('\n');
    const env = Object.fromEntries(lines.map((line) => /^export ([A-Z_]+)='(.*)'$/.exec(line)?.slice(1) as [string, string]));
    expect(env).toMatchObject({ AZURE_TENANT_ID: 'adfs', AZURE_AUTHORITY_HOST: emulator.url, AZURE_CLIENT_ID: emulator.admin.clientId });
    const script = fileURLToPath(new URL('./js/environment-credential.mjs', import.meta.url));
    const result = await run(process.execPath, [script], { ...env, MHSM_URL: emulator.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('EC-HSM');
  }, 120_000);
});
