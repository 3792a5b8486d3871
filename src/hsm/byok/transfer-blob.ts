// The BYOK transfer blob (a .byok file): JSON naming the key-exchange key and the algorithm, with
// the target key wrapped under it. Clients send the file's bytes in `key.key_hsm`, base64url
// (the SDKs) or base64 (the documentation's wording); both are taken.
import { HsmError } from '../errors.js';
import type { HashName } from '../algorithms/digest-info.js';

/** The `enc` values and the OAEP hash each one wraps the ephemeral AES key with. */
export const KEY_ENCRYPTION_ALGORITHMS = {
  CKM_RSA_AES_KEY_WRAP: 'sha1',
  RSA_AES_KEY_WRAP_256: 'sha256',
  RSA_AES_KEY_WRAP_384: 'sha384',
} as const satisfies Record<string, HashName>;

export type KeyEncryptionAlgorithm = keyof typeof KEY_ENCRYPTION_ALGORITHMS;

export interface TransferBlob {
  schemaVersion: string;
  /** The key-exchange key's kid. */
  kid: string;
  enc: KeyEncryptionAlgorithm;
  /** RSA-OAEP(KEK, ephemeral AES key) || AES-KWP(ephemeral key, target key). */
  ciphertext: Buffer;
  generator?: string;
}

/** Hard bound on key_hsm: an RSA-4096 target under an RSA-4096 KEK is under 3 KiB. */
const MAX_BLOB_CHARS = 64 * 1024;

function bad(message: string): HsmError {
  return new HsmError('BadParameter', `key.key_hsm: ${message}`);
}

function decodeBase64(text: string, field: string): Buffer {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) throw bad(`${field} must be base64url or base64`);
  return Buffer.from(text, 'base64'); // Node's base64 decoder takes - and _ as well
}

export function isKeyEncryptionAlgorithm(value: unknown): value is KeyEncryptionAlgorithm {
  return typeof value === 'string' && Object.hasOwn(KEY_ENCRYPTION_ALGORITHMS, value);
}

/** The blob in a request's key_hsm, checked field by field. */
export function parseTransferBlob(keyHsm: unknown): TransferBlob {
  if (typeof keyHsm !== 'string' || keyHsm.length === 0) throw bad('must be the transfer blob (the .byok file), base64url-encoded');
  if (keyHsm.length > MAX_BLOB_CHARS) throw bad(`must be at most ${MAX_BLOB_CHARS} characters`);
  let document: unknown;
  try {
    document = JSON.parse(decodeBase64(keyHsm, 'the value').toString('utf8'));
  } catch (error) {
    if (error instanceof HsmError) throw error;
    throw bad('is not a transfer blob: its decoded bytes are not JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw bad('is not a transfer blob: not a JSON object');
  const { schema_version: schemaVersion, header, ciphertext, generator } = document as Record<string, unknown>;
  if (typeof schemaVersion !== 'string' || !/^1\.\d+(\.\d+)?$/.test(schemaVersion)) throw bad("schema_version: must be '1.0.0'");
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('header: required, an object {kid, alg, enc}');
  const { kid, alg, enc } = header as Record<string, unknown>;
  if (typeof kid !== 'string' || kid.length === 0) throw bad("header.kid: required, the key-exchange key's kid");
  if (alg !== 'dir') throw bad("header.alg: must be 'dir'");
  if (!isKeyEncryptionAlgorithm(enc)) throw bad(`header.enc: must be one of ${Object.keys(KEY_ENCRYPTION_ALGORITHMS).join(', ')}`);
  if (typeof ciphertext !== 'string' || ciphertext.length === 0) throw bad('ciphertext: required, base64url');
  if (generator !== undefined && typeof generator !== 'string') throw bad('generator: must be a string');
  return {
    schemaVersion,
    kid,
    enc,
    ciphertext: decodeBase64(ciphertext, 'ciphertext'),
    ...(generator === undefined ? {} : { generator }),
  };
}

/** The KEK kid of a key_hsm value, for the audit line; undefined when it cannot be read. */
export function keyExchangeKeyOf(keyHsm: unknown): string | undefined {
  try {
    return parseTransferBlob(keyHsm).kid.slice(0, 512);
  } catch {
    return undefined;
  }
}

/** The .byok file's bytes, as a vendor's BYOK tool writes them. */
export function encodeTransferBlob(blob: Omit<TransferBlob, 'schemaVersion'>): Buffer {
  const document = {
    schema_version: '1.0.0',
    header: { kid: blob.kid, alg: 'dir', enc: blob.enc },
    ciphertext: blob.ciphertext.toString('base64url'),
    generator: blob.generator ?? 'managed-hsm-emulator mhsm byok export',
  };
  return Buffer.from(JSON.stringify(document));
}
