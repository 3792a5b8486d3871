// The plaintext key material JWE handling makes for itself is zeroed once used
// (docs/security-model.md): the random content key of an RSA JWE, and the first block run of the
// decrypted plaintext. These buffers come from native crypto, outside Node's Buffer pool, so the
// crypto functions are wrapped to record (and snapshot) each buffer they hand out.
import { createHmac, generateKeyPairSync } from 'node:crypto';
import * as crypto from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { a256CbcHs512Decrypt, a256CbcHs512Encrypt, decryptRsaCek, encryptRsaJwe, parseJwe } from '../../src/hsm/security-domain/jwe.js';

interface Handed {
  source: 'randomBytes' | 'decipher.update';
  buffer: Buffer;
  /** What it held when it was handed out. */
  snapshot: Buffer;
}

const handed = vi.hoisted(() => ({ on: false, list: [] as Handed[] }));

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const record = <T,>(source: Handed['source'], out: T): T => {
    if (handed.on && Buffer.isBuffer(out)) handed.list.push({ source, buffer: out, snapshot: Buffer.from(out) });
    return out;
  };
  return {
    ...real,
    randomBytes: vi.fn((...args: Parameters<typeof real.randomBytes>) => record('randomBytes', real.randomBytes(...args))),
    createDecipheriv: vi.fn((...args: Parameters<typeof real.createDecipheriv>) => {
      const decipher = real.createDecipheriv(...args);
      const update = decipher.update.bind(decipher) as (...a: unknown[]) => unknown;
      (decipher as unknown as { update: unknown }).update = (...a: unknown[]) => record('decipher.update', update(...a));
      return decipher;
    }),
  };
});

beforeEach(() => {
  handed.list = [];
  handed.on = true;
});
afterEach(() => {
  handed.on = false;
  handed.list = [];
});

const isZero = (buffer: Buffer) => buffer.every((byte) => byte === 0);
const of = (source: Handed['source']) => handed.list.filter((entry) => entry.source === source);

/** First 32 bytes of HMAC-SHA512(MAC key, AAD ‖ IV ‖ CT ‖ BE64(AAD bits)), as RFC 7518 5.2.2.1 defines it. */
function tagOf(macKey: Buffer, aad: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  const bits = Buffer.alloc(8);
  bits.writeBigUInt64BE(BigInt(aad.length) * 8n);
  return createHmac('sha512', macKey).update(aad).update(iv).update(ciphertext).update(bits).digest().subarray(0, 32);
}

describe('the probe', () => {
  it('sees a decrypted buffer that is left as it is, and the key bytes randomBytes hands out', () => {
    const key = crypto.randomBytes(32);
    const decipher = crypto.createDecipheriv('aes-256-cbc', key, Buffer.alloc(16));
    decipher.setAutoPadding(false);
    decipher.update(Buffer.alloc(32, 7));
    const [cek, head] = handed.list;
    expect(cek?.source).toBe('randomBytes');
    expect(cek?.buffer).toBe(key);
    expect(head?.source).toBe('decipher.update');
    expect(head?.buffer).toHaveLength(32);
    expect(isZero(head?.buffer as Buffer)).toBe(false);
  });
});

describe('A256CBC-HS512 decryption', () => {
  const cek = Buffer.alloc(64, 0x5a);
  const iv = Buffer.alloc(16, 1);
  const aad = Buffer.from('header', 'ascii');

  it('zeroes the plaintext the decipher hands out before the last block, and returns its own copy', () => {
    const plaintext = Buffer.alloc(100, 0xab);
    const { ciphertext, tag } = a256CbcHs512Encrypt(cek, iv, aad, plaintext);
    handed.list = [];
    const opened = a256CbcHs512Decrypt(cek, iv, aad, ciphertext, tag);
    expect(opened.equals(plaintext)).toBe(true);
    const [head, ...rest] = of('decipher.update');
    expect(rest).toEqual([]);
    // All blocks but the last (held back for the padding check): 96 of the 100 bytes.
    expect(head?.snapshot.equals(plaintext.subarray(0, 96))).toBe(true);
    expect(isZero(head?.buffer as Buffer)).toBe(true);
  });

  it('zeroes it too when the padding is invalid although the tag matched', () => {
    // 32 bytes of 0xab: the last byte is no PKCS#7 padding length.
    const cipher = crypto.createCipheriv('aes-256-cbc', cek.subarray(32, 64), iv);
    cipher.setAutoPadding(false);
    const ciphertext = Buffer.concat([cipher.update(Buffer.alloc(32, 0xab)), cipher.final()]);
    handed.list = [];
    let refusal: unknown;
    try {
      a256CbcHs512Decrypt(cek, iv, aad, ciphertext, tagOf(cek.subarray(0, 32), aad, iv, ciphertext), 'item');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toMatchObject({ code: 'BadParameter', message: "item: the plaintext's PKCS#7 padding is invalid although the tag matched" });
    const [head, ...rest] = of('decipher.update');
    expect(rest).toEqual([]);
    expect(head?.snapshot.equals(Buffer.alloc(16, 0xab))).toBe(true);
    expect(isZero(head?.buffer as Buffer)).toBe(true);
  });
});

describe('RSA JWE encryption', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it('zeroes its random 64-byte content key once the JWE is made', () => {
    const jwe = encryptRsaJwe(rsa.publicKey, Buffer.from('share'), 'k1');
    const keys = of('randomBytes').filter((entry) => entry.buffer.length === 64);
    expect(keys).toHaveLength(1);
    const [key] = keys as [Handed];
    // The recorded buffer is the key the JWE carries, and it no longer holds it.
    expect(decryptRsaCek(rsa.privateKey, parseJwe(jwe)).equals(key.snapshot)).toBe(true);
    expect(isZero(key.snapshot)).toBe(false);
    expect(isZero(key.buffer)).toBe(true);
  });
});
