// Imported key material must be a real key: an RSA key whose private parts belong to its modulus
// and exponent, an EC key whose private value gives its public point. The token stores what it
// is given without such checks, and a key that cannot work must be refused, not kept.
import { createECDH } from 'node:crypto';
import type { CurveName } from '../token/curves.js';
import type { KeyMaterial } from '../token/key-templates.js';
import { HsmError } from './errors.js';

const ECDH_CURVE: Readonly<Record<CurveName, string>> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
  secp256k1: 'secp256k1',
};

const big = (bytes: Buffer) => (bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`));
const invalid = (message: string) => new HsmError('BadParameter', `key: ${message}`);

function checkRsa(m: Extract<KeyMaterial, { type: 'rsa' }>): void {
  const [n, e, d, p, q, dp, dq, qi] = [m.modulus, m.publicExponent, m.privateExponent, m.prime1, m.prime2, m.exponent1, m.exponent2, m.coefficient].map(big) as bigint[] as [
    bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint,
  ];
  if (e < 3n || e % 2n === 0n) throw invalid('e is not a valid RSA public exponent');
  if (p < 3n || q < 3n || p * q !== n) throw invalid('p and q are not the factors of n');
  // d may be reduced modulo λ(n) or φ(n): either way e·d ≡ 1 modulo p−1 and q−1.
  if ((e * d) % (p - 1n) !== 1n || (e * d) % (q - 1n) !== 1n) throw invalid('d is not the private exponent for e');
  if (dp !== d % (p - 1n) || dq !== d % (q - 1n) || (qi * q) % p !== 1n) throw invalid('dp, dq or qi do not match p, q and d');
}

function checkEc(m: Extract<KeyMaterial, { type: 'ec' }>): void {
  const ecdh = createECDH(ECDH_CURVE[m.curve]);
  try {
    ecdh.setPrivateKey(m.privateValue);
  } catch {
    throw invalid(`d is not a private value of ${m.curve}`);
  }
  if (!ecdh.getPublicKey().equals(m.point)) throw invalid(`x and y are not the public point of d on ${m.curve}`);
}

export function checkKeyMaterial(material: KeyMaterial): void {
  if (material.type === 'rsa') checkRsa(material);
  else if (material.type === 'ec') checkEc(material);
}
