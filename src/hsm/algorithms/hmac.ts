// HMAC with a symmetric key: HS256, HS384, HS512 over the data as given.
import { CKF, CKM } from '../../token/constants.js';
import type { HashName } from './digest-info.js';
import type { SignatureAlgorithm } from './types.js';

const MECHANISM: Readonly<Record<Exclude<HashName, 'sha1'>, number>> = {
  sha256: CKM.SHA256_HMAC,
  sha384: CKM.SHA384_HMAC,
  sha512: CKM.SHA512_HMAC,
};

export function hmac(name: string, hash: Exclude<HashName, 'sha1'>): SignatureAlgorithm {
  const mechanism = { type: MECHANISM[hash] };
  return {
    kind: 'signature',
    name,
    family: 'oct',
    digestBytes: undefined,
    refuses: (spec) => (spec.type === 'generic-secret' ? undefined : 'it needs an HMAC (generic secret) key'),
    support: (capabilities) =>
      capabilities.has(mechanism.type, CKF.SIGN)
        ? { level: 'native', detail: `CKM_${hash.toUpperCase()}_HMAC` }
        : { level: 'unsupported', detail: `the module lacks CKM_${hash.toUpperCase()}_HMAC` },
    sign: ({ token, key }, data) => token.sign(key, mechanism, data),
    verify: ({ token, key }, data, signature) => token.verify(key, mechanism, data, signature),
  };
}
