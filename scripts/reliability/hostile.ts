// Hostile input: random and mutated requests over every route (fast-check generates them) —
// wrong types, huge numbers, deep nesting, invalid UTF-8 and base64url, oversize bodies, bad
// api-versions, path tricks, bad Authorization headers and forged JWTs. No response may be a 5xx,
// every 4xx must carry the error envelope, and the server must still answer afterwards.
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { ALGORITHMS } from '../../src/hsm/algorithms/registry.js';
import { EmulatorProcess, type Reply } from './emulator-process.js';

export interface HostileReport {
  /** fast-check's seed: the same seed generates the same cases. */
  seed: number;
  cases: number;
  /** Requests whose connection broke instead of answering (allowed only for oversize bodies, which the server refuses before reading them whole). */
  connectionErrors: number;
  serverErrors: number;
  badEnvelopes: number;
  /** Requests with a missing, forged, expired or otherwise bad token that got a 2xx outside the anonymous routes. */
  forgedAccepted: number;
  /** Whether the emulator still answered and was still running after the last case. */
  aliveAfter: boolean;
  examples: string[];
}

interface Case {
  method: string;
  path: string;
  auth: string;
  contentType: string | undefined;
  body: string | Buffer | undefined;
}

const PROVIDER = '/providers/Microsoft.Authorization';
const KNOWN_KEYS = ['fuzz-ec', 'fuzz-rsa', 'fuzz-oct', 'fuzz-hmac'];
const ALG_NAMES = [...Object.keys(ALGORITHMS), 'RSNULL', 'none', ''];

const b64 = fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes).toString('base64url'));
const wild: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(null, true, -1, 0, 1e308, -1e308, 2 ** 53 + 1, '', '=', 'not base64!', '\u0000', '\ud800', 'ｋｅｙ'),
  fc.string({ maxLength: 300 }),
);
const field = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: wild });

const keyName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KNOWN_KEYS) },
  { weight: 2, arbitrary: fc.stringMatching(/^[0-9a-zA-Z-]{1,20}$/) },
  { weight: 1, arbitrary: fc.constantFrom('..', '%2E%2E', 'a%2Fb', '%2F', 'x'.repeat(128), 'x'.repeat(2000), 'bad_name', '%00', '%ZZ', 'ke%E9y', encodeURIComponent('😀')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map(encodeURIComponent) },
);
const version = fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9a-f]{32}$/), fc.string({ maxLength: 40 }).map(encodeURIComponent));
const scope = fc.constantFrom('', '/keys', '/keys/fuzz-ec', '/keys/bad_name', '//', '/secrets', '/keys/a/b');
const guid = fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }).map(encodeURIComponent));
const apiVersion = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('api-version=7.6', 'api-version=7.4', 'api-version=2025-07-01') },
  { weight: 1, arbitrary: fc.constantFrom('', 'api-version=', 'api-version=1.0', 'api-version=7.6&api-version=7.5', 'api-version[]=7.6', 'api-version=%FF') },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => `api-version=${encodeURIComponent(s)}&maxresults=${encodeURIComponent(s)}&$skiptoken=${encodeURIComponent(s)}`) },
);

const createBody = fc.record(
  {
    kty: field(fc.constantFrom('EC-HSM', 'RSA-HSM', 'oct-HSM', 'EC', 'RSA', 'oct')),
    key_size: field(fc.constantFrom(128, 192, 256, 2048, 3072, 1024)),
    crv: field(fc.constantFrom('P-256', 'P-384', 'P-521', 'P-256K')),
    key_ops: field(fc.array(fc.constantFrom('sign', 'verify', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'import', 'export'), { maxLength: 9 })),
    attributes: field(fc.record({ enabled: field(fc.boolean()), nbf: field(fc.integer()), exp: field(fc.integer()) }, { requiredKeys: [] })),
    tags: field(fc.dictionary(fc.string({ maxLength: 300 }), field(fc.string({ maxLength: 300 })), { maxKeys: 20 })),
    release_policy: wild,
  },
  { requiredKeys: [] },
);
const importBody = fc.record(
  { key: field(fc.record({ kty: field(fc.constantFrom('EC', 'RSA', 'oct', 'EC-HSM')), k: field(b64), crv: wild, x: field(b64), y: field(b64), d: field(b64), n: field(b64), e: field(b64), key_ops: wild }, { requiredKeys: [] })) },
  { requiredKeys: [] },
);
const cryptoBody = fc.record(
  { alg: field(fc.constantFrom(...ALG_NAMES)), value: field(b64), digest: field(b64), iv: field(b64), tag: field(b64), aad: field(b64) },
  { requiredKeys: [] },
);
const rbacBody = fc.record(
  {
    properties: field(
      fc.record(
        {
          roleDefinitionId: field(fc.constantFrom('Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/21dbd100-6940-42c2-9190-5d6cb909625b', '21dbd100-6940-42c2-9190-5d6cb909625b')),
          principalId: field(fc.uuid()),
          roleName: wild,
          permissions: field(fc.array(fc.record({ dataActions: field(fc.array(fc.string({ maxLength: 80 }), { maxLength: 5 })), notDataActions: wild }, { requiredKeys: [] }), { maxLength: 3 })),
          assignableScopes: wild,
        },
        { requiredKeys: [] },
      ),
    ),
  },
  { requiredKeys: [] },
);
const otherBody = fc.oneof(
  fc.record({ count: field(fc.integer({ min: -5, max: 200 })), value: wild, days: wild, seconds: wild, defaultAction: wild, ipRules: wild, lifetimeActions: wild, attributes: wild }, { requiredKeys: [] }),
  wild,
);

/** A route, its method and the body shape it takes. */
const request = fc.oneof(
  fc.tuple(fc.constant('POST'), keyName.map((n) => `/keys/${n}/create`), createBody),
  fc.tuple(fc.constant('PUT'), keyName.map((n) => `/keys/${n}`), importBody),
  fc.tuple(fc.constantFrom('GET', 'PATCH', 'DELETE'), fc.tuple(keyName, version).map(([n, v]) => `/keys/${n}${v ? `/${v}` : ''}`), createBody),
  fc.tuple(fc.constantFrom('GET'), fc.constantFrom('/keys', '/deletedkeys', '/keys/fuzz-ec/versions'), fc.constant(undefined)),
  fc.tuple(fc.constantFrom('GET', 'DELETE', 'POST'), keyName.map((n) => `/deletedkeys/${n}`), fc.constant(undefined)),
  fc.tuple(fc.constant('POST'), keyName.map((n) => `/deletedkeys/${n}/recover`), fc.constant(undefined)),
  fc.tuple(fc.constantFrom('GET', 'PUT'), keyName.map((n) => `/keys/${n}/rotationpolicy`), otherBody),
  fc.tuple(fc.constant('POST'), keyName.map((n) => `/keys/${n}/rotate`), fc.constant(undefined)),
  fc.tuple(fc.constant('POST'), keyName.map((n) => `/keys/${n}/backup`), fc.constant(undefined)),
  fc.tuple(fc.constant('POST'), fc.constant('/keys/restore'), fc.record({ value: field(b64) }, { requiredKeys: [] })),
  fc.tuple(
    fc.constant('POST'),
    fc.tuple(keyName, version, fc.constantFrom('sign', 'verify', 'encrypt', 'decrypt', 'wrapkey', 'unwrapkey', 'release')).map(([n, v, op]) => `/keys/${n}/${v}/${op}`),
    cryptoBody,
  ),
  fc.tuple(fc.constant('POST'), fc.constant('/rng'), otherBody),
  fc.tuple(fc.constantFrom('GET', 'PUT', 'DELETE'), fc.tuple(scope, fc.constantFrom('roleDefinitions', 'roleAssignments'), guid).map(([s, kind, g]) => `${s}${PROVIDER}/${kind}/${g}`), rbacBody),
  fc.tuple(fc.constant('GET'), fc.tuple(scope, fc.constantFrom('roleDefinitions', 'roleAssignments'), fc.string({ maxLength: 60 })).map(([s, kind, f]) => `${s}${PROVIDER}/${kind}?$filter=${encodeURIComponent(f)}`), fc.constant(undefined)),
  fc.tuple(fc.constantFrom('GET', 'PATCH'), fc.constantFrom('/settings', '/settings/AllowKeyManagementOperationsThroughARM', '/settings/unknown'), otherBody),
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT'), fc.constantFrom('/emulator/status', '/emulator/clock', '/emulator/clock/shift', '/emulator/network'), otherBody),
  fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), fc.webPath({ size: 'small' }), wild),
);

type Auth = 'valid' | 'none' | 'garbage' | 'basic' | 'algNone' | 'wrongKey' | 'expired' | 'wrongAudience' | 'truncated';
const auth = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Auth>('valid') },
  { weight: 1, arbitrary: fc.constantFrom<Auth>('none', 'garbage', 'basic', 'algNone', 'wrongKey', 'expired', 'wrongAudience', 'truncated') },
);

/** How the body goes on the wire: JSON as generated, or one of the ways of breaking it. */
const encoding = fc.oneof(
  { weight: 10, arbitrary: fc.constant('json') },
  { weight: 1, arbitrary: fc.constantFrom('invalid-utf8', 'deep-nesting', 'huge-number', 'not-json', 'text-plain', 'form', 'no-content-type', 'empty', 'oversize') },
);

export async function runHostileCampaign(options: { runs: number; seed?: number; concurrency?: number }): Promise<HostileReport> {
  const emulator = await EmulatorProcess.create('mhsm-hostile-');
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const report: HostileReport = { seed, cases: 0, connectionErrors: 0, serverErrors: 0, badEnvelopes: 0, forgedAccepted: 0, aliveAfter: false, examples: [] };
  try {
    await emulator.start();
    const admin = emulator.admin;
    const valid = await emulator.token();
    const port = new URL(emulator.url).port;
    const ours = createPrivateKey(readFileSync(path.join(emulator.dataDir, 'identity', 'signing-key.pem'), 'utf8'));
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const now = Math.floor(Date.now() / 1000);
    const jwt = (key: typeof ours, audience: string, exp: number) =>
      new SignJWT({ oid: admin.objectId, tid: admin.tenantId, appid: admin.clientId })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(`https://localhost:${port}/${admin.tenantId}/v2.0`)
        .setAudience(audience)
        .setNotBefore(now - 60)
        .setExpirationTime(exp)
        .sign(key);
    const headers: Record<Auth, string | undefined> = {
      valid: `Bearer ${valid}`,
      none: undefined,
      garbage: 'Bearer ' + randomBytes(40).toString('base64'),
      basic: 'Basic ' + Buffer.from('user:password').toString('base64'),
      algNone: `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ oid: admin.objectId, tid: admin.tenantId, appid: admin.clientId, aud: 'https://managedhsm.azure.net' })).toString('base64url')}.`,
      wrongKey: `Bearer ${await jwt(stranger, 'https://managedhsm.azure.net', now + 600)}`,
      expired: `Bearer ${await jwt(ours, 'https://managedhsm.azure.net', now - 3600)}`,
      wrongAudience: `Bearer ${await jwt(ours, 'https://vault.azure.net', now + 600)}`,
      truncated: `Bearer ${valid.slice(0, -12)}`,
    };
    // Keys for the generated requests to hit.
    for (const [name, body] of [
      ['fuzz-ec', { kty: 'EC-HSM', crv: 'P-256' }],
      ['fuzz-rsa', { kty: 'RSA-HSM', key_size: 2048 }],
      ['fuzz-oct', { kty: 'oct-HSM', key_size: 256 }],
      ['fuzz-hmac', { kty: 'oct-HSM', key_size: 256, key_ops: ['sign', 'verify'] }],
    ] as const) {
      await emulator.request('POST', `/keys/${name}/create?api-version=7.6`, { body, headers: { authorization: headers.valid as string } });
    }

    const cases = fc.sample(
      fc.record({ request, auth, encoding, apiVersion }).map(({ request: generated, auth: a, encoding: e, apiVersion: v }): Case => {
        const [method, generatedRoute, body] = generated as [string, string, unknown];
        const route = generatedRoute.startsWith('/') ? generatedRoute : `/${generatedRoute}`;
        const json = body === undefined ? undefined : JSON.stringify(body);
        const encoded: Record<string, [string | undefined, string | Buffer | undefined]> = {
          json: [json === undefined ? undefined : 'application/json', json],
          'invalid-utf8': ['application/json', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d])],
          'deep-nesting': ['application/json', `${'['.repeat(5000)}${']'.repeat(5000)}`],
          'huge-number': ['application/json', `{"key_size":1${'0'.repeat(400)},"count":1e999,"value":-1e999}`],
          'not-json': ['application/json', '{"kty": "EC-HSM",'],
          'text-plain': ['text/plain', json ?? 'hello'],
          form: ['application/x-www-form-urlencoded', 'a=1&b=2'],
          'no-content-type': [undefined, json ?? '{}'],
          empty: ['application/json', ''],
          oversize: ['application/json', `{"value":"${'A'.repeat(1024 * 1024 + 10)}"}`],
        };
        const [contentType, payload] = encoded[e] as [string | undefined, string | Buffer | undefined];
        const separator = route.includes('?') ? '&' : '?';
        return { method, path: v ? `${route}${separator}${v}` : route, auth: a, contentType, body: method === 'GET' || method === 'HEAD' ? undefined : payload };
      }),
      { numRuns: options.runs, seed },
    );

    const check = (c: Case, reply: Reply) => {
      report.cases++;
      const describe = () => `${c.method} ${c.path.slice(0, 160)} [${c.auth}, ${c.contentType ?? 'no content-type'}] → ${reply.status} ${reply.text.slice(0, 200)}`;
      if (reply.status >= 500) {
        report.serverErrors++;
        if (report.examples.length < 10) report.examples.push(describe());
        return;
      }
      // Only the routes meant to be reached without a token answer a bad one with a success.
      const anonymousRoute = /\/oauth2\/|\/\.well-known\/|\/discovery\/|\/msi\/token|\/attestation\/|\/generate-test-token|\/subscriptions/i.test(c.path);
      if (c.auth !== 'valid' && reply.status < 300 && !anonymousRoute) {
        report.forgedAccepted++;
        if (report.examples.length < 10) report.examples.push(`accepted without a valid token: ${describe()}`);
      }
      if (reply.status >= 400 && c.method !== 'HEAD') {
        const identityRoute = /\/oauth2\/|\/.well-known\//.test(c.path);
        const ok = identityRoute ? typeof reply.body?.error === 'string' : typeof reply.body?.error?.code === 'string' && typeof reply.body?.error?.message === 'string';
        if (!ok) {
          report.badEnvelopes++;
          if (report.examples.length < 10) report.examples.push(`no error envelope: ${describe()}`);
        }
      }
    };

    let next = 0;
    await Promise.all(
      Array.from({ length: options.concurrency ?? 8 }, async () => {
        while (next < cases.length) {
          const c = cases[next++] as Case;
          let reply: Reply;
          try {
            reply = await emulator.request(c.method, c.path, {
              ...(c.body === undefined ? {} : { raw: c.body }),
              headers: { ...(headers[c.auth as Auth] ? { authorization: headers[c.auth as Auth] as string } : {}), ...(c.contentType ? { 'content-type': c.contentType } : {}) },
            });
          } catch (error) {
            report.cases++;
            report.connectionErrors++;
            const oversize = typeof c.body === 'string' && c.body.length > 1024 * 1024;
            if (!oversize) {
              report.serverErrors++;
              if (report.examples.length < 10) report.examples.push(`connection failed: ${c.method} ${c.path.slice(0, 160)}: ${(error as Error).message}`);
            }
            continue;
          }
          check(c, reply);
        }
      }),
    );
    const after = await emulator.request('GET', '/keys?api-version=7.6', { headers: { authorization: headers.valid as string } });
    report.aliveAfter = after.status === 200 && emulator.child?.exitCode === null;
    // The server's own account of each unexpected failure.
    for (const line of emulator.output.split('\n')) {
      if (line.includes('unexpected failure') && report.examples.length < 20) report.examples.push(`server log: ${line.slice(0, 800)}`);
    }
    return report;
  } finally {
    await emulator.close();
    emulator.remove();
  }
}
