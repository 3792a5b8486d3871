// libmhsm-pkcs11.so through pkcs11js from Node, in this process: the calls a program makes
// itself, with the return values checked. Attributes as the token states them; AES-GCM and
// AES-CBC and RSA-OAEP against the REST API's own operations on the same keys; several threads
// signing at once on sessions of their own; C_Initialize and C_Finalize again and again.
import { constants, createCipheriv, createDecipheriv, publicEncrypt, randomBytes, verify } from 'node:crypto';
import path from 'node:path';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import pkcs11js from 'pkcs11js';
import { beforeAll, describe, expect, it } from 'vitest';
import { PKCS11_LIBRARY, providerFixture, publicKeyOverRest, skipProvider, writeProviderConfig } from '../helpers/pkcs11-provider.js';
import { runCli } from '../helpers/cli.js';
import { accessToken, callJson } from '../helpers/rest.js';

const hsm = providerFixture('mhsm-p11js-');
let bearer: string;

beforeAll(async () => {
  process.env.MHSM_PKCS11_CONF = await writeProviderConfig(hsm.emulator.dataDir, path.join(hsm.scratch, 'pkcs11.json'));
  bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
  for (const [name, body] of [
    ['js-aes', { kty: 'oct-HSM', key_size: 256 }],
    ['js-aes128', { kty: 'oct-HSM', key_size: 128 }],
    ['js-rsa', { kty: 'RSA-HSM', key_size: 2048 }],
    ['js-ec', { kty: 'EC-HSM', crv: 'P-256' }],
  ] as const) {
    expect((await callJson(hsm.emulator.url, bearer, 'POST', `/keys/${name}/create`, body)).status).toBe(200);
  }
});

function open(): { p11: pkcs11js.PKCS11; session: Buffer; close: () => void } {
  const p11 = new pkcs11js.PKCS11();
  p11.load(PKCS11_LIBRARY);
  p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  const [slot] = p11.C_GetSlotList(true);
  const session = p11.C_OpenSession(slot as Buffer, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  return {
    p11,
    session,
    close: () => {
      p11.C_CloseSession(session);
      p11.C_Finalize();
    },
  };
}

function find(p11: pkcs11js.PKCS11, session: Buffer, template: pkcs11js.Template): Buffer[] {
  p11.C_FindObjectsInit(session, template);
  const found = p11.C_FindObjects(session, 100);
  p11.C_FindObjectsFinal(session);
  return found;
}

const secretOf = (p11: pkcs11js.PKCS11, session: Buffer, label: string) => find(p11, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_LABEL, value: label }])[0] as Buffer;

describe.skipIf(skipProvider)('pkcs11js with libmhsm-pkcs11.so', () => {
  it('reports attributes as the token states them, and never a secret value', () => {
    const { p11, session, close } = open();
    try {
      const aes = secretOf(p11, session, 'js-aes');
      const [valueLen, sensitive, extractable, trusted, local] = p11.C_GetAttributeValue(session, aes, [
        { type: pkcs11js.CKA_VALUE_LEN },
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_WRAP_WITH_TRUSTED },
        { type: pkcs11js.CKA_LOCAL },
      ]).map((a) => a.value as Buffer);
      expect((valueLen as Buffer).readUInt32LE(0)).toBe(32);
      expect([sensitive, extractable, trusted, local].map((b) => (b as Buffer)[0])).toEqual([1, 1, 1, 1]);
      expect(() => p11.C_GetAttributeValue(session, aes, [{ type: pkcs11js.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      const [rsaPrivate] = find(p11, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: 'js-rsa' }]);
      expect(() => p11.C_GetAttributeValue(session, rsaPrivate as Buffer, [{ type: pkcs11js.CKA_PRIVATE_EXPONENT }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      // A template by an attribute only the token states: the 128-bit key and not the 256-bit one.
      const short = find(p11, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_VALUE_LEN, value: 16 }]);
      expect(short).toHaveLength(1);
      expect(p11.C_GetAttributeValue(session, short[0] as Buffer, [{ type: pkcs11js.CKA_LABEL }])[0]?.value?.toString()).toBe('js-aes128');
    } finally {
      close();
    }
  });

  it('generates every size and curve the issue names in the HSM, and signs with each key pair', async () => {
    const { p11, session, close } = open();
    const oid = { 'P-384': '06052b81040022', 'P-521': '06052b81040023', secp256k1: '06052b8104000a' } as const;
    const made: Array<{ name: string; kty: string; hash: string; mechanism: number; input: (data: Buffer) => Buffer }> = [];
    try {
      for (const bits of [3072, 4096]) {
        const name = `js-gen-rsa${bits}`;
        p11.C_GenerateKeyPair(session, { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN }, [{ type: pkcs11js.CKA_LABEL, value: name }, { type: pkcs11js.CKA_MODULUS_BITS, value: bits }, { type: pkcs11js.CKA_VERIFY, value: true }], [{ type: pkcs11js.CKA_SIGN, value: true }]);
        made.push({ name, kty: 'RSA', hash: 'sha384', mechanism: pkcs11js.CKM_SHA384_RSA_PKCS, input: (d) => d });
      }
      for (const [curve, params] of Object.entries(oid)) {
        const name = `js-gen-${curve.toLowerCase()}`;
        p11.C_GenerateKeyPair(session, { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN }, [{ type: pkcs11js.CKA_LABEL, value: name }, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(params, 'hex') }], [{ type: pkcs11js.CKA_SIGN, value: true }]);
        const hash = curve === 'P-384' ? 'sha384' : curve === 'P-521' ? 'sha512' : 'sha256';
        made.push({ name, kty: 'EC', hash, mechanism: hash === 'sha384' ? pkcs11js.CKM_ECDSA_SHA384 : hash === 'sha512' ? pkcs11js.CKM_ECDSA_SHA512 : pkcs11js.CKM_ECDSA_SHA256, input: (d) => d });
      }
      for (const bytes of [16, 24, 32]) {
        const name = `js-gen-aes${bytes * 8}`;
        p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [{ type: pkcs11js.CKA_LABEL, value: name }, { type: pkcs11js.CKA_VALUE_LEN, value: bytes }]);
        const key = (await callJson(hsm.emulator.url, bearer, 'GET', `/keys/${name}`)).body.key;
        expect(key.kty).toBe('oct-HSM');
        expect(p11.C_GetAttributeValue(session, secretOf(p11, session, name), [{ type: pkcs11js.CKA_VALUE_LEN }])[0]?.value?.readUInt32LE(0)).toBe(bytes);
      }
      for (const { name, kty, hash, mechanism } of made) {
        const { jwk, key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, name);
        expect(jwk.kty).toBe(`${kty}-HSM`);
        const [privateKey] = find(p11, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: name }]);
        const data = randomBytes(300);
        p11.C_SignInit(session, { mechanism }, privateKey as Buffer);
        const signature = p11.C_Sign(session, data, Buffer.alloc(1024));
        expect(verify(hash, data, kty === 'EC' ? { key, dsaEncoding: 'ieee-p1363' } : key, signature), name).toBe(true);
      }
    } finally {
      close();
    }
  });

  it('finds every key, past the first page of the key list', async () => {
    for (let i = 0; i < 30; i++) {
      expect((await callJson(hsm.emulator.url, bearer, 'POST', `/keys/page-${i}/create`, { kty: 'oct-HSM', key_size: 128 })).status).toBe(200);
    }
    const { p11, session, close } = open();
    try {
      const labels = find(p11, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }]).map((h) => p11.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_LABEL }])[0]?.value?.toString());
      expect(labels.filter((label) => label?.startsWith('page-')).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `page-${i}`).sort());
    } finally {
      close();
    }
  });

  it('encrypts with AES-GCM in the HSM; the REST API decrypts it, and the other way round', async () => {
    const { p11, session, close } = open();
    try {
      const aes = secretOf(p11, session, 'js-aes');
      const plaintext = randomBytes(1000);
      const iv = randomBytes(12);
      const aad = Buffer.from('header');
      const gcm = { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad, ivBits: 96, tagBits: 128 } as pkcs11js.AesGCM };
      p11.C_EncryptInit(session, gcm, aes);
      const sealed = p11.C_Encrypt(session, plaintext, Buffer.alloc(1100));
      expect(sealed).toHaveLength(1016);
      const opened = await callJson(hsm.emulator.url, bearer, 'POST', '/keys/js-aes/decrypt', { alg: 'A256GCM', value: sealed.subarray(0, 1000).toString('base64url'), iv: iv.toString('base64url'), tag: sealed.subarray(1000).toString('base64url'), aad: aad.toString('base64url') });
      expect(Buffer.from(opened.body.value, 'base64url')).toEqual(plaintext);

      const restSealed = await callJson(hsm.emulator.url, bearer, 'POST', '/keys/js-aes/encrypt', { alg: 'A256GCM', value: plaintext.toString('base64url'), aad: aad.toString('base64url') });
      const restIv = Buffer.from(restSealed.body.iv, 'base64url');
      const input = Buffer.concat([Buffer.from(restSealed.body.value, 'base64url'), Buffer.from(restSealed.body.tag, 'base64url')]);
      p11.C_DecryptInit(session, { ...gcm, parameter: { ...gcm.parameter, iv: restIv } as pkcs11js.AesGCM }, aes);
      expect(p11.C_Decrypt(session, input, Buffer.alloc(1100))).toEqual(plaintext);

      // A tampered ciphertext does not authenticate: the caller's data is invalid, nothing crashes.
      input[0] = (input[0] as number) ^ 1;
      p11.C_DecryptInit(session, { ...gcm, parameter: { ...gcm.parameter, iv: restIv } as pkcs11js.AesGCM }, aes);
      expect(() => p11.C_Decrypt(session, input, Buffer.alloc(1100))).toThrow(/CKR_ENCRYPTED_DATA_INVALID/);
    } finally {
      close();
    }
  });

  it('encrypts with AES-CBC in the HSM, as any AES-CBC would', () => {
    const { p11, session, close } = open();
    try {
      const aes = secretOf(p11, session, 'js-aes128');
      const plaintext = randomBytes(64);
      const iv = randomBytes(16);
      p11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_CBC, parameter: iv }, aes);
      const sealed = p11.C_Encrypt(session, plaintext, Buffer.alloc(64));
      p11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_AES_CBC, parameter: iv }, aes);
      expect(p11.C_Decrypt(session, sealed, Buffer.alloc(64))).toEqual(plaintext);
      // Its ciphertext chains as CBC does: the second block is the first's encryption under the key, XORed.
      p11.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_CBC, parameter: sealed.subarray(0, 16) }, aes);
      expect(p11.C_Encrypt(session, plaintext.subarray(16, 32), Buffer.alloc(16))).toEqual(sealed.subarray(16, 32));
    } finally {
      close();
    }
  });

  it('decrypts RSA-OAEP (SHA-1 and SHA-256) and PKCS#1 v1.5 made with the public key from REST', async () => {
    const { key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'js-rsa');
    const { p11, session, close } = open();
    try {
      const [rsa] = find(p11, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: 'js-rsa' }]);
      const secret = randomBytes(32);
      const cases = [
        { hash: 'sha1', params: { hashAlg: pkcs11js.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1 } },
        { hash: 'sha256', params: { hashAlg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256 } },
      ];
      for (const { hash, params } of cases) {
        const sealed = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, secret);
        p11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, ...params, source: 0 } as pkcs11js.RsaOAEP }, rsa as Buffer);
        expect(p11.C_Decrypt(session, sealed, Buffer.alloc(256)), hash).toEqual(secret);
      }
      const pkcs1 = publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, secret);
      p11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_PKCS }, rsa as Buffer);
      expect(p11.C_Decrypt(session, pkcs1, Buffer.alloc(256))).toEqual(secret);
    } finally {
      close();
    }
  });

  it('wraps a session key under an AES key in the HSM (RFC 3394 and 5649); the REST API unwraps it, and the other way round', async () => {
    const { p11, session, close } = open();
    try {
      const kek = secretOf(p11, session, 'js-aes');
      const cek = randomBytes(32);
      const subject = p11.C_CreateObject(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_VALUE, value: cek },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
      ]);
      for (const [mechanism, alg] of [[pkcs11js.CKM_AES_KEY_WRAP, 'CKM_AES_KEY_WRAP'], [pkcs11js.CKM_AES_KEY_WRAP_PAD, 'CKM_AES_KEY_WRAP_PAD']] as const) {
        const wrapped = p11.C_WrapKey(session, { mechanism }, kek, subject, Buffer.alloc(64));
        expect(wrapped).toHaveLength(40);
        const opened = await callJson(hsm.emulator.url, bearer, 'POST', '/keys/js-aes/unwrapkey', { alg, value: wrapped.toString('base64url') });
        expect(Buffer.from(opened.body.value, 'base64url'), alg).toEqual(cek);
      }
      // A key the REST API wrapped comes back as a session object: its value readable only when the template says so.
      const other = randomBytes(20);
      const restWrapped = Buffer.from((await callJson(hsm.emulator.url, bearer, 'POST', '/keys/js-aes/wrapkey', { alg: 'CKM_AES_KEY_WRAP_PAD', value: other.toString('base64url') })).body.value, 'base64url');
      const readable = p11.C_UnwrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, kek, restWrapped, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
        { type: pkcs11js.CKA_SENSITIVE, value: false },
      ]);
      expect(p11.C_GetAttributeValue(session, readable, [{ type: pkcs11js.CKA_VALUE }])[0]?.value).toEqual(other);
      const sealed = p11.C_UnwrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, kek, restWrapped, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }]);
      expect(() => p11.C_GetAttributeValue(session, sealed, [{ type: pkcs11js.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      expect(p11.C_GetAttributeValue(session, sealed, [{ type: pkcs11js.CKA_VALUE_LEN }])[0]?.value?.readUInt32LE(0)).toBe(20);
      // A blob that does not unwrap under the key is the caller's error, and makes no object.
      restWrapped[3] = (restWrapped[3] as number) ^ 1;
      expect(() => p11.C_UnwrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, kek, restWrapped, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }])).toThrow(/CKR_WRAPPED_KEY_INVALID/);
      expect(find(p11, session, [{ type: pkcs11js.CKA_TOKEN, value: false }])).toHaveLength(3);
      // A boolean that is not one CK_BBOOL is refused, not read as false (which would make the key readable).
      expect(() => p11.C_CreateObject(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_VALUE, value: cek }, { type: pkcs11js.CKA_SENSITIVE, value: Buffer.from([1, 0, 0, 0]) }])).toThrow(/CKR_ATTRIBUTE_VALUE_INVALID/);
      // A key in the HSM is never the subject of C_WrapKey.
      expect(() => p11.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, kek, secretOf(p11, session, 'js-aes128'), Buffer.alloc(64))).toThrow(/CKR_KEY_UNEXTRACTABLE/);
    } finally {
      close();
    }
    // Session objects go with their session.
    const again = open();
    try {
      expect(find(again.p11, again.session, [{ type: pkcs11js.CKA_TOKEN, value: false }])).toHaveLength(0);
    } finally {
      again.close();
    }
  });

  it('encrypts here with a content key the HSM unwrapped, as any client of unwrapKey does; node:crypto agrees', async () => {
    const { p11, session, close } = open();
    try {
      const cek = randomBytes(32);
      const blob = Buffer.from((await callJson(hsm.emulator.url, bearer, 'POST', '/keys/js-aes/wrapkey', { alg: 'CKM_AES_KEY_WRAP', value: cek.toString('base64url') })).body.value, 'base64url');
      const template = [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: true },
      ];
      const dek = p11.C_UnwrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, secretOf(p11, session, 'js-aes'), blob, template);
      const plaintext = randomBytes(300);
      const iv = randomBytes(12);
      const aad = Buffer.from('row 17');
      const gcm = { mechanism: pkcs11js.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad, ivBits: 96, tagBits: 128 } as pkcs11js.AesGCM };
      p11.C_EncryptInit(session, gcm, dek);
      const sealed = p11.C_Encrypt(session, plaintext, Buffer.alloc(400));
      const decipher = createDecipheriv('aes-256-gcm', cek, iv).setAAD(aad).setAuthTag(sealed.subarray(-16));
      expect(Buffer.concat([decipher.update(sealed.subarray(0, -16)), decipher.final()])).toEqual(plaintext);
      p11.C_DecryptInit(session, gcm, dek);
      expect(p11.C_Decrypt(session, sealed, Buffer.alloc(400))).toEqual(plaintext);

      const cbcIv = randomBytes(16);
      const nodeCbc = createCipheriv('aes-256-cbc', cek, cbcIv);
      const padded = Buffer.concat([nodeCbc.update(plaintext), nodeCbc.final()]);
      p11.C_DecryptInit(session, { mechanism: pkcs11js.CKM_AES_CBC_PAD, parameter: cbcIv }, dek);
      expect(p11.C_Decrypt(session, padded, Buffer.alloc(400))).toEqual(plaintext);
      // A tampered tag does not authenticate.
      sealed[sealed.length - 1] = (sealed[sealed.length - 1] as number) ^ 1;
      p11.C_DecryptInit(session, gcm, dek);
      expect(() => p11.C_Decrypt(session, sealed, Buffer.alloc(400))).toThrow(/CKR_ENCRYPTED_DATA_INVALID/);
      // A session key made without CKA_ENCRYPT does not encrypt.
      const bare = p11.C_CreateObject(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES }, { type: pkcs11js.CKA_VALUE, value: cek }]);
      expect(() => p11.C_EncryptInit(session, gcm, bare)).toThrow(/CKR_KEY_FUNCTION_NOT_PERMITTED/);
    } finally {
      close();
    }
  });

  it('wraps with the RSA public key and unwraps RSA-OAEP in the HSM', async () => {
    const { key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'js-rsa');
    const { p11, session, close } = open();
    try {
      const [publicKey] = find(p11, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }, { type: pkcs11js.CKA_LABEL, value: 'js-rsa' }]);
      const [privateKey] = find(p11, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: 'js-rsa' }]);
      const oaep = { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: pkcs11js.CKM_SHA256, mgf: pkcs11js.CKG_MGF1_SHA256, source: 0 } as pkcs11js.RsaOAEP };
      const cek = randomBytes(32);
      const subject = p11.C_CreateObject(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES }, { type: pkcs11js.CKA_VALUE, value: cek }]);
      const wrapped = p11.C_WrapKey(session, oaep, publicKey as Buffer, subject, Buffer.alloc(256));
      const opened = await callJson(hsm.emulator.url, bearer, 'POST', '/keys/js-rsa/unwrapkey', { alg: 'RSA-OAEP-256', value: wrapped.toString('base64url') });
      expect(Buffer.from(opened.body.value, 'base64url')).toEqual(cek);

      const other = randomBytes(24);
      const blob = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, other);
      const unwrapped = p11.C_UnwrapKey(session, oaep, privateKey as Buffer, blob, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES }, { type: pkcs11js.CKA_SENSITIVE, value: false }]);
      expect(p11.C_GetAttributeValue(session, unwrapped, [{ type: pkcs11js.CKA_VALUE }])[0]?.value).toEqual(other);
    } finally {
      close();
    }
  });

  it('signs from four threads at once, each on its own session', async () => {
    const { key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'js-ec');
    const { close } = open();
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const pkcs11js = require(workerData.pkcs11js);
      const p11 = new pkcs11js.PKCS11();
      p11.load(workerData.library);
      try { p11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK }); } catch (e) { if (!/ALREADY_INITIALIZED/.test(e.message)) throw e; }
      const [slot] = p11.C_GetSlotList(true);
      const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      p11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: 'js-ec' }]);
      const [key] = p11.C_FindObjects(session, 1);
      p11.C_FindObjectsFinal(session);
      const signatures = [];
      for (let i = 0; i < 15; i++) {
        const data = Buffer.from('thread ' + workerData.n + ' message ' + i);
        p11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA_SHA256 }, key);
        signatures.push([data.toString('hex'), p11.C_Sign(session, data, Buffer.alloc(64)).toString('hex')]);
      }
      p11.C_CloseSession(session);
      parentPort.postMessage(signatures);
    `;
    try {
      const runs = await Promise.all(
        [0, 1, 2, 3].map(
          (n) =>
            new Promise<Array<[string, string]>>((resolve, reject) => {
              const worker = new Worker(code, { eval: true, env: SHARE_ENV, workerData: { n, library: PKCS11_LIBRARY, pkcs11js: require.resolve('pkcs11js') } });
              worker.once('message', resolve);
              worker.once('error', reject);
            }),
        ),
      );
      const all = runs.flat();
      expect(all).toHaveLength(60);
      for (const [data, signature] of all) {
        expect(verify('sha256', Buffer.from(data, 'hex'), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'hex'))).toBe(true);
      }
    } finally {
      close();
    }
  });

  it("gets a new access token when the emulator's clock has run past the one it holds", async () => {
    const { p11, session, close } = open();
    try {
      const [ec] = find(p11, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: 'js-ec' }]);
      const sign = () => {
        p11.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA_SHA256 }, ec as Buffer);
        return p11.C_Sign(session, Buffer.from('before and after'), Buffer.alloc(64));
      };
      expect(sign()).toHaveLength(64);
      // Two hours on: the token the library holds (an hour's) has expired for the emulator.
      const shifted = await runCli(['clock', 'shift', '--seconds', '7200', '--data-dir', hsm.emulator.dataDir]);
      expect(shifted.code, shifted.stderr).toBe(0);
      const stale = await callJson(hsm.emulator.url, bearer, 'GET', '/keys/js-ec');
      expect(stale.status).toBe(401);
      expect(sign()).toHaveLength(64);
    } finally {
      close();
    }
    bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
  });

  it('initializes and finalizes again and again in one process, working each time', () => {
    for (let round = 0; round < 3; round++) {
      const { p11, session, close } = open();
      const random = p11.C_GenerateRandom(session, Buffer.alloc(16));
      expect(random).toHaveLength(16);
      expect(() => p11.C_Initialize()).toThrow(/CKR_CRYPTOKI_ALREADY_INITIALIZED/);
      close();
      expect(() => p11.C_GetSlotList(true)).toThrow(/CKR_CRYPTOKI_NOT_INITIALIZED/);
    }
  });
});
