// The keys the emulator itself makes through the API, every type, created and imported, looked at
// from another process through another binding (pkcs11js): each is a private, sensitive token
// object, extractable only under a trusted key (CKA_WRAP_WITH_TRUSTED), its value cannot be read,
// and a fresh untrusted key cannot wrap it.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CKA, CKO } from '../../src/token/constants.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { inspectEmulatorToken, storedVersions } from '../helpers/emulator-token.js';
import { accessToken, callJson } from '../helpers/rest.js';

let emulator: EmulatorProcess;

const created: Array<[string, Record<string, unknown>]> = [
  ['rsa-2048', { kty: 'RSA-HSM', key_size: 2048 }],
  ['rsa-3072', { kty: 'RSA-HSM', key_size: 3072 }],
  ['rsa-4096', { kty: 'RSA-HSM', key_size: 4096 }],
  ['ec-p256', { kty: 'EC-HSM', crv: 'P-256' }],
  ['ec-p256k', { kty: 'EC-HSM', crv: 'P-256K' }],
  ['ec-p384', { kty: 'EC-HSM', crv: 'P-384' }],
  ['ec-p521', { kty: 'EC-HSM', crv: 'P-521' }],
  ['aes-128', { kty: 'oct-HSM', key_size: 128 }],
  ['aes-192', { kty: 'oct-HSM', key_size: 192 }],
  ['aes-256', { kty: 'oct-HSM', key_size: 256 }],
  ['hmac-256', { kty: 'oct-HSM', key_size: 256, key_ops: ['sign', 'verify'] }],
];

function imported(): Array<[string, Record<string, unknown>]> {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' });
  return [
    ['imported-rsa', { key: { ...rsa, kty: 'RSA-HSM' } }],
    ['imported-ec', { key: { ...ec, kty: 'EC-HSM' } }],
    ['imported-aes', { key: { kty: 'oct-HSM', k: randomBytes(32).toString('base64url') } }],
    ['imported-hmac', { key: { kty: 'oct-HSM', k: randomBytes(32).toString('base64url'), key_ops: ['sign', 'verify'] } }],
  ];
}

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir());
  const bearer = await accessToken(emulator.url, emulator.admin);
  for (const [name, body] of created) expect((await callJson(emulator.url, bearer, 'POST', `/keys/${name}/create`, body)).status, name).toBe(200);
  for (const [name, body] of imported()) expect((await callJson(emulator.url, bearer, 'PUT', `/keys/${name}`, body)).status, name).toBe(200);
  expect(await emulator.stop()).toBe(0);
}, 120_000);

afterAll(() => removeDataDir(emulator.dataDir));

it('every key made through the API is sensitive, wrap-with-trusted and unreadable in the token, and no untrusted key wraps it', () => {
  const versions = storedVersions(emulator.dataDir);
  expect(versions).toHaveLength(created.length + 4);
  const keys = versions.map((v) => ({
    id: v.tokenId.toString('hex'),
    class: v.spec.type === 'rsa' || v.spec.type === 'ec' ? CKO.PRIVATE_KEY : CKO.SECRET_KEY,
    secretAttribute: v.spec.type === 'rsa' ? CKA.PRIVATE_EXPONENT : CKA.VALUE,
    names: ['CKA_TOKEN', 'CKA_PRIVATE', 'CKA_SENSITIVE', 'CKA_EXTRACTABLE', 'CKA_WRAP_WITH_TRUSTED', 'CKA_ALWAYS_SENSITIVE'],
  }));
  const results = inspectEmulatorToken(emulator.dataDir, keys);
  for (const [index, result] of results.entries()) {
    const name = versions[index]?.name;
    expect(result, name).toEqual({
      id: keys[index]?.id,
      found: 1,
      // Imported material was outside the token once: PKCS#11 says so with CKA_ALWAYS_SENSITIVE false.
      attributes: { CKA_TOKEN: true, CKA_PRIVATE: true, CKA_SENSITIVE: true, CKA_EXTRACTABLE: true, CKA_WRAP_WITH_TRUSTED: true, CKA_ALWAYS_SENSITIVE: !name?.startsWith('imported') },
      readSecret: 'CKR_ATTRIBUTE_SENSITIVE',
      wrap: 'CKR_KEY_NOT_WRAPPABLE',
    });
  }
});
