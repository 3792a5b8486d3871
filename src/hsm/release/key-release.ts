// POST /keys/{name}/{version}/release: an exportable key, wrapped to the runtime key of an
// attested environment whose attestation satisfies the key's release policy, answered as a JWS
// signed by the HSM. Refused, with nothing released: a key that is not exportable or not usable
// now, an attestation from an authority the HSM does not trust, with a bad signature or out of
// date, or whose claims the policy does not accept.
import type { Token } from '../../token/token.js';
import { signCompactJws } from '../certified-signing-key.js';
import type { Clock } from '../../clock/clock.js';
import { HsmError } from '../errors.js';
import type { KeyService, KeyView } from '../key-service.js';
import { type ProtectionSource, wrapMechanismOf } from '../security-domain/protection.js';
import { KEY_ENCRYPTION_ALGORITHMS, type KeyEncryptionAlgorithm, isKeyEncryptionAlgorithm } from '../byok/transfer-blob.js';
import { evaluatePolicy } from './policy-evaluation.js';
import { type StoredReleasePolicy, isStoredReleasePolicy, policyDocumentOf } from './release-policy.js';
import type { ReleaseSigningKey } from './release-signing-key.js';
import { wrapForRelease } from './release-wrap.js';
import { runtimeKeyOf } from './runtime-key.js';
import type { TrustedAuthorities } from './trusted-authorities.js';

export interface ReleaseRequest {
  target: unknown;
  nonce?: unknown;
  enc?: unknown;
}

export interface Released {
  view: KeyView;
  enc: KeyEncryptionAlgorithm;
  nonce?: string;
  /** base64url of the released key's JSON {ciphertext, header {alg, enc, kid}, schema_version}. */
  keyHsm: string;
}

/** The JWS payload for a release: the wire's business (server/), signed here. */
export type DescribeRelease = (released: Released) => Record<string, unknown>;

function bad(message: string): HsmError {
  return new HsmError('BadParameter', message);
}

export class KeyRelease {
  constructor(
    private readonly token: Token,
    private readonly keys: KeyService,
    private readonly domain: ProtectionSource,
    private readonly authorities: TrustedAuthorities,
    private readonly signing: ReleaseSigningKey,
    private readonly clock: Clock,
  ) {}

  /** The JWS compact serialization of the release. `localIssuers`: the local authority's names here. */
  async release(name: string, version: string | undefined, request: ReleaseRequest, localIssuers: readonly string[], describe: DescribeRelease): Promise<string> {
    const enc = request.enc ?? 'CKM_RSA_AES_KEY_WRAP';
    if (!isKeyEncryptionAlgorithm(enc)) throw bad(`enc: must be one of ${Object.keys(KEY_ENCRYPTION_ALGORITHMS).join(', ')}`);
    if (request.nonce !== undefined && (typeof request.nonce !== 'string' || request.nonce.length > 1024)) throw bad('nonce: must be a string of at most 1024 characters');
    const view = this.keys.get(name, version);
    const policy = this.#releasePolicyIfReleasable(view);
    const attestation = await this.authorities.verify(request.target, localIssuers);
    const verdict = evaluatePolicy(policyDocumentOf(policy), attestation.issuer, attestation.claims);
    if (verdict === 'no-authority') throw new HsmError('Forbidden', `Key ${name}'s release policy names no authority ${attestation.issuer.slice(0, 200)}, the attestation's issuer`);
    if (verdict === 'claims-differ') throw new HsmError('Forbidden', `The attestation's claims do not satisfy the release policy of key ${name}`);
    const runtime = runtimeKeyOf(attestation.claims);
    const { wrappingKey } = this.domain.protection();
    const tokenKey = { id: view.version.tokenId, spec: view.version.spec };
    const ciphertext = await wrapForRelease(this.token, wrappingKey, wrapMechanismOf(this.token), tokenKey, runtime.publicKey, enc);
    const keyHsm = Buffer.from(
      JSON.stringify({ ciphertext: ciphertext.toString('base64url'), header: { alg: 'dir', enc, kid: runtime.kid }, schema_version: '1.0' }),
    ).toString('base64url');
    const payload = describe({ view, enc, keyHsm, ...(typeof request.nonce === 'string' ? { nonce: request.nonce } : {}) });
    return signCompactJws(this.signing, payload);
  }

  /** The key's release policy, if the key may be released now. */
  #releasePolicyIfReleasable({ version }: KeyView): StoredReleasePolicy {
    const now = this.clock.now();
    const name = version.name;
    if (!version.exportable) throw bad(`Key ${name} is not exportable: only a key made with attributes.exportable true and a release policy can be released`);
    if (!isStoredReleasePolicy(version.releasePolicy)) {
      throw bad(`Key ${name} has no release policy this HSM can evaluate (one stored by an earlier version is set again with release_policy)`);
    }
    if (!version.enabled) throw new HsmError('Forbidden', `Operation release is not allowed on a disabled key (${name})`);
    if (version.notBefore !== null && now < version.notBefore) throw new HsmError('Forbidden', `Operation release is not allowed before the key's nbf (${name})`);
    if (version.expires !== null && now >= version.expires) throw new HsmError('Forbidden', `Operation release is not allowed on an expired key (${name})`);
    return version.releasePolicy;
  }
}
