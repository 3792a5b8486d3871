// EME-OAEP encoding and decoding (RFC 8017 section 7.1), for modules whose CKM_RSA_PKCS_OAEP
// lacks a hash: the RSA operation itself stays in the token (CKM_RSA_X_509).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { HashName } from './digest-info.js';
import { DIGEST_BYTES } from './digest-info.js';

function mgf1(hash: HashName, seed: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0; blocks.length * DIGEST_BYTES[hash] < length; i++) {
    counter.writeUInt32BE(i);
    blocks.push(createHash(hash).update(seed).update(counter).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function xorInto(target: Buffer, mask: Buffer): void {
  for (let i = 0; i < target.length; i++) target[i] = (target[i] as number) ^ (mask[i] as number);
}

/** EM = 0x00 || maskedSeed || maskedDB for a modulus of `modulusBytes`; throws RangeError if too long. */
export function oaepEncode(hash: HashName, message: Buffer, modulusBytes: number, label = Buffer.alloc(0)): Buffer {
  const hLen = DIGEST_BYTES[hash];
  if (message.length > modulusBytes - 2 * hLen - 2) {
    throw new RangeError(`the plaintext must be at most ${modulusBytes - 2 * hLen - 2} bytes for this key`);
  }
  const db = Buffer.concat([
    createHash(hash).update(label).digest(),
    Buffer.alloc(modulusBytes - message.length - 2 * hLen - 2),
    Buffer.from([0x01]),
    message,
  ]);
  const seed = randomBytes(hLen);
  xorInto(db, mgf1(hash, seed, db.length));
  xorInto(seed, mgf1(hash, db, hLen));
  return Buffer.concat([Buffer.from([0x00]), seed, db]);
}

/**
 * Recovers the message from EM, or returns undefined on any decoding error (one answer for all
 * of them, so that the failure says nothing about where decoding stopped).
 */
export function oaepDecode(hash: HashName, encoded: Buffer, modulusBytes: number, label = Buffer.alloc(0)): Buffer | undefined {
  const hLen = DIGEST_BYTES[hash];
  if (encoded.length > modulusBytes || modulusBytes < 2 * hLen + 2) return undefined;
  const em = Buffer.concat([Buffer.alloc(modulusBytes - encoded.length), encoded]);
  const seed = Buffer.from(em.subarray(1, 1 + hLen));
  const db = Buffer.from(em.subarray(1 + hLen));
  xorInto(seed, mgf1(hash, db, hLen));
  xorInto(db, mgf1(hash, seed, db.length));
  const labelHashOk = timingSafeEqual(db.subarray(0, hLen), createHash(hash).update(label).digest());
  let separator = -1;
  let paddingOk = true;
  for (let i = hLen; i < db.length; i++) {
    const byte = db[i] as number;
    if (separator === -1 && byte === 0x01) separator = i;
    else if (separator === -1 && byte !== 0x00) paddingOk = false;
  }
  const message = !labelHashOk || !paddingOk || separator === -1 || em[0] !== 0x00 ? undefined : Buffer.from(db.subarray(separator + 1));
  // The unmasked block holds the message (a content key, for the security domain): wipe it.
  em.fill(0);
  seed.fill(0);
  db.fill(0);
  return message;
}
