// Import of a key from another HSM (BYOK): the transfer blob's target is unwrapped inside the
// token under the key-exchange key, checked against the type the request declared, and given its
// public object; any refusal removes what the token made.
import { CKK, CKM } from '../../token/constants.js';
import { isSessionLost, tokenFailureCode } from '../../token/errors.js';
import { type KeySpec, type TokenKey, isKeyPair, modulusBits } from '../../token/key-spec.js';
import type { SecretShape, Token } from '../../token/token.js';
import { HsmError } from '../errors.js';
import { ktyOfSpec } from '../jwk.js';
import { KEY_OBJECT_OPTIONS, TOKEN_OBJECT_LABEL } from '../key-objects.js';
import { CiphertextRefused, splitRsaAes, unwrapRsaAes } from './rsa-aes-unwrap.js';
import { KEY_ENCRYPTION_ALGORITHMS, type TransferBlob } from './transfer-blob.js';

/**
 * What a token answers to a ciphertext that is not what the blob says (altered, wrapped for
 * another key, or a key of another type): the caller's error. SoftHSM2 reports a failed RFC 5649
 * integrity check as CKR_GENERAL_ERROR and an undecodable PKCS#8 as CKR_FUNCTION_FAILED, so in
 * this call, and only here, those two are the caller's too.
 */
const REFUSED_CIPHERTEXT: ReadonlySet<string> = new Set([
  'CKR_ENCRYPTED_DATA_INVALID',
  'CKR_ENCRYPTED_DATA_LEN_RANGE',
  'CKR_WRAPPED_KEY_INVALID',
  'CKR_WRAPPED_KEY_LEN_RANGE',
  'CKR_DATA_INVALID',
  'CKR_DATA_LEN_RANGE',
  'CKR_TEMPLATE_INCONSISTENT',
  'CKR_ATTRIBUTE_VALUE_INVALID',
  'CKR_DOMAIN_PARAMS_INVALID',
  'CKR_CURVE_NOT_SUPPORTED',
  'CKR_KEY_SIZE_RANGE',
  'CKR_GENERAL_ERROR',
  'CKR_FUNCTION_FAILED',
]);

function bad(message: string): HsmError {
  return new HsmError('BadParameter', `key.key_hsm: ${message}`);
}

/**
 * The length of an unwrapped AES key. SoftHSM2 2.6.1 leaves CKA_VALUE_LEN at 0 on unwrapped
 * secret keys (and will not take it in the unwrap template), so the length comes from the
 * wrapped form: RFC 5649 pads the key to whole 8-byte blocks and adds one block, which fixes it
 * to within 7 bytes, and a one-block AES encryption (which SoftHSM2 runs only with a 16, 24 or
 * 32-byte key) tells whether it is exact. The encryption's output is dropped.
 */
async function unwrappedAesBytes(token: Token, target: TokenKey, shape: SecretShape, wrappedTargetBytes: number): Promise<number> {
  if (shape.valueLen) return shape.valueLen;
  try {
    await token.encrypt(target, { type: CKM.AES_ECB }, Buffer.alloc(16));
  } catch (error) {
    // The token refusing the key (its length) is the answer; anything else is not ours to hide.
    if (tokenFailureCode(error) === undefined || isSessionLost(error)) throw error;
    return 0;
  }
  return wrappedTargetBytes - 8;
}

/** The imported key's spec: the declared type, with the size (and curve) the material has. */
export function specOfUnwrapped(declared: KeySpec, shape: SecretShape): KeySpec {
  const kty = ktyOfSpec(declared);
  switch (declared.type) {
    case 'rsa': {
      const bits = shape.keyType === CKK.RSA && shape.modulus ? modulusBits(shape.modulus) : 0;
      if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw bad(`the wrapped key is an RSA key of ${bits} bits; ${kty} keys are 2048, 3072 or 4096 bits`);
      return { type: 'rsa', bits };
    }
    case 'ec':
      if (shape.keyType !== CKK.EC || shape.curve === undefined) throw bad('the wrapped key is not an EC key on a curve Managed HSM has (P-256, P-256K, P-384, P-521)');
      if (shape.curve !== declared.curve) throw bad(`the wrapped key is on ${shape.curve === 'secp256k1' ? 'P-256K' : shape.curve}, not the declared crv`);
      return { type: 'ec', curve: shape.curve };
    case 'aes': {
      const bits = shape.keyType === CKK.AES ? (shape.valueLen ?? 0) * 8 : 0;
      if (bits !== 128 && bits !== 192 && bits !== 256) throw bad(`the wrapped key is not 16, 24 or 32 bytes, the sizes of an ${kty} AES key`);
      return { type: 'aes', bits };
    }
    case 'generic-secret':
      throw bad('an oct-HSM key imported by BYOK is an AES key');
  }
}

/**
 * Unwraps the blob's target under `kek` into a stored key of the declared type (its size from
 * the material), with its public object for a key pair. Nothing is left in the token on failure.
 */
export async function unwrapTransferBlob(token: Token, kek: TokenKey, blob: TransferBlob, declared: KeySpec): Promise<TokenKey> {
  let target: TokenKey;
  try {
    target = await unwrapRsaAes(token, kek, KEY_ENCRYPTION_ALGORITHMS[blob.enc], blob.ciphertext, declared, KEY_OBJECT_OPTIONS);
  } catch (error) {
    const code = tokenFailureCode(error);
    if (!(error instanceof CiphertextRefused) && (code === undefined || !REFUSED_CIPHERTEXT.has(code))) throw error;
    throw bad(
      `the ciphertext does not unwrap to a ${ktyOfSpec(declared)} key under key-exchange key ${blob.kid}: ` +
        'it was altered, wrapped for another key, or holds a key of another type',
    );
  }
  try {
    const shape = await token.secretShape(target);
    if (declared.type === 'aes') {
      shape.valueLen = await unwrappedAesBytes(token, target, shape, splitRsaAes(blob.ciphertext, kek).wrappedTarget.length);
    }
    const key: TokenKey = { id: target.id, spec: specOfUnwrapped(declared, shape) };
    if (isKeyPair(key.spec)) await token.createPublicKey(key, await token.publicPartsOfPrivate(key, shape), TOKEN_OBJECT_LABEL);
    return key;
  } catch (error) {
    await token.destroyKey(target).catch(() => undefined);
    throw error;
  }
}
