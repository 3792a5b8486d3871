// RFC 3394 and RFC 5649 framing, with node:crypto's AES-ECB standing in for the token's block
// cipher, checked against the RFC vectors and against OpenSSL's own wraps.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type BlockCipher, aesKeyUnwrap, aesKeyUnwrapPad, aesKeyWrap, aesKeyWrapPad } from '../../src/hsm/algorithms/aes-key-wrap.js';

interface Vector {
  kek: string;
  key: string;
  wrapped: string;
}
const vectors = JSON.parse(readFileSync(new URL('../vectors/aes-key-wrap.json', import.meta.url), 'utf8')) as { rfc3394: Vector[]; rfc5649: Vector[] };

function ecb(kek: Buffer, direction: 'encrypt' | 'decrypt'): BlockCipher {
  return async (block) => {
    const cipher = (direction === 'encrypt' ? createCipheriv : createDecipheriv)(`aes-${kek.length * 8}-ecb`, kek, null).setAutoPadding(false);
    return Buffer.concat([cipher.update(block), cipher.final()]);
  };
}

const hex = (text: string) => Buffer.from(text, 'hex');

describe('RFC 3394', () => {
  it.each(vectors.rfc3394)('wraps and unwraps the vector for a $kek.length-hex-digit KEK', async ({ kek, key, wrapped }) => {
    expect((await aesKeyWrap(ecb(hex(kek), 'encrypt'), hex(key))).toString('hex')).toBe(wrapped.toLowerCase());
    expect((await aesKeyUnwrap(ecb(hex(kek), 'decrypt'), hex(wrapped)))?.toString('hex')).toBe(key.toLowerCase());
  });

  it('refuses a tampered wrap and bad lengths', async () => {
    const [first] = vectors.rfc3394 as [Vector];
    const tampered = hex(first.wrapped);
    tampered[5] = (tampered[5] as number) ^ 1;
    expect(await aesKeyUnwrap(ecb(hex(first.kek), 'decrypt'), tampered)).toBeUndefined();
    expect(await aesKeyUnwrap(ecb(hex(first.kek), 'decrypt'), Buffer.alloc(20))).toBeUndefined();
    await expect(aesKeyWrap(ecb(hex(first.kek), 'encrypt'), Buffer.alloc(12))).rejects.toThrow(/multiple of 8 bytes and at least 16/);
  });
});

describe('RFC 5649', () => {
  it.each(vectors.rfc5649)('wraps and unwraps the $key.length-hex-digit vector', async ({ kek, key, wrapped }) => {
    expect((await aesKeyWrapPad(ecb(hex(kek), 'encrypt'), hex(key))).toString('hex')).toBe(wrapped);
    expect((await aesKeyUnwrapPad(ecb(hex(kek), 'decrypt'), hex(wrapped)))?.toString('hex')).toBe(key);
  });

  it('agrees with OpenSSL id-aes256-wrap-pad for every length from 1 to 70 bytes', async () => {
    const kek = randomBytes(32);
    for (let length = 1; length <= 70; length++) {
      const data = randomBytes(length);
      const openssl = createCipheriv('id-aes256-wrap-pad', kek, hex('a65959a6'));
      const expected = Buffer.concat([openssl.update(data), openssl.final()]);
      expect((await aesKeyWrapPad(ecb(kek, 'encrypt'), data)).equals(expected)).toBe(true);
      expect((await aesKeyUnwrapPad(ecb(kek, 'decrypt'), expected))?.equals(data)).toBe(true);
    }
  });

  it('refuses a wrong length indicator, non-zero padding and an empty value', async () => {
    const kek = randomBytes(16);
    const wrapped = await aesKeyWrapPad(ecb(kek, 'encrypt'), Buffer.from('seven!!'));
    const tampered = Buffer.from(wrapped);
    tampered[0] = (tampered[0] as number) ^ 0x80;
    expect(await aesKeyUnwrapPad(ecb(kek, 'decrypt'), tampered)).toBeUndefined();
    // A block whose length indicator says 3 but whose padding is not zero.
    const forged = await ecb(kek, 'encrypt')(Buffer.concat([hex('a65959a600000003'), Buffer.from('abcdefgh')]));
    expect(await aesKeyUnwrapPad(ecb(kek, 'decrypt'), forged)).toBeUndefined();
    await expect(aesKeyWrapPad(ecb(kek, 'encrypt'), Buffer.alloc(0))).rejects.toThrow(/must not be empty/);
  });
});
