// A release, inside the token. Every key is wrap-with-trusted, so no untrusted key can wrap it:
// the token wraps it under the domain's trusted key, unwraps that into a session copy that may
// be wrapped (extractable, not wrap-with-trusted), and wraps the copy to the attested runtime key
// with CKM_RSA_AES_KEY_WRAP (rsa-aes-wrap.ts). The copy is destroyed before the call returns;
// the key's plaintext never exists outside the token. Only exportable keys with a satisfied
// release policy get here (key-release.ts): this is the one place where a key leaves the token
// under a key that is not the domain's.
import type { KeyObject } from 'node:crypto';
import type { TokenKey } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';
import { rsaAesWrap } from '../byok/rsa-aes-wrap.js';
import type { KeyEncryptionAlgorithm } from '../byok/transfer-blob.js';

export async function wrapForRelease(
  token: Token,
  domainWrappingKey: TokenKey,
  keyWrapMechanism: number,
  target: TokenKey,
  runtimeKey: KeyObject,
  enc: KeyEncryptionAlgorithm,
): Promise<Buffer> {
  const mechanism = { type: keyWrapMechanism };
  const underDomain = await token.wrapKey(domainWrappingKey, mechanism, target);
  const copy = await token.unwrapKey(domainWrappingKey, mechanism, underDomain, target.spec, { ephemeral: true, exportPolicy: 'extractable-session', usages: [] });
  let wrapped: Buffer;
  try {
    wrapped = await rsaAesWrap(token, copy, runtimeKey, enc);
  } catch (error) {
    await token.destroyKey(copy).catch(() => undefined); // the wrap's error is the one to report
    throw error;
  }
  // The copy must be gone before anything is released: a failure here fails the release.
  if (!(await token.destroyKey(copy))) throw new Error('the session copy of a released key was not found to destroy');
  return wrapped;
}
