// Which hashes a module's OAEP takes, learnt on first use (src/hsm/algorithms/oaep-mechanism.ts):
// a parameter refusal (SoftHSM2 2.6.1's CKR_ARGUMENTS_BAD for SHA-2, a vendor's
// CKR_MECHANISM_PARAM_INVALID) switches that use and hash of that token to the fallback for good;
// any other failure is the caller's. The refusals are Pkcs11Error-shaped errors, injected: the
// second code is one no module on this machine gives. Over a real token: test/hsm/key-crypto.test.ts.
import { describe, expect, it } from 'vitest';
import { HASH_MECHANISM, MGF, oaepNativeOrFallback, oaepParameters } from '../../src/hsm/algorithms/oaep-mechanism.js';
import { CKG, CKM } from '../../src/token/constants.js';
import type { Token } from '../../src/token/token.js';
import { AlgorithmInputError, decryptOrRefuse } from '../../src/hsm/algorithms/types.js';

function pkcs11Error(code: string): Error {
  return Object.assign(new Error(`C_EncryptInit failed: ${code}`), { name: 'Pkcs11Error', code, rv: 7, fn: 'C_EncryptInit' });
}
const aToken = () => ({}) as Token;

describe('OAEP on a module', () => {
  it('names the hash and MGF1 of each digest', () => {
    expect(oaepParameters('sha1')).toEqual({ hashAlg: CKM.SHA_1, mgf: CKG.MGF1_SHA1 });
    expect(oaepParameters('sha256')).toEqual({ hashAlg: CKM.SHA256, mgf: CKG.MGF1_SHA256 });
    expect(HASH_MECHANISM).toEqual({ sha1: CKM.SHA_1, sha256: CKM.SHA256, sha384: CKM.SHA384, sha512: CKM.SHA512 });
    expect(MGF).toEqual({ sha1: CKG.MGF1_SHA1, sha256: CKG.MGF1_SHA256, sha384: CKG.MGF1_SHA384, sha512: CKG.MGF1_SHA512 });
  });

  it('keeps to the native OAEP once it worked', async () => {
    const token = aToken();
    const calls: string[] = [];
    const native = async () => (calls.push('native'), 'native');
    const fallback = async () => (calls.push('fallback'), 'fallback');
    expect(await oaepNativeOrFallback(token, 'cipher', 'sha256', native, fallback)).toBe('native');
    expect(await oaepNativeOrFallback(token, 'cipher', 'sha256', native, fallback)).toBe('native');
    expect(calls).toEqual(['native', 'native']);
  });

  it.each(['CKR_ARGUMENTS_BAD', 'CKR_MECHANISM_PARAM_INVALID'])('after %s runs the fallback, and from then on only it, for that use, hash and token', async (code) => {
    const token = aToken();
    const calls: string[] = [];
    const refusing = async () => {
      calls.push('native');
      throw pkcs11Error(code);
    };
    const fallback = async () => (calls.push('fallback'), 'fallback');
    expect(await oaepNativeOrFallback(token, 'cipher', 'sha256', refusing, fallback)).toBe('fallback');
    expect(await oaepNativeOrFallback(token, 'cipher', 'sha256', refusing, fallback)).toBe('fallback');
    expect(calls).toEqual(['native', 'fallback', 'fallback']);
    // Another use, another hash, another token: each learnt on its own.
    const works = async () => (calls.push('native'), 'native');
    expect(await oaepNativeOrFallback(token, 'key-wrap', 'sha256', works, fallback)).toBe('native');
    expect(await oaepNativeOrFallback(token, 'cipher', 'sha1', works, fallback)).toBe('native');
    expect(await oaepNativeOrFallback(aToken(), 'cipher', 'sha256', works, fallback)).toBe('native');
    expect(calls.slice(3)).toEqual(['native', 'native', 'native']);
  });

  it('passes any other failure on, and learns nothing from it', async () => {
    const token = aToken();
    const failure = pkcs11Error('CKR_DEVICE_ERROR');
    let fallbacks = 0;
    const fallback = async () => (fallbacks++, 'fallback');
    await expect(oaepNativeOrFallback(token, 'cipher', 'sha256', async () => Promise.reject(failure), fallback)).rejects.toBe(failure);
    const plain = new Error('not a token error');
    await expect(oaepNativeOrFallback(token, 'cipher', 'sha256', async () => Promise.reject(plain), fallback)).rejects.toBe(plain);
    expect(fallbacks).toBe(0);
    expect(await oaepNativeOrFallback(token, 'cipher', 'sha256', async () => 'native', fallback)).toBe('native');
  });
});

describe('a token decryption refused for its ciphertext', () => {
  it('becomes the caller\'s input error for the codes modules use for it, and nothing else does', async () => {
    for (const code of ['CKR_GENERAL_ERROR', 'CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE']) {
      const refused = await decryptOrRefuse(async () => Promise.reject(pkcs11Error(code)), 'the ciphertext could not be decrypted').catch((error: unknown) => error);
      expect(refused, code).toBeInstanceOf(AlgorithmInputError);
      expect(refused).toMatchObject({ name: 'AlgorithmInputError', message: 'the ciphertext could not be decrypted' });
    }
    for (const failure of [pkcs11Error('CKR_DEVICE_ERROR'), pkcs11Error('CKR_KEY_HANDLE_INVALID'), new Error('CKR_GENERAL_ERROR')]) {
      await expect(decryptOrRefuse(async () => Promise.reject(failure), 'm')).rejects.toBe(failure);
    }
    expect(await decryptOrRefuse(async () => Buffer.from('plain'), 'm')).toEqual(Buffer.from('plain'));
  });
});
