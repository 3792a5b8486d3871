// What a misbehaving client cannot do to a shared emulator: crash it through the token endpoint,
// stall it with wrong secrets, erase the audit history with anonymous noise, hold connections
// open with slow bodies, or make another principal's writes wait behind its own.
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { connect } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

const running: EmulatorProcess[] = [];
async function start(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<EmulatorProcess> {
  const emulator = await startEmulatorProcess(seededDataDir(), args, env);
  running.push(emulator);
  return emulator;
}
afterAll(async () => {
  for (const emulator of running) {
    await emulator.stop();
    removeDataDir(emulator.dataDir);
  }
});

function tokenRequest(emulator: EmulatorProcess, clientId: string, clientSecret: string): Promise<Response> {
  return fetch(`${emulator.url}/${emulator.admin.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, scope: 'https://managedhsm.azure.net/.default' }),
  });
}

function auditLog(dataDir: string): any[] {
  const dir = path.join(dataDir, 'audit');
  return readdirSync(dir).flatMap((file) =>
    readFileSync(path.join(dir, file), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line)),
  );
}

describe('the token endpoint', () => {
  it('refuses oversized and malformed client ids before any look-up, and limits failures with the tenant\'s throttling error', async () => {
    const emulator = await start();
    const huge = await tokenRequest(emulator, 'x'.repeat(1024 * 1024), 'secret');
    expect(huge.status).toBe(413);
    const malformed = await tokenRequest(emulator, 'not-a-guid', 'secret');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/^client_id: must be a GUID/) });

    // Wrong secrets for a known client id: refused quickly, then throttled with Retry-After.
    const statuses: number[] = [];
    const started = Date.now();
    for (let i = 0; i < 25; i++) statuses.push((await tokenRequest(emulator, emulator.admin.clientId, `wrong-${i}`)).status);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(statuses.slice(0, 18).every((status) => status === 401)).toBe(true);
    expect(statuses.slice(-3)).toEqual([429, 429, 429]);
    const throttled = await tokenRequest(emulator, randomUUID(), 'x');
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await throttled.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/^AADSTS90055/) });
    await emulator.stop();
    const failures = auditLog(emulator.dataDir).filter((line) => line.operationName === 'TokenRequest');
    // Audited, the first ones in full and the rest counted.
    expect(failures.length).toBeGreaterThanOrEqual(10);
    const summary = auditLog(emulator.dataDir).find((line) => line.operationName === 'RefusedRequestsSummary');
    expect(summary?.summary.count).toBeGreaterThan(10);
    expect(JSON.stringify(auditLog(emulator.dataDir))).not.toContain('wrong-');
  });

  it('keeps signing fast while wrong secrets flood the token endpoint', async () => {
    const emulator = await start();
    const bearer = await accessToken(emulator.url, emulator.admin);
    await callJson(emulator.url, bearer, 'POST', '/keys/signer/create', { kty: 'RSA-HSM' });
    const digest = Buffer.alloc(32, 1).toString('base64url');
    const flood = Array.from({ length: 64 }, (_, i) => tokenRequest(emulator, randomUUID(), `wrong-${i}`).then((r) => r.status));
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      expect((await callJson(emulator.url, bearer, 'POST', '/keys/signer/sign', { alg: 'RS256', value: digest })).status).toBe(200);
      latencies.push(performance.now() - t0);
    }
    expect((await Promise.all(flood)).every((status) => status === 401 || status === 429)).toBe(true);
    latencies.sort((a, b) => a - b);
    expect(latencies[10]).toBeLessThan(100);
  });
});

describe('the audit history', () => {
  it('survives a flood of unauthenticated requests: counted, not written one by one', async () => {
    const emulator = await start([], { MHSM_AUDIT_MAX_BYTES: '16384' });
    const bearer = await accessToken(emulator.url, emulator.admin);
    const made = await callJson(emulator.url, bearer, 'POST', '/keys/before-the-flood/create', { kty: 'EC-HSM' });
    expect(made.status).toBe(200);
    const longName = 'n'.repeat(1000);
    for (let batch = 0; batch < 30; batch++) {
      await Promise.all(Array.from({ length: 100 }, () => fetch(`${emulator.url}/keys/${longName}?api-version=7.6`).then((r) => r.status)));
    }
    await emulator.stop();
    const lines = auditLog(emulator.dataDir);
    expect(lines.filter((line) => line.operationName === 'KeyCreate' && line.properties.key?.name === 'before-the-flood')).toHaveLength(1);
    const written = lines.filter((line) => line.identity === null && line.operationName !== 'RefusedRequestsSummary');
    const counted = lines.filter((line) => line.operationName === 'RefusedRequestsSummary').reduce((sum, line) => sum + line.summary.count, 0);
    expect(written.length).toBeLessThanOrEqual(30);
    expect(written.length + counted).toBe(3000);
    for (const line of written) expect(JSON.stringify(line).length).toBeLessThan(1500);
  });
});

describe('connections', () => {
  it('cuts off a body that trickles in, and refuses connections past the cap', async () => {
    const emulator = await start(['--request-timeout', '2', '--max-connections', '8']);
    const { hostname, port } = new URL(emulator.url);
    const ca = readFileSync(path.join(emulator.dataDir, 'ca.pem'));
    const open = () =>
      new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
        const socket = connect({ host: hostname, port: Number(port), ca, servername: hostname }, () => resolve(socket));
        socket.on('error', reject);
      });
    const slow = await open();
    const closed = new Promise<number>((resolve) => slow.on('close', () => resolve(Date.now())));
    slow.write(`POST /keys/k/create?api-version=7.6 HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n`);
    const started = Date.now();
    const trickle = setInterval(() => slow.write('{'), 300);
    const at = await closed;
    clearInterval(trickle);
    expect(at - started).toBeLessThan(6000);

    const sockets = await Promise.allSettled(Array.from({ length: 20 }, () => open()));
    const opened = sockets.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<import('node:tls').TLSSocket>).value);
    // Past the cap the server drops new connections (they fail or close at once).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const alive = opened.filter((socket) => !socket.destroyed && socket.readyState === 'open');
    expect(alive.length).toBeLessThanOrEqual(8);
    for (const socket of opened) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const bearer = await accessToken(emulator.url, emulator.admin);
    expect((await callJson(emulator.url, bearer, 'GET', '/keys')).status).toBe(200);
  });
});

describe('writes', () => {
  it('serves another principal\'s create between one principal\'s queued RSA-4096 generations', async () => {
    const emulator = await start();
    const created = await runCli(['principal', 'create', '--name', 'greedy', '--data-dir', emulator.dataDir, '--json']);
    const greedy = JSON.parse(created.stdout);
    const admin = await accessToken(emulator.url, emulator.admin);
    for (const role of ['Managed HSM Crypto Officer', 'Managed HSM Crypto User']) {
      expect((await runCli(['role', 'assignment', 'create', '--role', role, '--assignee', greedy.objectId, '--scope', '/', '--data-dir', emulator.dataDir])).code).toBe(0);
    }
    const greedyToken = await accessToken(emulator.url, { tenantId: emulator.admin.tenantId, ...greedy });
    const done: string[] = [];
    const hoard = Array.from({ length: 6 }, (_, i) =>
      callJson(emulator.url, greedyToken, 'POST', `/keys/big-${i}/create`, { kty: 'RSA-HSM', key_size: 4096 }).then((r) => {
        expect(r.status).toBe(200);
        done.push(`big-${i}`);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const small = await callJson(emulator.url, admin, 'POST', '/keys/small/create', { kty: 'EC-HSM' });
    expect(small.status).toBe(200);
    done.push('small');
    await Promise.all(hoard);
    // At most the generation under way and the one whose turn came first ran before it.
    expect(done.indexOf('small')).toBeLessThanOrEqual(2);
  });
});
