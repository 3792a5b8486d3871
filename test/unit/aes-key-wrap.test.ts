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

describe('the framing at its edges', () => {
  const kek = randomBytes(16);
  /** RFC 3394 with any initial value, by OpenSSL: the way to forge an RFC 5649 frame of our choosing. */
  function wrapWithIv(iv: Buffer, data: Buffer): Buffer {
    const cipher = createCipheriv('id-aes128-wrap', kek, iv);
    return Buffer.concat([cipher.update(data), cipher.final()]);
  }
  const frame = (prefix: string, length: number) => {
    const mli = Buffer.alloc(4);
    mli.writeUInt32BE(length);
    return Buffer.concat([hex(prefix), mli]);
  };

  it('wraps only multiples of 8 bytes from 16 under RFC 3394, and unwraps only multiples of 8 from 24', async () => {
    for (const bytes of [0, 8, 15, 17, 20]) {
      await expect(aesKeyWrap(ecb(kek, 'encrypt'), Buffer.alloc(bytes)), String(bytes)).rejects.toThrow(new RangeError('the value to wrap must be a multiple of 8 bytes and at least 16 bytes'));
    }
    expect(await aesKeyWrap(ecb(kek, 'encrypt'), Buffer.alloc(16))).toHaveLength(24);
    const wrapped = await aesKeyWrap(ecb(kek, 'encrypt'), Buffer.alloc(24, 3));
    expect((await aesKeyUnwrap(ecb(kek, 'decrypt'), wrapped))?.equals(Buffer.alloc(24, 3))).toBe(true);
    for (const bytes of [0, 8, 16, 25, 31]) expect(await aesKeyUnwrap(ecb(kek, 'decrypt'), Buffer.alloc(bytes)), String(bytes)).toBeUndefined();
  });

  it('unwraps under RFC 5649 only whole blocks from 16 bytes', async () => {
    for (const bytes of [0, 8, 15, 17, 20, 23]) expect(await aesKeyUnwrapPad(ecb(kek, 'decrypt'), Buffer.alloc(bytes)), String(bytes)).toBeUndefined();
  });

  it('holds an RFC 5649 frame to its prefix and its length indicator, one block or more', async () => {
    const single = async (prefix: string, length: number, data: string) =>
      aesKeyUnwrapPad(ecb(kek, 'decrypt'), await ecb(kek, 'encrypt')(Buffer.concat([frame(prefix, length), Buffer.from(data, 'latin1')])));
    expect((await single('a65959a6', 5, 'hello\0\0\0'))?.toString()).toBe('hello');
    expect((await single('a65959a6', 8, 'eightchr'))?.toString()).toBe('eightchr');
    expect((await single('a65959a6', 1, 'x\0\0\0\0\0\0\0'))?.toString()).toBe('x');
    expect(await single('a6a6a6a6', 5, 'hello\0\0\0')).toBeUndefined();
    expect(await single('a65959a7', 5, 'hello\0\0\0')).toBeUndefined();
    expect(await single('a65959a6', 9, 'eightchr')).toBeUndefined();
    expect(await single('a65959a6', 0, '\0\0\0\0\0\0\0\0')).toBeUndefined();

    const several = async (prefix: string, length: number, data: Buffer) => aesKeyUnwrapPad(ecb(kek, 'decrypt'), wrapWithIv(frame(prefix, length), data));
    const sixteen = Buffer.concat([Buffer.from('nine byte'), Buffer.alloc(7)]);
    expect((await several('a65959a6', 9, sixteen))?.toString()).toBe('nine byte');
    expect((await several('a65959a6', 16, Buffer.from('sixteen bytes!!!')))?.toString()).toBe('sixteen bytes!!!');
    expect(await several('a6a6a6a6', 9, sixteen)).toBeUndefined();
    // The indicator must fall in the last block: 8 of 16 would leave a whole block of padding.
    expect(await several('a65959a6', 8, sixteen)).toBeUndefined();
    expect(await several('a65959a6', 17, sixteen)).toBeUndefined();
    // And what follows it must be zeros.
    expect(await several('a65959a6', 9, Buffer.concat([Buffer.from('nine byte'), Buffer.alloc(6), Buffer.from([1])]))).toBeUndefined();
  });
});
