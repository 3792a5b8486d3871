// AES algorithms on oct keys: GCM, CBC (no padding), CBC with PKCS#7 padding, key wrap
// (RFC 3394) and key wrap with padding (RFC 5649). The key never leaves the token; where the
// module cannot run a key wrap over caller data, its AES-ECB runs the blocks of the wrap.
import { randomBytes } from 'node:crypto';
import type { Capabilities } from '../../token/capabilities.js';
import { CKF, CKM } from '../../token/constants.js';
import type { KeySpec } from '../../token/key-spec.js';
import { type BlockCipher, aesKeyUnwrap, aesKeyUnwrapPad, aesKeyWrap, aesKeyWrapPad } from './aes-key-wrap.js';
import { AlgorithmInputError, type CipherAlgorithm, type CryptoContext, type Support, decryptOrRefuse } from './types.js';

export type AesBits = 128 | 192 | 256;

function refusesSize(bits: AesBits | undefined) {
  return (spec: KeySpec): string | undefined => {
    if (spec.type !== 'aes') return 'it needs an AES (oct) key';
    if (bits !== undefined && spec.bits !== bits) return `it needs a ${bits}-bit key, not a ${spec.bits}-bit one`;
    return undefined;
  };
}

function supportOf(capabilities: Capabilities, mechanism: number, name: string): Support {
  return capabilities.has(mechanism, CKF.ENCRYPT | CKF.DECRYPT)
    ? { level: 'native', detail: name }
    : { level: 'unsupported', detail: `the module lacks ${name}` };
}

const GCM_NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;

/** A 12-byte nonce (what encryption returns, as the service does), or the same zero-padded to 16 bytes. */
function gcmNonce(iv: Buffer): Buffer {
  if (iv.length === GCM_NONCE_BYTES) return iv;
  if (iv.length === 16 && iv.readUInt32BE(12) === 0) return iv.subarray(0, GCM_NONCE_BYTES);
  throw new AlgorithmInputError('iv must be 12 bytes (or 16 bytes ending in four zero bytes) for AES-GCM');
}

export function aesGcm(name: string, bits: AesBits): CipherAlgorithm {
  return {
    kind: 'cipher',
    name,
    family: 'oct',
    operations: ['encrypt'],
    refuses: refusesSize(bits),
    support: (capabilities) => supportOf(capabilities, CKM.AES_GCM, 'CKM_AES_GCM'),
    async encrypt({ token, key }, { plaintext, iv, aad }) {
      const nonce = iv ? gcmNonce(iv) : randomBytes(GCM_NONCE_BYTES);
      const sealed = await token.encrypt(key, { type: CKM.AES_GCM, gcm: { iv: nonce, aad, tagBits: GCM_TAG_BYTES * 8 } }, plaintext);
      const cut = sealed.length - GCM_TAG_BYTES;
      // The service answers with the nonce padded to 16 bytes.
      return { value: sealed.subarray(0, cut), tag: sealed.subarray(cut), iv: nonce };
    },
    async decrypt({ token, key }, { ciphertext, iv, aad, tag }) {
      if (!iv) throw new AlgorithmInputError('iv is required for AES-GCM decryption');
      if (!tag || tag.length !== GCM_TAG_BYTES) throw new AlgorithmInputError(`tag must be ${GCM_TAG_BYTES} bytes for AES-GCM decryption`);
      const mechanism = { type: CKM.AES_GCM, gcm: { iv: gcmNonce(iv), aad, tagBits: GCM_TAG_BYTES * 8 } };
      return decryptOrRefuse(
        () => token.decrypt(key, mechanism, Buffer.concat([ciphertext, tag])),
        'the ciphertext, iv, aad or tag does not authenticate',
      );
    },
  };
}

export function aesCbc(name: string, bits: AesBits, padded: boolean): CipherAlgorithm {
  const type = padded ? CKM.AES_CBC_PAD : CKM.AES_CBC;
  const label = padded ? 'CKM_AES_CBC_PAD' : 'CKM_AES_CBC';
  function ivOf(iv: Buffer | undefined): Buffer {
    if (iv === undefined) return randomBytes(16);
    if (iv.length !== 16) throw new AlgorithmInputError('iv must be 16 bytes for AES-CBC');
    return iv;
  }
  return {
    kind: 'cipher',
    name,
    family: 'oct',
    operations: ['encrypt'],
    refuses: refusesSize(bits),
    support: (capabilities) => supportOf(capabilities, type, label),
    async encrypt({ token, key }, { plaintext, iv }) {
      const vector = ivOf(iv);
      // Without padding, the service fills a partial last block with zeros (recorded: 200 bytes in, 208 out).
      const blocks = padded || plaintext.length % 16 === 0 ? plaintext : Buffer.concat([plaintext, Buffer.alloc(16 - (plaintext.length % 16))]);
      return { value: await token.encrypt(key, { type, parameter: vector }, blocks), iv: vector };
    },
    async decrypt({ token, key }, { ciphertext, iv }) {
      if (!iv) throw new AlgorithmInputError(`iv is required for ${name} decryption`);
      if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw new AlgorithmInputError(`value must be a non-empty multiple of 16 bytes for ${name}`);
      return decryptOrRefuse(() => token.decrypt(key, { type, parameter: ivOf(iv) }, ciphertext), 'the ciphertext could not be decrypted (wrong key, iv or padding)');
    },
  };
}

function blockCipher({ token, key }: CryptoContext, direction: 'encrypt' | 'decrypt'): BlockCipher {
  const ecb = { type: CKM.AES_ECB };
  return (block) => (direction === 'encrypt' ? token.encrypt(key, ecb, block) : token.decrypt(key, ecb, block));
}

/** RFC 3394 (padded = false) or RFC 5649 (padded = true) over caller data; any key size when bits is undefined. */
export function aesKeyWrapAlgorithm(name: string, bits: AesBits | undefined, padded: boolean): CipherAlgorithm {
  const wrap = padded ? aesKeyWrapPad : aesKeyWrap;
  const unwrap = padded ? aesKeyUnwrapPad : aesKeyUnwrap;
  const mechanismName = padded ? 'RFC 5649' : 'RFC 3394';
  return {
    kind: 'cipher',
    name,
    family: 'oct',
    operations: ['wrapKey'],
    refuses: refusesSize(bits),
    support(capabilities) {
      if (!capabilities.has(CKM.AES_ECB, CKF.ENCRYPT | CKF.DECRYPT)) return { level: 'unsupported', detail: 'the module lacks CKM_AES_ECB' };
      return { level: 'fallback', detail: `${mechanismName} framing outside the token around CKM_AES_ECB block operations in it` };
    },
    async encrypt(context, { plaintext }) {
      try {
        return { value: await wrap(blockCipher(context, 'encrypt'), plaintext) };
      } catch (error) {
        throw error instanceof RangeError ? new AlgorithmInputError(error.message) : error;
      }
    },
    async decrypt(context, { ciphertext }) {
      const plaintext = await unwrap(blockCipher(context, 'decrypt'), ciphertext);
      if (!plaintext) throw new AlgorithmInputError('the wrapped value failed the key wrap integrity check');
      return plaintext;
    },
  };
}
