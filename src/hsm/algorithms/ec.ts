// ECDSA: ES256 (P-256), ES256K (secp256k1), ES384 (P-384), ES512 (P-521). The token signs the
// caller's digest with CKM_ECDSA and returns raw r || s, the JWS form.
import { CKF, CKM } from '../../token/constants.js';
import type { CurveName } from '../../token/curves.js';
import { DIGEST_BYTES, type HashName } from './digest-info.js';
import type { SignatureAlgorithm } from './types.js';

export function ecdsa(name: string, curve: CurveName, hash: HashName): SignatureAlgorithm {
  const mechanism = { type: CKM.ECDSA };
  return {
    kind: 'signature',
    name,
    family: 'EC',
    digestBytes: DIGEST_BYTES[hash],
    refuses: (spec) => (spec.type === 'ec' && spec.curve === curve ? undefined : `it needs an EC key on ${curve}`),
    support: (capabilities) =>
      capabilities.has(CKM.ECDSA, CKF.SIGN)
        ? { level: 'native', detail: `CKM_ECDSA on a ${hash} digest` }
        : { level: 'unsupported', detail: 'the module lacks CKM_ECDSA' },
    sign: ({ token, key }, digest) => token.sign(key, mechanism, digest),
    verify: ({ token, key }, digest, signature) => token.verify(key, mechanism, digest, signature),
  };
}
