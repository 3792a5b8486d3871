// What the compact-JWE layer (src/hsm/security-domain/jwe.ts) refuses, each with its exact code
// and message: AEAD inputs of the wrong size, a tag that matches over bad padding, malformed
// parts of a compact JWE, and RSA content keys that do not decode to 64 bytes.
import { constants, createCipheriv, createHmac, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HsmError } from '../../src/hsm/errors.js';
import { a256CbcHs512Decrypt, a256CbcHs512Encrypt, decryptRsaCek, encryptDirJwe, parseJwe } from '../../src/hsm/security-domain/jwe.js';
import { refusal } from '../helpers/refusal.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const bad = (message: string) => ({ code: 'BadParameter', message });
const b64 = (json: string) => Buffer.from(json).toString('base64url');

function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal');
}

/** RFC 7518 section 5.2.2.1's tag, computed independently of the module. */
function tagOf(cek: Buffer, aad: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  const bits = Buffer.alloc(8);
  bits.writeBigUInt64BE(BigInt(aad.length) * 8n);
  return createHmac('sha512', cek.subarray(0, 32)).update(aad).update(iv).update(ciphertext).update(bits).digest().subarray(0, 32);
}

/** The same bytes spelled with a non-zero unused tail bit: Buffer.from reads it, a strict decoder must not. */
function nonCanonical(part: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const changed = part.slice(0, -1) + alphabet[alphabet.indexOf(part.at(-1) as string) + 1];
  expect(Buffer.from(changed, 'base64url').equals(Buffer.from(part, 'base64url'))).toBe(true);
  return changed;
}

describe('A256CBC-HS512', () => {
  const cek = randomBytes(64);
  const iv = randomBytes(16);
  const aad = Buffer.from('header');
  const { ciphertext, tag } = a256CbcHs512Encrypt(cek, iv, aad, randomBytes(40));

  it('encrypts only with a 64-byte key and a 16-byte IV', () => {
    expect(refusal(() => a256CbcHs512Encrypt(randomBytes(32), iv, aad, Buffer.alloc(1)))).toEqual(bad('cek: A256CBC-HS512 needs a 64-byte key, got 32 bytes'));
    expect(refusal(() => a256CbcHs512Encrypt(cek, randomBytes(12), aad, Buffer.alloc(1)))).toEqual(bad('iv: must be 16 bytes, got 12'));
  });

  it.each([
    ['a 32-byte key', () => a256CbcHs512Decrypt(randomBytes(32), iv, aad, ciphertext, tag), 'jwe: A256CBC-HS512 needs a 64-byte key, got 32 bytes'],
    ['a 12-byte IV', () => a256CbcHs512Decrypt(cek, randomBytes(12), aad, ciphertext, tag), 'jwe: the IV must be 16 bytes, got 12'],
    ['a 31-byte tag', () => a256CbcHs512Decrypt(cek, iv, aad, ciphertext, tag.subarray(0, 31)), 'jwe: the authentication tag must be 32 bytes, got 31'],
    ['an empty ciphertext', () => a256CbcHs512Decrypt(cek, iv, aad, Buffer.alloc(0), tag), 'jwe: the ciphertext must be a positive multiple of 16 bytes, got 0'],
    ['a 20-byte ciphertext', () => a256CbcHs512Decrypt(cek, iv, aad, ciphertext.subarray(0, 20), tag), 'jwe: the ciphertext must be a positive multiple of 16 bytes, got 20'],
    ['another AAD', () => a256CbcHs512Decrypt(cek, iv, Buffer.from('Header'), ciphertext, tag), 'jwe: the authentication tag does not match: wrong key, or the header, IV, ciphertext or tag was changed'],
  ])('decryption refuses %s, naming the JWE "jwe" by default', (_label, run, message) => {
    expect(refusal(run)).toEqual(bad(message));
  });

  it('names the given field in its refusals', () => {
    expect(refusal(() => a256CbcHs512Decrypt(cek, randomBytes(12), aad, ciphertext, tag, 'x.compact_jwe'))).toEqual(bad('x.compact_jwe: the IV must be 16 bytes, got 12'));
  });

  it('refuses a plaintext whose PKCS#7 padding is invalid under a matching tag, keeping the cause', () => {
    // One block ending in 0x00: no valid padding, encrypted without any.
    const cipher = createCipheriv('aes-256-cbc', cek.subarray(32), iv).setAutoPadding(false);
    const unpadded = Buffer.concat([cipher.update(Buffer.alloc(16, 0x41).fill(0, 15)), cipher.final()]);
    const error = thrown(() => a256CbcHs512Decrypt(cek, iv, aad, unpadded, tagOf(cek, aad, iv, unpadded), 'item'));
    expect(error).toBeInstanceOf(HsmError);
    expect({ code: (error as HsmError).code, message: error.message }).toEqual(bad("item: the plaintext's PKCS#7 padding is invalid although the tag matched"));
    expect(error.cause).toBeInstanceOf(Error);
  });
});

describe('compact JWE', () => {
  const good = encryptDirJwe(randomBytes(64), randomBytes(10), { alg: 'dir', enc: 'A256CBC-HS512', kid: 't' }).split('.');
  const join = (replace: Record<number, string>) => good.map((part, i) => replace[i] ?? part).join('.');

  it('is made only with content encryption A256CBC-HS512', () => {
    expect(refusal(() => encryptDirJwe(randomBytes(64), randomBytes(10), { alg: 'dir', enc: 'A128GCM' }))).toEqual(bad('header.enc: must be A256CBC-HS512, got A128GCM'));
  });

  it.each([
    ['a padded header', { 0: `${good[0]}=` }, 'share: the protected header is not base64url without padding'],
    ['a null header', { 0: b64('null') }, 'share: the protected header must be a JSON object'],
    ['a number as header', { 0: b64('5') }, 'share: the protected header must be a JSON object'],
    ['a string as header', { 0: b64('"dir"') }, 'share: the protected header must be a JSON object'],
    ['a numeric kid', { 0: b64('{"alg":"dir","enc":"A256CBC-HS512","kid":5}') }, 'share: header "kid" must be a string when present'],
    ['a padded encrypted key', { 1: 'AAA=' }, 'share: the encrypted key is not base64url without padding'],
    ['a non-canonical encrypted key', { 1: 'AB' }, 'share: the encrypted key is not base64url without padding'],
    ['a padded IV', { 2: `${good[2]}==` }, 'share: the IV is not base64url without padding'],
    ['a non-canonical IV', { 2: nonCanonical(good[2] as string) }, 'share: the IV is not base64url without padding'],
    ['a 20-byte ciphertext', { 3: randomBytes(20).toString('base64url') }, 'share: the ciphertext must be a positive multiple of 16 bytes, got 20'],
    ['a padded tag', { 4: `${good[4]}=` }, 'share: the authentication tag is not base64url without padding'],
  ])('refuses %s, naming the part', (_label, replace, message) => {
    expect(refusal(() => parseJwe(join(replace), 'share'))).toEqual(bad(message));
  });

  it('accepts a header without kid, and keeps the parts as given', () => {
    const header = b64('{"alg":"dir","enc":"A256CBC-HS512"}');
    const parsed = parseJwe(join({ 0: header }), 'share');
    expect(parsed.header).toEqual({ alg: 'dir', enc: 'A256CBC-HS512' });
    expect(parsed.protectedB64).toBe(header);
    expect(parsed.field).toBe('share');
    expect(parsed.encryptedKey).toHaveLength(0);
  });
});

describe('RSA content key', () => {
  const parsed = parseJwe(encryptDirJwe(randomBytes(64), randomBytes(10), { alg: 'RSA1_5', enc: 'A256CBC-HS512' }), 'share');
  /** An RSA1_5 JWE whose raw RSA block (before the private-key operation) is `block`. */
  const rawBlock = (block: Buffer) => ({ ...parsed, encryptedKey: publicEncrypt({ key: rsa.publicKey, padding: constants.RSA_NO_PADDING }, block) });
  /** 00 02, `padding` non-zero bytes, 00, then the key: 256 bytes in all. */
  const block = (start: [number, number], padding: number, key = randomBytes(256 - 3 - padding)) =>
    Buffer.concat([Buffer.from(start), Buffer.alloc(padding, 0xff), Buffer.alloc(1), key]);
  const notOpened = bad('share: the private key could not decrypt the content key (not the key this was encrypted to?)');

  it('is needed: an empty encrypted key is refused before any decryption', () => {
    const empty = parseJwe(encryptDirJwe(randomBytes(64), randomBytes(10), { alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512' }), 'share');
    expect(refusal(() => decryptRsaCek(rsa.privateKey, empty))).toEqual(bad('share: the encrypted key is empty, but alg RSA-OAEP-256 needs one'));
  });

  it('decodes an RSA1_5 block of 00 02, at least 8 non-zero bytes and 00 to the bytes after it', () => {
    const cek = randomBytes(64);
    expect(decryptRsaCek(rsa.privateKey, rawBlock(block([0x00, 0x02], 256 - 3 - 64, cek))).equals(cek)).toBe(true);
  });

  it.each([
    ['starts 00 01', block([0x00, 0x01], 256 - 3 - 64, randomBytes(64))],
    ['starts 01 02', block([0x01, 0x02], 256 - 3 - 64, randomBytes(64))],
    ['has only 7 padding bytes', block([0x00, 0x02], 7)],
  ])('refuses an RSA1_5 block that %s', (_label, raw) => {
    expect(refusal(() => decryptRsaCek(rsa.privateKey, rawBlock(raw)))).toEqual(notOpened);
  });

  it('refuses a content key that is not 64 bytes, from RSA1_5 or RSA-OAEP-256', () => {
    const shortOaep = { ...parsed, header: { alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512' }, encryptedKey: publicEncrypt({ key: rsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32)) };
    const notSixtyFour = bad('share: the decrypted content key is not 64 bytes');
    expect(refusal(() => decryptRsaCek(rsa.privateKey, shortOaep))).toEqual(notSixtyFour);
    // Exactly 8 padding bytes is the least allowed: it decodes, to 245 bytes.
    expect(refusal(() => decryptRsaCek(rsa.privateKey, rawBlock(block([0x00, 0x02], 8))))).toEqual(notSixtyFour);
  });
});
