// combineShares zeroes the y values it read out of the shares, whether it returns the secret or
// refuses the shares (docs/security-model.md). Those values live in typed arrays made inside the
// call, so the Uint16Array constructor is swapped for a recording subclass around each call.
import { describe, expect, it } from 'vitest';
import { combineShares, splitSecret } from '../../src/hsm/security-domain/shamir.js';

interface Made {
  array: Uint16Array;
}

const RealUint16Array = globalThis.Uint16Array;

/** Runs `run` with every Uint16Array it makes recorded; returns them with the result or the error. */
function recordingArrays(run: () => unknown): { made: Made[]; result?: unknown; error?: unknown } {
  const made: Made[] = [];
  class Recording extends RealUint16Array {
    constructor(...args: ConstructorParameters<typeof Uint16Array>) {
      super(...(args as unknown as [number]));
      made.push({ array: this });
    }
  }
  globalThis.Uint16Array = Recording as unknown as Uint16ArrayConstructor;
  try {
    return { made, result: run() };
  } catch (error) {
    return { made, error };
  } finally {
    globalThis.Uint16Array = RealUint16Array;
  }
}

const isZero = (array: Uint16Array) => array.every((value) => value === 0);
const ysOf = (share: Buffer) => Array.from({ length: share.length / 2 }, (_, i) => share.readUInt16LE(2 * i) & 0x1ff);

describe('combineShares', () => {
  const secret = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
  const shares = splitSecret(secret, 3, 2);

  it('the recorder sees arrays made in the call, and values nobody zeroed', () => {
    const { made } = recordingArrays(() => new Uint16Array([1, 2, 3]));
    expect(made).toHaveLength(1);
    expect(isZero(made[0]?.array as Uint16Array)).toBe(false);
  });

  it('zeroes the y values of every share it read once the secret is returned', () => {
    const used = [shares[0], shares[2]] as Buffer[];
    const { made, result, error } = recordingArrays(() => combineShares(used));
    expect(error).toBeUndefined();
    expect((result as Buffer).equals(secret)).toBe(true);
    // One array per share read, of one y per secret byte, now all zero.
    expect(made.map((entry) => entry.array.length)).toEqual([16, 16]);
    expect(made.every((entry) => isZero(entry.array))).toBe(true);
    // ...although the shares themselves had non-zero y values to read.
    expect(used.map((share) => ysOf(share).some((y) => y !== 0))).toEqual([true, true]);
  });

  it('zeroes them too when it refuses two shares with the same x', () => {
    const { made, error } = recordingArrays(() => combineShares([shares[1] as Buffer, shares[1] as Buffer]));
    expect(error).toMatchObject({ code: 'BadParameter', message: 'shares[1]: has the same x (2) as shares[0]; each share must be a different point' });
    expect(made.map((entry) => entry.array.length)).toEqual([16, 16]);
    expect(made.every((entry) => isZero(entry.array))).toBe(true);
    expect(ysOf(shares[1] as Buffer).some((y) => y !== 0)).toBe(true);
  });
});
