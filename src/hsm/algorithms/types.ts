// The shape of one algorithm registry entry. Code below the registry receives a resolved entry,
// never an algorithm name.
import { tokenFailureCode } from '../../token/errors.js';
import type { Capabilities } from '../../token/capabilities.js';
import type { KeySpec, TokenKey } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';

export type KeyFamily = 'RSA' | 'EC' | 'oct';

/** How an algorithm runs on a token: with its own mechanism, by a documented fallback, or not. */
export interface Support {
  level: 'native' | 'fallback' | 'unsupported';
  detail: string;
}

export interface CryptoContext {
  token: Token;
  key: TokenKey;
}

interface AlgorithmBase {
  readonly name: string;
  readonly family: KeyFamily;
  /** Why a key of this spec cannot use the algorithm, or undefined when it can. */
  refuses(spec: KeySpec): string | undefined;
  support(capabilities: Capabilities): Support;
}

export interface SignatureAlgorithm extends AlgorithmBase {
  readonly kind: 'signature';
  /** The length of the digest the caller sends (for HMAC: the data is signed as given). */
  readonly digestBytes: number | undefined;
  sign(context: CryptoContext, digest: Buffer): Promise<Buffer>;
  verify(context: CryptoContext, digest: Buffer, signature: Buffer): Promise<boolean>;
}

/** encrypt/decrypt, or wrapKey/unwrapKey: the service allows each algorithm one pair or both. */
export type CipherOperation = 'encrypt' | 'wrapKey';

export interface CipherResult {
  value: Buffer;
  iv?: Buffer;
  tag?: Buffer;
}

export interface EncryptInput {
  plaintext: Buffer;
  iv?: Buffer | undefined;
  aad?: Buffer | undefined;
}

export interface DecryptInput {
  ciphertext: Buffer;
  iv?: Buffer | undefined;
  aad?: Buffer | undefined;
  tag?: Buffer | undefined;
}

export interface CipherAlgorithm extends AlgorithmBase {
  readonly kind: 'cipher';
  readonly operations: readonly CipherOperation[];
  encrypt(context: CryptoContext, input: EncryptInput): Promise<CipherResult>;
  decrypt(context: CryptoContext, input: DecryptInput): Promise<Buffer>;
}

export type Algorithm = SignatureAlgorithm | CipherAlgorithm;

/** An error in the caller's input, raised by an algorithm before or after the token call. */
export class AlgorithmInputError extends Error {
  override readonly name = 'AlgorithmInputError';
}

const CIPHERTEXT_REFUSALS: ReadonlySet<string> = new Set(['CKR_GENERAL_ERROR', 'CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE']);

/**
 * Runs a token decryption and turns its refusals of the ciphertext into an input error. Modules
 * differ in how they say it: SoftHSM2 2.6.1 answers a wrong GCM tag, bad padding or an RSA
 * ciphertext not below the modulus with CKR_GENERAL_ERROR.
 */
export async function decryptOrRefuse(decrypt: () => Promise<Buffer>, message: string): Promise<Buffer> {
  try {
    return await decrypt();
  } catch (error) {
    if (CIPHERTEXT_REFUSALS.has(tokenFailureCode(error) ?? '')) {
      throw new AlgorithmInputError(message);
    }
    throw error;
  }
}
