// The public point of an EC private key found from the private key alone. A private key
// unwrapped from PKCS#8 arrives without its public object, and SoftHSM2 keeps no CKA_EC_POINT on
// private keys. ECDH of the private scalar d with the curve's generator G yields x(d·G), the
// public point's x coordinate, without the scalar leaving the token; of the two points with that
// x (y even or odd), the key's own is the one its signature verifies under.
import { ECDH, createECDH, createHash, createPublicKey, verify } from 'node:crypto';
import { type CurveName, CURVES } from './curves.js';

const OPENSSL_NAMES: Readonly<Record<CurveName, string>> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
  secp256k1: 'secp256k1',
};

/** The generator G of the curve, uncompressed (1·G). */
export function generatorPoint(curve: CurveName): Buffer {
  const one = Buffer.alloc(CURVES[curve].fieldBytes);
  one[one.length - 1] = 1;
  const ecdh = createECDH(OPENSSL_NAMES[curve]);
  ecdh.setPrivateKey(one);
  return ecdh.getPublicKey();
}

/** The two uncompressed points with this x coordinate. */
export function pointsWithX(curve: CurveName, x: Buffer): Buffer[] {
  return [0x02, 0x03].map(
    (prefix) => ECDH.convertKey(Buffer.concat([Buffer.from([prefix]), x]), OPENSSL_NAMES[curve], undefined, undefined, 'uncompressed') as Buffer,
  );
}

/** The message the key signs to tell the two candidates apart, and its digest for CKM_ECDSA. */
export const PARITY_MESSAGE = Buffer.from('which y: public point of an unwrapped EC key');
export const PARITY_DIGEST = createHash('sha256').update(PARITY_MESSAGE).digest();

/** True when `signature` (raw r || s over PARITY_DIGEST) verifies under the uncompressed point. */
export function verifiesUnder(curve: CurveName, point: Buffer, signature: Buffer): boolean {
  const size = CURVES[curve].fieldBytes;
  const jwk = {
    kty: 'EC',
    crv: curve === 'secp256k1' ? 'secp256k1' : curve,
    x: point.subarray(1, 1 + size).toString('base64url'),
    y: point.subarray(1 + size).toString('base64url'),
  };
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return verify('sha256', PARITY_MESSAGE, { key, dsaEncoding: 'ieee-p1363' }, signature);
}
