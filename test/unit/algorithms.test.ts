// The algorithm registry without a token (src/hsm/algorithms/): every name the service has, which
// keys each refuses and with what reason, what each needs of a module (native, fallback or not at
// all) against mechanism lists with and without what it needs, and the lookups' refusals. What
// each algorithm computes is tested over a real token in test/hsm/key-crypto.test.ts.
import { constants, createHash, generateKeyPairSync, publicDecrypt, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ALGORITHMS, cipherAlgorithm, signatureAlgorithm } from '../../src/hsm/algorithms/registry.js';
import { DIGEST_BYTES, digestInfo } from '../../src/hsm/algorithms/digest-info.js';
import { Capabilities } from '../../src/token/capabilities.js';
import { CKF, CKM } from '../../src/token/constants.js';
import type { KeySpec } from '../../src/token/key-spec.js';
import { refusal } from '../helpers/refusal.js';

const SPECS: Record<string, KeySpec> = {
  rsa2048: { type: 'rsa', bits: 2048 },
  rsa4096: { type: 'rsa', bits: 4096 },
  p256: { type: 'ec', curve: 'P-256' },
  k256: { type: 'ec', curve: 'secp256k1' },
  p384: { type: 'ec', curve: 'P-384' },
  p521: { type: 'ec', curve: 'P-521' },
  aes128: { type: 'aes', bits: 128 },
  aes192: { type: 'aes', bits: 192 },
  aes256: { type: 'aes', bits: 256 },
  hmac: { type: 'generic-secret', bits: 256 },
};

const SIGNATURES = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES256K', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512'];
const ENCRYPTIONS = ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5', 'A128GCM', 'A192GCM', 'A256GCM', 'A128CBC', 'A192CBC', 'A256CBC', 'A128CBCPAD', 'A192CBCPAD', 'A256CBCPAD'];
const WRAPS = ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5', 'A128KW', 'A192KW', 'A256KW', 'CKM_AES_KEY_WRAP', 'CKM_AES_KEY_WRAP_PAD'];

const ALL_FLAGS = CKF.ENCRYPT | CKF.DECRYPT | CKF.SIGN | CKF.VERIFY;
function capabilities(entries: Array<[number, number]>): Capabilities {
  return new Capabilities(entries.map(([type, flags]) => ({ type, name: `0x${type.toString(16)}`, minKeySize: 0, maxKeySize: 0, flags })));
}
const EVERYTHING = capabilities(
  [CKM.RSA_PKCS, CKM.RSA_X_509, CKM.RSA_PKCS_OAEP, CKM.RSA_PKCS_PSS, CKM.ECDSA, CKM.SHA256_HMAC, CKM.SHA384_HMAC, CKM.SHA512_HMAC, CKM.AES_ECB, CKM.AES_CBC, CKM.AES_CBC_PAD, CKM.AES_GCM].map((type) => [type, ALL_FLAGS]),
);
const NOTHING = capabilities([]);

describe('the registry', () => {
  it('has each of the service names once, of its kind and with its operations', () => {
    expect(Object.keys(ALGORITHMS).sort()).toEqual([...new Set([...SIGNATURES, ...ENCRYPTIONS, ...WRAPS])].sort());
    for (const name of SIGNATURES) expect(signatureAlgorithm(name)).toMatchObject({ name, kind: 'signature' });
    for (const name of ENCRYPTIONS) expect(cipherAlgorithm(name, 'encrypt')).toMatchObject({ name, kind: 'cipher' });
    for (const name of WRAPS) expect(cipherAlgorithm(name, 'wrapKey')).toMatchObject({ name, kind: 'cipher' });
    expect(Object.isFrozen(ALGORITHMS)).toBe(true);
    expect(Object.getPrototypeOf(ALGORITHMS)).toBe(null);
  });

  it('names the family of each', () => {
    const families = Object.fromEntries(Object.values(ALGORITHMS).map((a) => [a.name, a.family]));
    for (const name of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5']) expect(families[name], name).toBe('RSA');
    for (const name of ['ES256', 'ES256K', 'ES384', 'ES512']) expect(families[name], name).toBe('EC');
    for (const name of ['HS256', 'A128GCM', 'A256CBCPAD', 'A192KW', 'CKM_AES_KEY_WRAP', 'CKM_AES_KEY_WRAP_PAD']) expect(families[name], name).toBe('oct');
  });

  it('gives the digest length a signature takes, none for HMAC', () => {
    const lengths = Object.fromEntries(SIGNATURES.map((name) => [name, signatureAlgorithm(name).digestBytes]));
    expect(lengths).toEqual({ RS256: 32, RS384: 48, RS512: 64, PS256: 32, PS384: 48, PS512: 64, ES256: 32, ES256K: 32, ES384: 48, ES512: 64, HS256: undefined, HS384: undefined, HS512: undefined });
    expect(DIGEST_BYTES).toEqual({ sha1: 20, sha256: 32, sha384: 48, sha512: 64 });
  });

  it('refuses a name of the other kind, the other operation, or none, listing the ones it has', () => {
    const signatures = `use one of ${SIGNATURES.join(', ')}`;
    for (const name of ['A256GCM', 'RSA-OAEP', 'rs256', 'toString', '__proto__', 42, undefined, null]) {
      expect(refusal(() => signatureAlgorithm(name)), String(name)).toEqual({ code: 'BadParameter', message: `alg: '${String(name)}' is not a supported algorithm here; ${signatures}` });
    }
    const encryptions = `use one of ${ENCRYPTIONS.join(', ')}`;
    for (const name of ['A256KW', 'CKM_AES_KEY_WRAP', 'RS256', 'toString', 7]) {
      expect(refusal(() => cipherAlgorithm(name, 'encrypt')), String(name)).toEqual({ code: 'BadParameter', message: `alg: '${String(name)}' is not a supported algorithm here; ${encryptions}` });
    }
    // A JSON array of one name is no name, though it reads as one.
    expect(refusal(() => signatureAlgorithm(['RS256'])).message).toBe(`alg: 'RS256' is not a supported algorithm here; ${signatures}`);
    expect(refusal(() => cipherAlgorithm(['A256GCM'], 'encrypt')).code).toBe('BadParameter');
    const wraps = `use one of ${WRAPS.join(', ')}`;
    for (const name of ['A256GCM', 'A128CBC', 'ES256', 'hasOwnProperty']) {
      expect(refusal(() => cipherAlgorithm(name, 'wrapKey')), name).toEqual({ code: 'BadParameter', message: `alg: '${name}' is not a supported algorithm here; ${wraps}` });
    }
  });
});

describe('the keys each algorithm takes', () => {
  const takes = (name: string) => Object.entries(SPECS).filter(([, spec]) => ALGORITHMS[name]?.refuses(spec) === undefined).map(([label]) => label);

  it('takes exactly its keys', () => {
    for (const name of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5']) expect(takes(name), name).toEqual(['rsa2048', 'rsa4096']);
    expect(takes('ES256')).toEqual(['p256']);
    expect(takes('ES256K')).toEqual(['k256']);
    expect(takes('ES384')).toEqual(['p384']);
    expect(takes('ES512')).toEqual(['p521']);
    for (const name of ['HS256', 'HS384', 'HS512']) expect(takes(name), name).toEqual(['hmac']);
    for (const bits of [128, 192, 256]) {
      for (const name of [`A${bits}GCM`, `A${bits}CBC`, `A${bits}CBCPAD`, `A${bits}KW`]) expect(takes(name), name).toEqual([`aes${bits}`]);
    }
    for (const name of ['CKM_AES_KEY_WRAP', 'CKM_AES_KEY_WRAP_PAD']) expect(takes(name), name).toEqual(['aes128', 'aes192', 'aes256']);
  });

  it('says why it refuses the others', () => {
    const reasons: Array<[string, string, string]> = [
      ['RS256', 'p256', 'it needs an RSA key'],
      ['RSA-OAEP', 'aes256', 'it needs an RSA key'],
      ['RSA1_5', 'hmac', 'it needs an RSA key'],
      ['PS512', 'p521', 'it needs an RSA key'],
      ['ES256', 'p384', 'it needs an EC key on P-256'],
      ['ES256K', 'rsa2048', 'it needs an EC key on secp256k1'],
      ['ES512', 'p256', 'it needs an EC key on P-521'],
      ['HS256', 'aes256', 'it needs an HMAC (generic secret) key'],
      ['A256GCM', 'aes128', 'it needs a 256-bit key, not a 128-bit one'],
      ['A128CBC', 'aes192', 'it needs a 128-bit key, not a 192-bit one'],
      ['A192KW', 'hmac', 'it needs an AES (oct) key'],
      ['CKM_AES_KEY_WRAP_PAD', 'rsa2048', 'it needs an AES (oct) key'],
    ];
    for (const [name, spec, reason] of reasons) expect(ALGORITHMS[name]?.refuses(SPECS[spec] as KeySpec), `${name} on ${spec}`).toBe(reason);
  });
});

describe('what each needs of a module', () => {
  const support = (name: string, caps: Capabilities) => ALGORITHMS[name]?.support(caps);

  it('is native with its mechanism, unsupported without, naming it', () => {
    const natives: Record<string, string> = {
      RS256: 'CKM_RSA_PKCS over DigestInfo',
      RS512: 'CKM_RSA_PKCS over DigestInfo',
      PS256: 'CKM_RSA_PKCS_PSS (sha256, MGF1, salt = digest length)',
      PS384: 'CKM_RSA_PKCS_PSS (sha384, MGF1, salt = digest length)',
      PS512: 'CKM_RSA_PKCS_PSS (sha512, MGF1, salt = digest length)',
      RSA1_5: 'CKM_RSA_PKCS',
      'RSA-OAEP': 'CKM_RSA_PKCS_OAEP (SHA-1)',
      ES256: 'CKM_ECDSA on a sha256 digest',
      ES384: 'CKM_ECDSA on a sha384 digest',
      ES512: 'CKM_ECDSA on a sha512 digest',
      HS256: 'CKM_SHA256_HMAC',
      HS384: 'CKM_SHA384_HMAC',
      HS512: 'CKM_SHA512_HMAC',
      A128GCM: 'CKM_AES_GCM',
      A256CBC: 'CKM_AES_CBC',
      A192CBCPAD: 'CKM_AES_CBC_PAD',
    };
    for (const [name, detail] of Object.entries(natives)) {
      expect(support(name, EVERYTHING), name).toEqual({ level: 'native', detail });
      const lacking = name.startsWith('ES') ? 'the module lacks CKM_ECDSA' : `the module lacks ${detail}`;
      expect(support(name, NOTHING), name).toEqual({ level: 'unsupported', detail: lacking });
    }
  });

  it('needs the operation of the mechanism, not only its name', () => {
    const only = (type: number, flags: number) => capabilities([[type, flags]]);
    expect(support('RS256', only(CKM.RSA_PKCS, CKF.VERIFY))?.level).toBe('unsupported');
    expect(support('RS256', only(CKM.RSA_PKCS, CKF.SIGN))?.level).toBe('native');
    expect(support('PS256', only(CKM.RSA_PKCS_PSS, CKF.VERIFY))?.level).toBe('unsupported');
    expect(support('PS256', only(CKM.RSA_PKCS_PSS, CKF.SIGN))?.level).toBe('native');
    expect(support('RSA1_5', only(CKM.RSA_PKCS, CKF.SIGN | CKF.ENCRYPT))?.level).toBe('unsupported');
    expect(support('RSA1_5', only(CKM.RSA_PKCS, CKF.DECRYPT))?.level).toBe('native');
    expect(support('RSA-OAEP', only(CKM.RSA_PKCS_OAEP, CKF.ENCRYPT))?.level).toBe('unsupported');
    expect(support('RSA-OAEP', only(CKM.RSA_PKCS_OAEP, CKF.DECRYPT))?.level).toBe('native');
    expect(support('ES256', only(CKM.ECDSA, CKF.VERIFY))?.level).toBe('unsupported');
    expect(support('ES256', only(CKM.ECDSA, CKF.SIGN))?.level).toBe('native');
    expect(support('HS384', only(CKM.SHA384_HMAC, CKF.VERIFY))?.level).toBe('unsupported');
    expect(support('HS384', only(CKM.SHA256_HMAC, ALL_FLAGS))?.level).toBe('unsupported');
    expect(support('HS384', only(CKM.SHA384_HMAC, CKF.SIGN))?.level).toBe('native');
    // AES: both directions.
    for (const [name, type] of [['A128GCM', CKM.AES_GCM], ['A128CBC', CKM.AES_CBC], ['A128CBCPAD', CKM.AES_CBC_PAD]] as const) {
      expect(support(name, only(type, CKF.ENCRYPT))?.level, name).toBe('unsupported');
      expect(support(name, only(type, CKF.DECRYPT))?.level, name).toBe('unsupported');
      expect(support(name, only(type, CKF.ENCRYPT | CKF.DECRYPT))?.level, name).toBe('native');
    }
    expect(support('A128CBC', only(CKM.AES_CBC_PAD, ALL_FLAGS))?.level).toBe('unsupported');
    expect(support('A128CBCPAD', only(CKM.AES_CBC, ALL_FLAGS))?.level).toBe('unsupported');
  });

  it('runs the key wraps as framing around AES-ECB, and needs both of its directions', () => {
    const only = (flags: number) => capabilities([[CKM.AES_ECB, flags]]);
    const lacks = { level: 'unsupported', detail: 'the module lacks CKM_AES_ECB' };
    for (const name of ['A128KW', 'A256KW', 'CKM_AES_KEY_WRAP']) {
      expect(support(name, EVERYTHING), name).toEqual({ level: 'fallback', detail: 'RFC 3394 framing outside the token around CKM_AES_ECB block operations in it' });
      expect(support(name, NOTHING), name).toEqual(lacks);
      expect(support(name, only(CKF.ENCRYPT)), name).toEqual(lacks);
      expect(support(name, only(CKF.DECRYPT)), name).toEqual(lacks);
    }
    expect(support('CKM_AES_KEY_WRAP_PAD', EVERYTHING)).toEqual({ level: 'fallback', detail: 'RFC 5649 framing outside the token around CKM_AES_ECB block operations in it' });
    expect(support('CKM_AES_KEY_WRAP_PAD', only(CKF.ENCRYPT | CKF.DECRYPT))?.level).toBe('fallback');
  });

  it('runs RSA-OAEP-256 natively or around raw RSA, and says which', () => {
    const raw = capabilities([[CKM.RSA_X_509, CKF.DECRYPT]]);
    expect(support('RSA-OAEP-256', raw)).toEqual({
      level: 'fallback',
      detail: 'CKM_RSA_PKCS_OAEP with SHA-256 where the module takes it (learnt on first use), else CKM_RSA_X_509 in the token with OAEP coded outside it',
    });
    expect(support('RSA-OAEP-256', EVERYTHING)?.level).toBe('fallback');
    // Without raw RSA decryption only the module's own OAEP is left.
    expect(support('RSA-OAEP-256', capabilities([[CKM.RSA_X_509, CKF.ENCRYPT], [CKM.RSA_PKCS_OAEP, CKF.DECRYPT]]))).toEqual({ level: 'native', detail: 'CKM_RSA_PKCS_OAEP (SHA-256)' });
    expect(support('RSA-OAEP-256', NOTHING)).toEqual({ level: 'unsupported', detail: 'the module lacks CKM_RSA_PKCS_OAEP (SHA-256)' });
    // RSA-OAEP (SHA-1) never falls back.
    expect(support('RSA-OAEP', raw)).toEqual({ level: 'unsupported', detail: 'the module lacks CKM_RSA_PKCS_OAEP (SHA-1)' });
  });
});

describe('DigestInfo', () => {
  it('prefixes each digest with its DER header (RFC 8017 9.2, note 1)', () => {
    const digest = (n: number) => Buffer.alloc(n, 0xab);
    expect(digestInfo('sha1', digest(20)).toString('hex')).toBe(`3021300906052b0e03021a05000414${'ab'.repeat(20)}`);
    expect(digestInfo('sha256', digest(32)).toString('hex')).toBe(`3031300d060960864801650304020105000420${'ab'.repeat(32)}`);
    expect(digestInfo('sha384', digest(48)).toString('hex')).toBe(`3041300d060960864801650304020205000430${'ab'.repeat(48)}`);
    expect(digestInfo('sha512', digest(64)).toString('hex')).toBe(`3051300d060960864801650304020305000440${'ab'.repeat(64)}`);
  });

  it('is what OpenSSL signs under RSASSA-PKCS1-v1_5', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const data = Buffer.from('the data');
    for (const hash of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
      const signed = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, sign(hash, data, privateKey));
      expect(signed.equals(digestInfo(hash, createHash(hash).update(data).digest())), hash).toBe(true);
    }
  });
});
