// The key types the token layer makes, and which object classes hold them.
import { CKK, CKO } from './constants.js';
import type { CurveName } from './curves.js';

export const RSA_SIZES = [2048, 3072, 4096] as const;
export const AES_SIZES = [128, 192, 256] as const;

export type KeySpec =
  /** publicExponent: 3 when asked for; otherwise 65537. */
  | { type: 'rsa'; bits: (typeof RSA_SIZES)[number]; publicExponent?: 3 }
  | { type: 'ec'; curve: CurveName }
  | { type: 'aes'; bits: (typeof AES_SIZES)[number] }
  /** An HMAC key: 128 to 1024 bits, a multiple of 8. */
  | { type: 'generic-secret'; bits: number };

/** A key in the token, identified by CKA_ID; which objects hold it follows from its spec. */
export interface TokenKey {
  readonly id: Buffer;
  readonly spec: KeySpec;
  /** A session object, gone when the token closes (for example an unwrapped transport key). */
  readonly ephemeral?: boolean;
}

export type KeyUsage = 'sign' | 'verify' | 'encrypt' | 'decrypt' | 'wrap' | 'unwrap' | 'derive';

export function isKeyPair(spec: KeySpec): spec is Extract<KeySpec, { type: 'rsa' | 'ec' }> {
  return spec.type === 'rsa' || spec.type === 'ec';
}

export function keyTypeOf(spec: KeySpec): number {
  switch (spec.type) {
    case 'rsa':
      return CKK.RSA;
    case 'ec':
      return CKK.EC;
    case 'aes':
      return CKK.AES;
    case 'generic-secret':
      return CKK.GENERIC_SECRET;
  }
}

/** The class of the object that holds the secret part: private key or secret key. */
export function secretClassOf(spec: KeySpec): number {
  return isKeyPair(spec) ? CKO.PRIVATE_KEY : CKO.SECRET_KEY;
}

/** The class of the object used for public operations (verify, encrypt, wrap). */
export function publicClassOf(spec: KeySpec): number {
  return isKeyPair(spec) ? CKO.PUBLIC_KEY : CKO.SECRET_KEY;
}

export function defaultUsages(spec: KeySpec): KeyUsage[] {
  switch (spec.type) {
    case 'rsa':
      return ['sign', 'verify', 'encrypt', 'decrypt', 'wrap', 'unwrap'];
    case 'ec':
      return ['sign', 'verify'];
    case 'aes':
      return ['encrypt', 'decrypt', 'wrap', 'unwrap'];
    case 'generic-secret':
      return ['sign', 'verify'];
  }
}

/** The bit length of a big-endian unsigned integer (an RSA modulus). */
export function modulusBits(value: Buffer): number {
  const start = value.findIndex((byte) => byte !== 0);
  return start < 0 ? 0 : (value.length - start) * 8 - Math.clz32(value[start] as number) + 24;
}

/** Throws a RangeError naming the rule when a spec is not one the token layer supports. */
export function validateKeySpec(spec: KeySpec): void {
  const ok =
    (spec.type === 'rsa' && (RSA_SIZES as readonly number[]).includes(spec.bits)) ||
    (spec.type === 'ec' && ['P-256', 'P-384', 'P-521', 'secp256k1'].includes(spec.curve)) ||
    (spec.type === 'aes' && (AES_SIZES as readonly number[]).includes(spec.bits)) ||
    (spec.type === 'generic-secret' && Number.isInteger(spec.bits) && spec.bits >= 128 && spec.bits <= 1024 && spec.bits % 8 === 0);
  if (!ok) {
    throw new RangeError(
      `unsupported key spec ${JSON.stringify(spec)}: RSA 2048/3072/4096, EC P-256/P-384/P-521/secp256k1, AES 128/192/256, generic secret 128-1024 bits in bytes`,
    );
  }
}
