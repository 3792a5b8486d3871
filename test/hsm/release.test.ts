// Key release over a real token: the release leaves nothing in the token (no session copy of the
// key, no ephemeral AES key, no runtime key object), a refused one neither; and the release
// policy grammar and its evaluation, case by case.
import { X509Certificate, constants, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShiftableClock } from '../../src/clock/clock.js';
import { KeyService } from '../../src/hsm/key-service.js';
import { KeyRelease } from '../../src/hsm/release/key-release.js';
import { LocalAttestationAuthority, localIssuer, runtimeJwk } from '../../src/hsm/release/local-authority.js';
import { evaluatePolicy } from '../../src/hsm/release/policy-evaluation.js';
import { checkReleasePolicy, parsePolicyDocument, policyDocumentOf } from '../../src/hsm/release/release-policy.js';
import { ReleaseSigningKey } from '../../src/hsm/release/release-signing-key.js';
import { caCertificateDer, certifyPublicKey } from '../../src/server/tls.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { type ObjectCounter, inProcessObjects } from '../helpers/pkcs11.js';
import { type ReleaseFixture, openReleaseFixture } from '../helpers/release-fixture.js';
import type { OpenTestToken } from '../helpers/test-token.js';

const ORIGIN = 'https://localhost:8443';
const ISSUER = localIssuer(ORIGIN);
let fixture: ReleaseFixture;
let opened: OpenTestToken;
let dir: string;
let store: SqliteMetadataStore;
let keys: KeyService;
let release: KeyRelease;
let authority: LocalAttestationAuthority;
let objectCounter: ObjectCounter;
const clock = new ShiftableClock();
const runtime = generateKeyPairSync('rsa', { modulusLength: 2048 });
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

const encodePolicy = (document: unknown) => ({ data: Buffer.from(JSON.stringify(document)).toString('base64url') });
const policy = (claim: string, equals: unknown) => encodePolicy({ version: '1.0.0', anyOf: [{ authority: ISSUER, allOf: [{ claim, equals }] }] });
const describeRelease = ({ keyHsm }: { keyHsm: string }) => ({ keyHsm });

async function objects(): Promise<number> {
  return objectCounter.count();
}

async function attestation(claims: Record<string, unknown>): Promise<string> {
  return authority.mint({ issuer: ISSUER, claims, runtimeKeys: [runtimeJwk(runtime.publicKey, 'enclave')], now: clock.now() });
}

async function released(name: string, claims: Record<string, unknown>, enc?: string): Promise<Buffer> {
  const jws = await release.release(name, undefined, { target: await attestation(claims), ...(enc ? { enc } : {}) }, [ISSUER], describeRelease);
  const { keyHsm } = JSON.parse(Buffer.from(jws.split('.')[1] as string, 'base64url').toString()) as { keyHsm: string };
  const blob = JSON.parse(Buffer.from(keyHsm, 'base64url').toString());
  const ciphertext = Buffer.from(blob.ciphertext, 'base64url');
  const hash = { CKM_RSA_AES_KEY_WRAP: 'sha1', RSA_AES_KEY_WRAP_256: 'sha256', RSA_AES_KEY_WRAP_384: 'sha384' }[blob.header.enc as string] as string;
  const aes = privateDecrypt({ key: runtime.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ciphertext.subarray(0, 256));
  const decipher = createDecipheriv(`id-aes${aes.length * 8}-wrap-pad`, aes, Buffer.from('A65959A6', 'hex'));
  return Buffer.concat([decipher.update(ciphertext.subarray(256)), decipher.final()]);
}

beforeAll(async () => {
  fixture = await openReleaseFixture('mhsm-release-', clock);
  ({ opened, dir, store, keys, release, authority } = fixture);
  objectCounter = await inProcessObjects(opened.testToken.modulePath, opened.testToken.label);
  // The first release makes the HSM's signing key (two objects); the counts below come after it.
  await keys.create('warm-up', { kty: 'oct-HSM', attributes: { exportable: true }, releasePolicy: policy('tee', 'sgx') });
  await released('warm-up', { tee: 'sgx' });
}, 60_000);

afterAll(async () => {
  objectCounter?.close();
  await fixture?.close();
});

describe('in the token', () => {
  it.each([
    ['RSA-HSM 3072', { kty: 'RSA-HSM', keySize: 3072 }, 'CKM_RSA_AES_KEY_WRAP'],
    ['EC-HSM P-521', { kty: 'EC-HSM', crv: 'P-521' }, 'RSA_AES_KEY_WRAP_256'],
    ['oct-HSM 128', { kty: 'oct-HSM', keySize: 128 }, 'RSA_AES_KEY_WRAP_384'],
  ] as const)('%s with %s: the released key is the key, and the token holds exactly what it held', async (_label, create, enc) => {
    const name = unique('released');
    const view = await keys.create(name, { ...create, attributes: { exportable: true }, releasePolicy: policy('tee', 'sgx') });
    const before = await objects();
    const plaintext = await released(name, { tee: 'sgx' }, enc);
    expect(await objects()).toBe(before);
    if (create.kty === 'oct-HSM') expect(plaintext).toHaveLength(16);
    else {
      const jwk = createPublicKey(createPrivateKey({ key: plaintext, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
      expect(jwk.n ?? jwk.x).toBe(view.version.publicJwk?.n ?? view.version.publicJwk?.x);
    }
    // The key itself is as it was: wrap-with-trusted, sensitive.
    expect(await opened.token.keyProtection({ id: view.version.tokenId, spec: view.version.spec })).toMatchObject({ sensitive: true, wrapWithTrusted: true });
  });

  it('a refused release touches nothing in the token', async () => {
    const name = unique('guarded');
    await keys.create(name, { kty: 'RSA-HSM', attributes: { exportable: true }, releasePolicy: policy('tee', 'sgx') });
    const before = await objects();
    await expect(release.release(name, undefined, { target: await attestation({ tee: 'sev' }) }, [ISSUER], describeRelease)).rejects.toMatchObject({ code: 'Forbidden' });
    expect(await objects()).toBe(before);
  });
});

describe('the HSM side', () => {
  it('the local authority, opened by several at once on a new directory, is one authority', async () => {
    const fresh = mkdtempSync(path.join(os.tmpdir(), 'mhsm-authority-'));
    try {
      const opened = await Promise.all(Array.from({ length: 4 }, () => LocalAttestationAuthority.open(fresh)));
      expect(new Set(opened.map((a) => a.kid)).size).toBe(1);
      expect(statSync(path.join(fresh, 'attestation', 'authority.json')).mode & 0o777).toBe(0o600);
      expect(readdirSync(path.join(fresh, 'attestation'))).toEqual(['authority.json']);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('the signing key is made once, and certified again (same key) when the CA changes', async () => {
    let ca = caCertificateDer(dir);
    const signing = new ReleaseSigningKey(opened.token, store.access, async (spki, subject) => [await certifyPublicKey(dir, spki, subject, { usage: 'signature' }), ca], () => ca);
    const first = await signing.signer();
    expect((await signing.signer()).header).toEqual(first.header);
    ca = Buffer.concat([ca, Buffer.from([0])]); // as a replaced CA would differ
    const again = await new ReleaseSigningKey(opened.token, store.access, async (spki, subject) => [await certifyPublicKey(dir, spki, subject, { usage: 'signature' }), ca], () => ca).signer();
    expect(again.header.kid).not.toBe(first.header.kid);
    const [leafBefore, leafAfter] = [first, again].map((s) => new X509Certificate(Buffer.from(s.header.x5c[0] as string, 'base64')));
    expect(leafAfter?.publicKey.export({ format: 'jwk' }).n).toBe(leafBefore?.publicKey.export({ format: 'jwk' }).n);
  });
});

describe('the policy grammar', () => {
  const document = (anyOf: unknown) => ({ version: '1.0.0', anyOf });
  const evaluate = (rules: unknown, claims: Record<string, unknown>, issuer = ISSUER) => evaluatePolicy(parsePolicyDocument(document(rules), 'p'), issuer, claims);

  it('nests allOf and anyOf, reads dotted claims, compares text with booleans and numbers', () => {
    const rules = [
      {
        authority: ISSUER,
        allOf: [{ claim: 'x-ms-attestation-type', equals: 'sevsnpvm' }, { anyOf: [{ claim: 'x-ms-runtime.vm.id', equals: 7 }, { allOf: [{ claim: 'debug', equals: 'false' }, { claim: 'svn', equals: '3' }] }] }],
      },
    ];
    expect(evaluate(rules, { 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-runtime': { vm: { id: 7 } } })).toBe('released');
    expect(evaluate(rules, { 'x-ms-attestation-type': 'sevsnpvm', debug: false, svn: 3 })).toBe('released');
    expect(evaluate(rules, { 'x-ms-attestation-type': 'sevsnpvm', debug: true, svn: 3 })).toBe('claims-differ');
    expect(evaluate(rules, { 'x-ms-attestation-type': 'sevsnpvm' })).toBe('claims-differ');
    expect(evaluate(rules, { 'x-ms-attestation-type': { nested: 'sevsnpvm' }, 'x-ms-runtime': { vm: { id: 7 } } })).toBe('claims-differ');
    expect(evaluate(rules, { 'x-ms-attestation-type': 'sevsnpvm', 'x-ms-runtime': { vm: { id: 7 } } }, 'https://other.example/')).toBe('no-authority');
    expect(evaluate([{ authority: 'HTTPS://LOCALHOST:8443/attestation', anyOf: [{ claim: 'a', equals: true }] }], { a: 'true' })).toBe('released');
  });

  it('normalizes condition/value to equals and 1.0 to 1.0.0, members in name order, and keeps immutable', () => {
    const stored = checkReleasePolicy({ ...encodePolicy({ version: '1.0', anyOf: [{ anyOf: [{ value: 'true', condition: 'equals', claim: 'sdk-test' }], authority: ISSUER }] }), immutable: true });
    expect(stored).toMatchObject({ contentType: 'application/json; charset=utf-8', immutable: true });
    expect(Buffer.from(stored?.data as string, 'base64url').toString()).toBe(`{"anyOf":[{"anyOf":[{"claim":"sdk-test","equals":"true"}],"authority":"${ISSUER}"}],"version":"1.0.0"}`);
    expect(policyDocumentOf(stored as never).anyOf[0]?.condition).toEqual({ anyOf: [{ claim: 'sdk-test', equals: 'true' }] });
  });

  it.each([
    [{ version: '2.0', anyOf: [] }, /version '2.0' is not supported/],
    [document([{ authority: ISSUER, allOf: [{ claim: 'a', equals: 1 }], anyOf: [{ claim: 'b', equals: 1 }] }]), /allOf and anyOf cannot be used together/],
    [document([{ authority: ISSUER, allOf: [] }]), /allOf must be a non-empty array/],
    [document([{ authority: ISSUER, allOf: [{ claim: 'a', equals: 1, notEquals: 2 }] }]), /unknown operator 'notEquals'/],
    [document([{ authority: ISSUER, allOf: [{ equals: 1 }] }]), /needs a 'claim' name/],
    [document([{ authority: ISSUER, allOf: ['a'] }]), /a condition must be an object/],
  ])('refuses %j', (bad, message) => {
    expect(() => checkReleasePolicy(encodePolicy(bad))).toThrow(message);
  });

  it('refuses data that is not base64url JSON and a contentType it does not know', () => {
    expect(() => checkReleasePolicy({ data: '!!' })).toThrow(/base64url/);
    expect(() => checkReleasePolicy({ data: Buffer.from('{nope').toString('base64url') })).toThrow(/does not decode to JSON/);
    expect(() => checkReleasePolicy({ ...policy('a', 1), contentType: 'text/plain' })).toThrow(/contentType/);
  });
});
