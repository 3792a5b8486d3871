// The algorithm registry: one entry per Managed HSM algorithm name.
import { HsmError } from '../errors.js';
import { aesCbc, aesGcm, aesKeyWrapAlgorithm } from './aes.js';
import { ecdsa } from './ec.js';
import { hmac } from './hmac.js';
import { rsaOaep, rsaPkcs1Encryption, rsaPkcs1Signature, rsaPss } from './rsa.js';
import type { Algorithm, CipherAlgorithm, CipherOperation, SignatureAlgorithm } from './types.js';

function table(entries: Algorithm[]): Readonly<Record<string, Algorithm>> {
  const byName: Record<string, Algorithm> = Object.create(null) as Record<string, Algorithm>;
  for (const entry of entries) byName[entry.name] = entry;
  return Object.freeze(byName);
}

export const ALGORITHMS = table([
  rsaOaep('RSA-OAEP', 'sha1'),
  rsaOaep('RSA-OAEP-256', 'sha256'),
  rsaPkcs1Encryption('RSA1_5'),
  aesKeyWrapAlgorithm('A128KW', 128, false),
  aesKeyWrapAlgorithm('A192KW', 192, false),
  aesKeyWrapAlgorithm('A256KW', 256, false),
  aesGcm('A128GCM', 128),
  aesGcm('A192GCM', 192),
  aesGcm('A256GCM', 256),
  aesCbc('A128CBC', 128, false),
  aesCbc('A192CBC', 192, false),
  aesCbc('A256CBC', 256, false),
  aesCbc('A128CBCPAD', 128, true),
  aesCbc('A192CBCPAD', 192, true),
  aesCbc('A256CBCPAD', 256, true),
  aesKeyWrapAlgorithm('CKM_AES_KEY_WRAP', undefined, false),
  aesKeyWrapAlgorithm('CKM_AES_KEY_WRAP_PAD', undefined, true),
  rsaPkcs1Signature('RS256', 'sha256'),
  rsaPkcs1Signature('RS384', 'sha384'),
  rsaPkcs1Signature('RS512', 'sha512'),
  rsaPss('PS256', 'sha256'),
  rsaPss('PS384', 'sha384'),
  rsaPss('PS512', 'sha512'),
  ecdsa('ES256', 'P-256', 'sha256'),
  ecdsa('ES256K', 'secp256k1', 'sha256'),
  ecdsa('ES384', 'P-384', 'sha384'),
  ecdsa('ES512', 'P-521', 'sha512'),
  hmac('HS256', 'sha256'),
  hmac('HS384', 'sha384'),
  hmac('HS512', 'sha512'),
]);

function unknown(name: unknown, kinds: Algorithm[]): HsmError {
  const known = kinds.map((entry) => entry.name).join(', ');
  return new HsmError('BadParameter', `alg: '${String(name)}' is not a supported algorithm here; use one of ${known}`);
}

export function signatureAlgorithm(name: unknown): SignatureAlgorithm {
  const entry = typeof name === 'string' ? ALGORITHMS[name] : undefined;
  if (entry?.kind === 'signature') return entry;
  throw unknown(name, Object.values(ALGORITHMS).filter((a) => a.kind === 'signature'));
}

export function cipherAlgorithm(name: unknown, operation: CipherOperation): CipherAlgorithm {
  const entry = typeof name === 'string' ? ALGORITHMS[name] : undefined;
  if (entry?.kind === 'cipher' && entry.operations.includes(operation)) return entry;
  throw unknown(name, Object.values(ALGORITHMS).filter((a) => a.kind === 'cipher' && a.operations.includes(operation)));
}
