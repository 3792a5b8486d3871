// The mechanism keys are wrapped under the security domain with (src/hsm/security-domain/protection.ts):
// RFC 5649 as the token numbers it, or a clear refusal on a token that lacks it. The token here is
// only its mechanism list: no module on this machine lacks the mechanism.
import { expect, it } from 'vitest';
import { wrapMechanismOf } from '../../src/hsm/security-domain/protection.js';
import { Capabilities } from '../../src/token/capabilities.js';
import { CKM } from '../../src/token/constants.js';
import type { Token } from '../../src/token/token.js';

const tokenWith = (types: number[]) => ({ capabilities: new Capabilities(types.map((type) => ({ type, name: '', minKeySize: 0, maxKeySize: 0, flags: 0 }))) }) as unknown as Token;

it('takes the token numbering of AES key wrap with padding, and refuses a token without it', () => {
  expect(wrapMechanismOf(tokenWith([CKM.AES_KEY_WRAP_PAD]))).toBe(CKM.AES_KEY_WRAP_PAD);
  expect(wrapMechanismOf(tokenWith([CKM.AES_KEY_WRAP_KWP]))).toBe(CKM.AES_KEY_WRAP_KWP);
  expect(wrapMechanismOf(tokenWith([CKM.AES_KEY_WRAP_KWP, CKM.AES_KEY_WRAP_PAD]))).toBe(CKM.AES_KEY_WRAP_PAD);
  expect(() => wrapMechanismOf(tokenWith([CKM.AES_KEY_WRAP]))).toThrow(
    expect.objectContaining({ code: 'NotSupported', message: 'wrapping keys under the security domain needs AES key wrap with padding, which this token lacks' }),
  );
});
