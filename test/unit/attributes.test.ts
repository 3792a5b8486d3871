import { describe, expect, it } from 'vitest';
import { attributeTypes, decodeAttributes, toNativeTemplate } from '../../src/token/attributes.js';
import { CKA, CKO } from '../../src/token/constants.js';

describe('attribute table', () => {
  it('maps names to CKA numbers and keeps value types', () => {
    expect(toNativeTemplate({ class: CKO.SECRET_KEY, sensitive: true, label: 'k', id: Buffer.from([1]), valueLen: undefined })).toEqual([
      { type: CKA.CLASS, value: CKO.SECRET_KEY },
      { type: CKA.SENSITIVE, value: true },
      { type: CKA.LABEL, value: 'k' },
      { type: CKA.ID, value: Buffer.from([1]) },
    ]);
    expect(attributeTypes(['modulus', 'ecPoint', 'wrapWithTrusted'])).toEqual([0x120, 0x181, 0x210]);
  });

  it('decodes CK_BBOOL, CK_ULONG (8 or 4 bytes), bytes and UTF-8', () => {
    const ulong8 = Buffer.alloc(8);
    ulong8.writeBigUInt64LE(4096n);
    const ulong4 = Buffer.alloc(4);
    ulong4.writeUInt32LE(32);
    expect(
      decodeAttributes(['sensitive', 'extractable', 'modulusBits', 'valueLen', 'id', 'label'], [
        Buffer.from([1]),
        Buffer.from([0]),
        ulong8,
        ulong4,
        Buffer.from('abc'),
        Buffer.from('näme'),
      ]),
    ).toEqual({ sensitive: true, extractable: false, modulusBits: 4096, valueLen: 32, id: Buffer.from('abc'), label: 'näme' });
    expect(() => decodeAttributes(['id'], [])).toThrow(/missing value for attribute id/);
  });
});
