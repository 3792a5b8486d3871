// A module that reports impossible lengths (test/native/fault-module/, over SoftHSM2) gets a
// rejected promise or a thrown error naming the function: never a call left pending, never a
// crashed process, and never a session left in the middle of an operation.
import { createCipheriv, createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type NativeModule, loadNativeModule } from '../../src/native/addon.js';
import { CKA, CKM, CKO } from '../../src/token/constants.js';
import { aesKeyTemplate, hex, openUserSession, slotByLabel } from '../helpers/pkcs11.js';
import { type TestToken, createTestToken } from '../helpers/test-token.js';
import {
  type LengthFault,
  type OutputOp,
  buildFaultModule,
  lengthFault,
  rejectionWithin,
  setFault,
} from './fault-module/fault-module.js';

interface OutputCall {
  fn: string;
  run(inline: boolean): Buffer | Promise<Buffer>;
  /** Checks the output of a call made with every fault off. */
  check(output: Buffer): Promise<void>;
}

let testToken: TestToken | undefined;
let module: NativeModule | undefined;
let slot: number;
let session: number;
let publicKey: number;
let searched: number;
let calls: Record<OutputOp, OutputCall>;

const SEARCH_LABEL = 'fault-module search target';

beforeAll(async () => {
  testToken = await createTestToken();
  module = loadNativeModule(buildFaultModule(testToken.dataDir));
  module.initialize();
  const m = module;
  slot = await slotByLabel(m, testToken.label);
  session = await openUserSession(m, slot, testToken.pin);

  const pair = await m.generateKeyPair(
    session,
    { type: CKM.RSA_PKCS_KEY_PAIR_GEN },
    [{ type: CKA.TOKEN, value: false }, { type: CKA.MODULUS_BITS, value: 2048 }, { type: CKA.VERIFY, value: true }],
    [{ type: CKA.TOKEN, value: false }, { type: CKA.SIGN, value: true }],
  );
  publicKey = pair.publicKey;
  const aesValue = Buffer.alloc(32, 7);
  const aes = await m.createObject(session, aesKeyTemplate(aesValue));
  const cbc = { type: CKM.AES_CBC_PAD, parameter: Buffer.alloc(16, 1) };
  const plaintext = Buffer.from('a plaintext the module must not leave half-decrypted');
  const cipher = createCipheriv('aes-256-cbc', aesValue, Buffer.alloc(16, 1));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  // RFC 3394 section 4.1.
  const kek = await m.createObject(session, aesKeyTemplate(hex('000102030405060708090A0B0C0D0E0F')));
  const target = await m.createObject(session, aesKeyTemplate(hex('00112233445566778899AABBCCDDEEFF'), [{ type: CKA.EXTRACTABLE, value: true }]));
  searched = await m.createObject(session, [
    { type: CKA.CLASS, value: CKO.DATA },
    { type: CKA.TOKEN, value: false },
    { type: CKA.LABEL, value: SEARCH_LABEL },
  ]);

  const message = Buffer.from('sign me');
  const sha256Rsa = { type: CKM.SHA256_RSA_PKCS };
  calls = {
    sign: {
      fn: 'C_Sign',
      run: (inline) => m.sign(session, sha256Rsa, pair.privateKey, message, inline),
      check: async (signature) => {
        expect(await m.verify(session, sha256Rsa, pair.publicKey, message, signature)).toBe(true);
      },
    },
    encrypt: {
      fn: 'C_Encrypt',
      run: (inline) => m.encrypt(session, cbc, aes, plaintext, inline),
      check: async (output) => expect(output.equals(ciphertext)).toBe(true),
    },
    decrypt: {
      fn: 'C_Decrypt',
      run: (inline) => m.decrypt(session, cbc, aes, ciphertext, inline),
      check: async (output) => expect(output.equals(plaintext)).toBe(true),
    },
    digest: {
      fn: 'C_Digest',
      run: (inline) => m.digest(session, { type: CKM.SHA256 }, message, inline),
      check: async (output) => expect(output.equals(createHash('sha256').update(message).digest())).toBe(true),
    },
    wrap: {
      fn: 'C_WrapKey',
      run: (inline) => m.wrapKey(session, { type: CKM.AES_KEY_WRAP }, kek, target, inline),
      check: async (output) => expect(output.toString('hex').toUpperCase()).toBe('1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5'),
    },
  };
});

afterEach(() => setFault(undefined));

afterAll(() => {
  module?.finalize();
  testToken?.remove();
});

function impossibleLength(fn: string) {
  return expect.objectContaining({
    code: 'ERR_MODULE_FAULT',
    fn,
    message: expect.stringMatching(new RegExp(`^${fn}: the module reported an impossible length`)),
  });
}

const OUTPUT_OPS: OutputOp[] = ['sign', 'encrypt', 'decrypt', 'digest', 'wrap'];
const LENGTH_FAULTS: LengthFault[] = ['huge-length', 'growing-length', 'overlong'];

describe.each(LENGTH_FAULTS)('an output call whose module answers %s', (fault) => {
  it.each(OUTPUT_OPS)('%s: rejects within a second, throws inline, and the session works after', async (op) => {
    const call = calls[op];
    setFault(lengthFault(fault, op));
    expect(await rejectionWithin(Promise.resolve(call.run(false)))).toEqual(impossibleLength(call.fn));
    expect(() => call.run(true)).toThrow(impossibleLength(call.fn));

    setFault(undefined);
    await call.check(await call.run(false));
    await call.check(call.run(true) as Buffer);
  });
});

describe('C_GetAttributeValue lengths', () => {
  const types = [CKA.MODULUS, CKA.PUBLIC_EXPONENT];

  it.each(['unavailable-attribute', 'huge-attribute', 'overlong-attribute'])(
    '%s: rejects within a second, throws inline, and the session works after',
    async (fault) => {
      const m = module as NativeModule;
      setFault(fault);
      expect(await rejectionWithin(m.getAttributeValue(session, publicKey, types))).toEqual(impossibleLength('C_GetAttributeValue'));
      expect(() => m.getAttributeValue(session, publicKey, types, true)).toThrow(impossibleLength('C_GetAttributeValue'));

      setFault(undefined);
      for (const [modulus, exponent] of [await m.getAttributeValue(session, publicKey, types), m.getAttributeValue(session, publicKey, types, true)]) {
        expect(modulus).toHaveLength(256);
        expect(exponent?.toString('hex')).toBe('010001');
      }
    },
  );
});

describe('C_FindObjects counts', () => {
  const template = [{ type: CKA.LABEL, value: SEARCH_LABEL }];

  it.each(['huge-find', 'many-objects'])('%s: rejects within a second, throws inline, and the search is ended', async (fault) => {
    const m = module as NativeModule;
    setFault(fault);
    expect(await rejectionWithin(m.findObjects(session, template))).toEqual(impossibleLength('C_FindObjects'));
    expect(() => m.findObjects(session, template, true)).toThrow(impossibleLength('C_FindObjects'));

    setFault(undefined);
    expect(await m.findObjects(session, template)).toEqual([searched]);
    expect(m.findObjects(session, template, true)).toEqual([searched]);
  });
});

describe('C_GetMechanismList counts', () => {
  it('throws on an impossible count instead of ending the process', () => {
    const m = module as NativeModule;
    setFault('huge-mechanism-list');
    expect(() => m.getMechanismList(slot)).toThrow(impossibleLength('C_GetMechanismList'));
    setFault(undefined);
    expect(m.getMechanismList(slot)).toContain(CKM.SHA256_RSA_PKCS);
  });
});

describe('CK_RSA_AES_KEY_WRAP_PARAMS', () => {
  // The shim checks the structure the addon passes field by field (SoftHSM2 2.6.1 has no such
  // mechanism to check it): CKR_FUNCTION_REJECTED means every field arrived as given.
  const unwrap = (rsaAesKeyWrap: { aesKeyBits: number; oaep: { hashAlg: number; mgf: number; source?: Buffer } }) =>
    (module as NativeModule).unwrapKey(session, { type: CKM.RSA_AES_KEY_WRAP, rsaAesKeyWrap }, 1, Buffer.alloc(300), [{ type: CKA.TOKEN, value: false }]);

  afterEach(() => setFault(undefined));

  it.each([
    [256, CKM.SHA_1, 1, ''],
    [128, CKM.SHA256, 2, ''],
    [192, CKM.SHA384, 3, 'a label'],
  ])('passes aesKeyBits %d, hashAlg %d, mgf %d and label %j as the structure PKCS#11 defines', async (bits, hashAlg, mgf, label) => {
    setFault(`rsa-aes-params:${bits}:${hashAlg}:${mgf}:${label}`);
    const oaep = { hashAlg, mgf, ...(label ? { source: Buffer.from(label) } : {}) };
    await expect(unwrap({ aesKeyBits: bits, oaep })).rejects.toMatchObject({ code: 'CKR_FUNCTION_REJECTED', fn: 'C_UnwrapKey' });
    // Any field otherwise, and the shim says so.
    await expect(unwrap({ aesKeyBits: bits + 8, oaep })).rejects.toMatchObject({ code: 'CKR_MECHANISM_PARAM_INVALID' });
    await expect(unwrap({ aesKeyBits: bits, oaep: { ...oaep, hashAlg: hashAlg + 1 } })).rejects.toMatchObject({ code: 'CKR_MECHANISM_PARAM_INVALID' });
    await expect(unwrap({ aesKeyBits: bits, oaep: { ...oaep, mgf: mgf + 1 } })).rejects.toMatchObject({ code: 'CKR_MECHANISM_PARAM_INVALID' });
    await expect(unwrap({ aesKeyBits: bits, oaep: { hashAlg, mgf, source: Buffer.from(`${label}x`) } })).rejects.toMatchObject({ code: 'CKR_MECHANISM_PARAM_INVALID' });
  });
});
