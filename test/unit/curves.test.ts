import { describe, expect, it } from 'vitest';
import { CURVES, curveByParams, uncompressedPoint } from '../../src/token/curves.js';

describe('curves', () => {
  it('finds a curve by its DER OID', () => {
    expect(curveByParams(Buffer.from('06082a8648ce3d030107', 'hex'))).toBe('P-256');
    expect(curveByParams(Buffer.from('06052b8104000a', 'hex'))).toBe('secp256k1');
    expect(curveByParams(Buffer.from('0601ff', 'hex'))).toBeUndefined();
  });

  it('unwraps CKA_EC_POINT from a DER OCTET STRING, short and long form, or takes it bare', () => {
    const p256 = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]);
    expect(uncompressedPoint(Buffer.concat([Buffer.from([4, 65]), p256]), 'P-256')).toEqual(p256);
    expect(uncompressedPoint(p256, 'P-256')).toEqual(p256);
    const p521 = Buffer.concat([Buffer.from([4]), Buffer.alloc(2 * CURVES['P-521'].fieldBytes, 2)]);
    expect(uncompressedPoint(Buffer.concat([Buffer.from([4, 0x81, 133]), p521]), 'P-521')).toEqual(p521);
    expect(() => uncompressedPoint(Buffer.from([4, 3, 1, 2, 3]), 'P-256')).toThrow(/unexpected CKA_EC_POINT/);
  });
});
