// Compact JWE as the security-domain formats use it: content always A256CBC-HS512 (RFC 7518
// section 5.2.5), the key either given directly (alg "dir") or a random CEK encrypted to an RSA
// key. Decrypting an RSA-encrypted CEK on the server happens in the token, so the server passes
// the CEK in; decryptRsaCek is for offline tools that hold the private key themselves.
import { constants, createCipheriv, createDecipheriv, createHmac, type KeyObject, privateDecrypt, publicEncrypt, randomBytes, timingSafeEqual } from 'node:crypto';
import { HsmError, badParameter } from '../errors.js';

export const CONTENT_ENCRYPTION = 'A256CBC-HS512';
const CEK_BYTES = 64;
const IV_BYTES = 16;
const TAG_BYTES = 32;

export interface JweHeader {
  alg: string;
  enc: string;
  kid?: string;
  [name: string]: unknown;
}

export interface ParsedJwe {
  header: JweHeader;
  /** The protected header exactly as sent: its ASCII is the AAD. */
  protectedB64: string;
  encryptedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
  /** Names the JWE in error messages (for example `EncData.data[0].compact_jwe`). */
  field: string;
}

function checkCek(cek: Buffer, field: string): void {
  if (cek.length !== CEK_BYTES) throw badParameter(`${field}: A256CBC-HS512 needs a ${CEK_BYTES}-byte key, got ${cek.length} bytes`);
}

/** First 32 bytes of HMAC-SHA512(MAC key, AAD ‖ IV ‖ CT ‖ BE64(bits of AAD)). */
function authenticationTag(macKey: Buffer, aad: Buffer, iv: Buffer, ciphertext: Buffer): Buffer {
  const aadBits = Buffer.alloc(8);
  aadBits.writeBigUInt64BE(BigInt(aad.length) * 8n);
  const mac = createHmac('sha512', macKey).update(aad).update(iv).update(ciphertext).update(aadBits).digest();
  const tag = Buffer.from(mac.subarray(0, TAG_BYTES));
  mac.fill(0);
  return tag;
}

/** The AEAD itself, with IV and AAD given, so that RFC 7518's vector can drive it. */
export function a256CbcHs512Encrypt(cek: Buffer, iv: Buffer, aad: Buffer, plaintext: Buffer): { ciphertext: Buffer; tag: Buffer } {
  checkCek(cek, 'cek');
  if (iv.length !== IV_BYTES) throw badParameter(`iv: must be ${IV_BYTES} bytes, got ${iv.length}`);
  // RFC 7518: MAC key first, encryption key second.
  const cipher = createCipheriv('aes-256-cbc', cek.subarray(32, 64), iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, tag: authenticationTag(cek.subarray(0, 32), aad, iv, ciphertext) };
}

/** Checks the tag in constant time before any decryption; throws on a mismatch. */
export function a256CbcHs512Decrypt(cek: Buffer, iv: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer, field = 'jwe'): Buffer {
  checkCek(cek, field);
  if (iv.length !== IV_BYTES) throw badParameter(`${field}: the IV must be ${IV_BYTES} bytes, got ${iv.length}`);
  if (tag.length !== TAG_BYTES) throw badParameter(`${field}: the authentication tag must be ${TAG_BYTES} bytes, got ${tag.length}`);
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
    throw badParameter(`${field}: the ciphertext must be a positive multiple of 16 bytes, got ${ciphertext.length}`);
  }
  const expected = authenticationTag(cek.subarray(0, 32), aad, iv, ciphertext);
  if (!timingSafeEqual(expected, tag)) {
    throw badParameter(`${field}: the authentication tag does not match: wrong key, or the header, IV, ciphertext or tag was changed`);
  }
  const decipher = createDecipheriv('aes-256-cbc', cek.subarray(32, 64), iv);
  const head = decipher.update(ciphertext);
  try {
    const tail = decipher.final();
    const plaintext = Buffer.concat([head, tail]);
    tail.fill(0);
    return plaintext;
  } catch (error) {
    throw new HsmError('BadParameter', `${field}: the plaintext's PKCS#7 padding is invalid although the tag matched`, { cause: error });
  } finally {
    head.fill(0);
  }
}

function encodeHeader(header: JweHeader): string {
  return Buffer.from(JSON.stringify(header), 'utf8').toString('base64url');
}

function compact(protectedB64: string, encryptedKey: Buffer, cek: Buffer, plaintext: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const { ciphertext, tag } = a256CbcHs512Encrypt(cek, iv, Buffer.from(protectedB64, 'ascii'), plaintext);
  return [protectedB64, encryptedKey, iv, ciphertext, tag].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

/** A JWE whose CEK is `cek` itself; the header is serialized compactly, in its own key order. */
export function encryptDirJwe(cek: Buffer, plaintext: Buffer, header: JweHeader): string {
  if (header.enc !== CONTENT_ENCRYPTION) throw badParameter(`header.enc: must be ${CONTENT_ENCRYPTION}, got ${String(header.enc)}`);
  return compact(encodeHeader(header), Buffer.alloc(0), cek, plaintext);
}

/** A JWE with a random CEK encrypted by RSA-OAEP with SHA-256 and MGF1-SHA-256 to `publicKey`. */
export function encryptRsaJwe(publicKey: KeyObject, plaintext: Buffer, kid = 'not used'): string {
  const cek = randomBytes(CEK_BYTES);
  try {
    // OpenSSL uses the OAEP digest for MGF1 too unless told otherwise: MGF1-SHA-256 here.
    const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek);
    return compact(encodeHeader({ alg: 'RSA-OAEP-256', enc: CONTENT_ENCRYPTION, kid }), encryptedKey, cek, plaintext);
  } finally {
    cek.fill(0);
  }
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function decodePart(part: string, name: string, field: string): Buffer {
  const bytes = Buffer.from(part, 'base64url');
  // Re-encoding catches what Buffer.from silently skips: stray characters, padding, bad tails.
  if (!BASE64URL.test(part) || bytes.toString('base64url') !== part) {
    throw badParameter(`${field}: the ${name} is not base64url without padding`);
  }
  return bytes;
}

/** Splits and checks a compact JWE; nothing is decrypted here. */
export function parseJwe(compactJwe: unknown, field = 'jwe'): ParsedJwe {
  if (typeof compactJwe !== 'string') throw badParameter(`${field}: must be a compact JWE string`);
  const parts = compactJwe.split('.');
  if (parts.length !== 5) throw badParameter(`${field}: a compact JWE has 5 parts separated by ".", got ${parts.length}`);
  const [protectedB64, encryptedKeyB64, ivB64, ciphertextB64, tagB64] = parts as [string, string, string, string, string];
  if (protectedB64 === '') throw badParameter(`${field}: the protected header is empty`);
  let header: unknown;
  try {
    header = JSON.parse(decodePart(protectedB64, 'protected header', field).toString('utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) throw badParameter(`${field}: the protected header is not JSON`);
    throw error;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw badParameter(`${field}: the protected header must be a JSON object`);
  const { alg, enc, kid } = header as Record<string, unknown>;
  if (typeof alg !== 'string') throw badParameter(`${field}: header "alg" must be a string`);
  if (enc !== CONTENT_ENCRYPTION) throw badParameter(`${field}: header "enc" must be ${CONTENT_ENCRYPTION}, got ${JSON.stringify(enc)}`);
  if (kid !== undefined && typeof kid !== 'string') throw badParameter(`${field}: header "kid" must be a string when present`);
  const iv = decodePart(ivB64, 'IV', field);
  if (iv.length !== IV_BYTES) throw badParameter(`${field}: the IV must be ${IV_BYTES} bytes, got ${iv.length}`);
  const ciphertext = decodePart(ciphertextB64, 'ciphertext', field);
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
    throw badParameter(`${field}: the ciphertext must be a positive multiple of 16 bytes, got ${ciphertext.length}`);
  }
  const tag = decodePart(tagB64, 'authentication tag', field);
  if (tag.length !== TAG_BYTES) throw badParameter(`${field}: the authentication tag must be exactly ${TAG_BYTES} bytes, got ${tag.length}`);
  return { header: header as JweHeader, protectedB64, encryptedKey: decodePart(encryptedKeyB64, 'encrypted key', field), iv, ciphertext, tag, field };
}

/** Decrypts a parsed JWE with its CEK (checking the tag first). */
export function decryptJwe(parsed: ParsedJwe, cek: Buffer): Buffer {
  return a256CbcHs512Decrypt(cek, parsed.iv, Buffer.from(parsed.protectedB64, 'ascii'), parsed.ciphertext, parsed.tag, parsed.field);
}

/**
 * EME-PKCS1-v1_5 decoding (RFC 8017 section 7.2.2) of a raw RSA result. Node 20 refuses
 * RSA_PKCS1_PADDING for decryption (CVE-2023-46809), so RSA1_5 CEKs, which az still reads, are
 * decoded here. Only offline tools use it, with the caller's own key, so it is no oracle.
 */
function pkcs1v15Decode(em: Buffer): Buffer | undefined {
  if (em[0] !== 0x00 || em[1] !== 0x02) return undefined;
  const separator = em.indexOf(0x00, 2);
  if (separator < 10) return undefined; // at least 8 non-zero padding bytes
  return Buffer.from(em.subarray(separator + 1));
}

/** Decrypts the CEK of an RSA JWE with a private key held by the caller: RSA-OAEP-256, RSA-OAEP, RSA1_5. */
export function decryptRsaCek(privateKey: KeyObject, parsed: ParsedJwe): Buffer {
  const { alg } = parsed.header;
  if (parsed.encryptedKey.length === 0) throw badParameter(`${parsed.field}: the encrypted key is empty, but alg ${alg} needs one`);
  let cek: Buffer | undefined;
  try {
    if (alg === 'RSA-OAEP-256' || alg === 'RSA-OAEP') {
      cek = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: alg === 'RSA-OAEP' ? 'sha1' : 'sha256' }, parsed.encryptedKey);
    } else if (alg === 'RSA1_5') {
      const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, parsed.encryptedKey);
      cek = pkcs1v15Decode(em);
      em.fill(0);
    } else {
      throw badParameter(`${parsed.field}: header "alg" must be RSA-OAEP-256, RSA-OAEP or RSA1_5, got ${JSON.stringify(alg)}`);
    }
  } catch (error) {
    if (error instanceof HsmError) throw error;
    cek = undefined;
  }
  if (cek === undefined) throw badParameter(`${parsed.field}: the private key could not decrypt the content key (not the key this was encrypted to?)`);
  if (cek.length !== CEK_BYTES) {
    cek.fill(0);
    throw badParameter(`${parsed.field}: the decrypted content key is not ${CEK_BYTES} bytes`);
  }
  return cek;
}
