// The wire contract over raw HTTPS: the challenge, strict token checks, the error envelope for
// bad input (never a 5xx), URL quirks the SDKs produce, and keys surviving a restart.
import { createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';

let emulator: EmulatorProcess;
let token: string;
const API = 'api-version=7.6';

async function getToken(scope = 'https://managedhsm.azure.net/.default', secret = emulator.admin.clientSecret): Promise<Response> {
  return fetch(`${emulator.url}/${emulator.admin.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.admin.clientId, client_secret: secret, scope }),
  });
}

/** bearer null: no Authorization header at all. */
function call(method: string, route: string, body?: unknown, bearer: string | null = token, raw?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
  return fetch(`${emulator.url}${route}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
}

async function expectError(response: Response, status: number, code: string, message: RegExp): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get('x-ms-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message).toMatch(message);
}

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir());
  const response = await getToken();
  expect(response.status).toBe(200);
  token = ((await response.json()) as { access_token: string }).access_token;
});

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

describe('authentication', () => {
  it('challenges a request without a token before reading its body', async () => {
    const response = await call('POST', `/keys/any/create?${API}`, undefined, null, '');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer authorization="${emulator.url}/${emulator.admin.tenantId}", resource="https://managedhsm.azure.net"`,
    );
    await expectError(response, 401, 'Unauthorized', /missing a Bearer/);
  });

  it('issues tokens only for the right secret and a resource scope', async () => {
    const wrong = await getToken(undefined, 'not-the-secret');
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_client' });
    const noScope = await getToken('openid');
    expect(noScope.status).toBe(400);
    const discovery = await fetch(`${emulator.url}/${emulator.admin.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(await discovery.json()).toMatchObject({ issuer: `${emulator.url}/${emulator.admin.tenantId}/v2.0`, jwks_uri: expect.stringContaining('/discovery/v2.0/keys') });
  });

  it('refuses forged, expired, wrong-audience, wrong-issuer, unknown-principal, alg=none and truncated tokens', async () => {
    const ours = createPrivateKey(readFileSync(path.join(emulator.dataDir, 'identity', 'signing-key.pem'), 'utf8'));
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const now = Math.floor(Date.now() / 1000);
    const port = new URL(emulator.url).port;
    const claims = { oid: emulator.admin.objectId, tid: emulator.admin.tenantId, appid: emulator.admin.clientId };
    const jwt = (overrides: { key?: typeof ours; aud?: string; iss?: string; exp?: number; oid?: string }) =>
      new SignJWT({ ...claims, oid: overrides.oid ?? claims.oid })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(overrides.iss ?? `https://localhost:${port}/${emulator.admin.tenantId}/v2.0`)
        .setAudience(overrides.aud ?? 'https://managedhsm.azure.net')
        .setNotBefore(now - 60)
        .setExpirationTime(overrides.exp ?? now + 600)
        .sign(overrides.key ?? ours);
    // The control: a token made with our key and the right claims passes.
    expect((await call('GET', `/keys?${API}`, undefined, await jwt({}))).status).toBe(200);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...claims, aud: 'https://managedhsm.azure.net' })).toString('base64url')}.`;
    const refused = [
      await jwt({ key: stranger }),
      await jwt({ exp: now - 400 }),
      await jwt({ aud: 'https://vault.azure.net' }),
      await jwt({ iss: `https://localhost:1/${emulator.admin.tenantId}/v2.0` }),
      await jwt({ iss: `https://localhost:${port}/${randomUUID()}/v2.0` }),
      await jwt({ oid: randomUUID() }),
      none,
      token.slice(0, -10),
    ];
    for (const bearer of refused) await expectError(await call('GET', `/keys?${API}`, undefined, bearer), 401, 'Unauthorized', /./);
  });
});

describe('bad input gets a 4xx envelope naming the problem, and the server keeps serving', () => {
  beforeAll(async () => {
    expect((await call('POST', `/keys/wire-ec/create?${API}`, { kty: 'EC-HSM', crv: 'P-256' })).status).toBe(200);
    expect((await call('POST', `/keys/wire-oct/create?${API}`, { kty: 'oct-HSM', key_size: 256 })).status).toBe(200);
    expect((await call('POST', `/keys/wire-hmac/create?${API}`, { kty: 'oct-HSM', key_size: 256, key_ops: ['sign', 'verify'] })).status).toBe(200);
  });

  it.each([
    ['POST', `/keys/wire-ec/sign?${API}`, { alg: 'XX999', value: 'AAAA' }, 400, 'BadParameter', /^alg: 'XX999' is not a supported algorithm/],
    ['POST', `/keys/wire-ec/sign?${API}`, { alg: 'RS256', value: Buffer.alloc(32).toString('base64url') }, 400, 'BadParameter', /it needs an RSA key/],
    ['POST', `/keys/wire-ec/sign?${API}`, { alg: 'ES256', value: 'not base64url!' }, 400, 'BadParameter', /^value: must be base64url/],
    ['POST', `/keys/wire-ec/sign?${API}`, { alg: 'ES256', value: Buffer.alloc(20).toString('base64url') }, 400, 'BadParameter', /digest must be 32 bytes, not 20/],
    ['POST', `/keys/wire-ec/sign?${API}`, { alg: 'ES256' }, 400, 'BadParameter', /^value: required/],
    ['POST', `/keys/wire-oct/encrypt?${API}`, { alg: 'A128GCM', value: 'AAAA' }, 400, 'BadParameter', /needs a 128-bit key/],
    ['POST', `/keys/wire-ec/encrypt?${API}`, { alg: 'A256GCM', value: 'AAAA' }, 403, 'Forbidden', /key_ops/],
    // sign is among an oct-HSM key's default key_ops (as the service gives them), yet HS256 needs an HMAC key.
    ['POST', `/keys/wire-oct/sign?${API}`, { alg: 'HS256', value: 'AAAA' }, 400, 'BadParameter', /HS256/],
    ['POST', `/keys/wire-hmac/encrypt?${API}`, { alg: 'A256GCM', value: 'AAAA' }, 403, 'Forbidden', /key_ops/],
    ['POST', `/keys/wire-hmac/sign?${API}`, { alg: 'HS512', value: 'AAAA' }, 400, 'BadParameter', /key size/],
    ['POST', `/keys/wire-hmac2/create?${API}`, { kty: 'oct-HSM', key_size: 256, key_ops: ['sign', 'import'] }, 400, 'BadParameter', /'import' is not an operation of this key type/],
    ['POST', `/keys/bad_name/create?${API}`, { kty: 'EC' }, 400, 'BadParameter', /key name 'bad_name' is invalid/],
    ['POST', `/keys/${'x'.repeat(128)}/create?${API}`, { kty: 'EC' }, 400, 'BadParameter', /1 to 127 letters/],
    ['POST', `/keys/tagged/create?${API}`, { kty: 'EC', tags: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v'])) }, 400, 'BadParameter', /at most 15 tags/],
    ['POST', `/keys/odd/create?${API}`, { kty: 'RSA', key_size: 1024 }, 400, 'BadParameter', /^key_size: an RSA key must be 2048, 3072 or 4096 bits/],
    ['GET', `/keys/no-such-key?${API}`, undefined, 404, 'KeyNotFound', /no-such-key was not found/],
    ['GET', `/keys/wire-ec/${'0'.repeat(32)}?${API}`, undefined, 404, 'KeyNotFound', /was not found/],
    ['GET', '/keys/wire-ec', undefined, 400, 'BadParameter', /^api-version: required/],
    ['GET', '/keys/wire-ec?api-version=1.0', undefined, 400, 'BadParameter', /^api-version: '1.0' is not supported/],
    ['GET', `/keys?${API}&maxresults=26`, undefined, 400, 'BadParameter', /^maxresults: must be a whole number from 1 to 25/],
    ['POST', `/rng?${API}`, { count: 129 }, 400, 'BadParameter', /^GetRandomBytesRequest: count cannot be greater than 128 or less than 1/],
    ['POST', `/nothing/here?${API}`, {}, 404, 'NotFound', /is not an operation of this service/],
    ['GET', `/keys/%ZZ?${API}`, undefined, 400, 'BadParameter', /a %-escape is malformed/],
    ['PUT', `/keys/not-a-key?${API}`, { key: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43), d: 'Aw' } }, 400, 'BadParameter', /^key: x and y are not the public point of d on P-256/],
    ['GET', `/keys/${'x'.repeat(2000)}?${API}`, undefined, 400, 'BadParameter', /longer than any name/],
  ] as const)('%s %s', async (method, route, body, status, code, message) => {
    await expectError(await call(method, route, body), status, code, message);
  });

  it('refuses a disabled key, a key not yet valid and an expired key with 403', async () => {
    const now = Math.floor(Date.now() / 1000);
    const digest = Buffer.alloc(32, 2).toString('base64url');
    for (const [name, attributes, message] of [
      ['wire-disabled', { enabled: false }, /disabled/],
      ['wire-early', { nbf: now + 3600 }, /nbf/],
      ['wire-expired', { exp: now - 60 }, /expired/],
    ] as const) {
      expect((await call('POST', `/keys/${name}/create?${API}`, { kty: 'EC-HSM', crv: 'P-256', attributes })).status).toBe(200);
      await expectError(await call('POST', `/keys/${name}/sign?${API}`, { alg: 'ES256', value: digest }), 403, 'Forbidden', message);
    }
  });

  it('refuses invalid JSON and bodies over 1 MiB', async () => {
    await expectError(await call('POST', `/keys/wire-ec/sign?${API}`, undefined, token, '{"alg":'), 400, 'BadParameter', /not valid JSON/);
    const huge = JSON.stringify({ alg: 'ES256', value: 'A'.repeat(1024 * 1024) });
    await expectError(await call('POST', `/keys/wire-ec/sign?${API}`, undefined, token, huge), 413, 'BadParameter', /larger than 1048576 bytes/);
    expect((await call('GET', `/keys?${API}`)).status).toBe(200);
  });
});

describe('URL forms the SDKs produce', () => {
  it('routes case-insensitively, with a trailing slash, repeated slashes and an empty version segment', async () => {
    const digest = Buffer.alloc(32, 7).toString('base64url');
    for (const route of [`/KEYS/wire-ec/SIGN?${API}`, `/keys/wire-ec//sign?${API}`, `//keys///wire-ec/sign?${API}`]) {
      const response = await call('POST', route, { alg: 'ES256', value: digest });
      expect(response.status, route).toBe(200);
      expect(((await response.json()) as { kid: string }).kid).toMatch(new RegExp(`^${emulator.url}/keys/wire-ec/[0-9a-f]{32}$`));
    }
    expect((await call('GET', `/keys/wire-ec/?${API}`)).status).toBe(200);
  });
});

describe('TLS', () => {
  function handshake(options: import('node:tls').ConnectionOptions): Promise<{ protocol: string | null; names: string }> {
    return new Promise((resolve, reject) => {
      const url = new URL(emulator.url);
      const socket = tlsConnect({ host: '127.0.0.1', port: Number(url.port), ...options }, () => {
        const names = socket.getPeerCertificate().subjectaltname ?? '';
        const protocol = socket.getProtocol();
        socket.end();
        resolve({ protocol, names });
      });
      socket.on('error', reject);
    });
  }

  it('speaks TLS 1.2 and 1.3 only, with a certificate for localhost and the HSM names', async () => {
    const { protocol, names } = await handshake({ servername: 'mhsm.managedhsm.azure.net' });
    expect(protocol).toBe('TLSv1.3');
    expect(names).toContain('DNS:localhost');
    expect(names).toContain('DNS:mhsm.managedhsm.azure.net');
    // No wildcard: the certificate names this HSM only.
    expect(names).not.toContain('DNS:*.managedhsm.azure.net');
    expect(names).toContain('IP Address:127.0.0.1');
    expect((await handshake({ servername: 'mhsm.managedhsm.azure.net', maxVersion: 'TLSv1.2' })).protocol).toBe('TLSv1.2');
    await expect(handshake({ servername: 'other.managedhsm.azure.net' })).rejects.toThrow(/altnames/);
    await expect(handshake({ servername: 'localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).rejects.toThrow();
  });

  it('writes ca.pem ending in a newline, so that it can be concatenated into a bundle', () => {
    expect(readFileSync(path.join(emulator.dataDir, 'ca.pem'), 'utf8')).toMatch(/-----END CERTIFICATE-----\n$/);
  });
});

describe('what the Azure CLI asks beside the data plane', () => {
  it('serves OpenID discovery at /adfs, for an authority without instance discovery, and an empty subscription list', async () => {
    const adfs = await fetch(`${emulator.url}/adfs/.well-known/openid-configuration`);
    expect(await adfs.json()).toMatchObject({ token_endpoint: `${emulator.url}/${emulator.admin.tenantId}/oauth2/v2.0/token` });
    const subscriptions = await fetch(`${emulator.url}/subscriptions?api-version=2019-11-01`);
    expect(await subscriptions.json()).toEqual({ value: [] });
  });

  it('serves role definitions at /keys and /keys/{name}, where the CLI looks roles up', async () => {
    for (const prefix of ['/keys', '/keys/some-key']) {
      const response = await call('GET', `${prefix}/providers/Microsoft.Authorization/roleDefinitions?${API}&$filter=${encodeURIComponent("roleName eq 'Managed HSM Crypto User'")}`);
      expect(response.status).toBe(200);
      expect(((await response.json()) as { value: Array<{ name: string }> }).value.map((d) => d.name)).toEqual(['21dbd100-6940-42c2-9190-5d6cb909625b']);
    }
    expect((await call('PUT', `/keys/providers/Microsoft.Authorization/roleDefinitions/${randomUUID()}?${API}`, { properties: { permissions: [] } })).status).toBe(404);
  });
});

describe('restart', () => {
  it('keeps every key, version and attribute across a restart on the same data directory', async () => {
    const before = (await (await call('GET', `/keys/wire-ec?${API}`)).json()) as { key: { kid: string; x: string } };
    expect(await emulator.stop()).toBe(0);
    emulator = await startEmulatorProcess(emulator.dataDir);
    token = ((await (await getToken()).json()) as { access_token: string }).access_token;
    const after = (await (await call('GET', `/keys/wire-ec?${API}`)).json()) as { key: { kid: string; x: string } };
    expect(after.key.x).toBe(before.key.x);
    expect(after.key.kid.split('/').pop()).toBe(before.key.kid.split('/').pop());
    const signed = await call('POST', `/keys/wire-ec/sign?${API}`, { alg: 'ES256', value: Buffer.alloc(32, 1).toString('base64url') });
    expect(signed.status).toBe(200);
  });
});
