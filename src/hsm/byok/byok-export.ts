// What a vendor's BYOK tool does in the customer's own HSM: wraps one of its keys for a Managed
// HSM's key-exchange key, inside that (source) token, and writes the transfer blob. The target
// must be extractable in the source token. CKM_RSA_AES_KEY_WRAP where the module has it with the
// hash; otherwise an ephemeral AES-256 session key made in the source token carries the target
// (AES key wrap with padding) and is itself wrapped under the KEK with RSA-OAEP. Where the
// module's OAEP lacks the hash (SoftHSM2 2.6.1: SHA-1 only), the ephemeral key is drawn from the
// token's RNG and OAEP-encrypted to the KEK here, so it exists in this process until it is a
// session object, and is zeroed then; the target's plaintext never leaves the source token.
import { type KeyObject, constants, publicEncrypt, randomBytes } from 'node:crypto';
import { CKF, CKM } from '../../token/constants.js';
import type { TokenKey } from '../../token/key-spec.js';
import type { GenerateKeyOptions, Token } from '../../token/token.js';
import { oaepNativeOrFallback, oaepParameters } from '../algorithms/oaep-mechanism.js';
import { KEY_ENCRYPTION_ALGORITHMS, type KeyEncryptionAlgorithm, encodeTransferBlob } from './transfer-blob.js';

const AES_256 = { type: 'aes', bits: 256 } as const;
const EPHEMERAL: GenerateKeyOptions = { ephemeral: true, usages: ['wrap'], exportPolicy: 'extractable-session' };

export interface KeyExchangeKey {
  kid: string;
  publicKey: KeyObject;
}

function kekParts(publicKey: KeyObject): { modulus: Buffer; publicExponent: Buffer; bits: 2048 | 3072 | 4096 } {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) throw new TypeError('the key-exchange key must be an RSA public key');
  const modulus = Buffer.from(jwk.n, 'base64url');
  const bits = modulus.length * 8;
  if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw new TypeError(`the key-exchange key must be RSA 2048, 3072 or 4096, not ${bits} bits`);
  return { modulus, publicExponent: Buffer.from(jwk.e, 'base64url'), bits };
}

/** The ephemeral AES key as a session object of the source token, and its RSA-OAEP under the KEK. */
async function wrappedEphemeralKey(source: Token, kekInToken: TokenKey, kek: KeyExchangeKey, enc: KeyEncryptionAlgorithm): Promise<{ ephemeral: TokenKey; wrappedKey: Buffer }> {
  const hash = KEY_ENCRYPTION_ALGORITHMS[enc];
  return oaepNativeOrFallback(
    source,
    'key-wrap',
    hash,
    async () => {
      const ephemeral = await source.generateKey(AES_256, EPHEMERAL);
      try {
        return { ephemeral, wrappedKey: await source.wrapKey(kekInToken, { type: CKM.RSA_PKCS_OAEP, oaep: oaepParameters(hash) }, ephemeral) };
      } catch (error) {
        await source.destroyKey(ephemeral);
        throw error;
      }
    },
    async () => {
      const value = await source.random(32);
      try {
        const wrappedKey = publicEncrypt({ key: kek.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, value);
        return { ephemeral: await source.importKey(AES_256, { type: 'secret', value }, EPHEMERAL), wrappedKey };
      } finally {
        value.fill(0);
      }
    },
  );
}

async function wrapInTwoSteps(source: Token, kekInToken: TokenKey, kek: KeyExchangeKey, enc: KeyEncryptionAlgorithm, target: TokenKey): Promise<Buffer> {
  const keyWrapPad = source.capabilities.aesKeyWrapPad;
  if (keyWrapPad === undefined) throw new Error('the source token lacks AES key wrap with padding (RFC 5649)');
  const { ephemeral, wrappedKey } = await wrappedEphemeralKey(source, kekInToken, kek, enc);
  try {
    return Buffer.concat([wrappedKey, await source.wrapKey(ephemeral, { type: keyWrapPad }, target)]);
  } finally {
    await source.destroyKey(ephemeral);
  }
}

/** The .byok file's bytes for `target`, a key of the source token, wrapped for `kek`. */
export async function exportForImport(source: Token, target: TokenKey, kek: KeyExchangeKey, enc: KeyEncryptionAlgorithm = 'CKM_RSA_AES_KEY_WRAP'): Promise<Buffer> {
  const { bits, modulus, publicExponent } = kekParts(kek.publicKey);
  const kekInToken: TokenKey = { id: randomBytes(16), spec: { type: 'rsa', bits }, ephemeral: true };
  await source.createPublicKey(kekInToken, { type: 'rsa', modulus, publicExponent });
  try {
    const ciphertext = source.capabilities.has(CKM.RSA_AES_KEY_WRAP, CKF.WRAP)
      ? await oaepNativeOrFallback(
          source,
          'rsa-aes',
          KEY_ENCRYPTION_ALGORITHMS[enc],
          () => source.wrapKey(kekInToken, { type: CKM.RSA_AES_KEY_WRAP, rsaAesKeyWrap: { aesKeyBits: 256, oaep: oaepParameters(KEY_ENCRYPTION_ALGORITHMS[enc]) } }, target),
          () => wrapInTwoSteps(source, kekInToken, kek, enc, target),
        )
      : await wrapInTwoSteps(source, kekInToken, kek, enc, target);
    return encodeTransferBlob({ kid: kek.kid, enc, ciphertext });
  } finally {
    await source.destroyKey(kekInToken);
  }
}
