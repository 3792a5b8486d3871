// What the emulator's access control does to PKCS#11 callers, and what a bad configuration does
// to the application: a principal's roles decide what the library may do, the audit log names
// that principal, and every misconfiguration fails C_Initialize or C_OpenSession with its reason
// logged, no secret in the log, and no crash of the calling process.
import { randomBytes, verify } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/closed-port.js';
import { pkcs11Tool, providerFixture, publicKeyOverRest, run, skipProvider, writeProviderConfig } from '../helpers/pkcs11-provider.js';
import { accessToken, callJson } from '../helpers/rest.js';

const hsm = providerFixture('mhsm-p11-access-');
let signer: { clientId: string; clientSecret: string; objectId: string };

const SIGNER_ROLE = 'PKCS11 Signer';

beforeAll(async () => {
  const mhsm = async (...args: string[]) => {
    const result = await runCli([...args, '--data-dir', hsm.emulator.dataDir]);
    expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result.stdout;
  };
  signer = JSON.parse(await mhsm('principal', 'create', '--name', 'p11-signer', '--json'));
  // Managed HSM Crypto User may create keys too, on the service as here: this role may only read and sign.
  await mhsm('role', 'definition', 'create', '--role-name', SIGNER_ROLE, '--data-actions', 'Microsoft.KeyVault/managedHsm/keys/read/action,Microsoft.KeyVault/managedHsm/keys/sign/action');
  await mhsm('role', 'assignment', 'create', '--role', SIGNER_ROLE, '--assignee', 'p11-signer', '--scope', '/keys');
  const bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
  expect((await callJson(hsm.emulator.url, bearer, 'POST', '/keys/shared-ec/create', { kty: 'EC-HSM', crv: 'P-256' })).status).toBe(200);
});

function secretFile(name: string, secret: string, mode = 0o600): string {
  const file = path.join(hsm.scratch, name);
  writeFileSync(file, `${secret}\n`, { mode });
  chmodSync(file, mode);
  return file;
}

describe('mhsm pkcs11 config', () => {
  it("writes a working configuration for the running emulator, the administrator's secret in a 0600 file, and prints the library", async () => {
    const out = path.join(hsm.scratch, 'cli.json');
    const result = await runCli(['pkcs11', 'config', '--data-dir', hsm.emulator.dataDir, '--out', out, '--label', 'ci-hsm']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`wrote ${out}`);
    expect(result.stdout).toMatch(/library: \/.*\/pkcs11-provider\/build\/libmhsm-pkcs11\.so/);
    expect(result.stdout).toContain(`export MHSM_PKCS11_CONF='${out}'`);
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written.slots).toEqual([{ label: 'ci-hsm', url: hsm.emulator.url, tenantId: hsm.emulator.admin.tenantId, clientId: hsm.emulator.admin.clientId, clientSecretFile: `${out}.secret`, caFile: path.join(hsm.emulator.dataDir, 'ca.pem') }]);
    expect(statSync(`${out}.secret`).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${out}.secret`, 'utf8').trim()).toBe(hsm.emulator.admin.clientSecret);
    expect(result.stdout).not.toContain(hsm.emulator.admin.clientSecret);
  });

  it('refuses a secret file others can read, a lone --client-id, and a data directory with no emulator running', async () => {
    const loose = secretFile('cli-loose.secret', 'x', 0o644);
    const refusals: Array<[string[], RegExp]> = [
      [['--client-id', signer.clientId, '--client-secret-file', loose], /--client-secret-file .*: must be readable by its owner only \(chmod 600\)/],
      [['--client-id', signer.clientId], /--client-id and --client-secret-file go together/],
    ];
    for (const [extra, reason] of refusals) {
      const result = await runCli(['pkcs11', 'config', '--data-dir', hsm.emulator.dataDir, '--out', path.join(hsm.scratch, 'refused.json'), ...extra]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(reason);
    }
    const idle = await runCli(['pkcs11', 'config', '--data-dir', hsm.scratch, '--out', path.join(hsm.scratch, 'refused.json')]);
    expect(idle.code).toBe(1);
    expect(idle.stderr).toMatch(/no emulator is running on/);
    expect(existsSync(path.join(hsm.scratch, 'refused.json'))).toBe(false);
  });
});

describe.skipIf(skipProvider)('a principal through the library', () => {
  it('signs with a role that allows signing, is refused key creation, and the audit log names it', async () => {
    const log = path.join(hsm.scratch, 'signer.log');
    const conf = await writeProviderConfig(hsm.emulator.dataDir, path.join(hsm.scratch, 'signer.json'), ['--client-id', signer.clientId, '--client-secret-file', secretFile('signer.secret', signer.clientSecret), '--log', log]);
    const data = randomBytes(100);
    writeFileSync(path.join(hsm.scratch, 'data'), data);
    const id = Buffer.from('shared-ec').toString('hex');
    const signed = await pkcs11Tool(conf, ['--sign', '--id', id, '--mechanism', 'ECDSA-SHA256', '--input-file', path.join(hsm.scratch, 'data'), '--output-file', path.join(hsm.scratch, 'sig')]);
    expect(signed.code, signed.stderr).toBe(0);
    const { key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'shared-ec');
    expect(verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, readFileSync(path.join(hsm.scratch, 'sig')))).toBe(true);

    const created = await pkcs11Tool(conf, ['--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'signer-made']);
    expect(created.code).not.toBe(0);
    expect(created.signal).toBeNull();
    expect(created.stderr).toContain('CKR_FUNCTION_FAILED');
    const reasons = readFileSync(log, 'utf8');
    expect(reasons).toMatch(/C_GenerateKeyPair: key signer-made: the HSM refused \(403\): AccessDenied: Not authorized to access Microsoft\.KeyVault\/managedHsm\/keys\/create on \/keys\/signer-made/);
    expect(reasons).not.toContain(signer.clientSecret);
    const bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
    expect((await callJson(hsm.emulator.url, bearer, 'GET', '/keys/signer-made')).status).toBe(404);

    const audit = readFileSync(path.join(hsm.emulator.dataDir, 'audit', 'audit.log'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const mine = audit.filter((entry) => entry.identity?.claim?.oid === signer.objectId);
    expect(mine.some((entry) => entry.operationName === 'KeySign' && entry.resultType === 'Success' && entry.properties.key?.name === 'shared-ec')).toBe(true);
    expect(mine.some((entry) => entry.operationName === 'KeyCreate' && entry.properties.httpStatusCode === 403)).toBe(true);
  });
});

describe.skipIf(skipProvider)('the built-in Crypto User through the library', () => {
  it('signs and creates keys, as the role does on the service (it holds keys/create/action)', async () => {
    const mhsm = async (...args: string[]) => {
      const result = await runCli([...args, '--data-dir', hsm.emulator.dataDir]);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      return result.stdout;
    };
    const user = JSON.parse(await mhsm('principal', 'create', '--name', 'p11-crypto-user', '--json'));
    await mhsm('role', 'assignment', 'create', '--role', 'Managed HSM Crypto User', '--assignee', 'p11-crypto-user', '--scope', '/');
    const conf = await writeProviderConfig(hsm.emulator.dataDir, path.join(hsm.scratch, 'crypto-user.json'), ['--client-id', user.clientId, '--client-secret-file', secretFile('crypto-user.secret', user.clientSecret)]);
    const made = await pkcs11Tool(conf, ['--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'crypto-user-made', '--id', 'c0']);
    expect(made.code, made.stderr).toBe(0);
    writeFileSync(path.join(hsm.scratch, 'cu-data'), 'by the crypto user');
    const signed = await pkcs11Tool(conf, ['--sign', '--id', 'c0', '--mechanism', 'ECDSA-SHA256', '--input-file', path.join(hsm.scratch, 'cu-data'), '--output-file', path.join(hsm.scratch, 'cu-sig')]);
    expect(signed.code, signed.stderr).toBe(0);
    const { key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'crypto-user-made');
    expect(verify('sha256', Buffer.from('by the crypto user'), { key, dsaEncoding: 'ieee-p1363' }, readFileSync(path.join(hsm.scratch, 'cu-sig')))).toBe(true);
  });
});

describe.skipIf(skipProvider)('a bad configuration', () => {
  const goodSlot = () => ({ label: 'mhsm', url: hsm.emulator.url, tenantId: hsm.emulator.admin.tenantId, clientId: hsm.emulator.admin.clientId, clientSecretFile: secretFile('admin.secret', hsm.emulator.admin.clientSecret), caFile: path.join(hsm.emulator.dataDir, 'ca.pem') });
  function config(name: string, slot: Record<string, unknown>): string {
    const file = path.join(hsm.scratch, `${name}.json`);
    writeFileSync(file, JSON.stringify({ slots: [slot] }));
    return file;
  }
  /** The library's reason, in the application's stderr, and no crash. */
  async function refused(conf: string, args: string[], reason: RegExp, rv: string): Promise<string> {
    const result = await pkcs11Tool(conf, args);
    expect(result.code).not.toBe(0);
    expect(result.signal).toBeNull();
    expect(result.stderr).toMatch(reason);
    expect(result.stderr).toContain(rv);
    expect(result.stderr).not.toContain(hsm.emulator.admin.clientSecret);
    return result.stderr;
  }

  it('a missing file fails C_Initialize, naming the file', async () => {
    await refused(path.join(hsm.scratch, 'nowhere.json'), ['--list-slots'], /configuration file .*nowhere\.json: cannot be read/, 'CKR_FUNCTION_FAILED');
  });

  it('a file that is not JSON, or lacks a field, fails C_Initialize with the field named', async () => {
    const broken = path.join(hsm.scratch, 'broken.json');
    writeFileSync(broken, '{"slots": [');
    await refused(broken, ['--list-slots'], /broken\.json: not JSON/, 'CKR_FUNCTION_FAILED');
    const { clientId: _dropped, ...noClient } = goodSlot();
    await refused(config('no-client', noClient), ['--list-slots'], /slots\[0\]\.clientId: required/, 'CKR_FUNCTION_FAILED');
    await refused(config('http', { ...goodSlot(), url: hsm.emulator.url.replace('https:', 'http:') }), ['--list-slots'], /slots\[0\]\.url: must be an https:\/\/ URL/, 'CKR_FUNCTION_FAILED');
  });

  it('a client-secret file others can read fails C_Initialize', async () => {
    await refused(config('loose', { ...goodSlot(), clientSecretFile: secretFile('loose.secret', hsm.emulator.admin.clientSecret, 0o644) }), ['--list-slots'], /must be readable by its owner only \(chmod 600\)/, 'CKR_FUNCTION_FAILED');
  });

  it('a wrong secret fails C_OpenSession with the tenant\'s reason', async () => {
    const wrong = `${hsm.emulator.admin.clientSecret.slice(0, -4)}XXXX`;
    const stderr = await refused(config('wrong', { ...goodSlot(), clientSecretFile: secretFile('wrong.secret', wrong) }), ['--list-objects'], /C_OpenSession: .*the tenant refused a token for client .*invalid_client/, 'CKR_FUNCTION_FAILED');
    expect(stderr).not.toContain(wrong);
  });

  it('a CA that did not issue the server certificate fails C_OpenSession: TLS is verified', async () => {
    const other = path.join(hsm.scratch, 'other-ca.pem');
    const made = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(hsm.scratch, 'other-ca.key'), '-subj', '/CN=another CA', '-days', '1', '-out', other], {});
    expect(made.code, made.stderr).toBe(0);
    await refused(config('untrusted', { ...goodSlot(), caFile: other }), ['--list-objects'], /C_OpenSession: .*the HSM cannot be reached: .*(SSL|certificate)/i, 'CKR_DEVICE_ERROR');
  });

  it('an emulator that is down fails C_OpenSession with CKR_DEVICE_ERROR', async () => {
    const port = await closedPort();
    await refused(config('down', { ...goodSlot(), url: `https://localhost:${port}` }), ['--list-objects'], /C_OpenSession: .*the HSM cannot be reached: .*(connect|Connection refused)/i, 'CKR_DEVICE_ERROR');
  });
});
