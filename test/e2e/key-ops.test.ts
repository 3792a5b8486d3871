// key_ops is the server's rule, not the SDK's: every operation outside a key's key_ops is sent raw
// (no client-side check can stand in) and refused with 403 Forbidden naming key_ops; the same
// request passes once the operation is allowed. And the RSA public-key operations the SDK does
// locally (encrypt and wrapKey with RSA-OAEP, RSA-OAEP-256, RSA1_5) are sent to the server too,
// and what it returns decrypts with node:crypto.
import { constants, createHash, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { accessToken, callJson } from '../helpers/rest.js';

let emulator: EmulatorProcess;
let call: (method: string, route: string, body?: unknown) => ReturnType<typeof callJson>;
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const digest = createHash('sha256').update('key ops').digest().toString('base64url');

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir());
  const bearer = await accessToken(emulator.url, emulator.admin);
  call = (method, route, body) => callJson(emulator.url, bearer, method, route, body);
  expect((await call('PUT', '/keys/rsa', { key: { ...rsa.privateKey.export({ format: 'jwk' }), kty: 'RSA-HSM', key_ops: [] } })).status).toBe(200);
  expect((await call('POST', '/keys/aes/create', { kty: 'oct-HSM', key_size: 256, key_ops: [] })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

const RSA_OPERATIONS: Array<[string, string, Record<string, unknown>]> = [
  ['encrypt', 'encrypt', { alg: 'RSA-OAEP-256', value: randomBytes(16).toString('base64url') }],
  ['decrypt', 'decrypt', { alg: 'RSA-OAEP', value: Buffer.alloc(256, 1).toString('base64url') }],
  ['wrapKey', 'wrapkey', { alg: 'RSA-OAEP', value: randomBytes(32).toString('base64url') }],
  ['unwrapKey', 'unwrapkey', { alg: 'RSA1_5', value: Buffer.alloc(256, 1).toString('base64url') }],
  ['sign', 'sign', { alg: 'RS256', value: digest }],
  ['verify', 'verify', { alg: 'PS256', digest, value: Buffer.alloc(256).toString('base64url') }],
];

describe('an operation outside key_ops', () => {
  it.each(RSA_OPERATIONS)('RSA %s is refused by the server with 403, then reaches the key once allowed', async (operation, path, body) => {
    await call('PATCH', '/keys/rsa', { key_ops: RSA_OPERATIONS.map(([op]) => op).filter((op) => op !== operation) });
    const refused = await call('POST', `/keys/rsa/${path}`, body);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('Forbidden');
    expect(refused.body.error.message).toMatch(new RegExp(`^Operation ${operation} is not permitted by this key's key_ops \\(rsa\\)`));
    await call('PATCH', '/keys/rsa', { key_ops: [operation] });
    const allowed = await call('POST', `/keys/rsa/${path}`, body);
    // Allowed, the request reaches the cryptography: a result, or the input's own 400.
    expect([200, 400], JSON.stringify(allowed.body)).toContain(allowed.status);
    if (allowed.status === 400) expect(allowed.body.error.message).not.toMatch(/key_ops/);
  });

  it.each([
    ['encrypt', 'encrypt', { alg: 'A256GCM', value: 'AAAA' }],
    ['decrypt', 'decrypt', { alg: 'A256CBCPAD', value: Buffer.alloc(16).toString('base64url'), iv: Buffer.alloc(16).toString('base64url') }],
    ['wrapKey', 'wrapkey', { alg: 'A256KW', value: Buffer.alloc(16).toString('base64url') }],
    ['unwrapKey', 'unwrapkey', { alg: 'A256KW', value: Buffer.alloc(24).toString('base64url') }],
  ])('AES %s likewise', async (operation, path, body) => {
    await call('PATCH', '/keys/aes', { key_ops: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'].filter((op) => op !== operation) });
    const refused = await call('POST', `/keys/aes/${path}`, body);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(new RegExp(`^Operation ${operation} is not permitted by this key's key_ops`));
    await call('PATCH', '/keys/aes', { key_ops: [operation] });
    expect([200, 400]).toContain((await call('POST', `/keys/aes/${path}`, body)).status);
  });
});

describe('RSA public-key operations on the server', () => {
  it.each([
    ['RSA-OAEP', constants.RSA_PKCS1_OAEP_PADDING, 'sha1'],
    ['RSA-OAEP-256', constants.RSA_PKCS1_OAEP_PADDING, 'sha256'],
    ['RSA1_5', constants.RSA_PKCS1_PADDING, undefined],
  ] as const)('%s encrypt and wrapKey give ciphertexts the private key decrypts', async (alg, padding, oaepHash) => {
    await call('PATCH', '/keys/rsa', { key_ops: ['encrypt', 'wrapKey'] });
    for (const path of ['encrypt', 'wrapkey']) {
      const plaintext = randomBytes(32);
      const response = await call('POST', `/keys/rsa/${path}`, { alg, value: plaintext.toString('base64url') });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      const ciphertext = Buffer.from(response.body.value, 'base64url');
      expect(ciphertext).toHaveLength(256);
      if (padding === constants.RSA_PKCS1_OAEP_PADDING) {
        expect(privateDecrypt({ key: rsa.privateKey, padding, oaepHash: oaepHash as string }, ciphertext)).toEqual(plaintext);
      } else {
        // Node 20 no longer decrypts PKCS#1 v1.5 with a private key (CVE-2023-46809): the key in
        // the token does, as the other side of the pair.
        await call('PATCH', '/keys/rsa', { key_ops: ['decrypt', 'unwrapKey'] });
        const back = await call('POST', `/keys/rsa/${path === 'encrypt' ? 'decrypt' : 'unwrapkey'}`, { alg, value: response.body.value });
        expect(Buffer.from(back.body.value, 'base64url')).toEqual(plaintext);
        await call('PATCH', '/keys/rsa', { key_ops: ['encrypt', 'wrapKey'] });
      }
    }
  });
});

describe('an empty value', () => {
  it('is encrypted over HTTPS, and the HSM keeps answering after it', async () => {
    await call('PATCH', '/keys/aes', { key_ops: ['encrypt', 'decrypt'] });
    for (let round = 0; round < 3; round++) {
      const sealed = await call('POST', '/keys/aes/encrypt', { alg: 'A256GCM', value: '' });
      expect(sealed.status, JSON.stringify(sealed.body)).toBe(200);
      expect(sealed.body.value).toBe('');
      const opened = await call('POST', '/keys/aes/decrypt', { alg: 'A256GCM', value: '', iv: sealed.body.iv, tag: sealed.body.tag });
      expect(opened.status, JSON.stringify(opened.body)).toBe(200);
      expect(opened.body.value).toBe('');
    }
    for (let i = 0; i < 20; i++) expect((await call('POST', '/keys/aes/encrypt', { alg: 'A256GCM', value: 'AAAA' })).status).toBe(200);
  });
});
