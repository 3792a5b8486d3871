// Shamir over GF(257) in the Azure share layout: every quorum subset gives the secret back, fewer
// shares do not, and the words are (x << 9) | y little-endian.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { combineShares, splitSecret } from '../../src/hsm/security-domain/shamir.js';

function subsets<T>(items: readonly T[], size: number): T[][] {
  if (size === 0) return [[]];
  return items.flatMap((item, i) => subsets(items.slice(i + 1), size - 1).map((rest) => [item, ...rest]));
}

/** f(x) at x for coefficients [a0, a1, …] mod 257, written out independently of Horner's rule. */
function evaluate(coefficients: number[], x: number): number {
  return coefficients.reduce((sum, a, k) => (sum + a * x ** k) % 257, 0);
}

describe.each([
  { n: 3, m: 2 },
  { n: 5, m: 3 },
])('N = $n, M = $m', ({ n, m }) => {
  it('reconstructs a random 32-byte secret from every subset of M shares, in any order', () => {
    const secret = randomBytes(32);
    const shares = splitSecret(secret, n, m);
    expect(shares).toHaveLength(n);
    const chosen = subsets(shares, m);
    expect(chosen).toHaveLength(n === 3 ? 3 : 10);
    for (const subset of chosen) {
      expect(combineShares(subset).equals(secret)).toBe(true);
      expect(combineShares([...subset].reverse()).equals(secret)).toBe(true);
    }
    expect(combineShares(shares).equals(secret)).toBe(true); // more than M is fine too
  });

  it('does not give the secret back from M − 1 shares', () => {
    const secret = randomBytes(32);
    const shares = splitSecret(secret, n, m);
    for (const subset of subsets(shares, m - 1)) {
      if (subset.length < 2) {
        // One share is refused, and its y values alone are not the secret either.
        const share = subset[0] as Buffer;
        expect(() => combineShares(subset)).toThrow(/at least 2 are needed/);
        const ys = Buffer.from(Array.from({ length: secret.length }, (_, i) => share.readUInt16LE(2 * i) & 0xff));
        expect(ys.equals(secret)).toBe(false);
        continue;
      }
      // A wrong reconstruction may hit 256 (refused) or a wrong byte string: never the secret.
      let result: Buffer | undefined;
      try {
        result = combineShares(subset);
      } catch (error) {
        expect((error as Error).message).toMatch(/reconstructs to 256/);
      }
      if (result) expect(result.equals(secret)).toBe(false);
    }
  });
});

describe('share layout', () => {
  it('writes uint16 little-endian words (x << 9) | y with x = 1..N on one polynomial of degree M − 1 per byte', () => {
    const secret = randomBytes(16);
    const shares = splitSecret(secret, 4, 3);
    shares.forEach((share, i) => {
      expect(share.length).toBe(2 * secret.length);
      for (let byte = 0; byte < secret.length; byte++) {
        expect(share.readUInt16LE(2 * byte) >> 9).toBe(i + 1);
        expect(share.readUInt16LE(2 * byte) & 0x1ff).toBeLessThan(257);
      }
    });
    for (let byte = 0; byte < secret.length; byte++) {
      const points = shares.map((share, i) => ({ x: i + 1, y: share.readUInt16LE(2 * byte) & 0x1ff }));
      // Solve for a1, a2 from the first two points (a0 = the secret byte), then check the others.
      const s = secret[byte] as number;
      const solutions: number[][] = [];
      for (let a1 = 0; a1 < 257; a1++) {
        for (let a2 = 0; a2 < 257; a2++) {
          if (points.slice(0, 2).every(({ x, y }) => evaluate([s, a1, a2], x) === y)) solutions.push([s, a1, a2]);
        }
      }
      expect(solutions).toHaveLength(1);
      for (const { x, y } of points) expect(evaluate(solutions[0] as number[], x)).toBe(y);
    }
  });

  it('reads x from the words, not from the position of a share', () => {
    const secret = randomBytes(8);
    const [first, second, third] = splitSecret(secret, 3, 2) as [Buffer, Buffer, Buffer];
    expect(combineShares([third, first]).equals(secret)).toBe(true);
    // Hand-made shares of the line f(x) = 7 + 3x at x = 2 and x = 5.
    const word = (x: number) => Buffer.from([((x << 9) | ((7 + 3 * x) % 257)) & 0xff, ((x << 9) | ((7 + 3 * x) % 257)) >> 8]);
    expect([...combineShares([word(5), word(2)])]).toEqual([7]);
    expect(second.readUInt16LE(0) >> 9).toBe(2);
  });
});

describe('bad input', () => {
  const shares = () => splitSecret(randomBytes(4), 3, 2) as [Buffer, Buffer, Buffer];

  it('refuses bad split parameters', () => {
    expect(() => splitSecret(Buffer.alloc(0), 3, 2)).toThrow(/secret: must not be empty/);
    expect(() => splitSecret(randomBytes(4), 3, 4)).toThrow(/threshold: must be an integer from 2 to shareCount \(3\)/);
    expect(() => splitSecret(randomBytes(4), 3, 1)).toThrow(/threshold/);
    expect(() => splitSecret(randomBytes(4), 128, 2)).toThrow(/shareCount: must be an integer from 2 to 127/);
    expect(() => splitSecret(randomBytes(4), 2.5, 2)).toThrow(/shareCount/);
    expect(() => splitSecret(randomBytes(4), 1, 2)).toThrow('shareCount: must be an integer from 2 to 127, got 1');
    // The edges that are allowed: 2 of 2, 127 shares, a threshold of every share.
    const secret = randomBytes(4);
    expect(combineShares(splitSecret(secret, 2, 2)).equals(secret)).toBe(true);
    const many = splitSecret(secret, 127, 127);
    expect(many).toHaveLength(127);
    expect(combineShares(many).equals(secret)).toBe(true);
    expect(combineShares(splitSecret(secret, 5, 5)).equals(secret)).toBe(true);
  });

  it('refuses too few shares, mismatched lengths and odd lengths', () => {
    const [a, b] = shares();
    expect(() => combineShares([a])).toThrow(/at least 2 are needed/);
    expect(() => combineShares([a, b.subarray(0, 6)])).toThrow(/shares\[1\]: is 6 bytes but shares\[0\] is 8/);
    expect(() => combineShares([a.subarray(0, 7), b.subarray(0, 7)])).toThrow(/positive even number of bytes/);
  });

  it('refuses duplicate x, inconsistent x, x = 0 and y > 256', () => {
    const [a, b] = shares();
    expect(() => combineShares([a, Buffer.from(a)])).toThrow(/shares\[1\]: has the same x \(1\) as shares\[0\]/);
    const mixed = Buffer.from(b);
    mixed.writeUInt16LE((3 << 9) | 5, 4);
    expect(() => combineShares([a, mixed])).toThrow(/shares\[1\]: word 2 has x = 3 but word 0 has x = 2/);
    const bigY = Buffer.from(b);
    bigY.writeUInt16LE((2 << 9) | 300, 2);
    expect(() => combineShares([a, bigY])).toThrow(/shares\[1\]: word 1 has y = 300, outside GF\(257\)/);
    // 257 is the first value outside the field.
    const y257 = Buffer.from(b);
    y257.writeUInt16LE((2 << 9) | 257, 2);
    expect(() => combineShares([a, y257])).toThrow(/shares\[1\]: word 1 has y = 257, outside GF\(257\)/);
    const y256 = Buffer.from(b);
    y256.writeUInt16LE((2 << 9) | 256, 2);
    expect(() => combineShares([a, y256])).not.toThrow(/outside GF/);
    const zeroX = Buffer.from([5, 0, 6, 0, 7, 0, 8, 0]);
    expect(() => combineShares([a, zeroX])).toThrow(/shares\[1\]: x must be at least 1/);
  });

  it('refuses points that reconstruct a value of 256 (wrong shares)', () => {
    // f(1) = 0 and f(2) = 1 is the line f(x) = x − 1, whose f(0) = −1 = 256.
    expect(() => combineShares([Buffer.from([0x00, 0x02]), Buffer.from([0x01, 0x04])])).toThrow(/byte 0 reconstructs to 256/);
  });
});
