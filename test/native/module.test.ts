// Every call the addon exposes, against a real SoftHSM2 token, with known-answer vectors.
import { createCipheriv, createECDH, createHash, createPublicKey, createVerify, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NativeModule, loadNativeModule } from '../../src/native/addon.js';
import { isPkcs11Error } from '../../src/native/errors.js';
import { CKA, CKF, CKG, CKK, CKM, CKO, CKU } from '../../src/token/constants.js';
import { type NativeTestToken, type TestToken, openNativeTestToken } from '../helpers/test-token.js';
import { aesKeyTemplate, hex, slotByLabel } from '../helpers/pkcs11.js';

let opened: NativeTestToken | undefined;
let token: TestToken;
let module: NativeModule;
let slot: number;
let session: number;

beforeAll(async () => {
  opened = await openNativeTestToken();
  ({ token, module, slot, session } = opened);
});

afterAll(() => opened?.close());

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; rv?: number; fn?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): Error & { code?: string; rv?: number; fn?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('loading a module', () => {
  it('names a missing file', () => {
    const error = thrown(() => loadNativeModule('/nonexistent/libnothing.so'));
    expect(error.code).toBe('ERR_MODULE_NOT_FOUND');
    expect(error.message).toContain('/nonexistent/libnothing.so');
  });

  it('refuses a file that is not a shared library', () => {
    const file = path.join(token.dataDir, 'not-a-library.so');
    writeFileSync(file, 'hello');
    const error = thrown(() => loadNativeModule(file));
    expect(error.code).toBe('ERR_MODULE_LOAD');
  });

  it('refuses a shared library that is not a PKCS#11 module', () => {
    const libz = ['/lib/x86_64-linux-gnu/libz.so.1', '/lib/aarch64-linux-gnu/libz.so.1', '/usr/lib64/libz.so.1', '/usr/lib/libz.so.1'].find(
      (candidate) => existsSync(candidate),
    );
    expect(libz, 'a libz to load').toBeDefined();
    const error = thrown(() => loadNativeModule(libz as string));
    expect(error.code).toBe('ERR_NOT_PKCS11');
    expect(error.message).toContain('C_GetFunctionList');
  });

  it('throws TypeErrors for bad paths', () => {
    expect(() => loadNativeModule(42 as unknown as string)).toThrow(TypeError);
    expect(() => loadNativeModule('')).toThrow(TypeError);
  });
});

describe('general, slot and token functions', () => {
  it('reports C_Initialize twice as a Pkcs11Error with code, rv and fn', () => {
    const error = thrown(() => module.initialize());
    expect(isPkcs11Error(error)).toBe(true);
    expect(error).toMatchObject({ name: 'Pkcs11Error', code: 'CKR_CRYPTOKI_ALREADY_INITIALIZED', rv: 0x191, fn: 'C_Initialize' });
  });

  it('describes the library, slots, token and mechanisms', async () => {
    expect(module.path).toBe(token.modulePath);
    const info = module.getInfo();
    expect(info.manufacturerId).toBe('SoftHSM');
    expect(info.cryptokiVersion.major).toBe(2);
    expect(module.getSlotList(true)).toContain(slot);
    expect(module.getSlotInfo(slot).flags & CKF.TOKEN_PRESENT).toBe(CKF.TOKEN_PRESENT);
    const tokenInfo = await module.getTokenInfo(slot);
    expect(tokenInfo.label).toBe(token.label);
    expect(tokenInfo.flags & CKF.USER_PIN_INITIALIZED).toBe(CKF.USER_PIN_INITIALIZED);
    expect(tokenInfo.serialNumber).toMatch(/^[0-9a-f]{16}$/);
    const mechanisms = module.getMechanismList(slot);
    expect(mechanisms).toContain(CKM.AES_GCM);
    const rsa = module.getMechanismInfo(slot, CKM.RSA_PKCS_KEY_PAIR_GEN);
    expect(rsa.minKeySize).toBeLessThanOrEqual(2048);
    expect(rsa.maxKeySize).toBeGreaterThanOrEqual(4096);
    expect(rsa.flags & CKF.GENERATE_KEY_PAIR).toBe(CKF.GENERATE_KEY_PAIR);
    expect(thrown(() => module.getSlotInfo(123456))).toMatchObject({ code: 'CKR_SLOT_ID_INVALID', fn: 'C_GetSlotInfo' });
  });

  it('initialises a second token, sets its user PIN, changes it, logs in and out', async () => {
    const free = (await Promise.all(module.getSlotList(true).map(async (s) => ({ s, i: await module.getTokenInfo(s) })))).find(
      ({ i }) => (i.flags & CKF.TOKEN_INITIALIZED) === 0,
    );
    expect(free).toBeDefined();
    await module.initToken(free!.s, 'so-pin-1234', 'second');
    const second = await slotByLabel(module, 'second');
    const so = module.openSession(second, CKF.RW_SESSION);
    await module.login(so, CKU.SO, 'so-pin-1234');
    await module.initPin(so, Buffer.from('user-pin-1'));
    module.logout(so);
    module.closeSession(so);

    const user = module.openSession(second);
    const wrong = await rejection(module.login(user, CKU.USER, 'not-the-pin'));
    expect(wrong).toMatchObject({ name: 'Pkcs11Error', code: 'CKR_PIN_INCORRECT', rv: 0xa0, fn: 'C_Login' });
    await module.login(user, CKU.USER, 'user-pin-1');
    await module.setPin(user, 'user-pin-1', 'user-pin-2');
    module.logout(user);
    await expect(module.login(user, CKU.USER, 'user-pin-1')).rejects.toMatchObject({ code: 'CKR_PIN_INCORRECT' });
    await module.login(user, CKU.USER, 'user-pin-2');
    module.logout(user);
    module.closeAllSessions(second);
    expect(thrown(() => module.logout(user))).toMatchObject({ code: 'CKR_SESSION_HANDLE_INVALID', fn: 'C_Logout' });
    expect(() => module.initToken(second, 'x', 'a'.repeat(33))).toThrow(TypeError);
  });

  it('generates random bytes of the requested length', async () => {
    const a = await module.generateRandom(session, 48);
    const b = await module.generateRandom(session, 48, true);
    expect(a).toHaveLength(48);
    expect(b).toHaveLength(48);
    expect(a.equals(b)).toBe(false);
    expect(() => module.generateRandom(session, 0)).toThrow(RangeError);
  });

  it('digests with a known answer (SHA-256 of "abc", FIPS 180-2)', async () => {
    const digest = await module.digest(session, { type: CKM.SHA256 }, Buffer.from('abc'));
    expect(digest.toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect((await module.digest(session, { type: CKM.SHA512 }, Buffer.from('abc'), true)).length).toBe(64);
  });
});

describe('objects', () => {
  it('creates, finds, reads, changes and destroys an object', async () => {
    const handle = await module.createObject(session, [
      { type: CKA.CLASS, value: CKO.DATA },
      { type: CKA.TOKEN, value: false },
      { type: CKA.LABEL, value: 'first' },
      { type: CKA.VALUE, value: Buffer.from('payload') },
    ]);
    expect(await module.findObjects(session, [{ type: CKA.CLASS, value: CKO.DATA }, { type: CKA.LABEL, value: 'first' }])).toEqual([handle]);
    const [label, value] = await module.getAttributeValue(session, handle, [CKA.LABEL, CKA.VALUE]);
    expect(label?.toString()).toBe('first');
    expect(value?.toString()).toBe('payload');
    await module.setAttributeValue(session, handle, [{ type: CKA.LABEL, value: 'renamed' }]);
    expect((await module.getAttributeValue(session, handle, [CKA.LABEL], true))[0]?.toString()).toBe('renamed');
    await module.destroyObject(session, handle);
    expect(await module.findObjects(session, [{ type: CKA.LABEL, value: 'renamed' }])).toEqual([]);
    await expect(module.destroyObject(session, handle)).rejects.toMatchObject({ code: 'CKR_OBJECT_HANDLE_INVALID', fn: 'C_DestroyObject' });
  });

  it('finds more objects than one C_FindObjects batch', async () => {
    const label = 'many';
    for (let i = 0; i < 70; i++) {
      await module.createObject(session, [{ type: CKA.CLASS, value: CKO.DATA }, { type: CKA.TOKEN, value: false }, { type: CKA.LABEL, value: label }], true);
    }
    const found = await module.findObjects(session, [{ type: CKA.LABEL, value: label }]);
    expect(new Set(found).size).toBe(70);
  });

  it('refuses to read a sensitive value', async () => {
    const key = await module.generateKey(session, { type: CKM.AES_KEY_GEN }, [
      { type: CKA.TOKEN, value: false },
      { type: CKA.VALUE_LEN, value: 32 },
      { type: CKA.SENSITIVE, value: true },
    ]);
    const error = await rejection(module.getAttributeValue(session, key, [CKA.VALUE]));
    expect(error).toMatchObject({ code: 'CKR_ATTRIBUTE_SENSITIVE', fn: 'C_GetAttributeValue' });
    const [valueLen] = await module.getAttributeValue(session, key, [CKA.VALUE_LEN]);
    expect(valueLen?.readBigUInt64LE(0)).toBe(32n);
  });
});

describe('copying objects', () => {
  const gcm = { type: CKM.AES_GCM, gcm: { iv: Buffer.alloc(12), tagBits: 128 } };
  // GCM spec test case 2: AES-128 with a zero key and a zero IV over 16 zero bytes.
  const sealedZeros = '0388dace60b6a392f328c2b971b2fe78' + 'ab6e47d42cec13bdf53a67b21257bddf';

  it('copies a session AES key into a token object from another session of the application', async () => {
    const id = Buffer.from('copy-to-token');
    const original = await module.createObject(
      session,
      aesKeyTemplate(Buffer.alloc(16), [
        { type: CKA.ID, value: id },
        { type: CKA.SENSITIVE, value: true },
        { type: CKA.EXTRACTABLE, value: false },
      ]),
    );
    const other = module.openSession(slot, CKF.RW_SESSION);
    try {
      const copy = await module.copyObject(other, original, [{ type: CKA.TOKEN, value: true }]);
      expect(copy).not.toBe(original);
      const flags = [CKA.TOKEN, CKA.SENSITIVE, CKA.EXTRACTABLE];
      expect((await module.getAttributeValue(session, copy, flags)).map((b) => b[0])).toEqual([1, 1, 0]);
      expect((await module.getAttributeValue(session, original, flags)).map((b) => b[0])).toEqual([0, 1, 0]);
      expect(await module.findObjects(session, [{ type: CKA.ID, value: id }, { type: CKA.TOKEN, value: true }])).toEqual([copy]);
      // The same key: the copy seals the known answer.
      expect((await module.encrypt(session, gcm, copy, Buffer.alloc(16))).toString('hex')).toBe(sealedZeros);
      await module.destroyObject(session, original);
      // The token object outlives the session object it was copied from.
      expect((await module.encrypt(other, gcm, copy, Buffer.alloc(16), true)).toString('hex')).toBe(sealedZeros);
      await module.destroyObject(session, copy);
    } finally {
      module.closeSession(other);
    }
  });

  it('reports a refused copy as a Pkcs11Error from C_CopyObject, inline or not', async () => {
    const key = await module.createObject(session, aesKeyTemplate(Buffer.alloc(16), [{ type: CKA.SENSITIVE, value: true }]));
    // A copy may not weaken a protection.
    const weakened = await rejection(module.copyObject(session, key, [{ type: CKA.SENSITIVE, value: false }]));
    expect(weakened).toMatchObject({ name: 'Pkcs11Error', code: 'CKR_ATTRIBUTE_READ_ONLY', fn: 'C_CopyObject' });
    await module.destroyObject(session, key);
    const gone = await rejection(module.copyObject(session, key, [{ type: CKA.TOKEN, value: true }]));
    expect(gone).toMatchObject({ name: 'Pkcs11Error', code: 'CKR_OBJECT_HANDLE_INVALID', fn: 'C_CopyObject' });
    expect(thrown(() => module.copyObject(session, key, [{ type: CKA.TOKEN, value: false }], true))).toMatchObject({ code: 'CKR_OBJECT_HANDLE_INVALID', fn: 'C_CopyObject' });
    expect(() => module.copyObject(session, key, 'not a template' as never)).toThrow(TypeError);
  });
});

describe('single-shot cryptography', () => {
  it('AES-GCM encrypts and decrypts a known answer (GCM spec test case 2)', async () => {
    const key = await module.createObject(session, aesKeyTemplate(Buffer.alloc(16)));
    const gcm = { type: CKM.AES_GCM, gcm: { iv: Buffer.alloc(12), tagBits: 128 } };
    const sealed = await module.encrypt(session, gcm, key, Buffer.alloc(16));
    expect(sealed.toString('hex')).toBe('0388dace60b6a392f328c2b971b2fe78' + 'ab6e47d42cec13bdf53a67b21257bddf');
    expect((await module.decrypt(session, gcm, key, sealed, true)).equals(Buffer.alloc(16))).toBe(true);
    const withAad = { type: CKM.AES_GCM, gcm: { iv: Buffer.alloc(12, 1), aad: Buffer.from('header'), tagBits: 128 } };
    const big = Buffer.alloc(1024, 7);
    const out = await module.encrypt(session, withAad, key, big);
    expect(out).toHaveLength(1024 + 16);
    out[3] = (out[3] ?? 0) ^ 1;
    // SoftHSM2 2.6.1 reports a wrong tag as CKR_GENERAL_ERROR; the standard says CKR_ENCRYPTED_DATA_INVALID.
    await expect(module.decrypt(session, withAad, key, out)).rejects.toMatchObject({ name: 'Pkcs11Error', fn: 'C_Decrypt' });
  });

  it('AES-CBC-PAD takes its IV as a raw parameter', async () => {
    const key = await module.createObject(session, aesKeyTemplate(Buffer.alloc(32, 9)));
    const cbc = { type: CKM.AES_CBC_PAD, parameter: Buffer.alloc(16, 3) };
    const ciphertext = await module.encrypt(session, cbc, key, Buffer.from('seventeen bytes!!'));
    expect(ciphertext).toHaveLength(32);
    expect((await module.decrypt(session, cbc, key, ciphertext)).toString()).toBe('seventeen bytes!!');
  });

  it('wraps and unwraps with RFC 3394 and RFC 5649 known answers', async () => {
    const kek3394 = await module.createObject(session, aesKeyTemplate(hex('000102030405060708090A0B0C0D0E0F')));
    const target3394 = await module.createObject(session, [
      ...aesKeyTemplate(hex('00112233445566778899AABBCCDDEEFF')),
      { type: CKA.EXTRACTABLE, value: true },
    ]);
    const wrapped = await module.wrapKey(session, { type: CKM.AES_KEY_WRAP }, kek3394, target3394);
    expect(wrapped.toString('hex').toUpperCase()).toBe('1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5');

    // RFC 5649 section 6, first vector (192-bit KEK, 20-byte key).
    const kek5649 = await module.createObject(session, aesKeyTemplate(hex('5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8')));
    const rfcWrapped = hex('138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a');
    const unwrapped = await module.unwrapKey(session, { type: CKM.AES_KEY_WRAP_PAD }, kek5649, rfcWrapped, [
      { type: CKA.CLASS, value: CKO.SECRET_KEY },
      { type: CKA.KEY_TYPE, value: CKK.GENERIC_SECRET },
      { type: CKA.TOKEN, value: false },
      { type: CKA.SENSITIVE, value: false },
      { type: CKA.EXTRACTABLE, value: true },
    ]);
    const [value] = await module.getAttributeValue(session, unwrapped, [CKA.VALUE]);
    expect(value?.toString('hex')).toBe('c37b7e6492584340bed12207808941155068f738');

    // Wrapping a key whose length is a multiple of 8 matches OpenSSL's id-aes192-wrap-pad.
    const thirtyTwo = Buffer.alloc(32, 0x5a);
    const secret = await module.createObject(session, [
      { type: CKA.CLASS, value: CKO.SECRET_KEY },
      { type: CKA.KEY_TYPE, value: CKK.GENERIC_SECRET },
      { type: CKA.TOKEN, value: false },
      { type: CKA.EXTRACTABLE, value: true },
      { type: CKA.VALUE, value: thirtyTwo },
    ]);
    const padded = await module.wrapKey(session, { type: CKM.AES_KEY_WRAP_PAD }, kek5649, secret, true);
    const cipher = createCipheriv('id-aes192-wrap-pad', hex('5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8'), hex('a65959a6'));
    expect(padded.equals(Buffer.concat([cipher.update(thirtyTwo), cipher.final()]))).toBe(true);
    await expect(module.unwrapKey(session, { type: CKM.AES_KEY_WRAP_PAD }, kek5649, Buffer.alloc(32), [
      { type: CKA.CLASS, value: CKO.SECRET_KEY },
      { type: CKA.KEY_TYPE, value: CKK.GENERIC_SECRET },
      { type: CKA.TOKEN, value: false },
    ])).rejects.toMatchObject({ name: 'Pkcs11Error', fn: 'C_UnwrapKey' });
  });

  it('records that SoftHSM2 2.6 zero-pads a key to 8 bytes before an RFC 5649 wrap', async () => {
    const library = module.getInfo();
    if (library.manufacturerId !== 'SoftHSM' || library.libraryVersion.minor !== 6) return;
    const kekValue = Buffer.alloc(32, 1);
    const kek = await module.createObject(session, aesKeyTemplate(kekValue));
    const twenty = Buffer.alloc(20, 0x33);
    const key = await module.createObject(session, [
      { type: CKA.CLASS, value: CKO.SECRET_KEY },
      { type: CKA.KEY_TYPE, value: CKK.GENERIC_SECRET },
      { type: CKA.TOKEN, value: false },
      { type: CKA.EXTRACTABLE, value: true },
      { type: CKA.VALUE, value: twenty },
    ]);
    const wrapped = await module.wrapKey(session, { type: CKM.AES_KEY_WRAP_PAD }, kek, key);
    const cipher = createCipheriv('id-aes256-wrap-pad', kekValue, hex('a65959a6'));
    const zeroPadded = Buffer.concat([cipher.update(Buffer.concat([twenty, Buffer.alloc(4)])), cipher.final()]);
    // If this starts failing, the module wraps per RFC 5649 and docs/token-notes.md needs updating.
    expect(wrapped.equals(zeroPadded)).toBe(true);
  });

  it('HMAC-SHA256 signs a known answer (RFC 4231 test case 6) and verifies', async () => {
    // SoftHSM2 wants an HMAC key at least as long as the digest, so test case 6 (131-byte key).
    const key = await module.createObject(session, [
      { type: CKA.CLASS, value: CKO.SECRET_KEY },
      { type: CKA.KEY_TYPE, value: CKK.GENERIC_SECRET },
      { type: CKA.TOKEN, value: false },
      { type: CKA.SIGN, value: true },
      { type: CKA.VERIFY, value: true },
      { type: CKA.VALUE, value: Buffer.alloc(131, 0xaa) },
    ]);
    const data = Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First');
    const mac = await module.sign(session, { type: CKM.SHA256_HMAC }, key, data, true);
    expect(mac.toString('hex')).toBe('60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54');
    expect(await module.verify(session, { type: CKM.SHA256_HMAC }, key, data, mac)).toBe(true);
    expect(await module.verify(session, { type: CKM.SHA256_HMAC }, key, Buffer.from('other'), mac)).toBe(false);
  });

  describe('with an RSA-2048 key pair', () => {
    let pair: { publicKey: number; privateKey: number };
    let publicKeyPem: ReturnType<typeof createPublicKey>;

    beforeAll(async () => {
      pair = await module.generateKeyPair(
        session,
        { type: CKM.RSA_PKCS_KEY_PAIR_GEN },
        [
          { type: CKA.TOKEN, value: false },
          { type: CKA.MODULUS_BITS, value: 2048 },
          { type: CKA.PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          { type: CKA.VERIFY, value: true },
          { type: CKA.ENCRYPT, value: true },
          { type: CKA.WRAP, value: true },
        ],
        [
          { type: CKA.TOKEN, value: false },
          { type: CKA.SENSITIVE, value: true },
          { type: CKA.SIGN, value: true },
          { type: CKA.DECRYPT, value: true },
          { type: CKA.UNWRAP, value: true },
        ],
      );
      const [n, e] = await module.getAttributeValue(session, pair.publicKey, [CKA.MODULUS, CKA.PUBLIC_EXPONENT]);
      publicKeyPem = createPublicKey({ key: { kty: 'RSA', n: n!.toString('base64url'), e: e!.toString('base64url') }, format: 'jwk' });
    });

    it('signs PKCS#1 v1.5 with a 256-byte signature that node:crypto verifies', async () => {
      const data = Buffer.from('message');
      const signature = await module.sign(session, { type: CKM.SHA256_RSA_PKCS }, pair.privateKey, data);
      expect(signature).toHaveLength(256);
      expect(createVerify('sha256').update(data).verify(publicKeyPem, signature)).toBe(true);
      expect(await module.verify(session, { type: CKM.SHA256_RSA_PKCS }, pair.publicKey, data, signature, true)).toBe(true);
      expect(await module.verify(session, { type: CKM.SHA256_RSA_PKCS }, pair.publicKey, data, signature.subarray(1))).toBe(false);
    });

    it('signs PSS with hash, MGF and salt length parameters', async () => {
      const digest = createHash('sha256').update('pss message').digest();
      const pss = { type: CKM.RSA_PKCS_PSS, pss: { hashAlg: CKM.SHA256, mgf: CKG.MGF1_SHA256, saltLength: 32 } };
      const signature = await module.sign(session, pss, pair.privateKey, digest);
      const ok = nodeVerify('sha256', Buffer.from('pss message'), { key: publicKeyPem, padding: 6, saltLength: 32 }, signature);
      expect(ok).toBe(true);
    });

    it('encrypts and decrypts OAEP (SHA-1) with and without a label', async () => {
      const oaep = { type: CKM.RSA_PKCS_OAEP, oaep: { hashAlg: CKM.SHA_1, mgf: CKG.MGF1_SHA1 } };
      const ciphertext = await module.encrypt(session, oaep, pair.publicKey, Buffer.from('secret'));
      expect(ciphertext).toHaveLength(256);
      expect((await module.decrypt(session, oaep, pair.privateKey, ciphertext)).toString()).toBe('secret');
      const labelled = { type: CKM.RSA_PKCS_OAEP, oaep: { hashAlg: CKM.SHA_1, mgf: CKG.MGF1_SHA1, source: Buffer.from('label') } };
      // SoftHSM2 2.6.1 (the pinned version) takes OAEP with SHA-1 and no label only, and says
      // CKR_ARGUMENTS_BAD otherwise: the refusals show that the label and the hash reach the token.
      await expect(module.encrypt(session, labelled, pair.publicKey, Buffer.from('secret'))).rejects.toMatchObject({ code: 'CKR_ARGUMENTS_BAD', fn: 'C_EncryptInit' });
      const sha256 = { type: CKM.RSA_PKCS_OAEP, oaep: { hashAlg: CKM.SHA256, mgf: CKG.MGF1_SHA256 } };
      await expect(module.encrypt(session, sha256, pair.publicKey, Buffer.from('x'))).rejects.toMatchObject({ code: 'CKR_ARGUMENTS_BAD', fn: 'C_EncryptInit' });
    });

    it('wraps an RSA private key longer than the first output guess', async () => {
      const kek = await module.generateKey(session, { type: CKM.AES_KEY_GEN }, [
        { type: CKA.TOKEN, value: false },
        { type: CKA.VALUE_LEN, value: 32 },
        { type: CKA.WRAP, value: true },
        { type: CKA.UNWRAP, value: true },
      ]);
      const extractable = await module.generateKeyPair(
        session,
        { type: CKM.RSA_PKCS_KEY_PAIR_GEN },
        [{ type: CKA.TOKEN, value: false }, { type: CKA.MODULUS_BITS, value: 2048 }],
        [{ type: CKA.TOKEN, value: false }, { type: CKA.SENSITIVE, value: true }, { type: CKA.EXTRACTABLE, value: true }],
      );
      const wrapped = await module.wrapKey(session, { type: CKM.AES_KEY_WRAP_PAD }, kek, extractable.privateKey);
      expect(wrapped.length).toBeGreaterThan(1100);
      expect(wrapped.length % 8).toBe(0);
      await expect(module.wrapKey(session, { type: CKM.AES_KEY_WRAP_PAD }, kek, pair.privateKey)).rejects.toMatchObject({
        code: 'CKR_KEY_UNEXTRACTABLE',
        fn: 'C_WrapKey',
      });
    });

    it('passes CKM_RSA_AES_KEY_WRAP to the token, which SoftHSM2 2.6.1 lacks (fault-module.test.ts checks its parameters)', async () => {
      const mechanism = { type: CKM.RSA_AES_KEY_WRAP, rsaAesKeyWrap: { aesKeyBits: 256, oaep: { hashAlg: CKM.SHA_1, mgf: CKG.MGF1_SHA1 } } };
      const error = await rejection(module.unwrapKey(session, mechanism, pair.privateKey, Buffer.alloc(300), [{ type: CKA.TOKEN, value: false }]));
      expect(isPkcs11Error(error)).toBe(true);
      expect(error).toMatchObject({ code: 'CKR_MECHANISM_INVALID', fn: 'C_UnwrapKey' });
    });
  });

  it('signs ECDSA P-521 with a 132-byte raw r||s signature that node:crypto verifies', async () => {
    const pair = await module.generateKeyPair(
      session,
      { type: CKM.EC_KEY_PAIR_GEN },
      [{ type: CKA.TOKEN, value: false }, { type: CKA.EC_PARAMS, value: hex('06052b81040023') }, { type: CKA.VERIFY, value: true }],
      [{ type: CKA.TOKEN, value: false }, { type: CKA.SENSITIVE, value: true }, { type: CKA.SIGN, value: true }],
    );
    const digest = createHash('sha512').update('ec').digest();
    const signature = await module.sign(session, { type: CKM.ECDSA }, pair.privateKey, digest);
    expect(signature).toHaveLength(132);
    const [point] = await module.getAttributeValue(session, pair.publicKey, [CKA.EC_POINT]);
    const raw = point!.subarray(point!.length - 133);
    const jwk = { kty: 'EC', crv: 'P-521', x: raw.subarray(1, 67).toString('base64url'), y: raw.subarray(67).toString('base64url') };
    const ok = nodeVerify('sha512', Buffer.from('ec'), { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, signature);
    expect(ok).toBe(true);
  });
});

it('derives an ECDH shared secret (CK_ECDH1_DERIVE_PARAMS) equal to node:crypto\'s, with the peer point bare or DER-wrapped', async () => {
  const peer = createECDH('prime256v1');
  peer.generateKeys();
  const pair = await module.generateKeyPair(
    session,
    { type: CKM.EC_KEY_PAIR_GEN },
    [{ type: CKA.TOKEN, value: false }, { type: CKA.EC_PARAMS, value: hex('06082a8648ce3d030107') }],
    [{ type: CKA.TOKEN, value: false }, { type: CKA.SENSITIVE, value: true }, { type: CKA.DERIVE, value: true }],
  );
  const [point] = await module.getAttributeValue(session, pair.publicKey, [CKA.EC_POINT]);
  const expected = peer.computeSecret(point!.subarray(point!.length - 65));
  const secretTemplate = [
    { type: CKA.CLASS, value: CKO.SECRET_KEY },
    { type: CKA.KEY_TYPE, value: CKK.GENERIC_SECRET },
    { type: CKA.TOKEN, value: false },
    { type: CKA.SENSITIVE, value: false },
    { type: CKA.EXTRACTABLE, value: true },
    { type: CKA.VALUE_LEN, value: 32 },
  ];
  const bare = peer.getPublicKey();
  for (const publicData of [bare, Buffer.concat([Buffer.from([0x04, bare.length]), bare])]) {
    const derived = await module.deriveKey(session, { type: CKM.ECDH1_DERIVE, ecdh1: { kdf: 1, publicData } }, pair.privateKey, secretTemplate);
    const [value] = await module.getAttributeValue(session, derived, [CKA.VALUE]);
    expect(value).toEqual(expected);
  }
  const refused = await rejection(module.deriveKey(session, { type: CKM.ECDH1_DERIVE, ecdh1: { kdf: 1, publicData: Buffer.alloc(65, 7) } }, pair.privateKey, secretTemplate));
  expect(refused).toMatchObject({ fn: 'C_DeriveKey' });
  expect(() => module.deriveKey(session, { type: CKM.ECDH1_DERIVE, ecdh1: { kdf: 1 } } as never, pair.privateKey, secretTemplate)).toThrow(/mechanism.ecdh1.publicData must be a Buffer/);
});

describe('bad arguments', () => {
  it('throws TypeErrors that name the argument, and keeps running', async () => {
    expect(() => module.getSlotInfo('1' as unknown as number)).toThrow(/slot must be a number/);
    expect(() => module.openSession(-1)).toThrow(/slot must be a non-negative integer/);
    expect(() => module.openSession(2 ** 60)).toThrow(TypeError);
    expect(() => module.openSession(1.5)).toThrow(TypeError);
    expect(() => module.sign(session, { type: CKM.SHA256_HMAC }, 1, 'text' as unknown as Buffer)).toThrow(/data must be a Buffer/);
    expect(() => module.sign(session, {} as never, 1, Buffer.alloc(1))).toThrow(/mechanism.type must be a number/);
    expect(() => module.sign(session, null as never, 1, Buffer.alloc(1))).toThrow(/mechanism must be an object/);
    expect(() => module.encrypt(session, { type: CKM.AES_GCM, gcm: { tagBits: 128 } } as never, 1, Buffer.alloc(1))).toThrow(/mechanism.gcm.iv must be a Buffer/);
    expect(() => module.encrypt(session, { type: 1, parameter: Buffer.alloc(1), gcm: {} } as never, 1, Buffer.alloc(1))).toThrow(/at most one of/);
    expect(() => module.createObject(session, 'x' as never)).toThrow(/template must be an array/);
    expect(() => module.createObject(session, [{ type: CKA.LABEL, value: {} }] as never)).toThrow(/template\[0\]\.value must be/);
    expect(() => module.createObject(session, [{ value: true }] as never)).toThrow(/template\[0\]\.type must be a number/);
    expect(() => module.findObjects(session, [], 'yes' as never)).toThrow(/inline must be a boolean/);
    expect(() => module.getAttributeValue(session, 1, 'x' as never)).toThrow(TypeError);
    expect(() => module.login(session, CKU.USER, 1234 as never)).toThrow(/pin must be a Buffer or a string/);
    expect(await module.generateRandom(session, 4)).toHaveLength(4);
  });

  it('rejects with a Pkcs11Error for a bad session or handle', async () => {
    await expect(module.sign(999999, { type: CKM.SHA256_HMAC }, 1, Buffer.alloc(1))).rejects.toMatchObject({
      name: 'Pkcs11Error',
      code: 'CKR_SESSION_HANDLE_INVALID',
      fn: 'C_SignInit',
    });
    expect(() => module.encrypt(session, { type: CKM.AES_GCM, gcm: { iv: Buffer.alloc(12), tagBits: 128 } }, 999999, Buffer.alloc(1), true)).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/^CKR_(KEY|OBJECT)_HANDLE_INVALID$/), fn: 'C_EncryptInit' }),
    );
    const key = await module.generateKey(session, { type: CKM.GENERIC_SECRET_KEY_GEN }, [
      { type: CKA.TOKEN, value: false },
      { type: CKA.VALUE_LEN, value: 32 },
      { type: CKA.SIGN, value: true },
    ]);
    await expect(module.sign(session, { type: 0x7fffffff }, key, Buffer.alloc(1))).rejects.toMatchObject({
      code: 'CKR_MECHANISM_INVALID',
      fn: 'C_SignInit',
    });
  });
});

describe('key pair generation of every curve', () => {
  it.each([
    ['P-256', '06082a8648ce3d030107', 64],
    ['P-384', '06052b81040022', 96],
    ['secp256k1', '06052b8104000a', 64],
  ])('%s signs with the right signature length', async (_name, params, length) => {
    const pair = await module.generateKeyPair(
      session,
      { type: CKM.EC_KEY_PAIR_GEN },
      [{ type: CKA.TOKEN, value: false }, { type: CKA.EC_PARAMS, value: hex(params) }, { type: CKA.VERIFY, value: true }],
      [{ type: CKA.TOKEN, value: false }, { type: CKA.SIGN, value: true }],
    );
    const signature = await module.sign(session, { type: CKM.ECDSA }, pair.privateKey, Buffer.alloc(32, 1), true);
    expect(signature).toHaveLength(length);
    expect(await module.verify(session, { type: CKM.ECDSA }, pair.publicKey, Buffer.alloc(32, 1), signature, true)).toBe(true);
  });
});

// Keeps node:crypto's generateKeyPairSync import meaningful for a cross-check of our decoder.
it('node:crypto and the token agree on an imported RSA private key', async () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const b = (v: string | undefined) => Buffer.from(v ?? '', 'base64url');
  const handle = await module.createObject(session, [
    { type: CKA.CLASS, value: CKO.PRIVATE_KEY },
    { type: CKA.KEY_TYPE, value: CKK.RSA },
    { type: CKA.TOKEN, value: false },
    { type: CKA.SENSITIVE, value: true },
    { type: CKA.SIGN, value: true },
    { type: CKA.MODULUS, value: b(jwk.n) },
    { type: CKA.PUBLIC_EXPONENT, value: b(jwk.e) },
    { type: CKA.PRIVATE_EXPONENT, value: b(jwk.d) },
    { type: CKA.PRIME_1, value: b(jwk.p) },
    { type: CKA.PRIME_2, value: b(jwk.q) },
    { type: CKA.EXPONENT_1, value: b(jwk.dp) },
    { type: CKA.EXPONENT_2, value: b(jwk.dq) },
    { type: CKA.COEFFICIENT, value: b(jwk.qi) },
  ]);
  const signature = await module.sign(session, { type: CKM.SHA256_RSA_PKCS }, handle, Buffer.from('x'));
  expect(createVerify('sha256').update('x').verify(createPublicKey(privateKey), signature)).toBe(true);
});
