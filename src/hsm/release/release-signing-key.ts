// The key with which the HSM signs what it releases, certified by the emulator's CA for
// signatures. A released key is a JWS with this key's chain in x5c, as the service signs with its own.
import type { MarkerStore } from '../../store/access-store.js';
import type { Token } from '../../token/token.js';
import { type CertifySigningKey, CertifiedSigningKey } from '../certified-signing-key.js';

export const RELEASE_SIGNING_KEY_LABEL = 'mhsm-release-signing-key';

export class ReleaseSigningKey extends CertifiedSigningKey {
  constructor(token: Token, markers: MarkerStore, certify: CertifySigningKey, currentCa: () => Buffer) {
    super(token, markers, certify, currentCa, { label: RELEASE_SIGNING_KEY_LABEL, marker: 'release-signing-key', subject: 'CN=Managed HSM emulator key release' });
  }
}
