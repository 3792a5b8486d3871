// The key of the emulator's "HSM platform": it signs key attestations. Made in the token on first
// use and certified by the emulator's CA (DATA/ca.pem), so an attestation verifies against the
// same root the HSM's TLS certificate does (docs/key-attestation.md).
import type { MarkerStore } from '../../store/access-store.js';
import type { Token } from '../../token/token.js';
import { type CertifySigningKey, CertifiedSigningKey } from '../certified-signing-key.js';

export const ATTESTATION_KEY_LABEL = 'mhsm-attestation-key';

export class AttestationKey extends CertifiedSigningKey {
  constructor(token: Token, markers: MarkerStore, certify: CertifySigningKey, currentCa: () => Buffer) {
    super(token, markers, certify, currentCa, {
      label: ATTESTATION_KEY_LABEL,
      marker: 'attestation-key',
      subject: 'CN=Managed HSM emulator platform attestation',
    });
  }
}
