// The token's trusted wrapping key: an AES-256 key the security officer makes at provisioning with
// CKA_TRUSTED, the only key under which keys created 'wrap-with-trusted' can leave the token. The
// SO must make it (PKCS#11 lets only the SO set CKA_TRUSTED), and as a public object, so that the
// user's sessions can find and use it.
import type { NativeModule } from '../native/addon.js';
import { toNativeTemplate } from './attributes.js';
import { CKF, CKK, CKM, CKO, CKU } from './constants.js';
import type { TokenKey } from './key-spec.js';

export const TRUSTED_WRAPPING_KEY_LABEL = 'mhsm-trusted-wrapping-key';
export const TRUSTED_WRAPPING_KEY: TokenKey = { id: Buffer.from('mhsm-trusted-wrapping-key'), spec: { type: 'aes', bits: 256 } };

export function trustedWrappingKeyTemplate() {
  return toNativeTemplate({
    class: CKO.SECRET_KEY,
    keyType: CKK.AES,
    valueLen: 32,
    token: true,
    private: false,
    sensitive: true,
    extractable: false,
    trusted: true,
    wrap: true,
    unwrap: true,
    encrypt: false,
    decrypt: false,
    id: TRUSTED_WRAPPING_KEY.id,
    label: TRUSTED_WRAPPING_KEY_LABEL,
  });
}

/** Makes the trusted wrapping key as the SO unless the token has it; the user must not be logged in. */
export async function ensureTrustedWrappingKey(module: NativeModule, slot: number, soPin: string): Promise<boolean> {
  const session = module.openSession(slot, CKF.RW_SESSION);
  try {
    const found = await module.findObjects(session, toNativeTemplate({ class: CKO.SECRET_KEY, label: TRUSTED_WRAPPING_KEY_LABEL }));
    if (found.length > 0) return false;
    await module.login(session, CKU.SO, soPin);
    try {
      await module.generateKey(session, { type: CKM.AES_KEY_GEN }, trustedWrappingKeyTemplate());
    } finally {
      module.logout(session);
    }
    return true;
  } finally {
    module.closeSession(session);
  }
}
