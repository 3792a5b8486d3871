import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jwkCurve, keyMaterialFromJwk, publicJwk } from '../../src/hsm/jwk.js';

describe('keyMaterialFromJwk', () => {
  it('maps RSA, EC and oct JWKs (with or without -HSM) to specs and material', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey.export({ format: 'jwk' });
    const mapped = keyMaterialFromJwk({ ...rsa, kty: 'RSA-HSM' });
    expect(mapped.spec).toEqual({ type: 'rsa', bits: 3072 });
    expect(mapped.material).toMatchObject({ type: 'rsa', modulus: Buffer.from(rsa.n as string, 'base64url') });

    const ec = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ format: 'jwk' });
    expect(ec.crv).toBe('secp256k1');
    const ecMapped = keyMaterialFromJwk({ ...ec, crv: 'P-256K' });
    expect(ecMapped.spec).toEqual({ type: 'ec', curve: 'secp256k1' });
    if (ecMapped.material.type !== 'ec') throw new Error('expected EC material');
    expect(ecMapped.material.point).toHaveLength(65);
    expect(ecMapped.material.privateValue).toHaveLength(32);

    const k = randomBytes(24);
    expect(keyMaterialFromJwk({ kty: 'oct', k: k.toString('base64url') })).toEqual({ spec: { type: 'aes', bits: 192 }, material: { type: 'secret', value: k } });
  });

  it('left-pads coordinates and private values a JWK shortened', () => {
    const x = Buffer.alloc(32, 1);
    x[0] = 0;
    const jwk = { kty: 'EC', crv: 'P-256', x: x.subarray(1).toString('base64url'), y: Buffer.alloc(32, 2).toString('base64url'), d: Buffer.alloc(31, 3).toString('base64url') };
    const { material } = keyMaterialFromJwk(jwk);
    if (material.type !== 'ec') throw new Error('expected EC material');
    expect(material.point.subarray(1, 33).equals(x)).toBe(true);
    expect(material.privateValue).toHaveLength(32);
  });

  it('names the field and the rule for bad input', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ kty: 'DSA' }, 'key.kty: must be one of RSA, RSA-HSM, EC, EC-HSM, oct, oct-HSM, not "DSA"'],
      [{ kty: 'oct' }, 'key.k: required for this key type'],
      [{ kty: 'oct', k: 'not base64!' }, 'key.k: must be base64url'],
      [{ kty: 'oct', k: Buffer.alloc(20).toString('base64url') }, 'key.k: an oct key must be 128, 192 or 256 bits, not 160'],
      [{ kty: 'EC', crv: 'P-192' }, 'key.crv: must be one of P-256, P-256K, P-384, P-521, not "P-192"'],
      [{ kty: 'EC', crv: 'P-256', x: Buffer.alloc(33, 1).toString('base64url') }, 'key.x: must be at most 32 bytes'],
      [{ kty: 'RSA', n: Buffer.alloc(128, 0xff).toString('base64url') }, 'key.n: an RSA key must be 2048, 3072 or 4096 bits, not 1024'],
      [{ kty: 'RSA', n: Buffer.alloc(256, 0xff).toString('base64url'), e: 'AQAB' }, 'key.d: required for this key type'],
    ];
    for (const [jwk, message] of cases) expect(() => keyMaterialFromJwk(jwk)).toThrow(expect.objectContaining({ code: 'BadParameter', message }));
  });
});

describe('publicJwk', () => {
  it('gives -HSM key types and JWK curve names', () => {
    const point = Buffer.concat([Buffer.from([4]), Buffer.alloc(32, 1), Buffer.alloc(32, 2)]);
    expect(publicJwk({ type: 'ec', curve: 'secp256k1', point })).toEqual({
      kty: 'EC-HSM',
      crv: 'P-256K',
      x: Buffer.alloc(32, 1).toString('base64url'),
      y: Buffer.alloc(32, 2).toString('base64url'),
    });
    expect(publicJwk({ type: 'rsa', modulus: Buffer.from([0xc0, 1]), publicExponent: Buffer.from([1, 0, 1]) })).toEqual({ kty: 'RSA-HSM', n: 'wAE', e: 'AQAB' });
    expect(jwkCurve('P-384')).toBe('P-384');
  });
});
