// EME-OAEP coding checked against OpenSSL: our encoding decrypts with node:crypto's
// privateDecrypt, and node:crypto's encryptions decode with ours.
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt } from 'node:crypto';
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
