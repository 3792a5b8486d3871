// CKM_RSA_AES_KEY_WRAP inside a token, for a key that is extractable there: RSA-OAEP(KEK,
// ephemeral AES key) || AES key wrap with padding (RFC 5649) of the target under that key. One
// C_WrapKey where the module has CKM_RSA_AES_KEY_WRAP with the hash; otherwise an ephemeral
// AES-256 session key made in the token carries the target and is itself wrapped under the KEK
// with RSA-OAEP. Where the module's OAEP lacks the hash (SoftHSM2 2.6.1: SHA-1 only), the
// ephemeral key is drawn from the token's RNG and OAEP-encrypted to the KEK here, so it exists
// in this process until it is a session object, and is zeroed then; the target's plaintext
// never leaves the token. Used by `mhsm byok export` (a source HSM) and by key release.
import { type KeyObject, constants, publicEncrypt, randomBytes } from 'node:crypto';
import { CKF, CKM } from '../../token/constants.js';
import type { TokenKey } from '../../token/key-spec.js';
import type { GenerateKeyOptions, Token } from '../../token/token.js';
import { oaepNativeOrFallback, oaepParameters } from '../algorithms/oaep-mechanism.js';
import { KEY_ENCRYPTION_ALGORITHMS, type KeyEncryptionAlgorithm } from './transfer-blob.js';

const AES_256 = { type: 'aes', bits: 256 } as const;
const EPHEMERAL: GenerateKeyOptions = { ephemeral: true, usages: ['wrap'], exportPolicy: 'extractable-session' };

function kekParts(publicKey: KeyObject): { modulus: Buffer; publicExponent: Buffer; bits: 2048 | 3072 | 4096 } {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) throw new TypeError('the key-exchange key must be an RSA public key');
  const modulus = Buffer.from(jwk.n, 'base64url');
  const bits = modulus.length * 8;
  if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw new TypeError(`the key-exchange key must be RSA 2048, 3072 or 4096, not ${bits} bits`);
  return { modulus, publicExponent: Buffer.from(jwk.e, 'base64url'), bits };
}

/** The ephemeral AES key as a session object of the source token, and its RSA-OAEP under the KEK. */
async function wrappedEphemeralKey(source: Token, kekInToken: TokenKey, kekPublicKey: KeyObject, enc: KeyEncryptionAlgorithm): Promise<{ ephemeral: TokenKey; wrappedKey: Buffer }> {
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
        await source.destroyKey(ephemeral).catch(() => undefined);
        throw error;
      }
    },
    async () => {
      const value = await source.random(32);
      try {
        const wrappedKey = publicEncrypt({ key: kekPublicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, value);
        return { ephemeral: await source.importKey(AES_256, { type: 'secret', value }, EPHEMERAL), wrappedKey };
      } finally {
        value.fill(0);
      }
    },
  );
}

async function wrapInTwoSteps(source: Token, kekInToken: TokenKey, kekPublicKey: KeyObject, enc: KeyEncryptionAlgorithm, target: TokenKey): Promise<Buffer> {
  const keyWrapPad = source.capabilities.aesKeyWrapPad;
  if (keyWrapPad === undefined) throw new Error('the source token lacks AES key wrap with padding (RFC 5649)');
  const { ephemeral, wrappedKey } = await wrappedEphemeralKey(source, kekInToken, kekPublicKey, enc);
  try {
    return Buffer.concat([wrappedKey, await source.wrapKey(ephemeral, { type: keyWrapPad }, target)]);
  } finally {
    await source.destroyKey(ephemeral).catch(() => undefined);
  }
}

/**
 * RSA-OAEP(KEK, ephemeral AES key) || AES-KWP(ephemeral key, target), made in `token`, where
 * `target` is extractable: a BYOK export from a source HSM, or a key release (release/).
 */
export async function rsaAesWrap(token: Token, target: TokenKey, kekPublicKey: KeyObject, enc: KeyEncryptionAlgorithm): Promise<Buffer> {
  const { bits, modulus, publicExponent } = kekParts(kekPublicKey);
  const kekInToken: TokenKey = { id: randomBytes(16), spec: { type: 'rsa', bits }, ephemeral: true };
  await token.createPublicKey(kekInToken, { type: 'rsa', modulus, publicExponent });
  try {
    if (!token.capabilities.has(CKM.RSA_AES_KEY_WRAP, CKF.WRAP)) return await wrapInTwoSteps(token, kekInToken, kekPublicKey, enc, target);
    const hash = KEY_ENCRYPTION_ALGORITHMS[enc];
    return await oaepNativeOrFallback(
      token,
      'rsa-aes-wrap',
      hash,
      () => token.wrapKey(kekInToken, { type: CKM.RSA_AES_KEY_WRAP, rsaAesKeyWrap: { aesKeyBits: 256, oaep: oaepParameters(hash) } }, target),
      () => wrapInTwoSteps(token, kekInToken, kekPublicKey, enc, target),
    );
  } finally {
    await token.destroyKey(kekInToken).catch(() => undefined);
  }
}
