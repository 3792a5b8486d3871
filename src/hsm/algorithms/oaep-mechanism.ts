// CKM_RSA_PKCS_OAEP's parameters per hash, and which hashes a module's OAEP takes. SoftHSM2 2.6.1
// takes SHA-1 only (CKR_ARGUMENTS_BAD otherwise); vendor modules take more. What a module takes
// is learnt on first use, per token and per kind of call (encryption and key wrapping may differ).
import { tokenFailureCode } from '../../token/errors.js';
import { CKG, CKM } from '../../token/constants.js';
import type { Token } from '../../token/token.js';
import type { HashName } from './digest-info.js';

export const HASH_MECHANISM: Readonly<Record<HashName, number>> = { sha1: CKM.SHA_1, sha256: CKM.SHA256, sha384: CKM.SHA384, sha512: CKM.SHA512 };
export const MGF: Readonly<Record<HashName, number>> = { sha1: CKG.MGF1_SHA1, sha256: CKG.MGF1_SHA256, sha384: CKG.MGF1_SHA384, sha512: CKG.MGF1_SHA512 };

export function oaepParameters(hash: HashName): { hashAlg: number; mgf: number } {
  return { hashAlg: HASH_MECHANISM[hash], mgf: MGF[hash] };
}

/** Encryption and decryption; C_WrapKey, or C_UnwrapKey, with OAEP; or with CKM_RSA_AES_KEY_WRAP. */
export type OaepUse = 'cipher' | 'key-wrap' | 'key-unwrap' | 'rsa-aes-wrap' | 'rsa-aes-unwrap';

const takesHash = new WeakMap<Token, Map<string, boolean>>();

function isParameterRefusal(error: unknown): boolean {
  const code = tokenFailureCode(error);
  return code === 'CKR_ARGUMENTS_BAD' || code === 'CKR_MECHANISM_PARAM_INVALID';
}

/**
 * Runs `native` (the module's own OAEP with this hash) unless the module is known to refuse the
 * hash for this use; on a parameter refusal, remembers that and runs `fallback` instead.
 */
export async function oaepNativeOrFallback<T>(token: Token, use: OaepUse, hash: HashName, native: () => Promise<T>, fallback: () => Promise<T>): Promise<T> {
  const known = takesHash.get(token) ?? new Map<string, boolean>();
  takesHash.set(token, known);
  const key = `${use}:${hash}`;
  if (known.get(key) === false) return fallback();
  try {
    const result = await native();
    known.set(key, true);
    return result;
  } catch (error) {
    if (!isParameterRefusal(error)) throw error;
    known.set(key, false);
    return fallback();
  }
}
