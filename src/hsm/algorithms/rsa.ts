// RSA algorithms: RS*, PS* signatures; RSA-OAEP, RSA-OAEP-256, RSA1_5 encryption. Every RSA
// operation runs in the token; where the module's OAEP takes no SHA-2 (SoftHSM2 2.6.1), OAEP is
// coded here around raw RSA (CKM_RSA_X_509) in the token.
import type { Capabilities } from '../../token/capabilities.js';
import { CKF, CKM } from '../../token/constants.js';
import type { KeySpec } from '../../token/key-spec.js';
import { DIGEST_BYTES, type HashName, digestInfo } from './digest-info.js';
import { oaepDecode, oaepEncode } from './oaep.js';
import { HASH_MECHANISM, MGF, oaepNativeOrFallback, oaepParameters } from './oaep-mechanism.js';
import { AlgorithmInputError, type CipherAlgorithm, type CryptoContext, type SignatureAlgorithm, type Support, decryptOrRefuse } from './types.js';

const UNDECRYPTABLE = 'the ciphertext could not be decrypted';


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

export function rsaOaep(name: string, hash: 'sha1' | 'sha256'): CipherAlgorithm {
  const oaep = { type: CKM.RSA_PKCS_OAEP, oaep: oaepParameters(hash) };
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
      const value = await oaepNativeOrFallback(
        token,
        'cipher',
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
      return oaepNativeOrFallback(
        token,
        'cipher',
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
