// Shamir secret sharing over GF(257), byte by byte, in the layout of the Azure security-domain
// file: a share is one uint16 little-endian word per secret byte, `(x << 9) | y`, where x is the
// share's index (1..N) and y = f(x) in 0..256. 257 is the smallest prime above every byte value,
// which is why y needs 9 bits and x gets the 7 above them.
import { randomBytes } from 'node:crypto';
import { badParameter } from '../errors.js';

const PRIME = 257;
/** x must fit the 7 bits above y. */
const MAX_SHARES = 127;
/** 65535 = 255 · 257: a uint16 below it, mod 257, is uniform over 0..256. */
const UNIFORM_LIMIT = 255 * PRIME;

/** `count` independent values, each uniform over 0..256, by rejection sampling of uint16s. */
function randomFieldElements(count: number): Uint16Array {
  const out = new Uint16Array(count);
  let filled = 0;
  while (filled < count) {
    const pool = randomBytes(2 * (count - filled) + 8);
    for (let i = 0; i + 1 < pool.length && filled < count; i += 2) {
      const value = pool.readUInt16LE(i);
      if (value < UNIFORM_LIMIT) out[filled++] = value % PRIME;
    }
    pool.fill(0);
  }
  return out;
}

function power(base: number, exponent: number): number {
  let result = 1;
  let b = base % PRIME;
  for (let e = exponent; e > 0; e >>= 1) {
    if (e & 1) result = (result * b) % PRIME;
    b = (b * b) % PRIME;
  }
  return result;
}

/** Fermat: a^(p−2) is a's inverse for a ≠ 0 mod p. */
function inverse(value: number): number {
  return power(value, PRIME - 2);
}

/**
 * Splits `secret` into `shareCount` shares, any `threshold` of which give it back. For each byte
 * s, f(x) = s + a1·x + … + a(M−1)·x^(M−1) with random a_k, evaluated by Horner at x = 1..N.
 */
export function splitSecret(secret: Buffer, shareCount: number, threshold: number): Buffer[] {
  if (secret.length === 0) throw badParameter('secret: must not be empty');
  if (!Number.isInteger(shareCount) || shareCount < 2 || shareCount > MAX_SHARES) {
    throw badParameter(`shareCount: must be an integer from 2 to ${MAX_SHARES}, got ${shareCount}`);
  }
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > shareCount) {
    throw badParameter(`threshold: must be an integer from 2 to shareCount (${shareCount}), got ${threshold}`);
  }
  const shares = Array.from({ length: shareCount }, () => Buffer.alloc(2 * secret.length));
  const degree = threshold - 1;
  const coefficients = randomFieldElements(secret.length * degree);
  for (let byte = 0; byte < secret.length; byte++) {
    const base = byte * degree;
    for (let x = 1; x <= shareCount; x++) {
      let y = 0;
      for (let k = degree - 1; k >= 0; k--) y = (y * x + (coefficients[base + k] as number)) % PRIME;
      y = (y * x + (secret[byte] as number)) % PRIME;
      (shares[x - 1] as Buffer).writeUInt16LE((x << 9) | y, 2 * byte);
    }
  }
  coefficients.fill(0);
  return shares;
}

/** The x of a share, checked to be the same in every word, and its y values. */
function readShare(share: Buffer, index: number): { x: number; ys: Uint16Array } {
  const ys = new Uint16Array(share.length / 2);
  let x = 0;
  for (let i = 0; i < ys.length; i++) {
    const word = share.readUInt16LE(2 * i);
    const wordX = word >> 9;
    const y = word & 0x1ff;
    if (i === 0) x = wordX;
    if (wordX !== x) {
      ys.fill(0);
      throw badParameter(`shares[${index}]: word ${i} has x = ${wordX} but word 0 has x = ${x}; every word of a share must carry the same x`);
    }
    if (y >= PRIME) {
      ys.fill(0);
      throw badParameter(`shares[${index}]: word ${i} has y = ${y}, outside GF(257) (0..256)`);
    }
    ys[i] = y;
  }
  if (x === 0) throw badParameter(`shares[${index}]: x must be at least 1 (x = 0 would be the secret itself)`);
  return { x, ys };
}

/** Lagrange interpolation at 0 over every given share: s = Σ y_i · Π_{j≠i} x_j / (x_j − x_i). */
export function combineShares(shares: readonly Buffer[]): Buffer {
  if (shares.length < 2) throw badParameter(`shares: at least 2 are needed, got ${shares.length}`);
  const length = (shares[0] as Buffer).length;
  shares.forEach((share, index) => {
    if (share.length !== length) throw badParameter(`shares[${index}]: is ${share.length} bytes but shares[0] is ${length}; all shares must have the same length`);
  });
  if (length === 0 || length % 2 !== 0) throw badParameter(`shares: length must be a positive even number of bytes (uint16 words), got ${length}`);

  const read = shares.map(readShare);
  try {
    const xs = read.map((share) => share.x);
    xs.forEach((x, index) => {
      const first = xs.indexOf(x);
      if (first !== index) throw badParameter(`shares[${index}]: has the same x (${x}) as shares[${first}]; each share must be a different point`);
    });
    const weights = xs.map((xi, i) => {
      let numerator = 1;
      let denominator = 1;
      xs.forEach((xj, j) => {
        if (j === i) return;
        numerator = (numerator * xj) % PRIME;
        denominator = (denominator * ((xj - xi + PRIME) % PRIME)) % PRIME;
      });
      return (numerator * inverse(denominator)) % PRIME;
    });

    const secret = Buffer.alloc(length / 2);
    for (let byte = 0; byte < secret.length; byte++) {
      let s = 0;
      read.forEach((share, i) => {
        s = (s + (share.ys[byte] as number) * (weights[i] as number)) % PRIME;
      });
      // A real secret byte is at most 255; 256 means the points do not lie on one polynomial.
      if (s > 255) {
        secret.fill(0);
        throw badParameter(`shares: byte ${byte} reconstructs to 256, which no secret byte can be: the shares are wrong, corrupted or from different secrets`);
      }
      secret[byte] = s;
    }
    return secret;
  } finally {
    for (const share of read) share.ys.fill(0);
  }
}
