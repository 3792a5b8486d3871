// Importing key material: it lands in token objects with the token layer's protections, and
// the imported keys work and agree with node:crypto and known-answer vectors.
import { createHash, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKM } from '../../src/token/constants.js';
import type { KeyMaterial } from '../../src/token/key-templates.js';
import { acquireModule, releaseModule } from '../../src/token/module-registry.js';
import type { Token } from '../../src/token/token.js';
import { hex } from '../helpers/pkcs11.js';
import { type OpenTestToken, type TestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let testToken: TestToken;
let token: Token;

beforeAll(async () => {
  opened = await openTestToken();
  ({ testToken, token } = opened);
});

afterAll(() => opened?.close());

const b64 = (value: string | undefined) => Buffer.from(value ?? '', 'base64url');

describe('importKey', () => {
  it('imports an RSA-2048 private key whose signatures node:crypto verifies', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    // Field by field here; the JWK mapping of the hsm layer is tested on its own.
    const material: KeyMaterial = {
      type: 'rsa',
      modulus: b64(jwk.n),
      publicExponent: b64(jwk.e),
      privateExponent: b64(jwk.d),
      prime1: b64(jwk.p),
      prime2: b64(jwk.q),
      exponent1: b64(jwk.dp),
      exponent2: b64(jwk.dq),
      coefficient: b64(jwk.qi),
    };
    const key = await token.importKey({ type: 'rsa', bits: 2048 }, material);
    const parts = await token.publicKey(key);
    expect(parts).toMatchObject({ type: 'rsa', modulus: material.modulus });
    const signature = await token.sign(key, { type: CKM.SHA256_RSA_PKCS }, Buffer.from('imported'));
    expect(nodeVerify('sha256', Buffer.from('imported'), publicKey, signature)).toBe(true);
    expect(await token.keyProtection(key)).toMatchObject({ token: true, private: true, sensitive: true, extractable: false, alwaysSensitive: false });
  });

  it.each(['P-256', 'P-384', 'P-521', 'secp256k1'] as const)('imports an EC %s private key', async (curve) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve === 'secp256k1' ? 'secp256k1' : curve });
    const jwk = privateKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), b64(jwk.x), b64(jwk.y)]);
    const key = await token.importKey({ type: 'ec', curve }, { type: 'ec', curve, privateValue: b64(jwk.d), point });
    expect(await token.publicKey(key)).toEqual({ type: 'ec', curve, point });
    const hash = curve === 'P-384' ? 'sha384' : curve === 'P-521' ? 'sha512' : 'sha256';
    const digest = createHash(hash).update('ec import').digest();
    const signature = await token.sign(key, { type: CKM.ECDSA }, digest);
    expect(nodeVerify(hash, Buffer.from('ec import'), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
  });

  it('imports AES-128 key material that then matches the GCM spec test case 3', async () => {
    const key = await token.importKey({ type: 'aes', bits: 128 }, { type: 'secret', value: hex('feffe9928665731c6d6a8f9467308308') });
    const plaintext = hex(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255',
    );
    const gcm = { type: CKM.AES_GCM, gcm: { iv: hex('cafebabefacedbaddecaf888'), tagBits: 128 } };
    const sealed = await token.encrypt(key, gcm, plaintext);
    expect(sealed.subarray(0, 64).toString('hex')).toBe(
      '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985',
    );
    expect(sealed.subarray(64).toString('hex')).toBe('4d5c2af327cd64a62cf35abd2ba6fab4');
    expect(await token.keyProtection(key)).toMatchObject({ sensitive: true, extractable: false });
  });

  it('imports an HMAC key that then matches RFC 4231 test case 7', async () => {
    const key = await token.importKey({ type: 'generic-secret', bits: 1048 }, { type: 'secret', value: Buffer.alloc(131, 0xaa) }).catch((e: Error) => e);
    // 131 bytes is over the 1024-bit generic-secret limit of the token layer: refused before the token.
    expect(key).toBeInstanceOf(RangeError);
    const mac = await token.importKey({ type: 'generic-secret', bits: 512 }, { type: 'secret', value: Buffer.alloc(64, 0x0b) });
    const data = Buffer.from('This is a test using a larger than block-size key and a larger than block-size data.');
    const value = await token.sign(mac, { type: CKM.SHA256_HMAC }, data);
    const { createHmac } = await import('node:crypto');
    expect(value.equals(createHmac('sha256', Buffer.alloc(64, 0x0b)).update(data).digest())).toBe(true);
  });

  it('leaves nothing behind when the token refuses the private part', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), b64(jwk.x), b64(jwk.y)]);
    const id = Buffer.from('half-written');
    const spec = { type: 'ec', curve: 'P-256' } as const;
    // SoftHSM2 takes any private value, so the refusal (a full token, say) is injected: the
    // second C_CreateObject of this import fails after the public object exists.
    const module = acquireModule(testToken.modulePath);
    const original = module.createObject;
    let calls = 0;
    const failing = function (this: typeof module, ...args: Parameters<typeof original>) {
      if (++calls === 2) throw Object.assign(new Error('C_CreateObject failed: CKR_DEVICE_MEMORY'), { name: 'Pkcs11Error', code: 'CKR_DEVICE_MEMORY', rv: 0x31, fn: 'C_CreateObject' });
      return original.apply(this, args);
    };
    // The addon's methods are read-only on its prototype; an own property shadows one for this test.
    Object.defineProperty(module, 'createObject', { value: failing, configurable: true });
    try {
      await expect(token.importKey(spec, { type: 'ec', curve: 'P-256', privateValue: b64(jwk.d), point }, { id })).rejects.toMatchObject({
        code: 'CKR_DEVICE_MEMORY',
      });
    } finally {
      delete (module as { createObject?: unknown }).createObject;
      releaseModule(module);
    }
    expect(calls).toBe(2);
    await expect(token.publicKey({ id, spec })).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
    expect(await token.hasKey({ id, spec })).toBe(false);
  });

  it('refuses material that does not fit the spec', async () => {
    await expect(token.importKey({ type: 'aes', bits: 256 }, { type: 'ec', curve: 'P-256', privateValue: Buffer.alloc(32), point: Buffer.alloc(65) })).rejects.toThrow(TypeError);
    await expect(
      token.importKey({ type: 'ec', curve: 'P-384' }, { type: 'ec', curve: 'P-256', privateValue: Buffer.alloc(32, 1), point: Buffer.alloc(65, 4) }),
    ).rejects.toThrow(/P-256 material does not fit a P-384 key/);
    await expect(
      token.importKey({ type: 'ec', curve: 'P-256' }, { type: 'ec', curve: 'P-256', privateValue: Buffer.alloc(31, 1), point: Buffer.alloc(65, 4) }),
    ).rejects.toThrow(/P-256 private value must be 32 bytes/);
    await expect(token.importKey({ type: 'aes', bits: 256 }, { type: 'secret', value: Buffer.alloc(16) })).rejects.toThrow(/256-bit key needs 32 bytes/);
    await expect(token.importKey({ type: 'rsa', bits: 3072 }, { type: 'rsa', modulus: Buffer.alloc(256, 0xff) } as never)).rejects.toThrow(/modulus of 2048 bits does not fit/);
  });
});
