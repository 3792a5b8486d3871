// CKM_RSA_AES_KEY_WRAP unwrap inside the token: the ciphertext is RSA-OAEP(KEK, ephemeral AES key)
// followed by AES key wrap with padding (RFC 5649) of the target under that ephemeral key. Where
// the module has CKM_RSA_AES_KEY_WRAP with the blob's hash, that is one C_UnwrapKey; otherwise two
// (OAEP into a session AES key, then AES-KWP into the target). Where the module's OAEP lacks the
// hash (SoftHSM2 2.6.1 takes SHA-1 only), the token does raw RSA and the OAEP decoding is done
// here: the ephemeral AES key then exists in this process from the decoding until it is a
// session object, and is zeroed at once (docs/security-model.md). The target's plaintext never
// leaves the token.
import { CKF, CKM } from '../../token/constants.js';
import type { KeySpec, TokenKey } from '../../token/key-spec.js';
import type { GenerateKeyOptions, Token } from '../../token/token.js';
import type { HashName } from '../algorithms/digest-info.js';
import { oaepDecode } from '../algorithms/oaep.js';
import { oaepNativeOrFallback, oaepParameters } from '../algorithms/oaep-mechanism.js';
import { HsmError } from '../errors.js';

/** Sizes an ephemeral AES key may have. */
const EPHEMERAL_KEY_BYTES: ReadonlySet<number> = new Set([16, 24, 32]);

/** Only ever a session object that unwraps; its nominal size (the real one is the unwrapped value's). */
const EPHEMERAL_SPEC: KeySpec = { type: 'aes', bits: 256 };
const EPHEMERAL_OPTIONS: GenerateKeyOptions = { ephemeral: true, usages: ['unwrap'], exportPolicy: 'never' };

/** The ciphertext is not what the blob says: the caller learns that, and nothing more. */
export class CiphertextRefused extends Error {
  override readonly name = 'CiphertextRefused';
}

function bad(message: string): HsmError {
  return new HsmError('BadParameter', `key.key_hsm: ${message}`);
}

export interface RsaAesParts {
  /** RSA-OAEP of the ephemeral key: exactly the KEK's modulus long. */
  wrappedKey: Buffer;
  /** AES-KWP of the target under the ephemeral key. */
  wrappedTarget: Buffer;
}

export function splitRsaAes(ciphertext: Buffer, kek: TokenKey): RsaAesParts {
  const modulusBytes = kek.spec.type === 'rsa' ? kek.spec.bits / 8 : 0;
  const rest = ciphertext.length - modulusBytes;
  if (rest < 16 || rest % 8 !== 0) {
    throw bad(
      `ciphertext: must be ${modulusBytes} bytes of RSA-OAEP under the key-exchange key followed by an AES key wrap with padding ` +
        `(a multiple of 8 bytes, at least 16), not ${ciphertext.length} bytes`,
    );
  }
  return { wrappedKey: ciphertext.subarray(0, modulusBytes), wrappedTarget: ciphertext.subarray(modulusBytes) };
}

/** The ephemeral AES key as a session object, by the module's OAEP or by the fallback above. */
async function unwrapEphemeralKey(token: Token, kek: TokenKey, hash: HashName, wrappedKey: Buffer): Promise<TokenKey> {
  const modulusBytes = wrappedKey.length;
  return oaepNativeOrFallback(
    token,
    'key-unwrap',
    hash,
    () => token.unwrapKey(kek, { type: CKM.RSA_PKCS_OAEP, oaep: oaepParameters(hash) }, wrappedKey, EPHEMERAL_SPEC, EPHEMERAL_OPTIONS),
    async () => {
      const encoded = await token.decrypt(kek, { type: CKM.RSA_X_509 }, wrappedKey);
      const value = oaepDecode(hash, encoded, modulusBytes);
      encoded.fill(0);
      // One answer for every way the RSA part can be wrong, so that none says how far it got.
      if (!value) throw new CiphertextRefused();
      try {
        if (!EPHEMERAL_KEY_BYTES.has(value.length)) throw new CiphertextRefused();
        return await token.importKey({ type: 'aes', bits: (value.length * 8) as 128 | 192 | 256 }, { type: 'secret', value }, EPHEMERAL_OPTIONS);
      } finally {
        value.fill(0);
      }
    },
  );
}

async function unwrapInTwoSteps(token: Token, kek: TokenKey, hash: HashName, parts: RsaAesParts, spec: KeySpec, options: GenerateKeyOptions): Promise<TokenKey> {
  const keyWrapPad = token.capabilities.aesKeyWrapPad;
  if (keyWrapPad === undefined) throw new HsmError('NotSupported', 'BYOK import needs AES key wrap with padding (RFC 5649), which this token lacks');
  const ephemeral = await unwrapEphemeralKey(token, kek, hash, parts.wrappedKey);
  try {
    return await token.unwrapKey(ephemeral, { type: keyWrapPad }, parts.wrappedTarget, spec, options);
  } finally {
    // A session object: gone with its session if this fails; never mask the unwrap's own outcome.
    await token.destroyKey(ephemeral).catch(() => undefined);
  }
}

/** Unwraps the target into the token as a key of `spec`'s type (its size is the material's). */
export async function unwrapRsaAes(token: Token, kek: TokenKey, hash: HashName, ciphertext: Buffer, spec: KeySpec, options: GenerateKeyOptions): Promise<TokenKey> {
  const parts = splitRsaAes(ciphertext, kek);
  if (!token.capabilities.has(CKM.RSA_AES_KEY_WRAP, CKF.UNWRAP)) return unwrapInTwoSteps(token, kek, hash, parts, spec, options);
  return oaepNativeOrFallback(
    token,
    'rsa-aes-unwrap',
    hash,
    () => token.unwrapKey(kek, { type: CKM.RSA_AES_KEY_WRAP, rsaAesKeyWrap: { aesKeyBits: 256, oaep: oaepParameters(hash) } }, ciphertext, spec, options),
    () => unwrapInTwoSteps(token, kek, hash, parts, spec, options),
  );
}
