// The attestation authorities whose tokens this HSM takes as a release's `target`: the local one
// always, and others by configuration (`--attestation-authority`): an issuer alone (its keys come
// from its OpenID metadata, jwks_uri, over HTTPS), ISSUER=JWKS-URL, or ISSUER=FILE with a PEM
// public key or certificate, or a JWKS JSON file. A token's issuer picks the authority; its signature must
// verify under that authority's keys, and the emulator's clock must be within its nbf/exp.
import { type KeyObject, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type JWTPayload, type JWTVerifyGetKey, createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { Clock } from '../../clock/clock.js';
import { HsmError } from '../errors.js';
import type { LocalAttestationAuthority } from './local-authority.js';

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
const FETCH_TIMEOUT_MS = 5000;

/** Issuers compare without case in scheme and host and without trailing slashes. */
export function sameIssuer(a: string, b: string): boolean {
  return normalizedIssuer(a) === normalizedIssuer(b);
}

function normalizedIssuer(issuer: string): string {
  try {
    const url = new URL(issuer);
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    return issuer.replace(/\/+$/, '');
  }
}

export interface ConfiguredAuthority {
  issuer: string;
  /** Keys from a file or a JWKS URL; none: from the issuer's OpenID metadata. */
  keys?: JWTVerifyGetKey | KeyObject;
  /** The keys are fetched (a JWKS URL). */
  remote?: boolean;
}

/** `ISSUER`, `ISSUER=JWKS-URL` or `ISSUER=FILE` (PEM public key or certificate, or a JWKS JSON file). */
export function parseAuthority(spec: string): ConfiguredAuthority {
  const at = spec.indexOf('=');
  const issuer = at < 0 ? spec : spec.slice(0, at);
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new TypeError(`--attestation-authority: '${issuer}' is not a URL (the authority's issuer, as its tokens' iss)`);
  }
  if (at < 0) {
    if (url.protocol !== 'https:') throw new TypeError(`--attestation-authority: ${issuer}: an authority's metadata is fetched over HTTPS only`);
    return { issuer };
  }
  const source = spec.slice(at + 1);
  if (/^https?:\/\//i.test(source)) {
    if (!source.toLowerCase().startsWith('https://')) throw new TypeError(`--attestation-authority: ${source}: an authority's JWKS is fetched over HTTPS only`);
    return { issuer, keys: createRemoteJWKSet(new URL(source), { timeoutDuration: FETCH_TIMEOUT_MS }), remote: true };
  }
  const text = readFileSync(source, 'utf8');
  if (text.trimStart().startsWith('{')) return { issuer, keys: createLocalJWKSet(JSON.parse(text) as { keys: [] }) };
  const key = text.includes('CERTIFICATE') ? new X509Certificate(text).publicKey : createPublicKey(text);
  return { issuer, keys: key };
}

export interface VerifiedAttestation {
  issuer: string;
  claims: JWTPayload;
}

function bad(message: string, cause?: unknown): HsmError {
  return new HsmError('BadParameter', `target: ${message}`, cause === undefined ? undefined : { cause });
}

export class TrustedAuthorities {
  readonly #remote = new Map<string, Promise<JWTVerifyGetKey>>();

  /** `local`: undefined when the local authority is turned off (--no-local-attestation-authority). */
  constructor(
    private readonly local: LocalAttestationAuthority | undefined,
    private readonly configured: readonly ConfiguredAuthority[],
    private readonly clock: Clock,
  ) {}

  /**
   * Verifies an attestation token: issued by a trusted authority (the local one under any of
   * `localIssuers`, the names the emulator answers by), signed by it, and current.
   */
  async verify(target: unknown, localIssuers: readonly string[]): Promise<VerifiedAttestation> {
    if (typeof target !== 'string' || target.length === 0) throw bad('required, an attestation token (a JWT)');
    if (target.length > 64 * 1024) throw bad('an attestation token is at most 64 KiB');
    let issuer: unknown;
    try {
      decodeProtectedHeader(target);
      issuer = decodeJwt(target).iss;
    } catch (error) {
      throw bad('is not an attestation token (a JWT)', error);
    }
    if (typeof issuer !== 'string') throw bad("the attestation token has no issuer ('iss')");
    const { key, remote } = await this.#keyOf(issuer, localIssuers);
    try {
      const { payload } = await jwtVerify(target, key as JWTVerifyGetKey, {
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
        currentDate: new Date(this.clock.now() * 1000),
        clockTolerance: 60,
      });
      return { issuer, claims: payload };
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw bad(`the attestation token expired (exp ${String(error.payload.exp)})`, error);
      if (error instanceof errors.JWTClaimValidationFailed) throw bad(`the attestation token is not valid now, or has no ${error.claim}`, error);
      // A remote authority's keys not reachable: the HSM's trouble, not the caller's.
      if (remote && (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError))) {
        throw new HsmError('Unavailable', `the keys of attestation authority ${issuer.slice(0, 200)} could not be fetched; try again`, { cause: error });
      }
      throw bad(`the attestation token's signature does not verify under the keys of authority ${issuer.slice(0, 200)}`, error);
    }
  }

  /**
   * The keys of the token's issuer. Configured authorities come first and a configured issuer is
   * never the local authority, whatever name a request reached the emulator by.
   */
  async #keyOf(issuer: string, localIssuers: readonly string[]): Promise<{ key: KeyObject | JWTVerifyGetKey; remote: boolean }> {
    const configured = this.configured.find((authority) => sameIssuer(authority.issuer, issuer));
    if (!configured) {
      if (this.local && localIssuers.some((name) => sameIssuer(name, issuer))) return { key: this.local.publicKey, remote: false };
      throw bad(`the attestation's issuer '${issuer.slice(0, 200)}' is not an authority this HSM trusts`);
    }
    if (configured.keys) return { key: configured.keys, remote: configured.remote === true };
    let remote = this.#remote.get(configured.issuer);
    if (!remote) {
      remote = discoverKeys(configured.issuer);
      this.#remote.set(configured.issuer, remote);
      remote.catch(() => this.#remote.delete(configured.issuer));
    }
    try {
      return { key: await remote, remote: true };
    } catch (error) {
      throw new HsmError('Unavailable', `the OpenID metadata of attestation authority ${issuer.slice(0, 200)} could not be read; try again`, { cause: error });
    }
  }
}

/** The issuer's JWKS, named by its OpenID metadata. */
async function discoverKeys(issuer: string): Promise<JWTVerifyGetKey> {
  const response = await fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`${response.status} from the authority's OpenID metadata`);
  const { jwks_uri: jwksUri } = (await response.json()) as { jwks_uri?: unknown };
  if (typeof jwksUri !== 'string' || !jwksUri.startsWith('https://')) throw new Error('the OpenID metadata has no https jwks_uri');
  return createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: FETCH_TIMEOUT_MS });
}
