// Every registry algorithm on keys in a real token, cross-checked with node:crypto in both
// directions (imported keys, whose private parts node:crypto also holds, where the check needs them).
import {
  type KeyObject,
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHMS } from '../../src/hsm/algorithms/registry.js';
import { keyMaterialFromJwk } from '../../src/hsm/jwk.js';
import { decryptWith, encryptWith, signDigest, verifyDigest } from '../../src/hsm/key-crypto.js';
import type { CurveName } from '../../src/token/curves.js';
import type { TokenKey } from '../../src/token/key-spec.js';
import type { Token } from '../../src/token/token.js';
import { refusalOf } from '../helpers/refusal.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let token: Token;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
});

afterAll(() => opened?.close());

async function importRsa(bits: 2048 | 3072 | 4096): Promise<{ key: TokenKey; privateKey: KeyObject; publicKey: KeyObject }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const { spec, material } = keyMaterialFromJwk(privateKey.export({ format: 'jwk' }));
  return { key: await token.importKey(spec, material), privateKey, publicKey };
}

async function importAes(bits: 128 | 192 | 256): Promise<{ key: TokenKey; value: Buffer }> {
  const value = randomBytes(bits / 8);
  return { key: await token.importKey({ type: 'aes', bits }, { type: 'secret', value }), value };
}

describe('the registry', () => {
  it('has one entry per Managed HSM algorithm name, each describing its support on this token', () => {
    expect(Object.keys(ALGORITHMS).sort()).toEqual(
      [
        'RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5', 'A128KW', 'A192KW', 'A256KW', 'A128GCM', 'A192GCM', 'A256GCM', 'A128CBC', 'A192CBC', 'A256CBC',
        'A128CBCPAD', 'A192CBCPAD', 'A256CBCPAD', 'CKM_AES_KEY_WRAP', 'CKM_AES_KEY_WRAP_PAD', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384',
        'PS512', 'ES256', 'ES256K', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512',
      ].sort(),
    );
    for (const entry of Object.values(ALGORITHMS)) {
      expect(entry.support(token.capabilities).level, entry.name).not.toBe('unsupported');
    }
    expect(ALGORITHMS['toString']).toBeUndefined();
  });
});

describe('RSA signatures', () => {
  let rsa: TokenKey;
  let publicKey: KeyObject;
  let privateKey: KeyObject;
  beforeAll(async () => {
    ({ key: rsa, publicKey, privateKey } = await importRsa(2048));
  });

  it.each([
    ['RS256', 'sha256', false],
    ['RS384', 'sha384', false],
    ['RS512', 'sha512', false],
    ['PS256', 'sha256', true],
    ['PS384', 'sha384', true],
    ['PS512', 'sha512', true],
  ] as const)('%s signs a digest that node:crypto verifies', async (alg, hash, pss) => {
    const message = Buffer.from(`message for ${alg}`);
    const digest = createHash(hash).update(message).digest();
    const signature = await signDigest(token, rsa, alg, digest);
    const options = pss ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length } : publicKey;
    expect(nodeVerify(hash, message, options, signature)).toBe(true);
    expect(await verifyDigest(token, rsa, alg, digest, signature)).toBe(true);
    const other = createHash(hash).update('other').digest();
    expect(await verifyDigest(token, rsa, alg, other, signature)).toBe(false);
    // A signature node:crypto made verifies in the token too (PSS's salt is random: not the token's own bytes).
    const fromNode = nodeSign(hash, message, pss ? { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length } : privateKey);
    expect(await verifyDigest(token, rsa, alg, digest, fromNode)).toBe(true);
    const tampered = Buffer.from(fromNode);
    tampered[10] = (tampered[10] as number) ^ 1;
    expect(await verifyDigest(token, rsa, alg, digest, tampered)).toBe(false);
  });
});

describe('ECDSA', () => {
  it.each([
    ['ES256', 'P-256', 'sha256'],
    ['ES256K', 'secp256k1', 'sha256'],
    ['ES384', 'P-384', 'sha384'],
    ['ES512', 'P-521', 'sha512'],
  ] as const)('%s signs raw r||s that node:crypto verifies', async (alg, curve: CurveName, hash) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const jwk = privateKey.export({ format: 'jwk' });
    // node:crypto names the curve secp256k1; Managed HSM's JWKs say P-256K.
    const { spec, material } = keyMaterialFromJwk({ ...jwk, crv: jwk.crv === 'secp256k1' ? 'P-256K' : jwk.crv });
    const key = await token.importKey(spec, material);
    const message = Buffer.from(`ec ${alg}`);
    const digest = createHash(hash).update(message).digest();
    const signature = await signDigest(token, key, alg, digest);
    expect(nodeVerify(hash, message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
    const fromNode = (await import('node:crypto')).sign(hash, message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
    expect(await verifyDigest(token, key, alg, digest, fromNode)).toBe(true);
  });
});

describe('HMAC', () => {
  it.each([
    ['HS256', 'sha256', 256],
    ['HS384', 'sha384', 512],
    ['HS512', 'sha512', 512],
  ] as const)('%s matches node:crypto', async (alg, hash, bits) => {
    const value = randomBytes(bits / 8);
    const key = await token.importKey({ type: 'generic-secret', bits }, { type: 'secret', value });
    const data = Buffer.from(`hmac ${alg}`);
    const mac = await signDigest(token, key, alg, data);
    expect(mac.equals(createHmac(hash, value).update(data).digest())).toBe(true);
    expect(await verifyDigest(token, key, alg, data, mac)).toBe(true);
  });
});

describe('RSA encryption', () => {
  let rsa: TokenKey;
  let privateKey: KeyObject;
  let publicKey: KeyObject;
  beforeAll(async () => {
    ({ key: rsa, privateKey, publicKey } = await importRsa(3072));
  });

  it.each([
    ['RSA-OAEP', { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }],
    ['RSA-OAEP-256', { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }],
    ['RSA1_5', { padding: constants.RSA_PKCS1_PADDING }],
  ] as const)('%s interoperates with node:crypto for encrypt and wrapKey', async (alg, padding) => {
    for (const operation of ['encrypt', 'wrapKey'] as const) {
      const plaintext = randomBytes(32);
      const { value } = await encryptWith(token, rsa, alg, operation, { plaintext });
      expect(value).toHaveLength(384);
      // RSA1_5 decryption is disabled in recent OpenSSL builds of node; check that one through the token only.
      if (alg !== 'RSA1_5') expect(privateDecrypt({ key: privateKey, ...padding }, value).equals(plaintext)).toBe(true);
      expect((await decryptWith(token, rsa, alg, operation, { ciphertext: value })).equals(plaintext)).toBe(true);
      const fromNode = publicEncrypt({ key: publicKey, ...padding }, plaintext);
      expect((await decryptWith(token, rsa, alg, operation, { ciphertext: fromNode })).equals(plaintext)).toBe(true);
    }
  });

  it('refuses a plaintext too long and a ciphertext of the wrong size, naming the rule', async () => {
    await expect(encryptWith(token, rsa, 'RSA-OAEP-256', 'encrypt', { plaintext: Buffer.alloc(400) })).rejects.toMatchObject({
      code: 'BadParameter',
      message: expect.stringMatching(/RSA-OAEP-256 encrypt: .*(at most 318 bytes|length)/),
    });
    await expect(decryptWith(token, rsa, 'RSA-OAEP-256', 'encrypt', { ciphertext: Buffer.alloc(10) })).rejects.toMatchObject({
      code: 'BadParameter',
      message: 'RSA-OAEP-256 decrypt: the ciphertext must be 384 bytes for this key',
    });
    // Random bytes (usually below the modulus) and all-ones (never below it), for each RSA algorithm.
    for (const alg of ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5']) {
      for (const ciphertext of [randomBytes(384), Buffer.alloc(384, 0xff)]) {
        await expect(decryptWith(token, rsa, alg, 'encrypt', { ciphertext })).rejects.toMatchObject({
          code: 'BadParameter',
          message: `${alg} decrypt: the ciphertext could not be decrypted`,
        });
      }
    }
  });
});

describe('AES', () => {
  it('encrypts an empty value, and the session is usable after it', async () => {
    // An empty input once reached the module as a NULL pointer: SoftHSM2 refused it and left the
    // operation active, so that every later call on that pooled session failed.
    const { key, value } = await importAes(256);
    for (let round = 0; round < 3; round++) {
      const sealed = await encryptWith(token, key, 'A256GCM', 'encrypt', { plaintext: Buffer.alloc(0) });
      expect(sealed.value).toHaveLength(0);
      const decipher = createDecipheriv('aes-256-gcm', value, sealed.iv!).setAuthTag(sealed.tag!);
      expect(Buffer.concat([decipher.update(sealed.value), decipher.final()])).toHaveLength(0);
      expect(await decryptWith(token, key, 'A256GCM', 'encrypt', { ciphertext: sealed.value, iv: sealed.iv, tag: sealed.tag })).toHaveLength(0);
      const padded = await encryptWith(token, key, 'A256CBCPAD', 'encrypt', { plaintext: Buffer.alloc(0) });
      expect(padded.value).toHaveLength(16);
      expect(await decryptWith(token, key, 'A256CBCPAD', 'encrypt', { ciphertext: padded.value, iv: padded.iv })).toHaveLength(0);
      // The next calls on the same session (the pool lends the last one back first).
      const plaintext = randomBytes(16);
      const after = await encryptWith(token, key, 'A256GCM', 'encrypt', { plaintext });
      expect((await decryptWith(token, key, 'A256GCM', 'encrypt', { ciphertext: after.value, iv: after.iv, tag: after.tag })).equals(plaintext)).toBe(true);
    }
  });

  it('refuses a CBC-PAD ciphertext whose padding is not PKCS#7, saying what may be wrong', async () => {
    const { key, value } = await importAes(128);
    const iv = randomBytes(16);
    // One block that decrypts to fifteen random bytes and a last byte of 0: never valid padding.
    const cipher = createCipheriv('aes-128-cbc', value, iv).setAutoPadding(false);
    const ciphertext = Buffer.concat([cipher.update(Buffer.concat([randomBytes(15), Buffer.from([0])])), cipher.final()]);
    expect(await refusalOf(decryptWith(token, key, 'A128CBCPAD', 'encrypt', { ciphertext, iv }))).toEqual({
      code: 'BadParameter',
      message: 'A128CBCPAD decrypt: the ciphertext could not be decrypted (wrong key, iv or padding)',
    });
  });

  it.each([128, 192, 256] as const)('A%dGCM interoperates with node:crypto and rejects a wrong tag', async (bits) => {
    const { key, value } = await importAes(bits);
    const alg = `A${bits}GCM`;
    const plaintext = randomBytes(100);
    const aad = Buffer.from('header');
    const sealed = await encryptWith(token, key, alg, 'encrypt', { plaintext, aad });
    // The 12-byte nonce, as the service returns it.
    expect(sealed.iv).toHaveLength(12);
    const decipher = createDecipheriv(`aes-${bits}-gcm`, value, sealed.iv!).setAAD(aad).setAuthTag(sealed.tag!);
    expect(Buffer.concat([decipher.update(sealed.value), decipher.final()]).equals(plaintext)).toBe(true);
    // The same nonce zero-padded to 16 bytes, as some clients send it, decrypts too.
    const padded = Buffer.concat([sealed.iv!, Buffer.alloc(4)]);
    expect((await decryptWith(token, key, alg, 'encrypt', { ciphertext: sealed.value, iv: padded, aad, tag: sealed.tag! })).equals(plaintext)).toBe(true);

    const iv = randomBytes(12);
    const cipher = createCipheriv(`aes-${bits}-gcm`, value, iv).setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const tag = cipher.getAuthTag();
    expect((await decryptWith(token, key, alg, 'encrypt', { ciphertext, iv, aad, tag })).equals(plaintext)).toBe(true);
    const badTag = Buffer.from(tag);
    badTag[0] = (badTag[0] as number) ^ 1;
    await expect(decryptWith(token, key, alg, 'encrypt', { ciphertext, iv, aad, tag: badTag })).rejects.toMatchObject({
      code: 'BadParameter',
      message: `${alg} decrypt: the ciphertext, iv, aad or tag does not authenticate`,
    });
  });

  it.each([
    ['A128CBC', 128, false],
    ['A192CBC', 192, false],
    ['A256CBC', 256, false],
    ['A128CBCPAD', 128, true],
    ['A192CBCPAD', 192, true],
    ['A256CBCPAD', 256, true],
  ] as const)('%s interoperates with node:crypto', async (alg, bits, padded) => {
    const { key, value } = await importAes(bits);
    const plaintext = randomBytes(padded ? 45 : 48);
    const iv = randomBytes(16);
    const result = await encryptWith(token, key, alg, 'encrypt', { plaintext, iv });
    expect(result.iv?.equals(iv)).toBe(true);
    const expected = createCipheriv(`aes-${bits}-cbc`, value, iv).setAutoPadding(padded);
    expect(result.value.equals(Buffer.concat([expected.update(plaintext), expected.final()]))).toBe(true);
    expect((await decryptWith(token, key, alg, 'encrypt', { ciphertext: result.value, iv })).equals(plaintext)).toBe(true);
    if (padded) {
      // A ciphertext whose plaintext ends in a zero byte, never valid PKCS#7 padding. (Random bytes
      // decrypt to valid padding about once in 256: the flake this replaces.)
      const unpadded = createCipheriv(`aes-${bits}-cbc`, value, iv).setAutoPadding(false);
      const invalid = Buffer.concat([unpadded.update(Buffer.concat([randomBytes(31), Buffer.from([0x00])])), unpadded.final()]);
      await expect(decryptWith(token, key, alg, 'encrypt', { ciphertext: invalid, iv })).rejects.toMatchObject({ code: 'BadParameter' });
    }
  });

  it('A256CBC without padding pads a partial last block with zeros, as the service does', async () => {
    const { key, value } = await importAes(256);
    const plaintext = randomBytes(200);
    const sealed = await encryptWith(token, key, 'A256CBC', 'encrypt', { plaintext });
    expect(sealed.value).toHaveLength(208);
    const decipher = createDecipheriv('aes-256-cbc', value, sealed.iv as Buffer).setAutoPadding(false);
    expect(Buffer.concat([decipher.update(sealed.value), decipher.final()])).toEqual(Buffer.concat([plaintext, Buffer.alloc(8)]));
    // Whole blocks stay as they are.
    expect((await encryptWith(token, key, 'A256CBC', 'encrypt', { plaintext: randomBytes(32) })).value).toHaveLength(32);
  });

  it.each([
    ['A128KW', 128, 'id-aes128-wrap', 32],
    ['A192KW', 192, 'id-aes192-wrap', 24],
    ['A256KW', 256, 'id-aes256-wrap', 32],
    ['CKM_AES_KEY_WRAP', 192, 'id-aes192-wrap', 40],
    ['CKM_AES_KEY_WRAP_PAD', 256, 'id-aes256-wrap-pad', 21],
    ['CKM_AES_KEY_WRAP_PAD', 128, 'id-aes128-wrap-pad', 1218],
  ] as const)('%s (%d-bit key) wraps values as OpenSSL does (%s, %d bytes)', async (alg, bits, openssl, length) => {
    const { key, value } = await importAes(bits);
    const secret = randomBytes(length);
    const iv = Buffer.from(openssl.endsWith('pad') ? 'a65959a6' : 'a6a6a6a6a6a6a6a6', 'hex');
    const { value: wrapped } = await encryptWith(token, key, alg, 'wrapKey', { plaintext: secret });
    const reference = createCipheriv(openssl, value, iv);
    expect(wrapped.equals(Buffer.concat([reference.update(secret), reference.final()]))).toBe(true);
    expect((await decryptWith(token, key, alg, 'wrapKey', { ciphertext: wrapped })).equals(secret)).toBe(true);
    wrapped[3] = (wrapped[3] as number) ^ 1;
    await expect(decryptWith(token, key, alg, 'wrapKey', { ciphertext: wrapped })).rejects.toMatchObject({ code: 'BadParameter' });
  });
});

describe('bad input', () => {
  let ec: TokenKey;
  let aes128: TokenKey;
  beforeAll(async () => {
    ec = await token.generateKey({ type: 'ec', curve: 'P-256' });
    aes128 = await token.generateKey({ type: 'aes', bits: 128 });
  });

  it('names the field and the rule', async () => {
    const digest = Buffer.alloc(32);
    await expect(signDigest(token, ec, 'NOPE', digest)).rejects.toMatchObject({
      code: 'BadParameter',
      message: expect.stringMatching(/^alg: 'NOPE' is not a supported algorithm here; use one of RS256, .*ES256/),
    });
    await expect(signDigest(token, ec, 'RS256', digest)).rejects.toMatchObject({
      message: 'alg: RS256 cannot be used with this key: it needs an RSA key',
    });
    await expect(signDigest(token, ec, 'ES384', Buffer.alloc(48))).rejects.toMatchObject({
      message: 'alg: ES384 cannot be used with this key: it needs an EC key on P-384',
    });
    await expect(signDigest(token, ec, 'ES256', Buffer.alloc(31))).rejects.toMatchObject({
      message: 'value: a ES256 digest must be 32 bytes, not 31',
    });
    await expect(encryptWith(token, aes128, 'A256GCM', 'encrypt', { plaintext: Buffer.alloc(1) })).rejects.toMatchObject({
      message: 'alg: A256GCM cannot be used with this key: it needs a 256-bit key, not a 128-bit one',
    });
    await expect(encryptWith(token, aes128, 'A128GCM', 'wrapKey', { plaintext: Buffer.alloc(16) })).rejects.toMatchObject({
      message: expect.stringMatching(/^alg: 'A128GCM' is not a supported algorithm here; use one of RSA-OAEP, RSA-OAEP-256, RSA1_5, A128KW/),
    });
    await expect(encryptWith(token, aes128, 'A128GCM', 'encrypt', { plaintext: Buffer.alloc(1), iv: Buffer.alloc(5) })).rejects.toMatchObject({
      message: 'A128GCM encrypt: iv must be 12 bytes (or 16 bytes ending in four zero bytes) for AES-GCM',
    });
    const refusedAs = async (run: Promise<unknown>, message: string) => expect(await refusalOf(run), message).toEqual({ code: 'BadParameter', message });
    const sealed = await encryptWith(token, aes128, 'A128GCM', 'encrypt', { plaintext: Buffer.alloc(3) });
    const gcm = { ciphertext: sealed.value, iv: sealed.iv, tag: sealed.tag };
    await refusedAs(decryptWith(token, aes128, 'A128GCM', 'encrypt', { ...gcm, iv: undefined }), 'A128GCM decrypt: iv is required for AES-GCM decryption');
    await refusedAs(decryptWith(token, aes128, 'A128GCM', 'encrypt', { ...gcm, tag: undefined }), 'A128GCM decrypt: tag must be 16 bytes for AES-GCM decryption');
    await refusedAs(decryptWith(token, aes128, 'A128GCM', 'encrypt', { ...gcm, tag: sealed.tag!.subarray(0, 15) }), 'A128GCM decrypt: tag must be 16 bytes for AES-GCM decryption');
    const nonZeroTail = Buffer.concat([sealed.iv!, Buffer.from([0, 0, 0, 1])]);
    await refusedAs(decryptWith(token, aes128, 'A128GCM', 'encrypt', { ...gcm, iv: nonZeroTail }), 'A128GCM decrypt: iv must be 12 bytes (or 16 bytes ending in four zero bytes) for AES-GCM');
    await refusedAs(encryptWith(token, aes128, 'A128CBC', 'encrypt', { plaintext: Buffer.alloc(16), iv: Buffer.alloc(15) }), 'A128CBC encrypt: iv must be 16 bytes for AES-CBC');
    await refusedAs(decryptWith(token, aes128, 'A128CBCPAD', 'encrypt', { ciphertext: Buffer.alloc(16) }), 'A128CBCPAD decrypt: iv is required for A128CBCPAD decryption');
    for (const bytes of [0, 15, 17]) {
      await refusedAs(decryptWith(token, aes128, 'A128CBC', 'encrypt', { ciphertext: Buffer.alloc(bytes), iv: Buffer.alloc(16) }), 'A128CBC decrypt: value must be a non-empty multiple of 16 bytes for A128CBC');
    }
    await refusedAs(decryptWith(token, aes128, 'A128CBC', 'encrypt', { ciphertext: Buffer.alloc(16), iv: Buffer.alloc(17) }), 'A128CBC decrypt: iv must be 16 bytes for AES-CBC');
    await refusedAs(decryptWith(token, aes128, 'A128KW', 'wrapKey', { ciphertext: Buffer.alloc(24, 1) }), 'A128KW unwrapKey: the wrapped value failed the key wrap integrity check');
    await refusedAs(encryptWith(token, aes128, 'A128KW', 'wrapKey', { plaintext: Buffer.alloc(12) }), 'A128KW wrapKey: the value to wrap must be a multiple of 8 bytes and at least 16 bytes');
    await expect(signDigest(token, ec, { toString: () => 'ES256' }, digest)).rejects.toMatchObject({ code: 'BadParameter' });
    await expect(signDigest(token, ec, 'constructor', digest)).rejects.toMatchObject({ code: 'BadParameter' });
  });
});
