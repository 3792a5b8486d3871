// Trusted wrapping keys: AES-256 keys with CKA_TRUSTED, the only keys under which keys created
// 'wrap-with-trusted' can leave the token. PKCS#11 lets only the security officer set
// CKA_TRUSTED, and SoftHSM2 makes the SO's objects public, so the user's sessions can find and
// use them. The security domain installs its own (with the value it carries); data directories
// made before the domain existed hold one generated at provisioning (LEGACY_TRUSTED_KEY).
import { toNativeTemplate } from './attributes.js';
import { CKK, CKO } from './constants.js';
import type { TokenKey } from './key-spec.js';

export const LEGACY_TRUSTED_KEY_LABEL = 'mhsm-trusted-wrapping-key';
/** The trusted key made inside the token at provisioning by earlier versions: it cannot be exported. */
export const LEGACY_TRUSTED_KEY: TokenKey = { id: Buffer.from('mhsm-trusted-wrapping-key'), spec: { type: 'aes', bits: 256 } };

/** The template of a trusted AES-256 wrapping key with a given value, for the SO's C_CreateObject. */
export function trustedKeyTemplate(id: Buffer, label: string, value: Buffer) {
  if (value.length !== 32) throw new RangeError('a trusted wrapping key is an AES-256 key: 32 bytes');
  return toNativeTemplate({
    class: CKO.SECRET_KEY,
    keyType: CKK.AES,
    value,
    token: true,
    private: false,
    sensitive: true,
    extractable: false,
    trusted: true,
    wrap: true,
    unwrap: true,
    encrypt: false,
    decrypt: false,
    id,
    label,
  });
}
