// NIST SP 800-108 key derivation in counter mode with HMAC-SHA512, the counter as a 32-bit
// big-endian integer before the fixed input (the Azure security domain's "sp108_kdf").
import { createHmac } from 'node:crypto';
import { badParameter } from '../errors.js';

const BLOCK_BYTES = 64;
/** Far more than any use here needs; keeps a wrong argument from allocating without bound. */
const MAX_BITS = 65_536;

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 8 || bits > MAX_BITS || bits % 8 !== 0) {
    throw badParameter(`bits: must be a multiple of 8 from 8 to ${MAX_BITS}, got ${bits}`);
  }
}

/**
 * K(i) = HMAC-SHA512(key, BE32(i) ‖ fixedInput) for i = 1, 2, …, concatenated and cut to
 * `bits`. NIST's test vectors give the fixed input as one opaque blob, so this is the layer they
 * test; deriveKey builds the fixed input the Azure way on top of it.
 */
export function kbkdfCounter(key: Buffer, fixedInput: Buffer, bits: number): Buffer {
  checkBits(bits);
  if (key.length === 0) throw badParameter('key: must not be empty');
  const out = Buffer.alloc(bits / 8);
  const counter = Buffer.alloc(4);
  for (let i = 1, offset = 0; offset < out.length; i++, offset += BLOCK_BYTES) {
    counter.writeUInt32BE(i);
    const block = createHmac('sha512', key).update(counter).update(fixedInput).digest();
    block.copy(out, offset, 0, Math.min(BLOCK_BYTES, out.length - offset));
    block.fill(0);
  }
  return out;
}

/** SP 800-108 with fixed input = label ‖ 0x00 ‖ context ‖ BE32(bits); a string label is UTF-8. */
export function deriveKey(key: Buffer, label: string | Buffer, context: Buffer, bits: number): Buffer {
  checkBits(bits);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bits);
  const fixedInput = Buffer.concat([typeof label === 'string' ? Buffer.from(label, 'utf8') : label, Buffer.from([0x00]), context, length]);
  return kbkdfCounter(key, fixedInput, bits);
}
