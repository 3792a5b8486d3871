// What the recorded service does and the emulator now does the same (test/conformance/ found each):
// no tags member on a key without tags, public_exponent honoured, kty AES taken, the service's
// default key_ops of an oct-HSM key, 12-byte AES-GCM nonces, the retention set per HSM and kept,
// the headers of every answer, errors without an empty innererror, and the corrupt-backup message
// the SDKs' own tests compare word for word.
import { constants, createPublicKey, publicDecrypt, randomBytes } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

let emulator: EmulatorProcess;
let bearer: string;
let client: KeyClient;

async function start(args: string[]): Promise<void> {
  emulator = await startEmulatorProcess(emulator?.dataDir ?? seededDataDir(), args);
  bearer = await accessToken(emulator.url, emulator.admin);
  const { tenantId, clientId, clientSecret } = emulator.admin;
  const credential = new ClientSecretCredential(tenantId, clientId, clientSecret, { authorityHost: emulator.url, disableInstanceDiscovery: true });
  client = new KeyClient(emulator.url, credential, { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } });
}

beforeAll(() => start(['--soft-delete-retention-days', '7']), 60_000);

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

const call = (method: string, route: string, body?: unknown) => callJson(emulator.url, bearer, method, route, body);

describe('keys', () => {
  it('have no tags member without tags, and keep the tags they have', async () => {
    const plain = await call('POST', '/keys/untagged/create', { kty: 'EC-HSM' });
    expect(plain.status).toBe(200);
    expect(plain.body).not.toHaveProperty('tags');
    expect((await call('GET', '/keys/untagged')).body).not.toHaveProperty('tags');
    const listed = (await call('GET', '/keys')).body.value.find((item: { kid: string }) => item.kid.endsWith('/untagged'));
    expect(listed).not.toHaveProperty('tags');
    expect((await call('POST', '/keys/tagged/create', { kty: 'EC-HSM', tags: { a: 'b' } })).body.tags).toEqual({ a: 'b' });
    expect((await call('POST', '/keys/empty-tags/create', { kty: 'EC-HSM', tags: {} })).body).not.toHaveProperty('tags');
  });

  it('honour public_exponent 3 or 65537 on RSA keys, and refuse any other and any on other types', async () => {
    const three = await call('POST', '/keys/rsa-e3/create', { kty: 'RSA-HSM', key_size: 2048, public_exponent: 3 });
    expect(three.status).toBe(200);
    expect(three.body.key.e).toBe('Aw');
    // The key signs, and node:crypto recovers the DigestInfo under e = 3.
    const digest = randomBytes(32);
    const signed = await call('POST', `/keys/rsa-e3/sign`, { alg: 'RS256', value: digest.toString('base64url') });
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: three.body.key.n, e: three.body.key.e }, format: 'jwk' });
    const { publicExponent } = publicKey.asymmetricKeyDetails as { publicExponent: bigint };
    expect(publicExponent).toBe(3n);
    const prefix = Buffer.from('3031300d060960864801650304020105000420', 'hex');
    const recovered = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(signed.body.value, 'base64url'));
    expect(recovered).toEqual(Buffer.concat([prefix, digest]));
    expect((await call('POST', '/keys/rsa-e65537/create', { kty: 'RSA-HSM', public_exponent: 65537 })).body.key.e).toBe('AQAB');
    for (const [body, rule] of [
      [{ kty: 'RSA-HSM', public_exponent: 5 }, /public_exponent: an RSA-HSM key takes 3 or 65537/],
      [{ kty: 'RSA-HSM', public_exponent: '3' }, /public_exponent/],
      [{ kty: 'EC-HSM', public_exponent: 3 }, /public_exponent: only RSA keys have one/],
    ] as const) {
      const refused = await call('POST', '/keys/bad-exponent/create', body);
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(rule);
    }
    expect((await call('GET', '/keys/bad-exponent')).status).toBe(404);
  });

  it('take kty AES as oct-HSM, with the service\'s default key_ops, and answer AES-GCM with a 12-byte nonce', async () => {
    const created = await call('POST', '/keys/aes/create', { kty: 'AES', key_size: 256 });
    expect(created.status).toBe(200);
    expect(created.body.key.kty).toBe('oct-HSM');
    expect([...created.body.key.key_ops].sort()).toEqual(['decrypt', 'deriveKey', 'encrypt', 'sign', 'unwrapKey', 'verify', 'wrapKey']);
    const sealed = await call('POST', '/keys/aes/encrypt', { alg: 'A256GCM', value: 'aGVsbG8', aad: 'dGVzdA' });
    expect(Buffer.from(sealed.body.iv, 'base64url')).toHaveLength(12);
    expect(sealed.body.aad).toBe('dGVzdA');
    const opened = await call('POST', '/keys/aes/decrypt', { alg: 'A256GCM', value: sealed.body.value, iv: sealed.body.iv, tag: sealed.body.tag, aad: 'dGVzdA' });
    expect(opened.body.value).toBe('aGVsbG8');
    // CBC echoes no aad, and fills a partial block with zeros as the service does.
    const cbc = await call('POST', '/keys/aes/encrypt', { alg: 'A256CBC', value: randomBytes(20).toString('base64url'), aad: 'dGVzdA' });
    expect(cbc.body).not.toHaveProperty('aad');
    expect(Buffer.from(cbc.body.value, 'base64url')).toHaveLength(32);
    // sign is among the default key_ops, yet no algorithm signs with an AES key: a 400, not a 500.
    const signed = await call('POST', '/keys/aes/sign', { alg: 'HS256', value: randomBytes(32).toString('base64url') });
    expect(signed.status).toBe(400);
  });

  it('refuse a corrupt backup with the service\'s own message, word for word', async () => {
    await expect(client.restoreKeyBackup(new Uint8Array(8693))).rejects.toMatchObject({ statusCode: 400, message: 'Backup blob contains invalid or corrupt version.' });
  });
});

describe('answers', () => {
  it('carry the service\'s headers on every answer, errors and the challenge included', async () => {
    const answers = [
      await fetch(`${emulator.url}/keys?api-version=7.6`, { headers: { authorization: `Bearer ${bearer}` } }),
      await fetch(`${emulator.url}/keys/none?api-version=7.6`, { headers: { authorization: `Bearer ${bearer}` } }),
      await fetch(`${emulator.url}/keys?api-version=7.6`),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 404, 401]);
    for (const answer of answers) {
      expect(answer.headers.get('strict-transport-security')).toBe('max-age=31536000; includeSubDomains');
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(answer.headers.get('content-security-policy')).toBe("default-src 'self'");
      expect(answer.headers.get('cache-control')).toBe('no-cache');
      expect(answer.headers.get('x-ms-keyvault-network-info')).toMatch(/^conn_type=Ipv[46];addr=[0-9a-f.:]+;act_addr_fam=Ipv[46];$/);
      expect(answer.headers.get('x-ms-server-latency')).toMatch(/^\d+$/);
      expect(answer.headers.get('x-ms-keyvault-service-version')).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(answer.headers.get('x-ms-keyvault-region')).toBe('local');
    }
    // Errors have no innererror unless there is one to give.
    expect(((await answers[1]?.json()) as { error: object }).error).not.toHaveProperty('innererror');
  });
});

describe('soft-delete retention', () => {
  it('is set by the first start, kept across restarts, and cannot change', async () => {
    const key = await call('GET', '/keys/untagged');
    expect(key.body.attributes).toMatchObject({ recoverableDays: 7, recoveryLevel: 'CustomizedRecoverable+Purgeable' });
    await emulator.stop();
    await start([]);
    expect((await call('GET', '/keys/untagged')).body.attributes.recoverableDays).toBe(7);
    await emulator.stop();
    await expect(startEmulatorProcess(emulator.dataDir, ['--soft-delete-retention-days', '30'])).rejects.toThrow(/keeps soft-deleted keys 7 days.*cannot change/);
    await start(['--soft-delete-retention-days', '7']);
    const deleted = await call('DELETE', '/keys/untagged');
    expect(deleted.body.scheduledPurgeDate - deleted.body.deletedDate).toBe(7 * 86_400);
  }, 60_000);
});
