// Cryptographic operations on a stored key, checked against the algorithm registry first: the
// algorithm must exist, fit the key and get input of the right shape, or the caller gets a
// BadParameter naming the field and the rule.
import type { TokenKey } from '../token/key-spec.js';
import type { Token } from '../token/token.js';
import { cipherAlgorithm, signatureAlgorithm } from './algorithms/registry.js';
import {
  type Algorithm,
  AlgorithmInputError,
  type CipherOperation,
  type CipherResult,
  type DecryptInput,
  type EncryptInput,
} from './algorithms/types.js';
import { HsmError, fromTokenError } from './errors.js';

function checkFits(algorithm: Algorithm, key: TokenKey): void {
  const reason = algorithm.refuses(key.spec);
  if (reason) throw new HsmError('BadParameter', `alg: ${algorithm.name} cannot be used with this key: ${reason}`);
}

async function guarded<T>(context: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AlgorithmInputError) throw new HsmError('BadParameter', `${context}: ${error.message}`, { cause: error });
    throw fromTokenError(error, context);
  }
}

function resolveSignature(name: unknown, key: TokenKey, digest: Buffer) {
  const algorithm = signatureAlgorithm(name);
  checkFits(algorithm, key);
  if (algorithm.digestBytes !== undefined && digest.length !== algorithm.digestBytes) {
    throw new HsmError('BadParameter', `value: a ${algorithm.name} digest must be ${algorithm.digestBytes} bytes, not ${digest.length}`);
  }
  return algorithm;
}

export async function signDigest(token: Token, key: TokenKey, alg: unknown, digest: Buffer): Promise<Buffer> {
  const algorithm = resolveSignature(alg, key, digest);
  return guarded(`${algorithm.name} sign`, () => algorithm.sign({ token, key }, digest));
}

export async function verifyDigest(token: Token, key: TokenKey, alg: unknown, digest: Buffer, signature: Buffer): Promise<boolean> {
  const algorithm = resolveSignature(alg, key, digest);
  return guarded(`${algorithm.name} verify`, () => algorithm.verify({ token, key }, digest, signature));
}

export async function encryptWith(token: Token, key: TokenKey, alg: unknown, operation: CipherOperation, input: EncryptInput): Promise<CipherResult> {
  const algorithm = cipherAlgorithm(alg, operation);
  checkFits(algorithm, key);
  return guarded(`${algorithm.name} ${operation}`, () => algorithm.encrypt({ token, key }, input));
}

export async function decryptWith(token: Token, key: TokenKey, alg: unknown, operation: CipherOperation, input: DecryptInput): Promise<Buffer> {
  const algorithm = cipherAlgorithm(alg, operation);
  checkFits(algorithm, key);
  return guarded(`${algorithm.name} ${operation === 'encrypt' ? 'decrypt' : 'unwrapKey'}`, () => algorithm.decrypt({ token, key }, input));
}
