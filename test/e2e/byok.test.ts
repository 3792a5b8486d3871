// BYOK end to end: a second SoftHSM2 token plays the customer's own HSM, `mhsm byok export` wraps
// its extractable keys inside it for the emulator's key-exchange key, and the official
// @azure/keyvault-keys (and `mhsm key import --byok`) import the blobs; each imported key is then
// used and checked against the source key. From another process (pkcs11js): the imported keys
// are sensitive and wrap-with-trusted, and a refused import leaves no token object.
import { createPublicKey, randomBytes, constants, publicEncrypt, verify as nodeVerify, createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import { KeyClient } from '@azure/keyvault-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NativeModule, loadNativeModule } from '../../src/native/addon.js';
import { CKA, CKM, CKO } from '../../src/token/constants.js';
import { toNativeTemplate } from '../../src/token/attributes.js';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { runCli } from '../helpers/cli.js';
import { emulatorTokenCounts, inspectEmulatorToken, storedVersions } from '../helpers/emulator-token.js';
import { type TestToken, createTestToken } from '../helpers/test-token.js';
import { openUserSession, slotByLabel } from '../helpers/pkcs11.js';
import { accessToken, callJson } from '../helpers/rest.js';

let emulator: EmulatorProcess;
let client: KeyClient;
let source: TestToken;
let sourceModule: NativeModule;
let sourceSession: number;
let kid: string;
let dir: string;
const clientOptions = { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } };

const env = () => ({ MHSM_DATA_DIR: emulator.dataDir, SOFTHSM2_CONF: source.configPath });
const sourceFlags = () => ['--module', source.modulePath, '--token-label', source.label, '--key-label'];

/** Extractable keys in the source token, as a customer's HSM holds keys meant for transfer. */
async function makeSourceKeys(): Promise<void> {
  const s = sourceSession;
  const secret = { token: true, private: true, sensitive: true, extractable: true };
  await sourceModule.generateKeyPair(
    s,
    { type: CKM.RSA_PKCS_KEY_PAIR_GEN },
    toNativeTemplate({ token: true, label: 'src-rsa', id: Buffer.from('01', 'hex'), modulusBits: 2048, publicExponent: Buffer.from([1, 0, 1]), encrypt: true, verify: true }),
    toNativeTemplate({ ...secret, label: 'src-rsa', id: Buffer.from('01', 'hex'), sign: true, decrypt: true }),
  );
  await sourceModule.generateKeyPair(
    s,
    { type: CKM.EC_KEY_PAIR_GEN },
    toNativeTemplate({ token: true, label: 'src-ec', id: Buffer.from('02', 'hex'), ecParams: Buffer.from('06082a8648ce3d030107', 'hex'), verify: true }),
    toNativeTemplate({ ...secret, label: 'src-ec', id: Buffer.from('02', 'hex'), sign: true }),
  );
  await sourceModule.generateKey(s, { type: CKM.AES_KEY_GEN }, toNativeTemplate({ ...secret, class: CKO.SECRET_KEY, label: 'src-aes', id: Buffer.from('03', 'hex'), valueLen: 32, encrypt: true, decrypt: true }));
}

async function sourceObject(objectClass: number, label: string): Promise<number> {
  const [handle] = await sourceModule.findObjects(sourceSession, toNativeTemplate({ class: objectClass, label }));
  return handle as number;
}

function auditText(): string {
  const auditDir = path.join(emulator.dataDir, 'audit');
  return readdirSync(auditDir).map((file) => readFileSync(path.join(auditDir, file), 'utf8')).join('');
}

beforeAll(async () => {
  source = await createTestToken();
  sourceModule = loadNativeModule(source.modulePath);
  sourceModule.initialize();
  sourceSession = await openUserSession(sourceModule, await slotByLabel(sourceModule, source.label), source.pin);
  await makeSourceKeys();
  emulator = await startEmulatorProcess(seededDataDir());
  dir = emulator.dataDir;
  const { tenantId, clientId, clientSecret } = emulator.admin;
  const credential = new ClientSecretCredential(tenantId, clientId, clientSecret, { authorityHost: emulator.url, disableInstanceDiscovery: true });
  client = new KeyClient(emulator.url, credential, clientOptions);
  const made = await runCli(['byok', 'kek', '--name', 'kek', '--create', '--size', '3072', '--out', path.join(dir, 'kek.pem')], env());
  expect(made.code, made.stderr).toBe(0);
  kid = /kid: (\S+)/.exec(made.stderr)?.[1] as string;
  expect(kid).toMatch(new RegExp(`^${emulator.url}/keys/kek/[0-9a-f]{32}$`));
}, 60_000);

afterAll(async () => {
  sourceModule?.finalize();
  source?.remove();
  if (emulator) {
    await emulator.stop();
    removeDataDir(emulator.dataDir);
  }
});

async function exportKey(label: string, out: string, extra: string[] = []): Promise<Buffer> {
  const result = await runCli(['byok', 'export', ...sourceFlags(), label, '--pin', source.pin, '--kek-kid', kid, '--out', out, ...extra], env());
  expect(result.code, result.stderr).toBe(0);
  return readFileSync(out);
}

describe('from a second SoftHSM2 token to the emulator', () => {
  it('the KEK downloads as the PEM of its public key, RSA-3072 with key_ops ["import"]', async () => {
    const key = await client.getKey('kek');
    expect(key.keyOperations).toEqual(['import']);
    const pem = createPublicKey(readFileSync(path.join(dir, 'kek.pem')));
    expect(pem.export({ format: 'jwk' }).n).toBe(Buffer.from(key.key?.n as Uint8Array).toString('base64url'));
    expect(pem.asymmetricKeyDetails?.modulusLength).toBe(3072);
  });

  it('an RSA key exported by `mhsm byok export` imports through KeyClient.importKey; unwrapKey gives back what its public key wrapped', async () => {
    const blob = await exportKey('src-rsa', path.join(dir, 'rsa.byok'));
    expect(JSON.parse(blob.toString())).toMatchObject({ schema_version: '1.0.0', header: { kid, alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP' } });
    const imported = await client.importKey('byok-rsa', { kty: 'RSA-HSM', keyOps: ['unwrapKey', 'sign'], t: blob });
    expect(imported.keyType).toBe('RSA-HSM');
    const [n, e] = await sourceModule.getAttributeValue(sourceSession, await sourceObject(CKO.PUBLIC_KEY, 'src-rsa'), [CKA.MODULUS, CKA.PUBLIC_EXPONENT]);
    expect(Buffer.from(imported.key?.n as Uint8Array)).toEqual(n);
    const sourcePublic = createPublicKey({ key: { kty: 'RSA', n: (n as Buffer).toString('base64url'), e: (e as Buffer).toString('base64url') }, format: 'jwk' });
    const contentKey = randomBytes(32);
    const wrapped = publicEncrypt({ key: sourcePublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, contentKey);
    const unwrapped = await client.getCryptographyClient('byok-rsa').unwrapKey('RSA-OAEP', wrapped);
    expect(Buffer.from(unwrapped.result)).toEqual(contentKey);
  });

  it('an EC key exported with the KEK from a PEM file imports through `mhsm key import --byok`, and signs for the source public key', async () => {
    await exportKey('src-ec', path.join(dir, 'ec.byok'), ['--kek', path.join(dir, 'kek.pem')]);
    const imported = await runCli(['key', 'import', 'byok-ec', '--byok', path.join(dir, 'ec.byok'), '--kty', 'EC-HSM', '--curve', 'P-256'], env());
    expect(imported.code, imported.stderr).toBe(0);
    const [point] = await sourceModule.getAttributeValue(sourceSession, await sourceObject(CKO.PUBLIC_KEY, 'src-ec'), [CKA.EC_POINT]);
    const bare = (point as Buffer).subarray(2);
    const sourcePublic = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: bare.subarray(1, 33).toString('base64url'), y: bare.subarray(33).toString('base64url') }, format: 'jwk' });
    const data = randomBytes(100);
    const signed = await client.getCryptographyClient('byok-ec').sign('ES256', createHash('sha256').update(data).digest());
    expect(nodeVerify('sha256', data, { key: sourcePublic, dsaEncoding: 'ieee-p1363' }, signed.result)).toBe(true);
  });

  it('an AES key exported with RSA_AES_KEY_WRAP_256 imports, and what it encrypts decrypts in the source token', async () => {
    const blob = await exportKey('src-aes', path.join(dir, 'aes.byok'), ['--enc', 'RSA_AES_KEY_WRAP_256']);
    expect(JSON.parse(blob.toString()).header.enc).toBe('RSA_AES_KEY_WRAP_256');
    await client.importKey('byok-aes', { kty: 'oct-HSM', keyOps: ['encrypt', 'decrypt'], t: blob });
    const plaintext = randomBytes(64);
    const encrypted = await client.getCryptographyClient('byok-aes').encrypt({ algorithm: 'A256GCM', plaintext });
    const iv = Buffer.from(encrypted.iv as Uint8Array).subarray(0, 12);
    const decrypted = await sourceModule.decrypt(
      sourceSession,
      { type: CKM.AES_GCM, gcm: { iv, tagBits: 128 } },
      await sourceObject(CKO.SECRET_KEY, 'src-aes'),
      Buffer.concat([encrypted.result, encrypted.authenticationTag as Uint8Array]),
    );
    expect(decrypted).toEqual(plaintext);
  });

  it('an imported key backs up and restores like any other, and works after', async () => {
    const backup = await client.backupKey('byok-rsa');
    await (await client.beginDeleteKey('byok-rsa')).pollUntilDone();
    await client.purgeDeletedKey('byok-rsa');
    const restored = await client.restoreKeyBackup(backup as Uint8Array);
    expect(restored.name).toBe('byok-rsa');
    const [n, e] = await sourceModule.getAttributeValue(sourceSession, await sourceObject(CKO.PUBLIC_KEY, 'src-rsa'), [CKA.MODULUS, CKA.PUBLIC_EXPONENT]);
    const sourcePublic = createPublicKey({ key: { kty: 'RSA', n: (n as Buffer).toString('base64url'), e: (e as Buffer).toString('base64url') }, format: 'jwk' });
    const data = randomBytes(32);
    const signed = await client.getCryptographyClient('byok-rsa').sign('RS256', createHash('sha256').update(data).digest());
    expect(nodeVerify('sha256', data, sourcePublic, signed.result)).toBe(true);
  });

  it('records KeyImport with the KEK kid and none of the blob', async () => {
    const lines = auditText().trim().split('\n').map((line) => JSON.parse(line));
    const imports = lines.filter((line) => line.operationName === 'KeyImport' && line.resultType === 'Success');
    expect(imports.map((line) => line.properties.key.name).sort()).toEqual(['byok-aes', 'byok-ec', 'byok-rsa']);
    for (const line of imports) expect(line.properties.keyExchangeKey).toBe(kid);
    const ciphertext = JSON.parse(readFileSync(path.join(dir, 'rsa.byok'), 'utf8')).ciphertext as string;
    expect(auditText()).not.toContain(ciphertext.slice(0, 40));
  });

  it('a tampered blob is a 400 naming key.key_hsm, and leaves no token object behind', async () => {
    const bearer = await accessToken(emulator.url, emulator.admin);
    const blob = JSON.parse(readFileSync(path.join(dir, 'rsa.byok'), 'utf8'));
    const ciphertext = Buffer.from(blob.ciphertext, 'base64url');
    ciphertext[ciphertext.length - 20] = (ciphertext[ciphertext.length - 20] as number) ^ 0xff;
    const tampered = Buffer.from(JSON.stringify({ ...blob, ciphertext: ciphertext.toString('base64url') })).toString('base64url');
    const before = emulatorTokenCounts(emulator.dataDir);
    const response = await callJson(emulator.url, bearer, 'PUT', `/keys/tampered`, { key: { kty: 'RSA-HSM', key_hsm: tampered } });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('BadParameter');
    expect(response.body.error.message).toMatch(/^key\.key_hsm: the ciphertext does not unwrap/);
    expect(emulatorTokenCounts(emulator.dataDir)).toEqual(before);
    expect((await callJson(emulator.url, bearer, 'GET', `/keys/tampered`)).status).toBe(404);
  });
});

describe('from another process, after the emulator stops', () => {
  it('the imported keys are sensitive, wrap-with-trusted, and will not wrap under another key; the token holds only the keys made', async () => {
    const counts = emulatorTokenCounts(emulator.dataDir);
    // KEK, RSA and EC: a private and a public object each; AES: one secret key.
    expect(counts[`${CKO.PRIVATE_KEY}:mhsm-key`]).toBe(3);
    expect(counts[`${CKO.PUBLIC_KEY}:mhsm-key`]).toBe(3);
    expect(counts[`${CKO.SECRET_KEY}:mhsm-key`]).toBe(1);
    expect(await emulator.stop()).toBe(0);
    const rows = storedVersions(dir).filter((row) => row.name.startsWith('byok-'));
    expect(rows.map((row) => row.name)).toEqual(['byok-aes', 'byok-ec', 'byok-rsa']);
    const names = ['CKA_TOKEN', 'CKA_PRIVATE', 'CKA_SENSITIVE', 'CKA_EXTRACTABLE', 'CKA_WRAP_WITH_TRUSTED'];
    const keys = rows.map((row) => ({
      id: row.tokenId.toString('hex'),
      class: row.name === 'byok-aes' ? CKO.SECRET_KEY : CKO.PRIVATE_KEY,
      secretAttribute: row.name === 'byok-rsa' ? CKA.PRIVATE_EXPONENT : CKA.VALUE,
      names,
    }));
    for (const result of inspectEmulatorToken(dir, keys)) {
      expect(result).toMatchObject({
        found: 1,
        attributes: { CKA_TOKEN: true, CKA_PRIVATE: true, CKA_SENSITIVE: true, CKA_EXTRACTABLE: true, CKA_WRAP_WITH_TRUSTED: true },
        readSecret: 'CKR_ATTRIBUTE_SENSITIVE',
        wrap: 'CKR_KEY_NOT_WRAPPABLE',
      });
    }
  });
});
