// The key a release is wrapped to: the attested environment's own RSA key, in the attestation's
// x-ms-runtime.keys (a JWK set). The first RSA key meant for encryption (use "enc", or key_ops
// with encrypt or wrapKey) is taken, as the service takes it.
import { type KeyObject, X509Certificate, createPublicKey } from 'node:crypto';
import { HsmError } from '../errors.js';
import { claimAt } from './policy-evaluation.js';

export interface RuntimeKey {
  kid: string;
  publicKey: KeyObject;
}

function bad(message: string): HsmError {
  return new HsmError('BadParameter', `target: ${message}`);
}

function forEncryption(jwk: Record<string, unknown>): boolean {
  const ops = Array.isArray(jwk.key_ops) ? jwk.key_ops : [];
  return jwk.use === 'enc' || ops.includes('encrypt') || ops.includes('wrapKey');
}

export function runtimeKeyOf(claims: Record<string, unknown>): RuntimeKey {
  const keys = claimAt(claims, 'x-ms-runtime.keys');
  if (!Array.isArray(keys)) throw bad('the attestation carries no runtime keys (x-ms-runtime.keys)');
  const jwk = keys.find((key): key is Record<string, unknown> => typeof key === 'object' && key !== null && (key as { kty?: unknown }).kty === 'RSA' && forEncryption(key as Record<string, unknown>));
  if (!jwk) throw bad('the attestation has no RSA runtime key for encryption (use "enc" or key_ops encrypt) in x-ms-runtime.keys');
  if (typeof jwk.kid !== 'string' || jwk.kid.length === 0) throw bad('the runtime key has no kid');
  let publicKey: KeyObject;
  try {
    const x5c = Array.isArray(jwk.x5c) ? jwk.x5c[0] : undefined;
    publicKey =
      typeof jwk.n === 'string' && typeof jwk.e === 'string'
        ? createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' })
        : new X509Certificate(Buffer.from(String(x5c), 'base64')).publicKey;
  } catch {
    throw bad('the runtime key is not an RSA public key (n, e or x5c)');
  }
  const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (publicKey.asymmetricKeyType !== 'rsa' || (bits !== 2048 && bits !== 3072 && bits !== 4096)) throw bad(`the runtime key must be RSA of 2048, 3072 or 4096 bits, not ${bits}`);
  // An exponent such as 1 would make the wrap no wrap at all.
  const exponent = publicKey.asymmetricKeyDetails?.publicExponent ?? 0n;
  if (exponent < 65537n || exponent % 2n === 0n) throw bad('the runtime key must have an odd public exponent of at least 65537');
  return { kid: jwk.kid, publicKey };
}
