// Compact A256CBC-HS512 JWE: the RFC 7518 B.3 vector through the AEAD, round trips of both key
// modes, and refusal of any change to header, IV, ciphertext or tag.
import { constants, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  a256CbcHs512Decrypt,
  a256CbcHs512Encrypt,
  decryptJwe,
  decryptRsaCek,
  encryptDirJwe,
  encryptRsaJwe,
  parseJwe,
} from '../../src/hsm/security-domain/jwe.js';

const vector = JSON.parse(readFileSync(new URL('../vectors/a256cbc-hs512.json', import.meta.url), 'utf8')) as Record<'K' | 'P' | 'IV' | 'A' | 'E' | 'T', string>;
const hex = (text: string) => Buffer.from(text, 'hex');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('RFC 7518 Appendix B.3', () => {
  it('encrypts P to E with tag T', () => {
    const { ciphertext, tag } = a256CbcHs512Encrypt(hex(vector.K), hex(vector.IV), hex(vector.A), hex(vector.P));
    expect(ciphertext.toString('hex')).toBe(vector.E);
    expect(tag.toString('hex')).toBe(vector.T);
  });

  it('decrypts E with T back to P, and refuses T with one bit flipped', () => {
    expect(a256CbcHs512Decrypt(hex(vector.K), hex(vector.IV), hex(vector.A), hex(vector.E), hex(vector.T)).toString('hex')).toBe(vector.P);
    const tag = hex(vector.T);
    tag[31] = (tag[31] as number) ^ 0x80;
    expect(() => a256CbcHs512Decrypt(hex(vector.K), hex(vector.IV), hex(vector.A), hex(vector.E), tag)).toThrow(/authentication tag does not match/);
  });
});

describe('compact JWE', () => {
  it('round-trips alg dir with the header serialized compactly in its key order and an empty encrypted key', () => {
    const cek = randomBytes(64);
    const plaintext = randomBytes(100);
    const compact = encryptDirJwe(cek, plaintext, { alg: 'dir', enc: 'A256CBC-HS512', kid: 'hsm_backup' });
    const parts = compact.split('.');
    expect(parts).toHaveLength(5);
    expect(Buffer.from(parts[0] as string, 'base64url').toString()).toBe('{"alg":"dir","enc":"A256CBC-HS512","kid":"hsm_backup"}');
    expect(parts[1]).toBe('');
    expect(compact).not.toMatch(/[=+/]/);
    const parsed = parseJwe(compact);
    expect(parsed.header).toEqual({ alg: 'dir', enc: 'A256CBC-HS512', kid: 'hsm_backup' });
    expect(parsed.iv).toHaveLength(16);
    expect(parsed.tag).toHaveLength(32);
    expect(parsed.ciphertext).toHaveLength(112);
    expect(decryptJwe(parsed, cek).equals(plaintext)).toBe(true);
    expect(() => decryptJwe(parsed, randomBytes(64))).toThrow(/jwe: the authentication tag does not match/);
  });

  it('round-trips RSA-OAEP-256 with a random 64-byte CEK encrypted with OAEP SHA-256 / MGF1-SHA-256', () => {
    const plaintext = randomBytes(32);
    const parsed = parseJwe(encryptRsaJwe(rsa.publicKey, plaintext));
    expect(parsed.header).toEqual({ alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512', kid: 'not used' });
    expect(parsed.encryptedKey).toHaveLength(256);
    expect(parsed.ciphertext).toHaveLength(48);
    const cek = decryptRsaCek(rsa.privateKey, parsed);
    expect(cek).toHaveLength(64);
    expect(decryptJwe(parsed, cek).equals(plaintext)).toBe(true);
    expect(parseJwe(encryptRsaJwe(rsa.publicKey, plaintext, 'k1')).header.kid).toBe('k1');
  });

  it('decrypts CEKs encrypted with RSA-OAEP (SHA-1) and RSA1_5, as az accepts them', () => {
    const cek = randomBytes(64);
    const plaintext = randomBytes(20);
    const base = parseJwe(encryptDirJwe(cek, plaintext, { alg: 'dir', enc: 'A256CBC-HS512' }));
    const sha1 = publicEncrypt({ key: rsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, cek);
    const v15 = publicEncrypt({ key: rsa.publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
    for (const [alg, encryptedKey] of [['RSA-OAEP', sha1], ['RSA1_5', v15]] as const) {
      const opened = decryptRsaCek(rsa.privateKey, { ...base, header: { alg, enc: 'A256CBC-HS512' }, encryptedKey });
      expect(opened.equals(cek)).toBe(true);
      expect(decryptJwe(base, opened).equals(plaintext)).toBe(true);
    }
    // The SHA-1 ciphertext does not open as SHA-256, nor as RSA1_5.
    expect(() => decryptRsaCek(rsa.privateKey, { ...base, header: { alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512' }, encryptedKey: sha1 })).toThrow(/could not decrypt the content key/);
    // (About 1 time in 256 the raw block happens to start 00 02 and decodes to a wrong length.)
    expect(() => decryptRsaCek(rsa.privateKey, { ...base, header: { alg: 'RSA1_5', enc: 'A256CBC-HS512' }, encryptedKey: sha1 })).toThrow(/could not decrypt the content key|is not 64 bytes/);
    expect(() => decryptRsaCek(rsa.privateKey, { ...base, header: { alg: 'A256KW', enc: 'A256CBC-HS512' }, encryptedKey: sha1 })).toThrow(/must be RSA-OAEP-256, RSA-OAEP or RSA1_5/);
  });

  it('refuses a flipped bit anywhere in header, IV, ciphertext or tag', () => {
    const cek = randomBytes(64);
    const compact = encryptDirJwe(cek, randomBytes(40), { alg: 'dir', enc: 'A256CBC-HS512', kid: 't' });
    const parts = compact.split('.');
    let checked = 0;
    for (const part of [0, 2, 3, 4]) {
      const bytes = Buffer.from(parts[part] as string, 'base64url');
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const flipped = Buffer.from(bytes);
        flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
        const changed = parts.map((p, i) => (i === part ? flipped.toString('base64url') : p)).join('.');
        let parsed;
        try {
          parsed = parseJwe(changed);
        } catch {
          checked++; // a header that no longer parses, or no longer says A256CBC-HS512
          continue;
        }
        expect(() => decryptJwe(parsed, cek)).toThrow(/authentication tag does not match/);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(8 * (16 + 48 + 32));
  });

  it('refuses malformed compact JWEs with the field named', () => {
    const good = encryptDirJwe(randomBytes(64), randomBytes(10), { alg: 'dir', enc: 'A256CBC-HS512' }).split('.');
    const join = (replace: Record<number, string>) => good.map((p, i) => replace[i] ?? p).join('.');
    const header = (json: string) => Buffer.from(json).toString('base64url');
    expect(() => parseJwe(good.slice(0, 4).join('.'), 'x.compact_jwe')).toThrow(/x.compact_jwe: a compact JWE has 5 parts/);
    expect(() => parseJwe(42)).toThrow(/jwe: must be a compact JWE string/);
    expect(() => parseJwe(join({ 4: Buffer.from(good[4] as string, 'base64url').subarray(0, 31).toString('base64url') }))).toThrow(/authentication tag must be exactly 32 bytes, got 31/);
    expect(() => parseJwe(join({ 2: randomBytes(12).toString('base64url') }))).toThrow(/IV must be 16 bytes, got 12/);
    expect(() => parseJwe(join({ 3: `${good[3]}=` }))).toThrow(/ciphertext is not base64url without padding/);
    expect(() => parseJwe(join({ 3: (good[3] as string).replace(/^./, '+') }))).toThrow(/ciphertext is not base64url/);
    expect(() => parseJwe(join({ 0: header('{"alg":"dir","enc":"A128GCM"}') }))).toThrow(/header "enc" must be A256CBC-HS512/);
    expect(() => parseJwe(join({ 0: header('{"enc":"A256CBC-HS512"}') }))).toThrow(/header "alg" must be a string/);
    expect(() => parseJwe(join({ 0: header('[1]') }))).toThrow(/protected header must be a JSON object/);
    expect(() => parseJwe(join({ 0: header('{nope') }))).toThrow(/protected header is not JSON/);
    expect(() => parseJwe(join({ 0: '' }))).toThrow(/protected header is empty/);
    expect(() => parseJwe(join({ 3: '' }))).toThrow(/ciphertext must be a positive multiple of 16 bytes, got 0/);
    expect(() => encryptDirJwe(randomBytes(32), randomBytes(10), { alg: 'dir', enc: 'A256CBC-HS512' })).toThrow(/needs a 64-byte key, got 32/);
  });
});
