// Transfer blobs made the way a vendor's BYOK tool makes them, with node:crypto only: the
// target's PKCS#8 (or raw AES bytes) under AES key wrap with padding, its ephemeral key under
// RSA-OAEP to the key-exchange key.
import { type KeyObject, constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';

export type Enc = 'CKM_RSA_AES_KEY_WRAP' | 'RSA_AES_KEY_WRAP_256' | 'RSA_AES_KEY_WRAP_384';
export const ENCS: readonly Enc[] = ['CKM_RSA_AES_KEY_WRAP', 'RSA_AES_KEY_WRAP_256', 'RSA_AES_KEY_WRAP_384'];
const OAEP_HASH: Readonly<Record<Enc, string>> = { CKM_RSA_AES_KEY_WRAP: 'sha1', RSA_AES_KEY_WRAP_256: 'sha256', RSA_AES_KEY_WRAP_384: 'sha384' };

/** RFC 5649: AES key wrap with padding (OpenSSL's id-aesN-wrap-pad). */
export function aesKeyWrapPad(key: Buffer, plaintext: Buffer): Buffer {
  const cipher = createCipheriv(`id-aes${key.length * 8}-wrap-pad`, key, Buffer.from('A65959A6', 'hex'));
  return Buffer.concat([cipher.update(plaintext), cipher.final()]);
}

export interface BlobOptions {
  enc?: Enc;
  /** Bytes of the ephemeral AES key (default 32). */
  ephemeralBytes?: number;
}

/** The target's plaintext as BYOK wraps it: PKCS#8 for key pairs, the raw value for AES. */
export function targetPlaintext(target: KeyObject | Buffer): Buffer {
  return Buffer.isBuffer(target) ? target : (target.export({ format: 'der', type: 'pkcs8' }) as Buffer);
}

export function rsaAesCiphertext(kekPublic: KeyObject, plaintext: Buffer, options: BlobOptions = {}): Buffer {
  const enc = options.enc ?? 'CKM_RSA_AES_KEY_WRAP';
  const ephemeral = randomBytes(options.ephemeralBytes ?? 32);
  const wrappedKey = publicEncrypt({ key: kekPublic, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[enc] }, ephemeral);
  return Buffer.concat([wrappedKey, aesKeyWrapPad(ephemeral, plaintext)]);
}

export function transferBlob(kid: string, ciphertext: Buffer, enc: Enc = 'CKM_RSA_AES_KEY_WRAP'): string {
  const document = { schema_version: '1.0.0', header: { kid, alg: 'dir', enc }, ciphertext: ciphertext.toString('base64url'), generator: 'test: node:crypto' };
  return Buffer.from(JSON.stringify(document)).toString('base64url');
}

/** key_hsm for `target` under the KEK whose public JWK (n, e) and kid are given. */
export function keyHsmFor(kek: { kid: string; n: string; e: string }, target: KeyObject | Buffer, options: BlobOptions = {}): string {
  const kekPublic = createPublicKey({ key: { kty: 'RSA', n: kek.n, e: kek.e }, format: 'jwk' });
  return transferBlob(kek.kid, rsaAesCiphertext(kekPublic, targetPlaintext(target), options), options.enc);
}
