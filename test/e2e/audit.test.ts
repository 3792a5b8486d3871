// The audit log: one line per data-plane request with who, what, where and the result; denied and
// failed requests too; rotation by size; and never a secret, after every operation has been used.
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { MHSM_BIN, runCli } from '../helpers/cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { API, accessToken, callJson } from '../helpers/rest.js';

const PROVIDER = '/providers/Microsoft.Authorization';

let emulator: EmulatorProcess;
let admin: string;

function auditLines(dataDir: string): any[] {
  const dir = path.join(dataDir, 'audit');
  const files = readdirSync(dir)
    .filter((f) => f.startsWith('audit.log'))
    .sort((a, b) => (b === 'audit.log' ? -1 : a === 'audit.log' ? 1 : Number(b.split('.').pop()) - Number(a.split('.').pop())));
  return files.flatMap((f) =>
    readFileSync(path.join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line)),
  );
}

/** The audit file is written asynchronously: wait until the line of this request is there. */
async function lineFor(requestId: string): Promise<any> {
  for (let i = 0; i < 100; i++) {
    const found = auditLines(emulator.dataDir).find((l) => l.requestId === requestId);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no audit line for request ${requestId}`);
}

async function raw(method: string, route: string, body?: unknown, bearer: string | null = admin): Promise<{ status: number; requestId: string; body: any }> {
  const response = await fetch(`${emulator.url}${route}`, {
    method,
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, requestId: response.headers.get('x-ms-request-id') as string, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir());
  admin = await accessToken(emulator.url, emulator.admin);
});

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

describe('audit lines', () => {
  it('records an allowed call with operation, identity, caller address, key, api-version and request id', async () => {
    expect((await raw('POST', `/keys/audited/create?${API}`, { kty: 'EC-HSM', crv: 'P-256' })).status).toBe(200);
    const digest = createHash('sha256').update('x').digest('base64url');
    const signed = await raw('POST', `/keys/audited//sign?${API}&sig=query-secret-value`, { alg: 'ES256', value: digest });
    expect(signed.status).toBe(200);
    const version = (signed.body.kid as string).split('/').pop();
    const line = await lineFor(signed.requestId);
    expect(line).toMatchObject({
      category: 'AuditEvent',
      operationName: 'KeySign',
      operationVersion: '7.6',
      resultType: 'Success',
      resultSignature: 'OK',
      callerIpAddress: expect.stringMatching(/127\.0\.0\.1|::1/),
      requestId: signed.requestId,
      identity: { claim: { oid: emulator.admin.objectId, appid: emulator.admin.clientId, tid: emulator.admin.tenantId } },
      properties: { httpStatusCode: 200, key: { name: 'audited' } },
    });
    expect(Date.parse(line.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(typeof line.durationMs).toBe('number');
    expect(line.properties.requestUri).toBe(`${emulator.url}/keys/audited//sign?api-version=7.6`);

    const read = await raw('GET', `/keys/audited/${version}?${API}`);
    expect((await lineFor(read.requestId)).properties.key).toEqual({ name: 'audited', version });
  });

  it('records unauthenticated, denied and failed calls', async () => {
    const anonymous = await raw('GET', `/keys/audited?${API}`, undefined, null);
    expect(anonymous.status).toBe(401);
    expect(await lineFor(anonymous.requestId)).toMatchObject({ operationName: 'KeyGet', resultType: 'Failure', resultSignature: 'Unauthorized', identity: null });

    const missing = await raw('GET', `/keys/nothing-here?${API}`);
    expect(await lineFor(missing.requestId)).toMatchObject({
      operationName: 'KeyGet',
      resultSignature: 'NotFound',
      resultDescription: expect.stringMatching(/nothing-here was not found in this HSM$/),
    });

    const principal = JSON.parse(
      (await runCli(['principal', 'create', '--name', 'audited-app', '--data-dir', emulator.dataDir, '--json'])).stdout,
    ) as { clientId: string; clientSecret: string; objectId: string };
    const token = await accessToken(emulator.url, { tenantId: emulator.admin.tenantId, ...principal });
    const denied = await raw('DELETE', `/keys/audited?${API}`, undefined, token);
    expect(denied.status).toBe(403);
    expect(await lineFor(denied.requestId)).toMatchObject({
      operationName: 'KeyDelete',
      resultSignature: 'Forbidden',
      resultDescription: 'Not authorized to access Microsoft.KeyVault/managedHsm/keys/delete on /keys/audited',
      identity: { claim: { oid: principal.objectId, appid: principal.clientId } },
    });

    const file = path.join(emulator.dataDir, 'audit', 'audit.log');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });

  it('`mhsm audit tail` prints the newest lines as JSON or as a table', async () => {
    const last = await raw('GET', `/keys?${API}`);
    await lineFor(last.requestId);
    const json = await runCli(['audit', 'tail', '-n', '3', '--json', '--data-dir', emulator.dataDir]);
    expect(json.code).toBe(0);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatchObject({ operationName: 'KeyList', requestId: last.requestId });
    const table = await runCli(['audit', 'tail', '-n', '1', '--data-dir', emulator.dataDir]);
    expect(table.stdout).toMatch(/^\S+Z {2}200 {2}KeyList {2}/);

    // --follow prints what comes after it started, until interrupted. It prints the newest line
    // first (-n 1): once that is out it is following, with no guess at how long that takes.
    const follower = spawn(process.execPath, [MHSM_BIN, 'audit', 'tail', '-n', '1', '--follow', '--json', '--data-dir', emulator.dataDir]);
    let output = '';
    follower.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => follower.on('exit', resolve));
    for (let i = 0; i < 300 && !output.includes('\n'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(JSON.parse(output.split('\n')[0] as string).requestId).toBe(last.requestId);
    const later = await raw('GET', `/keys/audited?${API}`);
    for (let i = 0; i < 250 && !output.includes(later.requestId); i++) await new Promise((r) => setTimeout(r, 20));
    follower.kill('SIGINT');
    expect(await exited).toBe(0);
    const followed = output.trim().split('\n').slice(1).map((l) => JSON.parse(l));
    expect(followed.map((l: any) => l.requestId)).toEqual([later.requestId]);
  });
});

describe('lines that must not go missing', () => {
  it('records a key create whose caller hung up before the answer, and a request with a malformed Host', async () => {
    const controller = new AbortController();
    const aborted = fetch(`${emulator.url}/keys/abandoned/create?${API}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kty: 'RSA-HSM', key_size: 4096 }),
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await expect(aborted).rejects.toThrow();
    let line: any;
    for (let i = 0; i < 200 && !line; i++) {
      await new Promise((r) => setTimeout(r, 100));
      line = auditLines(emulator.dataDir).find((l) => l.operationName === 'KeyCreate' && l.properties.key?.name === 'abandoned');
    }
    expect(line).toMatchObject({ resultSignature: 'OK' });
    expect((await callJson(emulator.url, admin, 'GET', '/keys/abandoned')).status).toBe(200);

    const status = await new Promise<{ status: number; id: string }>((resolve, reject) => {
      const url = new URL(emulator.url);
      const request = httpsRequest(
        { host: url.hostname, port: url.port, path: `/keys?${API}&sig=host-header-secret`, headers: { host: 'localhost#x', authorization: `Bearer ${admin}` }, servername: 'localhost', ca: readFileSync(path.join(emulator.dataDir, 'ca.pem')) },
        (response) => {
          response.resume();
          resolve({ status: response.statusCode ?? 0, id: response.headers['x-ms-request-id'] as string });
        },
      );
      request.on('error', reject);
      request.end();
    });
    expect(status.status).toBe(200);
    const hostLine = await lineFor(status.id);
    expect(hostLine.properties.requestUri).toBe('https://localhost/keys?api-version=7.6');
  });
});

describe('secrets stay out of the audit log', () => {
  it('after every operation, no secret, token, key material, plaintext or ciphertext is in it', async () => {
    const secrets: Array<[string, Buffer | string]> = [
      ['admin client secret', emulator.admin.clientSecret],
      ['admin bearer token', admin],
    ];
    const principal = JSON.parse((await runCli(['principal', 'create', '--name', 'scanned', '--data-dir', emulator.dataDir, '--json'])).stdout) as {
      clientId: string;
      clientSecret: string;
      objectId: string;
    };
    secrets.push(['principal secret', principal.clientSecret], ['principal token', await accessToken(emulator.url, { tenantId: emulator.admin.tenantId, ...principal })]);

    const call = async (method: string, route: string, body?: unknown) => {
      const response = await callJson(emulator.url, admin, method, route, body);
      expect(response.status, `${method} ${route}`).toBeLessThan(300);
      return response.body;
    };
    // Imported key material.
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const aes = randomBytes(32);
    await call('PUT', '/keys/scan-rsa', { key: { ...rsa, kty: 'RSA-HSM', key_ops: ['sign', 'verify', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] } });
    await call('PUT', '/keys/scan-aes', { key: { kty: 'oct-HSM', k: aes.toString('base64url'), key_ops: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] } });
    for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) secrets.push([`imported RSA ${part}`, Buffer.from(rsa[part] as string, 'base64url')]);
    secrets.push(['imported AES key', aes]);

    const plaintext = randomBytes(48);
    const digest = randomBytes(32);
    secrets.push(['plaintext', plaintext], ['digest', digest]);
    const gcm = await call('POST', '/keys/scan-aes/encrypt', { alg: 'A256GCM', value: plaintext.toString('base64url') });
    secrets.push(['GCM ciphertext', Buffer.from(gcm.value, 'base64url')], ['GCM tag', Buffer.from(gcm.tag, 'base64url')]);
    await call('POST', '/keys/scan-aes/decrypt', { alg: 'A256GCM', value: gcm.value, iv: gcm.iv, tag: gcm.tag });
    const wrapped = await call('POST', '/keys/scan-aes/wrapkey', { alg: 'A256KW', value: plaintext.subarray(0, 32).toString('base64url') });
    secrets.push(['wrapped key', Buffer.from(wrapped.value, 'base64url')]);
    await call('POST', '/keys/scan-aes/unwrapkey', { alg: 'A256KW', value: wrapped.value });
    const oaep = await call('POST', '/keys/scan-rsa/encrypt', { alg: 'RSA-OAEP-256', value: plaintext.toString('base64url') });
    secrets.push(['RSA ciphertext', Buffer.from(oaep.value, 'base64url')]);
    await call('POST', '/keys/scan-rsa/decrypt', { alg: 'RSA-OAEP-256', value: oaep.value });
    const signature = await call('POST', '/keys/scan-rsa/sign', { alg: 'PS256', value: digest.toString('base64url') });
    secrets.push(['signature', Buffer.from(signature.value, 'base64url')]);
    await call('POST', '/keys/scan-rsa/verify', { alg: 'PS256', digest: digest.toString('base64url'), value: signature.value });
    const random = await call('POST', '/rng', { count: 32 });
    secrets.push(['random bytes', Buffer.from(random.value, 'base64url')]);
    const backup = await call('POST', '/keys/scan-aes/backup');
    secrets.push(['backup blob', Buffer.from(backup.value, 'base64url').subarray(-64)]);
    await call('PATCH', '/keys/scan-aes', { tags: { purpose: 'scan' } });
    await call('DELETE', '/keys/scan-aes');
    await call('GET', '/deletedkeys/scan-aes');
    await call('DELETE', '/deletedkeys/scan-aes');
    await call('POST', '/keys/restore', { value: backup.value });
    await call('GET', '/keys');
    await call('GET', `${PROVIDER}/roleDefinitions`);
    await call('PUT', `${PROVIDER}/roleAssignments/${randomUUID()}`, {
      properties: { roleDefinitionId: 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b', principalId: principal.objectId },
    });
    // Secrets in places they do not belong are still kept out.
    await callJson(emulator.url, admin, 'POST', `/keys/scan-aes/encrypt?sig=${encodeURIComponent(emulator.admin.clientSecret)}`, { alg: 'A256GCM', value: 'not base64!' });
    const marker = await raw('GET', `/keys?${API}`);
    await lineFor(marker.requestId);

    const log = readdirSync(path.join(emulator.dataDir, 'audit'))
      .map((f) => readFileSync(path.join(emulator.dataDir, 'audit', f), 'utf8'))
      .join('\n');
    expect(log).toContain('KeyDecrypt');
    const found: string[] = [];
    for (const [what, value] of secrets) {
      const forms = typeof value === 'string' ? [value] : [value.toString('base64url'), value.toString('base64'), value.toString('hex')];
      for (const form of forms) if (form.length >= 16 && log.includes(form)) found.push(what);
    }
    expect(found).toEqual([]);
  });
});

describe('rotation', () => {
  it('rotates DATA/audit/audit.log by size, keeping every line', async () => {
    const rotating = await startEmulatorProcess(seededDataDir(), ['--audit-stdout'], { MHSM_AUDIT_MAX_BYTES: '4096' });
    try {
      const token = await accessToken(rotating.url, rotating.admin);
      // mhsm audit tail --follow reads on across the rotations. It has shown the one line there
      // was before the requests begin, so it is surely following by then.
      await fetch(`${rotating.url}/keys/before-following?${API}`, { headers: { authorization: `Bearer ${token}` } });
      const follower = spawn(process.execPath, [MHSM_BIN, 'audit', 'tail', '-n', '1', '--follow', '--json', '--data-dir', rotating.dataDir]);
      let followed = '';
      follower.stdout.on('data', (chunk: Buffer) => (followed += chunk.toString()));
      const followerExited = new Promise((resolve) => follower.on('exit', resolve));
      for (let i = 0; i < 300 && !followed.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) {
        const response = await fetch(`${rotating.url}/keys/rotating-${i}?${API}`, { headers: { authorization: `Bearer ${token}` } });
        ids.push(response.headers.get('x-ms-request-id') as string);
      }
      for (let i = 0; i < 50 && !followed.includes(ids[ids.length - 1] as string); i++) await new Promise((r) => setTimeout(r, 100));
      follower.kill('SIGINT');
      await followerExited;
      const tailed = followed.trim().split('\n').slice(1).map((l) => JSON.parse(l).requestId as string);
      expect(await rotating.stop()).toBe(0);
      // In order, once each, and every line the rotated files still hold (with files this small,
      // the oldest go before a follower may look).
      expect(tailed).toEqual(ids.filter((id) => tailed.includes(id)));
      const kept = auditLines(rotating.dataDir).map((l) => l.requestId as string).filter((id) => ids.includes(id));
      expect(kept.filter((id) => !tailed.includes(id))).toEqual([]);
      // --audit-stdout: the same lines on stdout too.
      const printed = rotating.output().split('\n').filter((l) => l.startsWith('{"time"')).map((l) => JSON.parse(l).requestId);
      expect(printed.slice(1)).toEqual(ids);
      const dir = path.join(rotating.dataDir, 'audit');
      expect(existsSync(path.join(dir, 'audit.log.1'))).toBe(true);
      // A rotation waits while a new file is still being opened, so a file may run a line over.
      for (const f of readdirSync(dir)) expect(statSync(path.join(dir, f)).size).toBeLessThanOrEqual(4096 + 2048);
      const logged = new Set(auditLines(rotating.dataDir).map((l) => l.requestId));
      // Five rotated files of about 4 KiB keep the last ~40 lines of ~600 bytes.
      expect(ids.slice(-20).every((id) => logged.has(id))).toBe(true);
    } finally {
      removeDataDir(rotating.dataDir);
    }
  });
});
