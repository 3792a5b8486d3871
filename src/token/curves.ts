// Named elliptic curves: their DER-encoded OIDs (CKA_EC_PARAMS) and field sizes.

export type CurveName = 'P-256' | 'P-384' | 'P-521' | 'secp256k1';

interface Curve {
  /** DER OBJECT IDENTIFIER, the value of CKA_EC_PARAMS. */
  params: Buffer;
  /** Bytes of one coordinate, and of r or s in a raw signature. */
  fieldBytes: number;
}

export const CURVES: Readonly<Record<CurveName, Curve>> = {
  'P-256': { params: Buffer.from('06082a8648ce3d030107', 'hex'), fieldBytes: 32 }, // 1.2.840.10045.3.1.7
  'P-384': { params: Buffer.from('06052b81040022', 'hex'), fieldBytes: 48 }, // 1.3.132.0.34
  'P-521': { params: Buffer.from('06052b81040023', 'hex'), fieldBytes: 66 }, // 1.3.132.0.35
  secp256k1: { params: Buffer.from('06052b8104000a', 'hex'), fieldBytes: 32 }, // 1.3.132.0.10
};

export function curveByParams(params: Buffer): CurveName | undefined {
  return (Object.keys(CURVES) as CurveName[]).find((name) => CURVES[name].params.equals(params));
}

/**
 * CKA_EC_POINT holds a DER OCTET STRING around the uncompressed point (some modules give the
 * bare point). Returns the bare point 04 || X || Y.
 */
export function uncompressedPoint(ecPoint: Buffer, curve: CurveName): Buffer {
  const pointLength = 1 + 2 * CURVES[curve].fieldBytes;
  if (ecPoint.length === pointLength && ecPoint[0] === 0x04) return ecPoint;
  if (ecPoint[0] === 0x04) {
    let offset = 2;
    let length = ecPoint[1] ?? 0;
    if (length === 0x81) {
      length = ecPoint[2] ?? 0;
      offset = 3;
    }
    const point = ecPoint.subarray(offset);
    if (length === pointLength && point.length === pointLength && point[0] === 0x04) return point;
  }
  throw new Error(`unexpected CKA_EC_POINT encoding for ${curve} (${ecPoint.length} bytes)`);
}
