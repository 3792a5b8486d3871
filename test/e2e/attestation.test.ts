// Key attestation end to end: KeyClient.getKeyAttestation on created and imported keys of every
// type; each statement verified under its x5c leaf, the leaf and the PEM file's chain under the
// emulator's CA; and the attributes it states compared with what another process reads from the
// token through another binding (pkcs11js).
import { X509Certificate, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import { KeyClient, type KeyVaultKey } from '@azure/keyvault-keys';
import { compactVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKO } from '../../src/token/constants.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { inspectEmulatorToken, storedVersions } from '../helpers/emulator-token.js';
import { accessToken, callJson } from '../helpers/rest.js';

let emulator: EmulatorProcess;
let client: KeyClient;
let bearer: string;

const CREATED: Array<[string, Record<string, unknown>, string]> = [
  ['att-rsa', { kty: 'RSA-HSM', key_size: 3072 }, 'CKK_RSA'],
  ['att-ec', { kty: 'EC-HSM', crv: 'P-384' }, 'CKK_EC'],
  ['att-aes', { kty: 'oct-HSM', key_size: 256 }, 'CKK_AES'],
];
const IMPORTED: Array<[string, Record<string, unknown>, string]> = [
  ['att-imported-rsa', { key: { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kty: 'RSA-HSM' } }, 'CKK_RSA'],
  ['att-imported-aes', { key: { kty: 'oct-HSM', k: randomBytes(16).toString('base64url') } }, 'CKK_AES'],
];
const BOOLEANS = ['CKA_TOKEN', 'CKA_PRIVATE', 'CKA_SENSITIVE', 'CKA_EXTRACTABLE', 'CKA_WRAP_WITH_TRUSTED', 'CKA_ALWAYS_SENSITIVE', 'CKA_NEVER_EXTRACTABLE', 'CKA_LOCAL'];
const attested = new Map<string, KeyVaultKey>();

/** A statement verified under its x5c leaf, the leaf under the emulator's CA; its payload. */
async function verifiedStatement(jws: Uint8Array): Promise<Record<string, any>> {
  const compact = Buffer.from(jws).toString();
  const header = JSON.parse(Buffer.from(compact.split('.')[0] as string, 'base64url').toString());
  expect(header.alg).toBe('RS256');
  const [leaf, ca] = (header.x5c as string[]).map((der) => new X509Certificate(Buffer.from(der, 'base64')));
  const trusted = new X509Certificate(readFileSync(path.join(emulator.dataDir, 'ca.pem')));
  expect(ca?.fingerprint256).toBe(trusted.fingerprint256);
  expect(leaf?.verify(trusted.publicKey)).toBe(true);
  expect(leaf?.subject).toContain('platform attestation');
  const { payload } = await compactVerify(compact, (leaf as X509Certificate).publicKey);
  return JSON.parse(Buffer.from(payload).toString());
}

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir());
  const { tenantId, clientId, clientSecret } = emulator.admin;
  const credential = new ClientSecretCredential(tenantId, clientId, clientSecret, { authorityHost: emulator.url, disableInstanceDiscovery: true });
  client = new KeyClient(emulator.url, credential, { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } });
  bearer = await accessToken(emulator.url, emulator.admin);
  for (const [name, body] of CREATED) expect((await callJson(emulator.url, bearer, 'POST', `/keys/${name}/create`, body)).status, name).toBe(200);
  for (const [name, body] of IMPORTED) expect((await callJson(emulator.url, bearer, 'PUT', `/keys/${name}`, body)).status, name).toBe(200);
  try {
    for (const [name] of [...CREATED, ...IMPORTED]) attested.set(name, await client.getKeyAttestation(name));
  } catch (error) {
    throw new Error(`${String(error)}\n${emulator.output().slice(-3000)}`);
  }
}, 120_000);

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

describe('getKeyAttestation', () => {
  it('answers the key with its attestation and the HSM platform, as the official client reads them', () => {
    for (const [name] of [...CREATED, ...IMPORTED]) {
      const key = attested.get(name) as KeyVaultKey;
      expect(key.name).toBe(name);
      expect(key.properties.hsmPlatform, name).toBe('mhsm-emulator-softhsm2');
      const attestation = key.properties.attestation;
      expect(attestation?.version, name).toBe('1.0');
      expect(attestation?.privateKeyAttestation?.length, name).toBeGreaterThan(100);
      expect(attestation?.publicKeyAttestation === undefined, name).toBe(key.keyType === 'oct-HSM');
      // The PEM file holds the chain that verifies the statements: the platform's certificate, then the CA.
      const pem = Buffer.from(attestation?.certificatePemFile as Uint8Array).toString();
      const certificates = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
      expect(certificates).toHaveLength(2);
      const [leaf, ca] = certificates.map((text) => new X509Certificate(text));
      expect(leaf?.verify((ca as X509Certificate).publicKey)).toBe(true);
      expect(ca?.fingerprint256).toBe(new X509Certificate(readFileSync(path.join(emulator.dataDir, 'ca.pem'))).fingerprint256);
    }
  });

  it('states each object signed by the platform key: the key, its type, origin and public key', async () => {
    for (const [name, , keyType] of [...CREATED, ...IMPORTED]) {
      const key = attested.get(name) as KeyVaultKey;
      const statement = await verifiedStatement(key.properties.attestation?.privateKeyAttestation as Uint8Array);
      expect(statement.kid, name).toBe(key.id);
      expect(statement.origin, name).toBe(name.includes('imported') ? 'imported' : 'generated');
      expect(statement.attributes.CKA_KEY_TYPE, name).toBe(keyType);
      expect(statement.attributes.CKA_CLASS, name).toBe(key.keyType === 'oct-HSM' ? 'CKO_SECRET_KEY' : 'CKO_PRIVATE_KEY');
      expect(statement.attributes).toMatchObject({ CKA_SENSITIVE: true, CKA_WRAP_WITH_TRUSTED: true, CKA_TOKEN: true });
      if (key.keyType === 'oct-HSM') continue;
      const publicStatement = await verifiedStatement(key.properties.attestation?.publicKeyAttestation as Uint8Array);
      expect(publicStatement.attributes.CKA_CLASS).toBe('CKO_PUBLIC_KEY');
      // The public key stated is the key's: the same SubjectPublicKeyInfo as the bundle's JWK.
      const spki = (jwk: object) => createPublicKey({ key: jwk as any, format: 'jwk' }).export({ format: 'der', type: 'spki' }).toString('hex');
      const bundleJwk = { ...key.key, kty: key.keyType?.replace('-HSM', ''), n: key.key?.n && Buffer.from(key.key.n).toString('base64url'), e: key.key?.e && Buffer.from(key.key.e).toString('base64url'), x: key.key?.x && Buffer.from(key.key.x).toString('base64url'), y: key.key?.y && Buffer.from(key.key.y).toString('base64url') };
      for (const stated of [statement, publicStatement]) expect(spki({ ...stated.publicKey, kty: stated.publicKey.kty.replace('-HSM', '') })).toBe(spki(Object.fromEntries(Object.entries(bundleJwk).filter(([field]) => ['kty', 'n', 'e', 'crv', 'x', 'y'].includes(field)))));
      if (key.keyType === 'RSA-HSM') {
        expect(publicStatement.attributes.CKA_MODULUS_BITS).toBe(Buffer.from(key.key?.n as Uint8Array).length * 8);
        expect(statement.attributes.CKA_MODULUS).toBe(Buffer.from(key.key?.n as Uint8Array).toString('hex'));
      }
      if (key.keyType === 'EC-HSM') expect(statement.attributes.CKA_EC_PARAMS).toBe('06052b81040022'); // P-384's OID
    }
  });

  it('is refused before api-version 7.6, and for a key that does not exist', async () => {
    const old = await fetch(`${emulator.url}/keys/att-rsa/attestation?api-version=7.5`, { headers: { authorization: `Bearer ${bearer}` } });
    expect(old.status).toBe(400);
    expect(((await old.json()) as any).error.message).toMatch(/api-version: key attestation needs 7.6/);
    const missing = await callJson(emulator.url, bearer, 'GET', '/keys/no-such-key/attestation');
    expect(missing.status).toBe(404);
    expect((missing.body as any).error.code).toBe('KeyNotFound');
  });

  it('states what another process reads from the token for each of the key\'s objects', async () => {
    const statements = new Map<string, Record<string, any>>();
    for (const [name] of [...CREATED, ...IMPORTED]) {
      statements.set(name, await verifiedStatement(attested.get(name)?.properties.attestation?.privateKeyAttestation as Uint8Array));
    }
    expect(await emulator.stop()).toBe(0);
    const versions = storedVersions(emulator.dataDir);
    const keys = versions.map((v) => ({
      id: v.tokenId.toString('hex'),
      class: v.spec.type === 'rsa' || v.spec.type === 'ec' ? CKO.PRIVATE_KEY : CKO.SECRET_KEY,
      secretAttribute: v.spec.type === 'rsa' ? CKA.PRIVATE_EXPONENT : CKA.VALUE,
      names: BOOLEANS,
    }));
    const inspected = inspectEmulatorToken(emulator.dataDir, keys);
    for (const [index, version] of versions.entries()) {
      const stated = statements.get(version.name)?.attributes;
      const read = inspected[index]?.attributes ?? {};
      expect(Object.keys(read).sort(), version.name).toEqual([...BOOLEANS].sort());
      for (const attribute of BOOLEANS) expect(stated?.[attribute], `${version.name} ${attribute}`).toBe(read[attribute]);
    }
  });
});
