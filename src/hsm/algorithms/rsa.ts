// RSA algorithms: RS*, PS* signatures; RSA-OAEP, RSA-OAEP-256, RSA1_5 encryption. Every RSA
// operation runs in the token; where the module's OAEP takes no SHA-2 (SoftHSM2 2.6.1), OAEP is
// coded here around raw RSA (CKM_RSA_X_509) in the token.
import { tokenFailureCode } from '../../token/errors.js';
import type { Capabilities } from '../../token/capabilities.js';
import { CKF, CKG, CKM } from '../../token/constants.js';
import type { KeySpec } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';
import { DIGEST_BYTES, type HashName, digestInfo } from './digest-info.js';
import { oaepDecode, oaepEncode } from './oaep.js';
import { AlgorithmInputError, type CipherAlgorithm, type CryptoContext, type SignatureAlgorithm, type Support, decryptOrRefuse } from './types.js';

const UNDECRYPTABLE = 'the ciphertext could not be decrypted';

const HASH_MECHANISM: Readonly<Record<HashName, number>> = { sha1: CKM.SHA_1, sha256: CKM.SHA256, sha384: CKM.SHA384, sha512: CKM.SHA512 };
const MGF: Readonly<Record<HashName, number>> = { sha1: CKG.MGF1_SHA1, sha256: CKG.MGF1_SHA256, sha384: CKG.MGF1_SHA384, sha512: CKG.MGF1_SHA512 };

function refusesNonRsa(spec: KeySpec): string | undefined {
  return spec.type === 'rsa' ? undefined : 'it needs an RSA key';
}

function modulusBytes({ key }: CryptoContext): number {
  return key.spec.type === 'rsa' ? key.spec.bits / 8 : 0;
}

function mechanismSupport(capabilities: Capabilities, mechanism: number, flags: number, detail: string): Support {
  return capabilities.has(mechanism, flags) ? { level: 'native', detail } : { level: 'unsupported', detail: `the module lacks ${detail}` };
}

export function rsaPkcs1Signature(name: string, hash: HashName): SignatureAlgorithm {
  const mechanism = { type: CKM.RSA_PKCS };
  return {
    kind: 'signature',
    name,
    family: 'RSA',
    digestBytes: DIGEST_BYTES[hash],
    refuses: refusesNonRsa,
    support: (capabilities) => mechanismSupport(capabilities, CKM.RSA_PKCS, CKF.SIGN, 'CKM_RSA_PKCS over DigestInfo'),
    sign: ({ token, key }, digest) => token.sign(key, mechanism, digestInfo(hash, digest)),
    verify: ({ token, key }, digest, signature) => token.verify(key, mechanism, digestInfo(hash, digest), signature),
  };
}

export function rsaPss(name: string, hash: HashName): SignatureAlgorithm {
  const mechanism = { type: CKM.RSA_PKCS_PSS, pss: { hashAlg: HASH_MECHANISM[hash], mgf: MGF[hash], saltLength: DIGEST_BYTES[hash] } };
  return {
    kind: 'signature',
    name,
    family: 'RSA',
    digestBytes: DIGEST_BYTES[hash],
    refuses: refusesNonRsa,
    support: (capabilities) => mechanismSupport(capabilities, CKM.RSA_PKCS_PSS, CKF.SIGN, `CKM_RSA_PKCS_PSS (${hash}, MGF1, salt = digest length)`),
    sign: ({ token, key }, digest) => token.sign(key, mechanism, digest),
    verify: ({ token, key }, digest, signature) => token.verify(key, mechanism, digest, signature),
  };
}

/** Per token: does its CKM_RSA_PKCS_OAEP take this hash? Learnt on first use. */
const oaepTakesHash = new WeakMap<Token, Map<HashName, boolean>>();

function isParameterRefusal(error: unknown): boolean {
  const code = tokenFailureCode(error);
  return code === 'CKR_ARGUMENTS_BAD' || code === 'CKR_MECHANISM_PARAM_INVALID';
}

async function nativeOrFallback<T>(token: Token, hash: HashName, native: () => Promise<T>, fallback: () => Promise<T>): Promise<T> {
  const known = oaepTakesHash.get(token) ?? new Map<HashName, boolean>();
  oaepTakesHash.set(token, known);
  if (known.get(hash) === false) return fallback();
  try {
    const result = await native();
    known.set(hash, true);
    return result;
  } catch (error) {
    if (!isParameterRefusal(error)) throw error;
    known.set(hash, false);
    return fallback();
  }
}

export function rsaOaep(name: string, hash: 'sha1' | 'sha256'): CipherAlgorithm {
  const oaep = { type: CKM.RSA_PKCS_OAEP, oaep: { hashAlg: HASH_MECHANISM[hash], mgf: MGF[hash] } };
  const raw = { type: CKM.RSA_X_509 };
  return {
    kind: 'cipher',
    name,
    family: 'RSA',
    operations: ['encrypt', 'wrapKey'],
    refuses: refusesNonRsa,
    support(capabilities) {
      if (hash === 'sha1') return mechanismSupport(capabilities, CKM.RSA_PKCS_OAEP, CKF.DECRYPT, 'CKM_RSA_PKCS_OAEP (SHA-1)');
      if (!capabilities.has(CKM.RSA_X_509, CKF.DECRYPT)) {
        return mechanismSupport(capabilities, CKM.RSA_PKCS_OAEP, CKF.DECRYPT, 'CKM_RSA_PKCS_OAEP (SHA-256)');
      }
      return {
        level: 'fallback',
        detail: 'CKM_RSA_PKCS_OAEP with SHA-256 where the module takes it (learnt on first use), else CKM_RSA_X_509 in the token with OAEP coded outside it',
      };
    },
    async encrypt(context, { plaintext }) {
      const { token, key } = context;
      const value = await nativeOrFallback(
        token,
        hash,
        () => token.encrypt(key, oaep, plaintext),
        () => {
          try {
            return token.encrypt(key, raw, oaepEncode(hash, plaintext, modulusBytes(context)));
          } catch (error) {
            throw error instanceof RangeError ? new AlgorithmInputError(error.message) : error;
          }
        },
      );
      return { value };
    },
    async decrypt(context, { ciphertext }) {
      const { token, key } = context;
      if (ciphertext.length !== modulusBytes(context)) {
        throw new AlgorithmInputError(`the ciphertext must be ${modulusBytes(context)} bytes for this key`);
      }
      return nativeOrFallback(
        token,
        hash,
        () => decryptOrRefuse(() => token.decrypt(key, oaep, ciphertext), UNDECRYPTABLE),
        async () => {
          const encoded = await decryptOrRefuse(() => token.decrypt(key, raw, ciphertext), UNDECRYPTABLE);
          const message = oaepDecode(hash, encoded, modulusBytes(context));
          if (!message) throw new AlgorithmInputError(UNDECRYPTABLE);
          return message;
        },
      );
    },
  };
}

export function rsaPkcs1Encryption(name: string): CipherAlgorithm {
  const mechanism = { type: CKM.RSA_PKCS };
  return {
    kind: 'cipher',
    name,
    family: 'RSA',
    operations: ['encrypt', 'wrapKey'],
    refuses: refusesNonRsa,
    support: (capabilities) => mechanismSupport(capabilities, CKM.RSA_PKCS, CKF.DECRYPT, 'CKM_RSA_PKCS'),
    encrypt: async ({ token, key }, { plaintext }) => ({ value: await token.encrypt(key, mechanism, plaintext) }),
    decrypt: ({ token, key }, { ciphertext }) => decryptOrRefuse(() => token.decrypt(key, mechanism, ciphertext), UNDECRYPTABLE),
  };
}
