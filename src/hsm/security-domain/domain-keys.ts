// The security domain's two token objects, named by the domain's id:
// - the wrapping key: AES-256, CKA_TRUSTED, made by the security officer (public, as SoftHSM2
//   makes the SO's objects), sensitive, not extractable; every key leaves the token only
//   wrapped under it (C_WrapKey with AES key wrap with padding);
// - the sealing key: AES-256, CKA_PRIVATE (so SoftHSM2 keeps it encrypted under the user PIN),
//   sensitive, not extractable; it seals (AES-GCM) everything that leaves the HSM, so that the
//   token directory without the PIN plus a backup gives nothing.
// Both are installed from the domain's payload: at activation and at recovery.
import type { TokenKey } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';

/** CKA_LABEL of the domain's objects: start-up finds half-installed ones by it. */
export const DOMAIN_OBJECT_LABEL = 'mhsm-security-domain';

const AES_256 = { type: 'aes', bits: 256 } as const;

export function wrappingKeyOf(domainId: Buffer): TokenKey {
  return { id: Buffer.concat([Buffer.from('sd-wrap:'), domainId]), spec: AES_256 };
}

export function sealingKeyOf(domainId: Buffer): TokenKey {
  return { id: Buffer.concat([Buffer.from('sd-seal:'), domainId]), spec: AES_256 };
}

/** The domain id a domain object's CKA_ID names, if it is one. */
export function domainIdOfObject(id: Buffer): Buffer | undefined {
  const prefix = id.subarray(0, 8).toString('latin1');
  return prefix === 'sd-wrap:' || prefix === 'sd-seal:' ? id.subarray(8) : undefined;
}

/** Creates the sealing key (as the user) and then the wrapping key (as the SO) from their values. */
export async function installDomainKeys(token: Token, soPin: string | Buffer, payload: { domainId: Buffer; wrappingKey: Buffer; sealingKey: Buffer }): Promise<void> {
  const sealing = sealingKeyOf(payload.domainId);
  await token.importKey(sealing.spec, { type: 'secret', value: payload.sealingKey }, { id: sealing.id, label: DOMAIN_OBJECT_LABEL, usages: ['encrypt', 'decrypt'] });
  try {
    await token.createTrustedKey(soPin, wrappingKeyOf(payload.domainId), DOMAIN_OBJECT_LABEL, payload.wrappingKey);
  } catch (error) {
    await token.destroyKey(sealing).catch(() => undefined); // no half-installed domain
    throw error;
  }
}

export async function removeDomainKeys(token: Token, domainId: Buffer): Promise<void> {
  await token.destroyObjectsWithId(wrappingKeyOf(domainId).id);
  await token.destroyObjectsWithId(sealingKeyOf(domainId).id);
}
