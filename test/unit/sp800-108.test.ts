// SP 800-108 counter mode with HMAC-SHA512: NIST's CAVP vectors for the counter before the fixed
// input (32-bit counter), and the Azure layout of the fixed input that deriveKey builds.
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deriveKey, kbkdfCounter } from '../../src/hsm/security-domain/sp800-108.js';

interface Vector {
  count: number;
  bits: number;
  key: string;
  fixedInput: string;
  output: string;
}
const { vectors } = JSON.parse(readFileSync(new URL('../vectors/kbkdf-hmac-sha512.json', import.meta.url), 'utf8')) as { vectors: Vector[] };
const hex = (text: string) => Buffer.from(text, 'hex');

describe('NIST CAVP KBKDF, HMAC_SHA512, CTRLOCATION=BEFORE_FIXED, RLEN=32_BITS', () => {
  it('has the 40 vectors of the section', () => {
    expect(vectors).toHaveLength(40);
  });

  it.each(vectors)('COUNT=$count (L = $bits)', ({ key, fixedInput, bits, output }) => {
    expect(kbkdfCounter(hex(key), hex(fixedInput), bits).toString('hex')).toBe(output);
  });
});

describe('deriveKey', () => {
  const hmac = (key: Buffer, data: Buffer) => createHmac('sha512', key).update(data).digest();

  it('HMACs BE32(i) ‖ label ‖ 0x00 ‖ context ‖ BE32(bits): the Azure per-tag CEK is one block', () => {
    const key = randomBytes(32);
    const expected = hmac(key, Buffer.concat([hex('00000001'), Buffer.from('hsm_backup'), hex('00'), hex('00000200')]));
    expect(deriveKey(key, 'hsm_backup', Buffer.alloc(0), 512).equals(expected)).toBe(true);
    expect(deriveKey(key, Buffer.from('hsm_backup'), Buffer.alloc(0), 512).equals(expected)).toBe(true);
  });

  it('puts the context after the separator and counts blocks from 1, truncating the last', () => {
    const key = randomBytes(48);
    const context = randomBytes(7);
    const fixed = (bits: string) => Buffer.concat([Buffer.from('label'), hex('00'), context, hex(bits)]);
    // 1000 bits = 125 bytes: block 1 and the first 61 bytes of block 2.
    const blocks = Buffer.concat([hmac(key, Buffer.concat([hex('00000001'), fixed('000003e8')])), hmac(key, Buffer.concat([hex('00000002'), fixed('000003e8')]))]);
    expect(deriveKey(key, 'label', context, 1000).equals(blocks.subarray(0, 125))).toBe(true);
    expect(deriveKey(key, 'label', context, 256).equals(deriveKey(key, 'label', context, 512).subarray(0, 32))).toBe(false); // L is in the input
  });

  it('encodes a string label as UTF-8', () => {
    const key = randomBytes(32);
    expect(deriveKey(key, 'clé', Buffer.alloc(0), 512).equals(deriveKey(key, Buffer.from('636cc3a9', 'hex'), Buffer.alloc(0), 512))).toBe(true);
  });

  it('refuses bit lengths that are not whole bytes and an empty key', () => {
    expect(() => deriveKey(randomBytes(32), 'x', Buffer.alloc(0), 500)).toThrow(/bits: must be a multiple of 8 from 8 to 65536, got 500/);
    expect(() => deriveKey(randomBytes(32), 'x', Buffer.alloc(0), 0)).toThrow(/bits/);
    expect(() => kbkdfCounter(Buffer.alloc(0), Buffer.alloc(1), 512)).toThrow(/key: must not be empty/);
  });
});

describe('lengths at their edges', () => {
  const key = Buffer.alloc(32, 1);
  it('derives from 8 to 65536 bits in whole bytes, and refuses the rest naming the rule', () => {
    expect(kbkdfCounter(key, Buffer.from('x'), 8)).toHaveLength(1);
    expect(kbkdfCounter(key, Buffer.from('x'), 65_536)).toHaveLength(8192);
    for (const bits of [0, 4, 12, 65_544, 1.5 * 8, Number.NaN]) {
      expect(() => kbkdfCounter(key, Buffer.from('x'), bits), String(bits)).toThrow(`bits: must be a multiple of 8 from 8 to 65536, got ${bits}`);
      expect(() => deriveKey(key, 'label', Buffer.alloc(0), bits), String(bits)).toThrow(`bits: must be a multiple of 8 from 8 to 65536, got ${bits}`);
    }
    expect(() => kbkdfCounter(Buffer.alloc(0), Buffer.from('x'), 256)).toThrow('key: must not be empty');
  });

  it('reads a string label as UTF-8, the same as its bytes', () => {
    expect(deriveKey(key, 'clé', Buffer.from('ctx'), 256).equals(deriveKey(key, Buffer.from('clé', 'utf8'), Buffer.from('ctx'), 256))).toBe(true);
    expect(deriveKey(key, 'clé', Buffer.from('ctx'), 256).equals(deriveKey(key, Buffer.from('clé', 'latin1'), Buffer.from('ctx'), 256))).toBe(false);
  });
});
