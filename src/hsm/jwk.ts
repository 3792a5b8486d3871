// JSON Web Keys as Managed HSM speaks them, and the token layer's key specs and material.
import { createPublicKey } from 'node:crypto';
import { CURVES, type CurveName } from '../token/curves.js';
import { AES_SIZES, type KeySpec, RSA_SIZES } from '../token/key-spec.js';
import type { KeyMaterial } from '../token/key-templates.js';
import type { PublicKeyParts } from '../token/token.js';
import { wantsHmac } from './key-rules.js';
import { HsmError } from './errors.js';

/** JWK curve names and the token's. */
const JWK_CURVES: Readonly<Record<string, CurveName>> = { 'P-256': 'P-256', 'P-384': 'P-384', 'P-521': 'P-521', 'P-256K': 'secp256k1' };

export function jwkCurve(curve: CurveName): string {
  return curve === 'secp256k1' ? 'P-256K' : curve;
}

export type JsonWebKeyInput = Record<string, unknown>;

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function bytes(jwk: JsonWebKeyInput, field: string): Buffer {
  const value = jwk[field];
  if (value === undefined || value === null) throw new HsmError('BadParameter', `key.${field}: required for this key type`);
  if (typeof value !== 'string' || !BASE64URL.test(value) || value.length % 4 === 1) {
    throw new HsmError('BadParameter', `key.${field}: must be base64url`);
  }
  return Buffer.from(value, 'base64url');
}

/** Big-endian unsigned integer, left-padded to `length` bytes (JWK may drop leading zeros). */
function fixed(value: Buffer, length: number, field: string): Buffer {
  const trimmed = value.subarray(value.findIndex((byte) => byte !== 0) === -1 ? value.length : value.findIndex((byte) => byte !== 0));
  if (trimmed.length > length) throw new HsmError('BadParameter', `key.${field}: must be at most ${length} bytes`);
  return Buffer.concat([Buffer.alloc(length - trimmed.length), trimmed]);
}

function family(kty: unknown): 'RSA' | 'EC' | 'oct' {
  switch (kty) {
    case 'RSA':
    case 'RSA-HSM':
      return 'RSA';
    case 'EC':
    case 'EC-HSM':
      return 'EC';
    case 'oct':
    case 'oct-HSM':
      return 'oct';
    default:
      throw new HsmError('BadParameter', `key.kty: must be one of RSA, RSA-HSM, EC, EC-HSM, oct, oct-HSM, not ${JSON.stringify(kty)?.slice(0, 60)}`);
  }
}

/** The spec and material of a JWK with its private parts, checked field by field. */
export function keyMaterialFromJwk(jwk: JsonWebKeyInput): { spec: KeySpec; material: KeyMaterial } {
  switch (family(jwk.kty)) {
    case 'RSA': {
      const modulus = bytes(jwk, 'n');
      const leading = modulus.findIndex((byte) => byte !== 0);
      const significant = leading === -1 ? Buffer.alloc(0) : modulus.subarray(leading);
      const bits = significant.length * 8 - Math.clz32(significant[0] ?? 0) + 24;
      if (!(RSA_SIZES as readonly number[]).includes(bits)) {
        throw new HsmError('BadParameter', `key.n: an RSA key must be 2048, 3072 or 4096 bits, not ${Math.max(bits, 0)}`);
      }
      const half = bits / 16;
      const material: KeyMaterial = {
        type: 'rsa',
        modulus: significant,
        publicExponent: bytes(jwk, 'e'),
        privateExponent: fixed(bytes(jwk, 'd'), bits / 8, 'd'),
        prime1: fixed(bytes(jwk, 'p'), half, 'p'),
        prime2: fixed(bytes(jwk, 'q'), half, 'q'),
        exponent1: fixed(bytes(jwk, 'dp'), half, 'dp'),
        exponent2: fixed(bytes(jwk, 'dq'), half, 'dq'),
        coefficient: fixed(bytes(jwk, 'qi'), half, 'qi'),
      };
      return { spec: { type: 'rsa', bits: bits as (typeof RSA_SIZES)[number] }, material };
    }
    case 'EC': {
      const curve = typeof jwk.crv === 'string' ? JWK_CURVES[jwk.crv] : undefined;
      if (!curve) throw new HsmError('BadParameter', `key.crv: must be one of P-256, P-256K, P-384, P-521, not ${JSON.stringify(jwk.crv)?.slice(0, 60)}`);
      const size = CURVES[curve].fieldBytes;
      const point = Buffer.concat([Buffer.from([4]), fixed(bytes(jwk, 'x'), size, 'x'), fixed(bytes(jwk, 'y'), size, 'y')]);
      return { spec: { type: 'ec', curve }, material: { type: 'ec', curve, privateValue: fixed(bytes(jwk, 'd'), size, 'd'), point } };
    }
    case 'oct': {
      const value = bytes(jwk, 'k');
      if (!(AES_SIZES as readonly number[]).includes(value.length * 8)) {
        throw new HsmError('BadParameter', `key.k: an oct key must be 128, 192 or 256 bits, not ${value.length * 8}`);
      }
      const bits = (value.length * 8) as (typeof AES_SIZES)[number];
      return { spec: wantsHmac(jwk.key_ops) ? { type: 'generic-secret', bits } : { type: 'aes', bits }, material: { type: 'secret', value } };
    }
  }
}

/** The public JWK fields of a key pair, as the service returns them. */
export function publicJwk(parts: PublicKeyParts): Record<string, string> {
  if (parts.type === 'rsa') {
    return { kty: 'RSA-HSM', n: parts.modulus.toString('base64url'), e: parts.publicExponent.toString('base64url') };
  }
  const size = CURVES[parts.curve].fieldBytes;
  return {
    kty: 'EC-HSM',
    crv: jwkCurve(parts.curve),
    x: parts.point.subarray(1, 1 + size).toString('base64url'),
    y: parts.point.subarray(1 + size).toString('base64url'),
  };
}

/** The kty the service answers for a key of this spec: always the -HSM form. */
export function ktyOfSpec(spec: KeySpec): 'RSA-HSM' | 'EC-HSM' | 'oct-HSM' {
  return spec.type === 'rsa' ? 'RSA-HSM' : spec.type === 'ec' ? 'EC-HSM' : 'oct-HSM';
}

/** An RSA key pair's public part as SubjectPublicKeyInfo DER (what a certificate certifies). */
export function rsaSpkiDer(parts: PublicKeyParts): Buffer {
  if (parts.type !== 'rsa') throw new TypeError('not an RSA public key');
  const jwk = { kty: 'RSA', n: parts.modulus.toString('base64url'), e: parts.publicExponent.toString('base64url') };
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

/** The inverse of publicJwk: the token's public parts from the stored public JWK fields. */
export function publicPartsFromJwk(jwk: Record<string, string>): PublicKeyParts {
  if (jwk.kty === 'RSA-HSM' || jwk.kty === 'RSA') {
    return { type: 'rsa', modulus: Buffer.from(jwk.n ?? '', 'base64url'), publicExponent: Buffer.from(jwk.e ?? '', 'base64url') };
  }
  const curve = JWK_CURVES[jwk.crv ?? ''];
  if (!curve) throw new HsmError('BadParameter', `key.crv: '${jwk.crv}' is not a supported curve`);
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
  return { type: 'ec', curve, point };
}
