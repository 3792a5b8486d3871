import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyMaterialFromJwk } from '../../src/hsm/jwk.js';
import { checkKeyMaterial } from '../../src/hsm/key-material-check.js';

const materialOf = (jwk: Record<string, unknown>) => keyMaterialFromJwk(jwk).material;

describe('imported key material is checked', () => {
  it('accepts real RSA keys, and refuses each part that does not belong', () => {
    const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
    expect(() => checkKeyMaterial(materialOf(jwk))).not.toThrow();
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
    for (const [part, message] of [
      ['d', /d is not the private exponent/],
      ['p', /p and q are not the factors of n/],
      ['q', /p and q are not the factors of n/],
      ['dp', /dp, dq or qi do not match/],
      ['dq', /dp, dq or qi do not match/],
      ['qi', /dp, dq or qi do not match/],
    ] as const) {
      expect(() => checkKeyMaterial(materialOf({ ...jwk, [part]: other[part] })), part).toThrow(message);
    }
    expect(() => checkKeyMaterial(materialOf({ ...jwk, e: 'Ag' }))).toThrow(/e is not a valid RSA public exponent/);
    expect(() => checkKeyMaterial(materialOf({ ...jwk, e: 'Aw' }))).toThrow(/d is not the private exponent/);
  });

  it.each([
    ['P-256', 'prime256v1'],
    ['P-384', 'secp384r1'],
    ['P-521', 'secp521r1'],
    ['P-256K', 'secp256k1'],
  ] as const)('accepts a real %s key, and refuses a point that is not d·G or a d out of range', (crv, nodeCurve) => {
    const jwk: Record<string, string> = { ...(generateKeyPairSync('ec', { namedCurve: nodeCurve }).privateKey.export({ format: 'jwk' }) as Record<string, string>), crv };
    expect(() => checkKeyMaterial(materialOf(jwk))).not.toThrow();
    const size = Buffer.from(jwk.x as string, 'base64url').length;
    expect(() => checkKeyMaterial(materialOf({ ...jwk, x: randomBytes(size).toString('base64url') }))).toThrow(/are not the public point of d/);
    expect(() => checkKeyMaterial(materialOf({ ...jwk, d: Buffer.alloc(size).toString('base64url') }))).toThrow(/d is not a private value/);
    expect(() => checkKeyMaterial(materialOf({ ...jwk, d: Buffer.alloc(size, 0xff).toString('base64url') }))).toThrow(/d is not a private value|not the public point/);
  });
});
