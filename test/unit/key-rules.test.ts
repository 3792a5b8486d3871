// The service's rules for key names, types, operations, tags and attributes (src/hsm/key-rules.ts),
// each refusal a BadParameter naming the field and the rule: at their edges, one rule at a time.
import { describe, expect, it } from 'vitest';
import { MAX_NAME_LENGTH, MAX_TAG_LENGTH, MAX_TAGS, checkAttributes, checkKeyName, checkTags, keyOperations, specForCreate, wantsHmac } from '../../src/hsm/key-rules.js';
import { refusal } from '../helpers/refusal.js';

describe('checkKeyName', () => {
  it('takes 1 to 127 letters, digits and dashes', () => {
    for (const name of ['a', 'A-1', 'x'.repeat(MAX_NAME_LENGTH), '0']) expect(() => checkKeyName(name)).not.toThrow();
    expect(MAX_NAME_LENGTH).toBe(127);
  });

  it('shows at most 140 characters of a refused name', () => {
    const long = `${'x'.repeat(200)}_`;
    expect(refusal(() => checkKeyName(long)).message).toBe(`key name '${'x'.repeat(140)}' is invalid: use 1 to 127 letters, digits and dashes`);
  });

  it('refuses anything else, naming the rule', () => {
    for (const name of ['', 'x'.repeat(MAX_NAME_LENGTH + 1), 'a_b', 'a b', 'a.b', 'ä', 'a/b']) {
      expect(refusal(() => checkKeyName(name))).toEqual({
        code: 'BadParameter',
        message: `key name '${name.slice(0, 140)}' is invalid: use 1 to 127 letters, digits and dashes`,
      });
    }
  });
});

describe('keyOperations', () => {
  const rsa = { type: 'rsa', bits: 2048 } as const;
  const ec = { type: 'ec', curve: 'P-256' } as const;
  const aes = { type: 'aes', bits: 256 } as const;
  const hmac = { type: 'generic-secret', bits: 256 } as const;

  it("gives each key type the service's defaults when key_ops is absent or null", () => {
    expect(keyOperations(rsa, undefined)).toEqual(['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']);
    expect(keyOperations(rsa, null)).toEqual(['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey']);
    expect(keyOperations(ec, undefined)).toEqual(['sign', 'verify']);
    expect(keyOperations(aes, undefined)).toEqual(['encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'sign', 'verify', 'deriveKey']);
    expect(keyOperations(hmac, undefined)).toEqual(['sign', 'verify']);
  });

  it('allows each type each of its operations', () => {
    for (const op of ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export']) expect(keyOperations(rsa, [op])).toEqual([op]);
    for (const op of ['sign', 'verify', 'export']) expect(keyOperations(ec, [op])).toEqual([op]);
    for (const op of ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'sign', 'verify', 'deriveKey', 'export']) expect(keyOperations(aes, [op])).toEqual([op]);
    for (const op of ['sign', 'verify', 'export']) expect(keyOperations(hmac, [op])).toEqual([op]);
    expect(refusal(() => keyOperations(rsa, ['deriveKey'])).message).toBe("key_ops[0]: 'deriveKey' is not an operation of this key type");
  });

  it('keeps the operations asked for, once each, in their order', () => {
    expect(keyOperations(rsa, ['verify', 'sign', 'verify'])).toEqual(['verify', 'sign']);
    expect(keyOperations(rsa, [])).toEqual([]);
    expect(keyOperations(rsa, ['export'])).toEqual(['export']);
    expect(keyOperations(aes, ['deriveKey'])).toEqual(['deriveKey']);
  });

  it('allows each type only its operations', () => {
    expect(refusal(() => keyOperations(ec, ['encrypt'])).message).toBe("key_ops[0]: 'encrypt' is not an operation of this key type");
    expect(refusal(() => keyOperations(ec, ['sign', 'wrapKey'])).message).toBe("key_ops[1]: 'wrapKey' is not an operation of this key type");
    expect(refusal(() => keyOperations(hmac, ['encrypt'])).message).toBe("key_ops[0]: 'encrypt' is not an operation of this key type");
    expect(refusal(() => keyOperations(aes, ['import'])).message).toBe("key_ops[0]: 'import' is not an operation of this key type");
    expect(keyOperations(ec, ['export'])).toEqual(['export']);
    expect(keyOperations(hmac, ['export', 'sign'])).toEqual(['export', 'sign']);
  });

  it('refuses what is not a list of operation names', () => {
    expect(refusal(() => keyOperations(rsa, 'sign'))).toEqual({ code: 'BadParameter', message: 'key_ops: must be an array of operation names' });
    expect(refusal(() => keyOperations(rsa, { 0: 'sign' })).message).toBe('key_ops: must be an array of operation names');
    expect(refusal(() => keyOperations(rsa, ['sign', 7])).message).toBe('key_ops[1]: must be one of encrypt, decrypt, sign, verify, wrapKey, unwrapKey, deriveKey, import, export');
    expect(refusal(() => keyOperations(rsa, ['Sign'])).message).toMatch(/^key_ops\[0\]: must be one of/);
  });

  it("takes 'import' alone, as a key-exchange key's only operation", () => {
    expect(keyOperations(rsa, ['import'])).toEqual(['import']);
    // Named twice is still alone.
    expect(keyOperations(rsa, ['import', 'import'])).toEqual(['import']);
    expect(refusal(() => keyOperations(rsa, ['import', 'sign'])).message).toBe("key_ops: 'import' marks a key-exchange key and cannot be combined with other operations");
    expect(refusal(() => keyOperations(rsa, ['sign', 'import'])).message).toMatch(/'import' marks a key-exchange key/);
  });
});

describe('checkTags', () => {
  it('takes none, or up to 15 string tags of 1 to 256 characters, values up to 256', () => {
    expect(checkTags(undefined)).toEqual({});
    expect(checkTags(null)).toEqual({});
    expect(checkTags({})).toEqual({});
    const full = Object.fromEntries(Array.from({ length: MAX_TAGS }, (_, i) => [`t${i}`, 'v']));
    expect(checkTags(full)).toEqual(full);
    expect(checkTags({ ['n'.repeat(MAX_TAG_LENGTH)]: 'v'.repeat(MAX_TAG_LENGTH), empty: '' })).toEqual({ ['n'.repeat(256)]: 'v'.repeat(256), empty: '' });
    expect([MAX_TAGS, MAX_TAG_LENGTH]).toEqual([15, 256]);
  });

  it('refuses each rule broken, naming it', () => {
    expect(refusal(() => checkTags('a=b'))).toEqual({ code: 'BadParameter', message: 'tags: must be an object of string values' });
    expect(refusal(() => checkTags(['a'])).message).toBe('tags: must be an object of string values');
    expect(refusal(() => checkTags(Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v'])))).message).toBe('tags: at most 15 tags, not 16');
    expect(refusal(() => checkTags({ a: 1 })).message).toBe('tags.a: must be a string');
    expect(refusal(() => checkTags({ a: null })).message).toBe('tags.a: must be a string');
    expect(refusal(() => checkTags({ '': 'v' })).message).toBe('tags: a tag name must be 1 to 256 characters');
    expect(refusal(() => checkTags({ ['n'.repeat(257)]: 'v' })).message).toBe('tags: a tag name must be 1 to 256 characters');
    expect(refusal(() => checkTags({ a: 'v'.repeat(257) })).message).toBe('tags.a: a tag value must be at most 256 characters');
  });
});

describe('checkAttributes', () => {
  it('takes none, and each attribute given, leaving out what is not', () => {
    // Strict: an attribute not given is not there, not there as undefined.
    expect(checkAttributes(undefined)).toStrictEqual({});
    expect(checkAttributes(null)).toStrictEqual({});
    expect(checkAttributes({})).toStrictEqual({});
    expect(checkAttributes({ enabled: false })).toStrictEqual({ enabled: false });
    expect(checkAttributes({ exportable: true })).toStrictEqual({ exportable: true });
    expect(checkAttributes({ nbf: 0, exp: 1 })).toStrictEqual({ notBefore: 0, expires: 1 });
    expect(checkAttributes({ nbf: null, exp: null })).toStrictEqual({ notBefore: null, expires: null });
    expect(checkAttributes({ exp: 5 })).toStrictEqual({ expires: 5 });
    expect(checkAttributes({ nbf: 5 })).toStrictEqual({ notBefore: 5 });
    // A null nbf sets no lower bound: exp 0 is fine.
    expect(checkAttributes({ nbf: null, exp: 0 })).toStrictEqual({ notBefore: null, expires: 0 });
  });

  it('refuses each attribute of the wrong kind, naming it', () => {
    expect(refusal(() => checkAttributes('x'))).toEqual({ code: 'BadParameter', message: 'attributes: must be an object' });
    expect(refusal(() => checkAttributes([])).message).toBe('attributes: must be an object');
    expect(refusal(() => checkAttributes({ enabled: 'true' })).message).toBe('attributes.enabled: must be true or false');
    expect(refusal(() => checkAttributes({ exportable: 1 })).message).toBe('attributes.exportable: must be true or false');
    for (const nbf of [-1, 1.5, '1', Number.MAX_SAFE_INTEGER + 2]) {
      expect(refusal(() => checkAttributes({ nbf })).message).toBe('attributes.nbf: must be a whole number of Unix seconds');
    }
    expect(refusal(() => checkAttributes({ exp: -1 })).message).toBe('attributes.exp: must be a whole number of Unix seconds');
  });

  it('wants exp later than nbf', () => {
    expect(refusal(() => checkAttributes({ nbf: 10, exp: 10 })).message).toBe('attributes.exp: must be later than attributes.nbf');
    expect(refusal(() => checkAttributes({ nbf: 10, exp: 9 })).message).toBe('attributes.exp: must be later than attributes.nbf');
    expect(checkAttributes({ nbf: 10, exp: 11 })).toEqual({ notBefore: 10, expires: 11 });
    expect(checkAttributes({ nbf: 10, exp: null })).toEqual({ notBefore: 10, expires: null });
  });
});

describe('wantsHmac', () => {
  it('is an oct key asked for with only sign and verify', () => {
    expect(wantsHmac(['sign'])).toBe(true);
    expect(wantsHmac(['verify', 'sign'])).toBe(true);
    expect(wantsHmac(['sign', 'encrypt'])).toBe(false);
    expect(wantsHmac([])).toBe(false);
    expect(wantsHmac(undefined)).toBe(false);
    expect(wantsHmac('sign')).toBe(false);
  });
});

describe('specForCreate', () => {
  it('makes RSA keys of 2048, 3072 or 4096 bits (2048 by default), with exponent 3 when asked', () => {
    expect(specForCreate('RSA-HSM', undefined, undefined)).toEqual({ type: 'rsa', bits: 2048 });
    expect(specForCreate('RSA', 4096, undefined)).toEqual({ type: 'rsa', bits: 4096 });
    expect(specForCreate('RSA-HSM', 3072, undefined, undefined, 65537)).toEqual({ type: 'rsa', bits: 3072 });
    expect(specForCreate('RSA-HSM', null, undefined, undefined, null)).toEqual({ type: 'rsa', bits: 2048 });
    expect(specForCreate('RSA-HSM', 2048, undefined, undefined, 3)).toEqual({ type: 'rsa', bits: 2048, publicExponent: 3 });
    expect(specForCreate('RSA', 2048, undefined, undefined, 3)).toEqual({ type: 'rsa', bits: 2048, publicExponent: 3 });
    for (const size of [1024, 2047, '2048', 8192]) expect(refusal(() => specForCreate('RSA-HSM', size, undefined)).message).toBe('key_size: an RSA key must be 2048, 3072 or 4096 bits');
    for (const exponent of [5, 17, '3', 65536]) expect(refusal(() => specForCreate('RSA-HSM', 2048, undefined, undefined, exponent)).message).toBe('public_exponent: an RSA-HSM key takes 3 or 65537');
  });

  it('makes EC keys on the four curves (P-256 by default), without a key size', () => {
    expect(specForCreate('EC-HSM', undefined, undefined)).toEqual({ type: 'ec', curve: 'P-256' });
    expect(specForCreate('EC', undefined, 'P-256K')).toEqual({ type: 'ec', curve: 'secp256k1' });
    expect(specForCreate('EC-HSM', null, 'P-384')).toEqual({ type: 'ec', curve: 'P-384' });
    expect(specForCreate('EC-HSM', undefined, 'P-521')).toEqual({ type: 'ec', curve: 'P-521' });
    expect(specForCreate('EC-HSM', undefined, null)).toEqual({ type: 'ec', curve: 'P-256' });
    // A null public_exponent is as good as none.
    expect(specForCreate('EC-HSM', undefined, undefined, undefined, null)).toEqual({ type: 'ec', curve: 'P-256' });
    expect(refusal(() => specForCreate('EC-HSM', 256, 'P-256')).message).toBe('key_size: not used with EC keys; give crv');
    for (const crv of ['P-224', 'secp256k1', 7, 'toString', 'constructor']) expect(refusal(() => specForCreate('EC-HSM', undefined, crv)).message).toBe('crv: must be one of P-256, P-256K, P-384, P-521');
    expect(refusal(() => specForCreate('EC-HSM', undefined, undefined, undefined, 3)).message).toBe('public_exponent: only RSA keys have one');
  });

  it('makes oct keys of 128, 192 or 256 bits (256 by default): AES, or HMAC for sign and verify only', () => {
    expect(specForCreate('oct-HSM', undefined, undefined)).toEqual({ type: 'aes', bits: 256 });
    expect(specForCreate('oct', 128, undefined)).toEqual({ type: 'aes', bits: 128 });
    expect(specForCreate('AES', 192, undefined)).toEqual({ type: 'aes', bits: 192 });
    expect(specForCreate('oct-HSM', 256, undefined, ['sign', 'verify'])).toEqual({ type: 'generic-secret', bits: 256 });
    expect(specForCreate('oct-HSM', 256, undefined, ['sign', 'encrypt'])).toEqual({ type: 'aes', bits: 256 });
    for (const size of [64, 512, '256']) expect(refusal(() => specForCreate('oct-HSM', size, undefined)).message).toBe('key_size: an oct key must be 128, 192 or 256 bits');
  });

  it('refuses any other kty, showing it', () => {
    expect(refusal(() => specForCreate('OKP', undefined, undefined))).toEqual({
      code: 'BadParameter',
      message: 'kty: must be one of RSA-HSM, EC-HSM, oct-HSM (or RSA, EC, oct, AES), not "OKP"',
    });
    expect(refusal(() => specForCreate(undefined, undefined, undefined)).message).toBe('kty: must be one of RSA-HSM, EC-HSM, oct-HSM (or RSA, EC, oct, AES), not undefined');
    expect(refusal(() => specForCreate('x'.repeat(100), undefined, undefined)).message).toMatch(/not "x{59}$/);
  });
});
