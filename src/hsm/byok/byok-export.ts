// What a vendor's BYOK tool does in the customer's own HSM: wraps one of its keys (extractable in
// that source token) for a Managed HSM's key-exchange key, inside the source token
// (rsa-aes-wrap.ts), and writes the transfer blob.
import type { KeyObject } from 'node:crypto';
import type { TokenKey } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';
import { rsaAesWrap } from './rsa-aes-wrap.js';
import { type KeyEncryptionAlgorithm, encodeTransferBlob } from './transfer-blob.js';

/** The KEK a source HSM wraps for: its kid (named in the blob) and its public key. */
export interface KekPublicKey {
  kid: string;
  publicKey: KeyObject;
}

/** The .byok file's bytes for `target`, a key of the source token, wrapped for `kek`. */
export async function exportForImport(source: Token, target: TokenKey, kek: KekPublicKey, enc: KeyEncryptionAlgorithm = 'CKM_RSA_AES_KEY_WRAP'): Promise<Buffer> {
  return encodeTransferBlob({ kid: kek.kid, enc, ciphertext: await rsaAesWrap(source, target, kek.publicKey, enc) });
}
