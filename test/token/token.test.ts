// The token layer over a real SoftHSM2 token: every key type made, used, cross-checked and destroyed.
import { createHash, createPublicKey, publicEncrypt, verify as nodeVerify, constants } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKG, CKM, CKO, CKU, CKF } from '../../src/token/constants.js';
import { CURVES } from '../../src/token/curves.js';
import { TokenError } from '../../src/token/errors.js';
import type { KeySpec, TokenKey } from '../../src/token/key-spec.js';
import { acquireModule, releaseModule } from '../../src/token/module-registry.js';
import { type PublicKeyParts, Token } from '../../src/token/token.js';
import { slotByLabel } from '../helpers/pkcs11.js';
import { type OpenTestToken, type TestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let testToken: TestToken;
let token: Token;

beforeAll(async () => {
  opened = await openTestToken();
  ({ testToken, token } = opened);
});

afterAll(() => opened?.close());

function nodePublicKey(parts: PublicKeyParts) {
  if (parts.type === 'rsa') {
    return createPublicKey({ key: { kty: 'RSA', n: parts.modulus.toString('base64url'), e: parts.publicExponent.toString('base64url') }, format: 'jwk' });
  }
  const size = CURVES[parts.curve].fieldBytes;
  const crv = parts.curve === 'secp256k1' ? 'secp256k1' : parts.curve;
  const x = parts.point.subarray(1, 1 + size).toString('base64url');
  const y = parts.point.subarray(1 + size).toString('base64url');
  return createPublicKey({ key: { kty: 'EC', crv, x, y }, format: 'jwk' });
}

const rsaSpecs: KeySpec[] = [
  { type: 'rsa', bits: 2048 },
  { type: 'rsa', bits: 3072 },
  { type: 'rsa', bits: 4096 },
];
const ecSpecs: Array<[KeySpec & { type: 'ec' }, string]> = [
  [{ type: 'ec', curve: 'P-256' }, 'sha256'],
  [{ type: 'ec', curve: 'P-384' }, 'sha384'],
  [{ type: 'ec', curve: 'P-521' }, 'sha512'],
  [{ type: 'ec', curve: 'secp256k1' }, 'sha256'],
];

async function expectDestroyed(key: TokenKey): Promise<void> {
  expect(await token.destroyKey(key)).toBe(true);
  expect(await token.hasKey(key)).toBe(false);
  expect(await token.destroyKey(key)).toBe(false);
}

describe('opening', () => {
  it('describes the token and probes its mechanisms once', () => {
    expect(token.description.label).toBe(testToken.label);
    expect(token.description.library.path).toBe(testToken.modulePath);
    expect(token.capabilities.has(CKM.AES_GCM, CKF.ENCRYPT | CKF.DECRYPT)).toBe(true);
    expect(token.capabilities.has(CKM.RSA_PKCS_KEY_PAIR_GEN, CKF.GENERATE_KEY_PAIR)).toBe(true);
    expect(token.capabilities.has(CKM.AES_GCM, CKF.SIGN)).toBe(false);
    expect(token.capabilities.list().length).toBeGreaterThan(20);
    if (token.description.library.manufacturerId === 'SoftHSM' && token.description.library.version === '2.6') {
      expect(token.capabilities.aesKeyWrapPad).toBe(CKM.AES_KEY_WRAP_PAD);
      expect(token.capabilities.has(CKM.RSA_AES_KEY_WRAP)).toBe(false);
      expect(token.capabilities.has(CKM.ECDSA_SHA256)).toBe(false);
    }
  });

  it('refuses a wrong PIN, an unknown label and a missing module with clear errors', async () => {
    const options = { modulePath: testToken.modulePath, label: testToken.label, pin: 'wrong-pin' };
    // The token is logged in by `token` already, so a second Token in this process skips C_Login;
    // the wrong PIN is checked in a process of its own in the CLI tests. Here: label and module.
    const unknown = await Token.open({ ...options, label: 'no-such-token' }).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(TokenError);
    await expect(Token.open({ ...options, label: 'no-such-token' })).rejects.toMatchObject({
      name: 'TokenError',
      code: 'TOKEN_NOT_FOUND',
      message: expect.stringContaining(`'${testToken.label}'`),
    });
    await expect(Token.open({ ...options, modulePath: '/nonexistent/module.so' })).rejects.toMatchObject({
      code: 'MODULE_UNAVAILABLE',
      message: expect.stringContaining('/nonexistent/module.so'),
    });
  });
});

describe('RSA keys', () => {
  it.each(rsaSpecs)('%o signs, verifies, encrypts, decrypts and is destroyed', async (spec) => {
    const key = await token.generateKey(spec, { label: 'rsa-test' });
    const publicKey = nodePublicKey(await token.publicKey(key));
    const bits = (spec as { bits: number }).bits;
    expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(bits);

    const data = Buffer.from('to be signed');
    const signature = await token.sign(key, { type: CKM.SHA256_RSA_PKCS }, data);
    expect(signature).toHaveLength(bits / 8);
    expect(nodeVerify('sha256', data, publicKey, signature)).toBe(true);
    expect(await token.verify(key, { type: CKM.SHA256_RSA_PKCS }, data, signature)).toBe(true);

    const oaep = { type: CKM.RSA_PKCS_OAEP, oaep: { hashAlg: CKM.SHA_1, mgf: CKG.MGF1_SHA1 } };
    const fromNode = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('plain'));
    expect((await token.decrypt(key, oaep, fromNode)).toString()).toBe('plain');
    const fromToken = await token.encrypt(key, oaep, Buffer.from('round trip'));
    expect((await token.decrypt(key, oaep, fromToken)).toString()).toBe('round trip');

    await expectDestroyed(key);
    await expect(token.sign(key, { type: CKM.SHA256_RSA_PKCS }, data)).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
  });
});

describe('EC keys', () => {
  it.each(ecSpecs)('%o signs raw r||s that node:crypto verifies, and is destroyed', async (spec, hash) => {
    const key = await token.generateKey(spec);
    const parts = await token.publicKey(key);
    expect(parts).toMatchObject({ type: 'ec', curve: spec.curve });
    const data = Buffer.from('ec message');
    const digest = createHash(hash).update(data).digest();
    const signature = await token.sign(key, { type: CKM.ECDSA }, digest);
    expect(signature).toHaveLength(2 * CURVES[spec.curve].fieldBytes);
    expect(nodeVerify(hash, data, { key: nodePublicKey(parts), dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
    expect(await token.verify(key, { type: CKM.ECDSA }, digest, signature)).toBe(true);
    await expectDestroyed(key);
  });
});

describe('AES and HMAC keys', () => {
  it.each([128, 192, 256] as const)('AES-%d encrypts with GCM, wraps, and is destroyed', async (bits) => {
    const key = await token.generateKey({ type: 'aes', bits });
    const gcm = { type: CKM.AES_GCM, gcm: { iv: Buffer.alloc(12, 2), aad: Buffer.from('aad'), tagBits: 128 } };
    const sealed = await token.encrypt(key, gcm, Buffer.from('hello gcm'));
    expect(sealed).toHaveLength(9 + 16);
    expect((await token.decrypt(key, gcm, sealed)).toString()).toBe('hello gcm');
    await expectDestroyed(key);
  });

  it('HMAC keys of 256 to 512 bits sign and verify', async () => {
    for (const [bits, mechanism] of [
      [256, CKM.SHA256_HMAC],
      [384, CKM.SHA384_HMAC],
      [512, CKM.SHA512_HMAC],
    ] as const) {
      const key = await token.generateKey({ type: 'generic-secret', bits });
      const mac = await token.sign(key, { type: mechanism }, Buffer.from('mac me'));
      expect(mac).toHaveLength(bits / 8);
      expect(await token.verify(key, { type: mechanism }, Buffer.from('mac me'), mac)).toBe(true);
      expect(await token.verify(key, { type: mechanism }, Buffer.from('mac you'), mac)).toBe(false);
      await expectDestroyed(key);
    }
  });

  it('refuses key specs it does not support, naming the rule', async () => {
    await expect(token.generateKey({ type: 'rsa', bits: 1024 } as never)).rejects.toThrow(/unsupported key spec.*RSA 2048\/3072\/4096/);
    await expect(token.generateKey({ type: 'aes', bits: 512 } as never)).rejects.toThrow(RangeError);
    await expect(token.generateKey({ type: 'generic-secret', bits: 100 })).rejects.toThrow(RangeError);
    await expect(token.generateKey({ type: 'ec', curve: 'P-192' } as never)).rejects.toThrow(RangeError);
  });
});

describe('protection', () => {
  it.each<KeySpec>([{ type: 'rsa', bits: 2048 }, { type: 'ec', curve: 'P-256' }, { type: 'aes', bits: 256 }, { type: 'generic-secret', bits: 256 }])(
    '%o is a private, sensitive, never-extractable token object',
    async (spec) => {
      const key = await token.generateKey(spec);
      expect(await token.keyProtection(key)).toEqual({
        token: true,
        private: true,
        sensitive: true,
        extractable: false,
        alwaysSensitive: true,
        neverExtractable: true,
        wrapWithTrusted: false,
      });
      await token.destroyKey(key);
    },
  );

  it('wrap-only export: extractable only under a trusted key', async () => {
    const wrapOnly = await token.generateKey({ type: 'aes', bits: 256 }, { exportPolicy: 'wrap-with-trusted' });
    expect(await token.keyProtection(wrapOnly)).toMatchObject({ sensitive: true, extractable: true, wrapWithTrusted: true, neverExtractable: false });
    const untrusted = await token.generateKey({ type: 'aes', bits: 256 }, { usages: ['wrap', 'unwrap'], ephemeral: true });
    await expect(token.wrapKey(untrusted, { type: CKM.AES_KEY_WRAP_PAD }, wrapOnly)).rejects.toMatchObject({ code: 'CKR_KEY_NOT_WRAPPABLE' });
    const neverKey = await token.generateKey({ type: 'aes', bits: 256 });
    await expect(token.wrapKey(untrusted, { type: CKM.AES_KEY_WRAP_PAD }, neverKey)).rejects.toMatchObject({ code: 'CKR_KEY_UNEXTRACTABLE' });
  });
});

describe('handles', () => {
  it('re-resolves handles after the token closed every session', async () => {
    const key = await token.generateKey({ type: 'ec', curve: 'P-256' });
    const digest = createHash('sha256').update('before').digest();
    expect(await token.sign(key, { type: CKM.ECDSA }, digest)).toHaveLength(64);

    // Another user of the same module closes all sessions of the slot: SoftHSM2 drops every
    // handle and the login with them.
    const module = acquireModule(testToken.modulePath);
    try {
      module.closeAllSessions(await slotByLabel(module, testToken.label));
    } finally {
      releaseModule(module);
    }
    expect(token.sessionRecoveries).toBe(0);
    const after = createHash('sha256').update('after').digest();
    const signature = await token.sign(key, { type: CKM.ECDSA }, after);
    expect(await token.verify(key, { type: CKM.ECDSA }, after, signature)).toBe(true);
    expect(token.sessionRecoveries).toBe(1);
    const rsa = await token.generateKey({ type: 'rsa', bits: 2048 });
    expect(await token.sign(rsa, { type: CKM.SHA256_RSA_PKCS }, Buffer.from('x'))).toHaveLength(256);
  });

  it('serves many concurrent operations through the session pool', async () => {
    const key = await token.generateKey({ type: 'rsa', bits: 2048 });
    const publicKey = nodePublicKey(await token.publicKey(key));
    const messages = Array.from({ length: 24 }, (_, i) => Buffer.from(`message ${i}`));
    const signatures = await Promise.all(messages.map((m) => token.sign(key, { type: CKM.SHA256_RSA_PKCS }, m)));
    signatures.forEach((signature, i) => expect(nodeVerify('sha256', messages[i] as Buffer, publicKey, signature)).toBe(true));
  });
});

describe('trusted wrapping and unwrap', () => {
  it('wraps a wrap-only key under an SO-made trusted key and unwraps it back', async () => {
    // Only the security officer may set CKA_TRUSTED; do it through a second token so that the
    // user session of `token` is not disturbed.
    const module = acquireModule(testToken.modulePath);
    const slot = await slotByLabel(module, testToken.label);
    const trustedId = Buffer.from('trusted-kek');
    try {
      const session = module.openSession(slot, CKF.RW_SESSION);
      // The user is logged in on this application already; PKCS#11 logs in per application.
      module.logout(session);
      await module.login(session, CKU.SO, testToken.soPin);
      await module.generateKey(session, { type: CKM.AES_KEY_GEN }, [
        { type: CKA.CLASS, value: CKO.SECRET_KEY },
        { type: CKA.TOKEN, value: true },
        { type: CKA.PRIVATE, value: false },
        { type: CKA.SENSITIVE, value: true },
        { type: CKA.EXTRACTABLE, value: false },
        { type: CKA.TRUSTED, value: true },
        { type: CKA.WRAP, value: true },
        { type: CKA.UNWRAP, value: true },
        { type: CKA.VALUE_LEN, value: 32 },
        { type: CKA.ID, value: trustedId },
      ]);
      module.logout(session);
      module.closeSession(session);
    } finally {
      releaseModule(module);
    }

    const trusted: TokenKey = { id: trustedId, spec: { type: 'aes', bits: 256 } };
    const secret = await token.generateKey({ type: 'aes', bits: 256 }, { exportPolicy: 'wrap-with-trusted' });
    const wrapped = await token.wrapKey(trusted, { type: CKM.AES_KEY_WRAP_PAD }, secret);
    expect(wrapped).toHaveLength(40);
    const restored = await token.unwrapKey(trusted, { type: CKM.AES_KEY_WRAP_PAD }, wrapped, { type: 'aes', bits: 256 }, { exportPolicy: 'wrap-with-trusted' });
    expect(await token.keyProtection(restored)).toMatchObject({ token: true, private: true, sensitive: true, extractable: true, wrapWithTrusted: true });
    const gcm = { type: CKM.AES_GCM, gcm: { iv: Buffer.alloc(12), tagBits: 128 } };
    const sealed = await token.encrypt(secret, gcm, Buffer.from('same key'));
    expect((await token.decrypt(restored, gcm, sealed)).toString()).toBe('same key');

    // And an RSA private key the same way (PKCS#8 inside RFC 5649).
    const rsa = await token.generateKey({ type: 'rsa', bits: 2048 }, { exportPolicy: 'wrap-with-trusted' });
    const wrappedRsa = await token.wrapKey(trusted, { type: CKM.AES_KEY_WRAP_PAD }, rsa);
    expect(wrappedRsa.length).toBeGreaterThan(1200);
  });
});

describe('random and digest', () => {
  it('returns random bytes and digests that node:crypto agrees with', async () => {
    const bytes = await token.random(64);
    expect(bytes).toHaveLength(64);
    expect(bytes.equals(await token.random(64))).toBe(false);
    const digest = await token.digest({ type: CKM.SHA384 }, Buffer.from('digest me'));
    expect(digest.equals(createHash('sha384').update('digest me').digest())).toBe(true);
  });
});
