// GET /keys/{name}/{version}/attestation: the key's attestation, as KeyAttributes.attestation
// carries it. Each of the key's token objects gets a statement of its attributes read from the
// token now (key-statement.ts), signed in the token by the platform's attestation key; the
// certificate chain that verifies them comes along as a PEM file.
import { X509Certificate } from 'node:crypto';
import type { Token } from '../../token/token.js';
import { type CertifiedSigningKey, signCompactJws } from '../certified-signing-key.js';
import type { Clock } from '../../clock/clock.js';
import { fromTokenError } from '../errors.js';
import { publicJwk } from '../jwk.js';
import type { KeyView } from '../key-service.js';
import { isKeyPair } from '../../token/key-spec.js';
import { STATEMENT_VERSION, keyStatement } from './key-statement.js';

/** What the emulator reports as attributes.hsmPlatform. */
export const HSM_PLATFORM = 'mhsm-emulator-softhsm2';

export interface KeyAttestationBlob {
  /** base64url of the PEM chain: the attestation key's certificate, then the CA's. */
  certificatePemFile: string;
  /** base64url of the compact JWS stating the private (or secret) key object. */
  privateKeyAttestation: string;
  /** base64url of the compact JWS stating the public key object, for a key pair. */
  publicKeyAttestation?: string;
  version: string;
}

function pemOf(der: Buffer): string {
  return new X509Certificate(der).toString();
}

export class KeyAttestation {
  constructor(
    private readonly token: Token,
    private readonly signing: CertifiedSigningKey,
    private readonly clock: Clock,
  ) {}

  async attest({ version }: KeyView, kid: string): Promise<KeyAttestationBlob> {
    const tokenKey = { id: version.tokenId, spec: version.spec };
    // Both read from the token now: the attributes, and the public key from the public object.
    const stated = await this.#fromToken(() => this.token.statedAttributes(tokenKey), kid);
    const publicKey = isKeyPair(version.spec) ? publicJwk(await this.#fromToken(() => this.token.publicKey(tokenKey), kid)) : undefined;
    const common = {
      kid,
      token: this.token.description,
      hsmPlatform: HSM_PLATFORM,
      issuedAt: this.clock.now(),
      ...(publicKey ? { publicKey } : {}),
    };
    const sign = async (payload: object) => Buffer.from(await signCompactJws(this.signing, payload as Record<string, unknown>)).toString('base64url');
    const signer = await this.signing.signer();
    const chain = signer.header.x5c.map((der) => pemOf(Buffer.from(der, 'base64'))).join('');
    return {
      certificatePemFile: Buffer.from(chain).toString('base64url'),
      privateKeyAttestation: await sign(keyStatement({ ...common, stated: stated.secret })),
      ...(stated.public ? { publicKeyAttestation: await sign(keyStatement({ ...common, stated: stated.public })) } : {}),
      version: STATEMENT_VERSION,
    };
  }

  async #fromToken<T>(read: () => Promise<T>, kid: string): Promise<T> {
    try {
      return await read();
    } catch (error) {
      throw fromTokenError(error, `attest ${kid}`);
    }
  }
}
