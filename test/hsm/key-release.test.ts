// A key release over a real token (src/hsm/release/key-release.ts): what is released (the key
// wrapped to the attested runtime key, in a JWS the HSM signs over what the wire describes), and
// each refusal, by its code and message, before anything is wrapped or signed.
import { X509Certificate, constants, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { compactVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShiftableClock } from '../../src/clock/clock.js';
import { KeyService } from '../../src/hsm/key-service.js';
import { KeyRelease, type Released } from '../../src/hsm/release/key-release.js';
import { LocalAttestationAuthority, localIssuer, runtimeJwk } from '../../src/hsm/release/local-authority.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { refusalOf } from '../helpers/refusal.js';
import { type ReleaseFixture, openReleaseFixture } from '../helpers/release-fixture.js';

// The emulator's clock stands still, so that nbf and exp are tested to the second.
const NOW = Math.floor(Date.now() / 1000);
const clock = new ShiftableClock(() => NOW * 1000);
const ISSUER = localIssuer('https://localhost:8443');
const ALIAS = localIssuer('https://mhsm.example');
const runtime = generateKeyPairSync('rsa', { modulusLength: 2048 });
const OAEP_HASH: Record<string, string> = { CKM_RSA_AES_KEY_WRAP: 'sha1', RSA_AES_KEY_WRAP_256: 'sha256', RSA_AES_KEY_WRAP_384: 'sha384' };

let fixture: ReleaseFixture;
let store: SqliteMetadataStore;
let keys: KeyService;
let release: KeyRelease;
let authority: LocalAttestationAuthority;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

const policy = (authorityName = ISSUER) => ({
  data: Buffer.from(JSON.stringify({ version: '1.0.0', anyOf: [{ authority: authorityName, allOf: [{ claim: 'tee', equals: 'sgx' }] }] })).toString('base64url'),
});
const attestation = (claims: Record<string, unknown> = { tee: 'sgx' }, issuer = ISSUER) =>
  authority.mint({ issuer, claims, runtimeKeys: [runtimeJwk(runtime.publicKey, 'enclave')], now: NOW });

/** The release, with what it handed to describe; describe's answer is the JWS payload. */
async function releaseOf(name: string, request: { target: unknown; nonce?: unknown; enc?: unknown }, localIssuers: string[] = [ISSUER]) {
  const handed: Released[] = [];
  const jws = await release.release(name, undefined, request, localIssuers, (released) => {
    handed.push(released);
    return { described: released.view.version.version, keyHsm: released.keyHsm };
  });
  return { jws, handed };
}

/** The refusal of a release, and whether describe was reached. */
async function refused(name: string, request: { target: unknown; nonce?: unknown; enc?: unknown }, localIssuers: string[] = [ISSUER]) {
  let described = false;
  const refusal = await refusalOf(
    release.release(name, undefined, request, localIssuers, () => {
      described = true;
      return {};
    }),
  );
  expect(described).toBe(false);
  return refusal;
}

/** What the attested environment does with key_hsm: RSA-OAEP with its private key, then RFC 5649 unwrap. */
function unwrapped(keyHsm: string): { blob: Record<string, unknown>; plaintext: Buffer } {
  const blob = JSON.parse(Buffer.from(keyHsm, 'base64url').toString());
  const ciphertext = Buffer.from(blob.ciphertext, 'base64url');
  const aes = privateDecrypt({ key: runtime.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[blob.header.enc] }, ciphertext.subarray(0, 256));
  const decipher = createDecipheriv(`id-aes${aes.length * 8}-wrap-pad`, aes, Buffer.from('A65959A6', 'hex'));
  return { blob, plaintext: Buffer.concat([decipher.update(ciphertext.subarray(256)), decipher.final()]) };
}

beforeAll(async () => {
  fixture = await openReleaseFixture('mhsm-key-release-', clock);
  ({ store, keys, release, authority } = fixture);
}, 60_000);

afterAll(() => fixture?.close());

describe('a release', () => {
  it('is a JWS the HSM signs over what describe makes of it, the key wrapped to the runtime key (default enc)', async () => {
    const name = unique('released');
    const view = await keys.create(name, { kty: 'RSA-HSM', attributes: { exportable: true }, releasePolicy: policy() });
    const { jws, handed } = await releaseOf(name, { target: await attestation(), nonce: 'n-1' });
    expect(handed).toHaveLength(1);
    const [released] = handed as [Released];
    expect(released.view.version.version).toBe(view.version.version);
    expect(released.enc).toBe('CKM_RSA_AES_KEY_WRAP');
    expect(released.nonce).toBe('n-1');

    const header = JSON.parse(Buffer.from(jws.split('.')[0] as string, 'base64url').toString());
    expect(header.alg).toBe('RS256');
    const leaf = new X509Certificate(Buffer.from(header.x5c[0], 'base64'));
    const { payload } = await compactVerify(jws, leaf.publicKey);
    expect(JSON.parse(Buffer.from(payload).toString())).toEqual({ described: view.version.version, keyHsm: released.keyHsm });

    const { blob, plaintext } = unwrapped(released.keyHsm);
    expect(blob).toEqual({ ciphertext: expect.any(String), header: { alg: 'dir', enc: 'CKM_RSA_AES_KEY_WRAP', kid: 'enclave' }, schema_version: '1.0' });
    const publicPart = createPublicKey(createPrivateKey({ key: plaintext, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
    expect(publicPart.n).toBe(view.version.publicJwk?.n);
  });

  it.each(['RSA_AES_KEY_WRAP_256', 'RSA_AES_KEY_WRAP_384', 'CKM_RSA_AES_KEY_WRAP'])('wraps with the enc asked for: %s', async (enc) => {
    const name = unique('aes');
    await keys.create(name, { kty: 'oct-HSM', keySize: 256, attributes: { exportable: true }, releasePolicy: policy() });
    const { handed } = await releaseOf(name, { target: await attestation(), enc });
    expect(handed[0]?.enc).toBe(enc);
    const { blob, plaintext } = unwrapped(handed[0]?.keyHsm as string);
    expect(blob.header).toEqual({ alg: 'dir', enc, kid: 'enclave' });
    expect(plaintext).toHaveLength(32);
  });

  it('passes a nonce of up to 1024 characters on, and none when none was given', async () => {
    const name = unique('nonce');
    await keys.create(name, { kty: 'oct-HSM', keySize: 128, attributes: { exportable: true }, releasePolicy: policy() });
    const target = await attestation();
    for (const nonce of ['', 'n'.repeat(1024)]) {
      expect((await releaseOf(name, { target, nonce })).handed[0]?.nonce).toBe(nonce);
    }
    const { handed } = await releaseOf(name, { target });
    expect(Object.hasOwn(handed[0] as object, 'nonce')).toBe(false);
  });

  it('releases from the key nbf on, and until its exp', async () => {
    const from = unique('from');
    await keys.create(from, { kty: 'oct-HSM', keySize: 128, attributes: { exportable: true, nbf: NOW }, releasePolicy: policy() });
    expect((await releaseOf(from, { target: await attestation() })).handed).toHaveLength(1);
    const until = unique('until');
    await keys.create(until, { kty: 'oct-HSM', keySize: 128, attributes: { exportable: true, exp: NOW + 1 }, releasePolicy: policy() });
    expect((await releaseOf(until, { target: await attestation() })).handed).toHaveLength(1);
  });
});

describe('refused, with nothing described or signed', () => {
  let guarded = '';
  let target = '';
  /** A releasable key and an attestation its policy accepts, made by the first test that needs them. */
  async function ready(): Promise<void> {
    if (guarded) return;
    target = await attestation();
    guarded = unique('guarded');
    await keys.create(guarded, { kty: 'oct-HSM', keySize: 128, attributes: { exportable: true }, releasePolicy: policy() });
  }

  it('an enc that is not a key-export algorithm', async () => {
    await ready();
    for (const enc of ['RSA-OAEP', '', 5, 'rsa_aes_key_wrap_256']) {
      expect(await refused(guarded, { target, enc }), String(enc)).toEqual({
        code: 'BadParameter',
        message: 'enc: must be one of CKM_RSA_AES_KEY_WRAP, RSA_AES_KEY_WRAP_256, RSA_AES_KEY_WRAP_384',
      });
    }
  });

  it('a nonce that is not a string of at most 1024 characters', async () => {
    await ready();
    for (const nonce of ['n'.repeat(1025), 5, null, { n: 1 }]) {
      expect(await refused(guarded, { target, nonce }), JSON.stringify(nonce)).toEqual({ code: 'BadParameter', message: 'nonce: must be a string of at most 1024 characters' });
    }
  });

  it('a key that is not exportable, whatever the attestation', async () => {
    await ready();
    const name = unique('kept');
    await keys.create(name, { kty: 'oct-HSM', keySize: 128 });
    expect(await refused(name, { target })).toEqual({
      code: 'BadParameter',
      message: `Key ${name} is not exportable: only a key made with attributes.exportable true and a release policy can be released`,
    });
  });

  it('a key whose stored policy is not one this HSM stores', async () => {
    await ready();
    const name = unique('legacy');
    const view = await keys.create(name, { kty: 'oct-HSM', keySize: 128, attributes: { exportable: true }, releasePolicy: policy() });
    // As an earlier version stored it: no immutable member.
    store.updateVersion(view.key.name, view.version.version, { releasePolicy: { contentType: 'application/json', data: policy().data }, updated: NOW });
    expect(await refused(name, { target })).toEqual({
      code: 'BadParameter',
      message: `Key ${name} has no release policy this HSM can evaluate (one stored by an earlier version is set again with release_policy)`,
    });
  });

  it('a disabled key, a key before its nbf, a key at or past its exp', async () => {
    await ready();
    const disabled = unique('disabled');
    await keys.create(disabled, { kty: 'oct-HSM', keySize: 128, attributes: { exportable: true, enabled: false }, releasePolicy: policy() });
    expect(await refused(disabled, { target })).toEqual({ code: 'Forbidden', message: `Operation release is not allowed on a disabled key (${disabled})` });
    const early = unique('early');
    await keys.create(early, { kty: 'oct-HSM', keySize: 128, attributes: { exportable: true, nbf: NOW + 1 }, releasePolicy: policy() });
    expect(await refused(early, { target })).toEqual({ code: 'Forbidden', message: `Operation release is not allowed before the key's nbf (${early})` });
    const expired = unique('expired');
    await keys.create(expired, { kty: 'oct-HSM', keySize: 128, attributes: { exportable: true, exp: NOW }, releasePolicy: policy() });
    expect(await refused(expired, { target })).toEqual({ code: 'Forbidden', message: `Operation release is not allowed on an expired key (${expired})` });
  });

  it('an attestation the authorities do not take', async () => {
    await ready();
    expect(await refused(guarded, { target: 'not a token' })).toEqual({ code: 'BadParameter', message: 'target: is not an attestation token (a JWT)' });
  });

  it("an issuer the key's policy does not name, quoting at most 200 characters of it", async () => {
    await ready();
    expect(await refused(guarded, { target: await attestation({ tee: 'sgx' }, ALIAS) }, [ISSUER, ALIAS])).toEqual({
      code: 'Forbidden',
      message: `Key ${guarded}'s release policy names no authority ${ALIAS}, the attestation's issuer`,
    });
    const long = localIssuer(`https://${`${'h'.repeat(60)}.`.repeat(4)}example`);
    expect(await refused(guarded, { target: await attestation({ tee: 'sgx' }, long) }, [ISSUER, long])).toEqual({
      code: 'Forbidden',
      message: `Key ${guarded}'s release policy names no authority ${long.slice(0, 200)}, the attestation's issuer`,
    });
  });

  it('claims the policy does not accept', async () => {
    await ready();
    for (const claims of [{ tee: 'sev' }, {}, { tee: ['sgx'] }]) {
      expect(await refused(guarded, { target: await attestation(claims) }), JSON.stringify(claims)).toEqual({
        code: 'Forbidden',
        message: `The attestation's claims do not satisfy the release policy of key ${guarded}`,
      });
    }
  });
});
