// Secure key release end to end: exportable keys with release policies through the official
// @azure/keyvault-keys, attestation tokens from the local authority (`mhsm attest`, and the
// /generate-test-token the SDKs' own release tests use), the released JWS checked against the
// HSM's certificate chain, and the released key unwrapped with the runtime private key in
// node:crypto and checked against what the HSM does with it. Every refusal releases nothing.
import {
  X509Certificate,
  constants,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  randomBytes,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import { KeyClient, KnownKeyExportEncryptionAlgorithm } from '@azure/keyvault-keys';
import { SignJWT, compactVerify, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';
import { runCli } from '../helpers/cli.js';
import { accessToken, callJson } from '../helpers/rest.js';

let emulator: EmulatorProcess;
let client: KeyClient;
let bearer: string;
let authority: string;
const runtime = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clientOptions = { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } };
const OAEP_HASH: Record<string, string> = { CKM_RSA_AES_KEY_WRAP: 'sha1', RSA_AES_KEY_WRAP_256: 'sha256', RSA_AES_KEY_WRAP_384: 'sha384' };

const encode = (policy: unknown) => new TextEncoder().encode(JSON.stringify(policy));
const decode = (data: Uint8Array | undefined) => JSON.parse(Buffer.from(data as Uint8Array).toString()) as Record<string, any>;
const policyFor = (claims: Array<{ claim: string; equals: unknown }>) => ({ version: '1.0.0', anyOf: [{ authority, allOf: claims }] });
const cli = (...args: string[]) => runCli([...args, '--data-dir', emulator.dataDir]);

async function attest(claims: string[], extra: string[] = []): Promise<string> {
  const keyPath = path.join(emulator.dataDir, 'runtime.pem');
  writeFileSync(keyPath, runtime.publicKey.export({ format: 'pem', type: 'spki' }));
  const result = await cli('attest', ...claims.flatMap((claim) => ['--claim', claim]), '--runtime-key', keyPath, '--runtime-kid', 'my-enclave-key', ...extra);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

/** The JWS verified under its own x5c leaf, the leaf under the emulator's CA; its payload. */
async function verifiedRelease(value: string): Promise<Record<string, any>> {
  const [headerPart] = value.split('.');
  const header = JSON.parse(Buffer.from(headerPart as string, 'base64url').toString());
  expect(header).toMatchObject({ alg: 'RS256' });
  const [leafDer, caDer] = (header.x5c as string[]).map((der) => new X509Certificate(Buffer.from(der, 'base64')));
  const ca = new X509Certificate(readFileSync(path.join(emulator.dataDir, 'ca.pem')));
  expect(caDer?.fingerprint256).toBe(ca.fingerprint256);
  expect(leafDer?.verify(ca.publicKey)).toBe(true);
  expect(header['x5t#S256']).toBe(createHash('sha256').update((leafDer as X509Certificate).raw).digest('base64url'));
  const { payload } = await compactVerify(value, (leafDer as X509Certificate).publicKey);
  return JSON.parse(Buffer.from(payload).toString());
}

/** What the attested environment does: RSA-OAEP with its private key, then RFC 5649 unwrap. */
function unwrapReleased(keyHsm: string, runtimeKey: KeyObject = runtime.privateKey): { plaintext: Buffer; header: Record<string, string> } {
  const blob = JSON.parse(Buffer.from(keyHsm, 'base64url').toString());
  const ciphertext = Buffer.from(blob.ciphertext, 'base64url');
  const aes = privateDecrypt({ key: runtimeKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[blob.header.enc] }, ciphertext.subarray(0, 256));
  const decipher = createDecipheriv(`id-aes${aes.length * 8}-wrap-pad`, aes, Buffer.from('A65959A6', 'hex'));
  return { plaintext: Buffer.concat([decipher.update(ciphertext.subarray(256)), decipher.final()]), header: blob.header };
}

function auditText(): string {
  const dir = path.join(emulator.dataDir, 'audit');
  return readdirSync(dir).map((file) => readFileSync(path.join(dir, file), 'utf8')).join('');
}

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir());
  authority = `${emulator.url}/attestation`;
  const { tenantId, clientId, clientSecret } = emulator.admin;
  client = new KeyClient(emulator.url, new ClientSecretCredential(tenantId, clientId, clientSecret, { authorityHost: emulator.url, disableInstanceDiscovery: true }), clientOptions);
  bearer = await accessToken(emulator.url, emulator.admin);
}, 60_000);

afterAll(async () => {
  if (!emulator) return;
  await emulator.stop();
  removeDataDir(emulator.dataDir);
});

describe('release policies', () => {
  it('are stored normalized as the service returns them, and an exportable key needs one, a non-exportable key may not have one', async () => {
    const policy = { version: '1.0', anyOf: [{ anyOf: [{ claim: 'sdk-test', condition: 'equals', value: 'true' }], authority }] };
    const key = await client.createKey('normalized', 'RSA', { exportable: true, releasePolicy: { encodedPolicy: encode(policy) }, keyOps: ['encrypt', 'decrypt'] });
    expect(key.properties.exportable).toBe(true);
    expect(key.properties.releasePolicy).toMatchObject({ contentType: 'application/json; charset=utf-8', immutable: false });
    expect(decode(key.properties.releasePolicy?.encodedPolicy)).toEqual({ anyOf: [{ anyOf: [{ claim: 'sdk-test', equals: 'true' }], authority }], version: '1.0.0' });
    await expect(client.createRsaKey('no-policy', { exportable: true })).rejects.toThrow(/exportable/i);
    await expect(client.createRsaKey('not-exportable', { releasePolicy: { encodedPolicy: encode(policy) } })).rejects.toThrow(/exportable/i);
    const updated = await client.updateKeyProperties('normalized', { releasePolicy: { encodedPolicy: encode(policyFor([{ claim: 'sdk-test', equals: 'false' }])) } });
    expect(decode(updated.properties.releasePolicy?.encodedPolicy).anyOf[0].allOf[0].equals).toBe('false');
  });

  it('refuse an unknown operator, a missing version and conditions that are not the grammar, naming the rule', async () => {
    const create = (policy: unknown) =>
      callJson(emulator.url, bearer, 'POST', '/keys/bad-policy/create', { kty: 'RSA-HSM', attributes: { exportable: true }, release_policy: { data: Buffer.from(JSON.stringify(policy)).toString('base64url') } });
    const cases: Array<[unknown, RegExp]> = [
      [{ version: '1.0.0', anyOf: [{ authority, allOf: [{ claim: 'a', greater: 3 }] }] }, /unknown operator 'greater'/],
      [{ version: '1.0.0', anyOf: [{ authority, allOf: [{ claim: 'a', condition: 'notEquals', value: 1 }] }] }, /unknown operator 'notEquals'/],
      [{ anyOf: [{ authority, allOf: [{ claim: 'a', equals: 1 }] }] }, /missing 'version' property/],
      [{ version: '1.0.0', anyOf: [{ authority, allOf: [{ claim: 'a', equals: { nested: 1 } }] }] }, /compares with a string, a number or true\/false/],
      [{ version: '1.0.0', anyOf: [{ allOf: [{ claim: 'a', equals: 1 }] }] }, /an authority needs an 'authority'/],
      [{ version: '1.0.0', anyOf: [] }, /missing 'anyOf'/],
    ];
    for (const [policy, message] of cases) {
      const response = await create(policy);
      expect(response.status, JSON.stringify(policy)).toBe(400);
      expect(response.body.error.message).toMatch(message);
    }
    expect((await callJson(emulator.url, bearer, 'GET', '/keys/bad-policy')).status).toBe(404);
  });

  it('an immutable policy cannot change', async () => {
    await client.createRsaKey('immutable', { exportable: true, releasePolicy: { encodedPolicy: encode(policyFor([{ claim: 'sdk-test', equals: true }])), immutable: true } });
    await expect(client.updateKeyProperties('immutable', { releasePolicy: { encodedPolicy: encode(policyFor([{ claim: 'sdk-test', equals: false }])) } })).rejects.toThrow(/immutable/);
  });
});

describe('release to an attested environment', () => {
  it('an RSA key: the JWS is signed by the HSM; the runtime key unwraps a private key whose public part is the HSM key, and verifies its signatures', async () => {
    const key = await client.createRsaKey('release-rsa', {
      exportable: true,
      releasePolicy: { encodedPolicy: encode(policyFor([{ claim: 'x-ms-attestation-type', equals: 'sevsnpvm' }, { claim: 'x-ms-runtime.vm-id', equals: 'vm-7' }])) },
    });
    const token = await attest(['x-ms-attestation-type=sevsnpvm', 'x-ms-runtime.vm-id=vm-7']);
    expect(decodeJwt(token).iss).toBe(`${authority}/`);
    const { value } = await client.releaseKey('release-rsa', token, { nonce: 'n-1' });
    const payload = await verifiedRelease(value as string);
    expect(payload.request).toEqual({ 'api-version': expect.any(String), enc: 'CKM_RSA_AES_KEY_WRAP', kid: `${emulator.url}/keys/release-rsa`, nonce: 'n-1' });
    expect(payload.response.key.key).toMatchObject({ kid: key.id, kty: 'RSA', n: Buffer.from(key.key?.n as Uint8Array).toString('base64url') });
    expect(payload.response.key.attributes).toMatchObject({ exportable: true });
    const { plaintext, header } = unwrapReleased(payload.response.key.key.key_hsm);
    expect(header).toEqual({ alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP', kid: 'my-enclave-key' });
    const released = createPrivateKey({ key: plaintext, format: 'der', type: 'pkcs8' });
    expect(createPublicKey(released).export({ format: 'jwk' }).n).toBe(Buffer.from(key.key?.n as Uint8Array).toString('base64url'));
    const data = randomBytes(50);
    const signed = await client.getCryptographyClient('release-rsa').sign('RS256', createHash('sha256').update(data).digest());
    expect(nodeVerify('sha256', data, createPublicKey(released), signed.result)).toBe(true);
  });

  it('an AES key with RSA_AES_KEY_WRAP_256: what the HSM encrypts, the released key decrypts', async () => {
    await client.createOctKey('release-aes', { hsm: true, keySize: 256, exportable: true, releasePolicy: { encodedPolicy: encode(policyFor([{ claim: 'tee', equals: 'sgx' }])) } });
    const { value } = await client.releaseKey('release-aes', await attest(['tee=sgx']), { algorithm: KnownKeyExportEncryptionAlgorithm.RsaAesKeyWrap256 });
    const payload = await verifiedRelease(value as string);
    expect(payload.request.enc).toBe('RSA_AES_KEY_WRAP_256');
    const { plaintext } = unwrapReleased(payload.response.key.key.key_hsm);
    expect(plaintext).toHaveLength(32);
    const data = randomBytes(40);
    const encrypted = await client.getCryptographyClient('release-aes').encrypt({ algorithm: 'A256GCM', plaintext: data });
    const decipher = createDecipheriv('aes-256-gcm', plaintext, Buffer.from(encrypted.iv as Uint8Array).subarray(0, 12));
    decipher.setAuthTag(encrypted.authenticationTag as Uint8Array);
    expect(Buffer.concat([decipher.update(encrypted.result), decipher.final()])).toEqual(data);
  });

  it('an EC key with RSA_AES_KEY_WRAP_384 and an explicit version', async () => {
    const key = await client.createEcKey('release-ec', { curve: 'P-384', exportable: true, releasePolicy: { encodedPolicy: encode(policyFor([{ claim: 'level', equals: 3 }])) } });
    const { value } = await client.releaseKey('release-ec', await attest(['level=3']), { version: key.properties.version, algorithm: KnownKeyExportEncryptionAlgorithm.RsaAesKeyWrap384 });
    const payload = await verifiedRelease(value as string);
    expect(payload.request.kid).toBe(key.id);
    const released = createPublicKey(createPrivateKey({ key: unwrapReleased(payload.response.key.key.key_hsm).plaintext, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
    expect({ x: released.x, y: released.y }).toEqual({ x: Buffer.from(key.key?.x as Uint8Array).toString('base64url'), y: Buffer.from(key.key?.y as Uint8Array).toString('base64url') });
  });

  it("the official releaseKey with the emulator's /generate-test-token, as the SDKs' own tests run", async () => {
    const { token } = (await (await fetch(`${authority}/generate-test-token`)).json()) as { token: string };
    expect(decodeJwt(token)).toMatchObject({ iss: `${authority}/`, 'sdk-test': true, 'x-ms-runtime': { keys: [{ kty: 'RSA', kid: 'fake-release-key', use: 'enc' }] } });
    expect(((await (await fetch(`${emulator.url}/generate-test-token`)).json()) as { token: string }).token).toMatch(/^eyJ/);
    const metadata = (await (await fetch(`${authority}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    expect(metadata.issuer).toBe(`${authority}/`);
    const jwks = (await (await fetch(metadata.jwks_uri)).json()) as { keys: Array<{ kid: string; x5c: string[] }> };
    expect(jwks.keys[0]?.x5c).toHaveLength(1);
    const releasePolicy = { encodedPolicy: encode({ anyOf: [{ anyOf: [{ claim: 'sdk-test', condition: 'equals', value: 'true' }], authority }], version: '1.0' }) };
    const created = await client.createKey('sdk-release', 'RSA', { exportable: true, releasePolicy, keyOps: ['encrypt', 'decrypt'] });
    expect((await client.releaseKey('sdk-release', token)).value).toBeTruthy();
    const released = await client.releaseKey('sdk-release', token, { version: created.properties.version, nonce: 'nonce', algorithm: KnownKeyExportEncryptionAlgorithm.RsaAesKeyWrap256 });
    expect((await verifiedRelease(released.value as string)).request).toMatchObject({ nonce: 'nonce', enc: 'RSA_AES_KEY_WRAP_256' });
  });
});

describe('refused, nothing released', () => {
  const release = (name: string, target: unknown, extra: Record<string, unknown> = {}) => callJson(emulator.url, bearer, 'POST', `/keys/${name}/release`, { target, ...extra });

  beforeAll(async () => {
    await client.createRsaKey('guarded', { exportable: true, releasePolicy: { encodedPolicy: encode(policyFor([{ claim: 'tee', equals: 'sgx' }])) } });
    await client.createRsaKey('plain');
  });

  it('a key that is not exportable, claims the policy does not accept, an enc that is not a key-export algorithm', async () => {
    const good = await attest(['tee=sgx']);
    const cases: Array<[string, unknown, Record<string, unknown>, number, RegExp]> = [
      ['plain', good, {}, 400, /Key plain is not exportable/],
      ['guarded', await attest(['tee=sev']), {}, 403, /claims do not satisfy the release policy of key guarded/],
      ['guarded', await attest([]), {}, 403, /claims do not satisfy/],
      ['guarded', good, { enc: 'RSA-OAEP' }, 400, /^enc: must be one of CKM_RSA_AES_KEY_WRAP/],
      ['guarded', 'not.a.jwt', {}, 400, /^target: is not an attestation token/],
      ['guarded', undefined, {}, 400, /^target: required/],
    ];
    for (const [name, target, extra, status, message] of cases) {
      const response = await release(name, target, extra);
      expect(response.status, String(message)).toBe(status);
      expect(response.body.value).toBeUndefined();
      expect(response.body.error.message).toMatch(message);
    }
  });

  it('an untrusted authority, a forged signature, a runtime key missing', async () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sign = (issuer: string, claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setIssuer(issuer).setIssuedAt().setExpirationTime('1h').sign(stranger.privateKey);
    const runtimeKeys = { 'x-ms-runtime': { keys: [{ kty: 'RSA', kid: 'k', use: 'enc', ...runtime.publicKey.export({ format: 'jwk' }) }] } };
    let response = await release('guarded', await sign('https://attacker.example/', { tee: 'sgx', ...runtimeKeys }));
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/issuer 'https:\/\/attacker.example\/' is not an authority this HSM trusts/);
    response = await release('guarded', await sign(`${authority}/`, { tee: 'sgx', ...runtimeKeys }));
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/signature does not verify under the keys of authority/);
    const noKey = await attest(['tee=sgx']);
    const [header, body, signature] = noKey.split('.');
    const claims = JSON.parse(Buffer.from(body as string, 'base64url').toString());
    delete claims['x-ms-runtime'];
    response = await release('guarded', `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`);
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/signature does not verify/);
  });

  it('mhsm attest refuses a claim name that would reach the object prototype', async () => {
    const result = await cli('attest', '--claim', '__proto__.polluted=1', '--runtime-key', path.join(emulator.dataDir, 'runtime.pem'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--claim: '__proto__.polluted' is not a claim name/);
  });

  it('needs keys/release/action at the key: Crypto Service Release User on /keys/guarded releases, nothing else does', async () => {
    const principal = JSON.parse((await cli('principal', 'create', '--name', 'enclave-app', '--json')).stdout) as { clientId: string; clientSecret: string; objectId: string; tenantId: string };
    const appBearer = await accessToken(emulator.url, { ...emulator.admin, clientId: principal.clientId, clientSecret: principal.clientSecret });
    const asApp = (name: string) => callJson(emulator.url, appBearer, 'POST', `/keys/${name}/release`, { target: good });
    const good = await attest(['tee=sgx']);
    expect((await asApp('guarded')).status).toBe(403);
    const assigned = await cli('role', 'assignment', 'create', '--role', 'Managed HSM Crypto Service Release User', '--assignee', principal.objectId, '--scope', '/keys/guarded');
    expect(assigned.code, assigned.stderr).toBe(0);
    const response = await asApp('guarded');
    expect(response.status).toBe(200);
    expect(response.body.value.split('.')).toHaveLength(3);
    expect((await asApp('release-rsa')).status).toBe(403);
  });

  it('audits each release, success or not, without the released key or the attestation', async () => {
    const lines = auditText().trim().split('\n').map((line) => JSON.parse(line));
    const releases = lines.filter((line) => line.operationName === 'KeyRelease');
    expect(releases.some((line) => line.resultType === 'Success' && line.properties.key.name === 'release-rsa')).toBe(true);
    expect(releases.some((line) => line.resultType === 'Failure' && line.properties.httpStatusCode === 403)).toBe(true);
    const token = await attest(['tee=sgx']);
    expect(auditText()).not.toContain(token.split('.')[1]?.slice(0, 40));
    expect(auditText()).not.toMatch(/key_hsm|eyJjaXBoZXJ0ZXh0/);
  });
});

describe('another authority, trusted by configuration', () => {
  let other: EmulatorProcess;
  const outside = generateKeyPairSync('rsa', { modulusLength: 2048 });

  beforeAll(async () => {
    const dataDir = seededDataDir();
    const pemPath = path.join(dataDir, 'outside-authority.pem');
    writeFileSync(pemPath, outside.publicKey.export({ format: 'pem', type: 'spki' }));
    other = await startEmulatorProcess(dataDir, [
      '--attestation-authority',
      `https://attest.example.net/=${pemPath}`,
      '--attestation-authority',
      authority,
      '--attestation-authority',
      `https://by-jwks.example/=${authority}/keys`,
      '--no-local-attestation-authority',
    ]);
  }, 60_000);

  afterAll(async () => {
    if (!other) return;
    await other.stop();
    removeDataDir(other.dataDir);
  });

  it('by its PEM key, by its OpenID metadata, or by a JWKS URL (the last two: the first emulator authority, over HTTPS)', async () => {
    const otherBearer = await accessToken(other.url, other.admin);
    const call = (method: string, route: string, body?: unknown) => callJson(other.url, otherBearer, method, route, body);
    const policy = {
      version: '1.0.0',
      anyOf: [
        { authority: 'https://attest.example.net', allOf: [{ claim: 'tee', equals: 'sgx' }] },
        { authority: `${authority}/`, allOf: [{ claim: 'tee', equals: 'sgx' }] },
        { authority: 'https://by-jwks.example/', allOf: [{ claim: 'tee', equals: 'sgx' }] },
      ],
    };
    expect((await call('POST', '/keys/shared/create', { kty: 'RSA-HSM', attributes: { exportable: true }, release_policy: { data: Buffer.from(JSON.stringify(policy)).toString('base64url') } })).status).toBe(200);
    const runtimeKeys = { 'x-ms-runtime': { keys: [{ kty: 'RSA', kid: 'k', use: 'enc', ...runtime.publicKey.export({ format: 'jwk' }) }] } };
    const fromOutside = await new SignJWT({ tee: 'sgx', ...runtimeKeys }).setProtectedHeader({ alg: 'RS256' }).setIssuer('https://attest.example.net/').setIssuedAt().setExpirationTime('1h').sign(outside.privateKey);
    let response = await call('POST', '/keys/shared/release', { target: fromOutside });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(unwrapReleased(JSON.parse(Buffer.from(response.body.value.split('.')[1], 'base64url').toString()).response.key.key.key_hsm).plaintext.length).toBeGreaterThan(1000);
    response = await call('POST', '/keys/shared/release', { target: await attest(['tee=sgx']) });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    response = await call('POST', '/keys/shared/release', { target: await attest(['tee=sgx'], ['--issuer', 'https://by-jwks.example/']) });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
  });

  it("never takes a configured authority's name from a token the local authority signed, and can turn the local one off", async () => {
    const otherBearer = await accessToken(other.url, other.admin);
    const release = (target: string) => callJson(other.url, otherBearer, 'POST', '/keys/shared/release', { target });
    const runtimePem = path.join(emulator.dataDir, 'runtime.pem');
    const mintOnOther = async (issuer: string) => {
      const result = await runCli(['attest', '--claim', 'tee=sgx', '--runtime-key', runtimePem, '--issuer', issuer, '--data-dir', other.dataDir]);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout.trim();
    };
    // Signed by the second emulator's own authority key, naming the first emulator's authority.
    let response = await release(await mintOnOther(`${authority}/`));
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/signature does not verify under the keys of authority/);
    // Naming itself: its own authority is off.
    response = await release(await mintOnOther(`${other.url}/attestation/`));
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/is not an authority this HSM trusts/);
    // Not served: without a route of its own, an anonymous request meets the bearer challenge.
    expect((await fetch(`${other.url}/attestation/keys`)).status).toBe(401);
    expect((await fetch(`${other.url}/generate-test-token`)).status).toBe(401);
  });

  it('refuses an attestation without exp, and runtime keys with a weak exponent or an odd size', async () => {
    const otherBearer = await accessToken(other.url, other.admin);
    const release = (target: string) => callJson(other.url, otherBearer, 'POST', '/keys/shared/release', { target });
    const sign = (claims: Record<string, unknown>, exp = true) => {
      const jwt = new SignJWT({ tee: 'sgx', ...claims }).setProtectedHeader({ alg: 'RS256' }).setIssuer('https://attest.example.net/').setIssuedAt();
      return (exp ? jwt.setExpirationTime('1h') : jwt).sign(outside.privateKey);
    };
    const keysOf = (publicKey: KeyObject) => ({ 'x-ms-runtime': { keys: [{ kty: 'RSA', kid: 'k', use: 'enc', ...publicKey.export({ format: 'jwk' }) }] } });
    let response = await release(await sign(keysOf(runtime.publicKey), false));
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/^target: the attestation token is not valid now, or has no exp/);
    response = await release(await sign(keysOf(generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey)));
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/odd public exponent of at least 65537/);
    response = await release(await sign(keysOf(generateKeyPairSync('rsa', { modulusLength: 3000 }).publicKey)));
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/2048, 3072 or 4096 bits, not 3000/);
  });
});

// Last: it moves the first emulator's clock a day forward.
describe('time', () => {
  it('an attestation past its exp, by the emulator clock', async () => {
    const token = await attest(['tee=sgx'], ['--lifetime', '3600']);
    expect((await callJson(emulator.url, bearer, 'POST', '/keys/guarded/release', { target: token })).status).toBe(200);
    expect((await cli('clock', 'shift', '--days', '1')).code).toBe(0);
    const response = await callJson(emulator.url, await accessToken(emulator.url, emulator.admin), 'POST', '/keys/guarded/release', { target: token });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toMatch(/^target: the attestation token expired/);
  });
});
