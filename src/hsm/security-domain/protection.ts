// What the key-material features (backups, key release) take from the security domain: its
// protection (the trusted wrapping key and the sealer), and the token's mechanism for wrapping
// keys under it.
import type { Token } from '../../token/token.js';
import { HsmError } from '../errors.js';
import type { DomainProtection } from './security-domain.js';

export interface ProtectionSource {
  protection(): DomainProtection;
}

/** AES key wrap with padding (RFC 5649), as the token numbers it. */
export function wrapMechanismOf(token: Token): number {
  const mechanism = token.capabilities.aesKeyWrapPad;
  if (mechanism === undefined) throw new HsmError('NotSupported', 'wrapping keys under the security domain needs AES key wrap with padding, which this token lacks');
  return mechanism;
}
