// The random coefficients of a Shamir split are uniform over GF(257): 16-bit values from the
// random source, the one value at or above 255 · 257 (65535) rejected, the rest taken mod 257.
// The random source is replaced here by chosen bytes, so that the coefficients, and so the
// shares, are known in advance.
import { afterEach, describe, expect, it, vi } from 'vitest';

const chosen: Buffer[] = [];

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    randomBytes: (size: number) => {
      const next = chosen.shift();
      if (!next) return real.randomBytes(size);
      const out = Buffer.alloc(size);
      next.copy(out);
      return out;
    },
  };
});

const { combineShares, splitSecret } = await import('../../src/hsm/security-domain/shamir.js');

afterEach(() => {
  chosen.length = 0;
});

/** The random pool as little-endian 16-bit values. */
function pool(...values: number[]): Buffer {
  const bytes = Buffer.alloc(2 * values.length);
  values.forEach((value, i) => bytes.writeUInt16LE(value, 2 * i));
  return bytes;
}

/** The (x, y) of each word of a share: x in the top 7 bits, y in the low 9. */
const words = (share: Buffer) => Array.from({ length: share.length / 2 }, (_, i) => ({ x: share.readUInt16LE(2 * i) >> 9, y: share.readUInt16LE(2 * i) & 0x1ff }));

describe('the coefficients of a split', () => {
  it('are the random 16-bit values mod 257, after rejecting 65535', () => {
    // One secret byte, quorum 2: one coefficient a, and share x holds (a·x + s) mod 257.
    chosen.push(pool(65535, 300));
    const secret = Buffer.from([200]);
    const shares = splitSecret(secret, 3, 2);
    const a = 300 % 257;
    expect(shares.map(words)).toEqual([1, 2, 3].map((x) => [{ x, y: (a * x + 200) % 257 }]));
    expect(combineShares([shares[0] as Buffer, shares[2] as Buffer])).toEqual(secret);
  });

  it('take each value below 65535, the largest included', () => {
    // Two secret bytes, quorum 3: coefficients (a1, a2) per byte, in the order drawn.
    chosen.push(pool(65534, 0, 256, 257));
    const secret = Buffer.from([7, 9]);
    const shares = splitSecret(secret, 3, 3);
    const f = (s: number, a1: number, a2: number, x: number) => (s + a1 * x + a2 * x * x) % 257;
    const [a, b, c, d] = [65534 % 257, 0, 256, 257 % 257];
    expect(shares.map(words)).toEqual([1, 2, 3].map((x) => [{ x, y: f(7, a, b, x) }, { x, y: f(9, c, d, x) }]));
    expect(combineShares(shares)).toEqual(secret);
  });
});
