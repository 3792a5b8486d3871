// EME-OAEP coding checked against OpenSSL: our encoding decrypts with node:crypto's
// privateDecrypt, and node:crypto's encryptions decode with ours.
import { constants, createHash, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { oaepDecode, oaepEncode } from '../../src/hsm/algorithms/oaep.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

function rawPrivate(data: Buffer): Buffer {
  return privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, data);
}
function rawPublic(data: Buffer): Buffer {
  return publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, data);
}

describe('OAEP', () => {
  it.each(['sha1', 'sha256'] as const)('%s: our encoding is what OpenSSL decodes, and the other way round', (hash) => {
    for (const length of [0, 1, 32, 190]) {
      const message = Buffer.alloc(length, 7);
      const ours = rawPublic(oaepEncode(hash, message, 256));
      expect(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, ours).equals(message)).toBe(true);
      const theirs = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, message);
      expect(oaepDecode(hash, rawPrivate(theirs), 256)?.equals(message)).toBe(true);
    }
  });

  it('refuses a message too long for the key, and garbage when decoding', () => {
    expect(() => oaepEncode('sha256', Buffer.alloc(191), 256)).toThrow(/at most 190 bytes/);
    expect(oaepDecode('sha256', rawPrivate(rawPublic(Buffer.alloc(256, 0x11).fill(0, 0, 1))), 256)).toBeUndefined();
    const theirs = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, Buffer.from('x'));
    expect(oaepDecode('sha256', rawPrivate(theirs), 256)).toBeUndefined();
  });
});

describe('OAEP decoding, one defect at a time', () => {
  // An EME-OAEP encoder of the test's own (RFC 8017 7.1.1), able to build each defect on purpose.
  function mgf1(hash: 'sha1' | 'sha256', seed: Buffer, length: number): Buffer {
    const out: Buffer[] = [];
    for (let counter = 0; out.length * createHash(hash).digest().length < length; counter++) {
      const c = Buffer.alloc(4);
      c.writeUInt32BE(counter);
      out.push(createHash(hash).update(seed).update(c).digest());
    }
    return Buffer.concat(out).subarray(0, length);
  }
  const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((byte, i) => byte ^ (b[i] as number)));
  function encodeRaw(hash: 'sha1' | 'sha256', k: number, afterHash: Buffer, options: { labelHash?: Buffer; first?: number } = {}): Buffer {
    const hLen = createHash(hash).digest().length;
    const lHash = options.labelHash ?? createHash(hash).digest();
    const db = Buffer.concat([lHash, afterHash]);
    expect(db.length).toBe(k - hLen - 1);
    const seed = randomBytes(hLen);
    const maskedDb = xor(db, mgf1(hash, seed, db.length));
    const maskedSeed = xor(seed, mgf1(hash, maskedDb, hLen));
    return Buffer.concat([Buffer.from([options.first ?? 0]), maskedSeed, maskedDb]);
  }
  const K = 128;
  const psAnd = (message: Buffer, hLen: number, ps = Buffer.alloc(K - message.length - 2 * hLen - 2)) => Buffer.concat([ps, Buffer.from([1]), message]);

  it.each(['sha1', 'sha256'] as const)('%s: decodes a good block to the exact message, 0x01 bytes in it kept', (hash) => {
    const hLen = hash === 'sha1' ? 20 : 32;
    for (const message of [Buffer.from([1, 1, 0, 1]), Buffer.alloc(0), Buffer.from('plain'), Buffer.alloc(K - 2 * hLen - 2, 1)]) {
      expect(oaepDecode(hash, encodeRaw(hash, K, psAnd(message, hLen)), K)?.equals(message)).toBe(true);
    }
    // Without its leading zero byte, as raw RSA may return it: the same.
    const good = encodeRaw(hash, K, psAnd(Buffer.from('m'), hLen));
    expect(oaepDecode(hash, good.subarray(1), K)?.toString()).toBe('m');
  });

  it.each(['sha1', 'sha256'] as const)('%s: refuses each defect alone', (hash) => {
    const hLen = hash === 'sha1' ? 20 : 32;
    const message = Buffer.from('the content key');
    expect(oaepDecode(hash, encodeRaw(hash, K, psAnd(message, hLen), { first: 1 }), K)).toBeUndefined();
    expect(oaepDecode(hash, encodeRaw(hash, K, psAnd(message, hLen), { labelHash: createHash(hash).update('other').digest() }), K)).toBeUndefined();
    expect(oaepDecode(hash, encodeRaw(hash, K, psAnd(message, hLen)), K, Buffer.from('a label'))).toBeUndefined();
    const badPs = Buffer.alloc(K - message.length - 2 * hLen - 2);
    badPs[3] = 2;
    expect(oaepDecode(hash, encodeRaw(hash, K, psAnd(message, hLen, badPs)), K)).toBeUndefined();
    expect(oaepDecode(hash, encodeRaw(hash, K, Buffer.alloc(K - 2 * hLen - 1)), K)).toBeUndefined();
    // Longer than the modulus.
    expect(oaepDecode(hash, Buffer.concat([Buffer.alloc(1), encodeRaw(hash, K, psAnd(message, hLen))]), K)).toBeUndefined();
  });

  it('takes the smallest modulus OAEP allows, and no smaller', () => {
    // 2 hLen + 2 bytes: room for an empty message only.
    const smallest = 2 * 20 + 2;
    const block = encodeRaw('sha1', smallest, Buffer.from([1]));
    expect(oaepDecode('sha1', block, smallest)).toEqual(Buffer.alloc(0));
    expect(oaepEncode('sha1', Buffer.alloc(0), smallest)).toHaveLength(smallest);
    expect(oaepDecode('sha1', block.subarray(1), smallest - 1)).toBeUndefined();
    // Smaller still: refused before any unmasking (there is no room for the label hash).
    for (const k of [2 * 20, 2 * 20 - 1, 22, 2]) expect(oaepDecode('sha1', Buffer.alloc(k, 7), k), String(k)).toBeUndefined();
    expect(() => oaepEncode('sha1', Buffer.alloc(1), smallest)).toThrow(new RangeError('the plaintext must be at most 0 bytes for this key'));
  });
});
