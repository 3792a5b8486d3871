// An emulated Entra ID tenant: service principals with client secrets, an RS256 signing key, and
// tokens for the client-credentials grant, verified strictly on every data-plane request.
import { createPrivateKey, createPublicKey, generateKeyPair, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { type JWK, SignJWT, calculateJwkThumbprint, exportJWK, importPKCS8, importSPKI, jwtVerify } from 'jose';
import type { Clock } from '../clock/clock.js';
import type { AccessStore, PrincipalRecord } from '../store/access-store.js';
import { ExternalChanges } from '../store/external-changes.js';
import { ManagedIdentityError, identityHeaderOf, pickManagedIdentity } from './managed-identities.js';
import { SecretHasher } from './secrets.js';

export const TOKEN_LIFETIME_SECONDS = 3600;
export const CLOCK_SKEW_SECONDS = 300;
/** The display name of the principal in DATA/admin.json. */
export const INITIAL_ADMINISTRATOR = 'initial administrator';

/** What DATA/admin.json holds: the initial administrator's credentials (0600). */
export interface AdminCredentials {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  objectId: string;
}

export interface VerifiedCaller {
  objectId: string;
  clientId: string;
  tenantId: string;
}

export class IdentityError extends Error {
  override readonly name = 'IdentityError';
  constructor(
    /** OAuth error code (invalid_client, invalid_request, …) or 'invalid_token' for verification. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function writeSecret(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * How many verified tokens are remembered, so that each is checked cryptographically once, and how
 * many characters of them at most: the tokens are ours, but every cache is bounded anyway.
 */
export interface VerifiedCacheLimits {
  tokens: number;
  chars: number;
}

export const VERIFIED_CACHE_LIMITS: VerifiedCacheLimits = { tokens: 10_000, chars: 16 * 1024 * 1024 };
/** Client ids are GUIDs; anything else is refused before it is looked up or remembered. */
const CLIENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isClientId(value: string): boolean {
  return CLIENT_ID.test(value);
}

interface VerifiedToken {
  appid: string;
  oid: string;
  nbf: number;
  exp: number;
}

export class Identity {
  readonly #verified = new Map<string, VerifiedToken>();
  #verifiedChars = 0;
  /**
   * Known principals by client id, read from the store once and dropped when anything changed
   * it. Misses are not remembered: every entry is a principal of the store, so it is bounded.
   */
  readonly #principalCache = new Map<string, PrincipalRecord>();
  readonly #externalChanges: ExternalChanges;

  private constructor(
    readonly tenantId: string,
    /** The token audience, and the challenge's resource: https://managedhsm.azure.net by default. */
    readonly resource: string,
    readonly admin: AdminCredentials,
    private readonly signing: { privateKey: CryptoKey; publicKey: CryptoKey; kid: string; publicJwk: JWK },
    private readonly clock: Clock,
    /** Principals live in the store, where `mhsm principal` adds and removes them. */
    private readonly principals: AccessStore,
    /** Hashes and checks client secrets. */
    readonly hasher: SecretHasher,
    /** The IDENTITY_HEADER value managed-identity token requests must carry. */
    readonly managedIdentityHeader: string,
    private readonly cacheLimits: VerifiedCacheLimits,
  ) {
    this.#externalChanges = new ExternalChanges(principals);
  }

  /** Loads the tenant from the data directory, making the signing key and admin.json on first start. */
  static async open(dataDir: string, resource: string, clock: Clock, principals: AccessStore, cacheLimits = VERIFIED_CACHE_LIMITS): Promise<Identity> {
    const dir = path.join(dataDir, 'identity');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keyPath = path.join(dir, 'signing-key.pem');
    if (!existsSync(keyPath)) {
      const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
      writeSecret(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    }
    const privatePem = readFileSync(keyPath, 'utf8');
    const publicPem = createPublicKey(createPrivateKey(privatePem)).export({ format: 'pem', type: 'spki' }).toString();
    const privateKey = await importPKCS8(privatePem, 'RS256');
    const publicKey = await importSPKI(publicPem, 'RS256', { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);

    const adminPath = path.join(dataDir, 'admin.json');
    if (!existsSync(adminPath)) {
      const admin: AdminCredentials = {
        tenantId: randomUUID(),
        clientId: randomUUID(),
        clientSecret: randomBytes(24).toString('base64url'),
        objectId: randomUUID(),
      };
      writeSecret(adminPath, `${JSON.stringify(admin, null, 2)}\n`);
    } else {
      chmodSync(adminPath, 0o600);
    }
    const admin = JSON.parse(readFileSync(adminPath, 'utf8')) as AdminCredentials;
    const hasher = SecretHasher.open(dataDir);
    const known = principals.principalByClientId(admin.clientId);
    if (!known) {
      principals.addPrincipal({
        objectId: admin.objectId,
        clientId: admin.clientId,
        displayName: INITIAL_ADMINISTRATOR,
        secretHash: hasher.hash(admin.clientSecret),
        created: clock.now(),
      });
    } else if ((await hasher.check(admin.clientSecret, known.secretHash)).needsRehash) {
      // The administrator's secret is at hand: its older hash is replaced at once.
      principals.setPrincipalSecretHash(known.objectId, hasher.hash(admin.clientSecret));
    }
    return new Identity(admin.tenantId, resource, admin, { privateKey, publicKey, kid, publicJwk: { ...publicJwk, kid, alg: 'RS256', use: 'sig' } }, clock, principals, hasher, identityHeaderOf(dataDir), cacheLimits);
  }

  get jwks(): { keys: JWK[] } {
    return { keys: [this.signing.publicJwk] };
  }

  /** The issuer a client sees when it reaches the tenant at `origin` (https://host:port). */
  issuer(origin: string): string {
    return `${origin}/${this.tenantId}/v2.0`;
  }

  /** Client credentials grant: the token's audience is the scope's resource. */
  async issueToken(form: URLSearchParams, origin: string): Promise<{ token_type: 'Bearer'; expires_in: number; ext_expires_in: number; access_token: string }> {
    if (form.get('grant_type') !== 'client_credentials') {
      throw new IdentityError('unsupported_grant_type', 'grant_type: only client_credentials is supported');
    }
    const clientId = form.get('client_id') ?? '';
    const secret = form.get('client_secret') ?? '';
    if (!CLIENT_ID.test(clientId)) throw new IdentityError('invalid_request', 'client_id: must be a GUID, the client id of an application of this tenant');
    const principal = this.#principal(clientId);
    const check = principal ? await this.hasher.check(secret, principal.secretHash) : undefined;
    if (!principal || !check?.matches) {
      throw new IdentityError('invalid_client', 'AADSTS7000215: Invalid client secret or unknown client_id.');
    }
    if (check.needsRehash) {
      this.principals.setPrincipalSecretHash(principal.objectId, this.hasher.hash(secret));
      this.#principalCache.clear();
    }
    const scope = form.get('scope') ?? '';
    const audience = scope.split(' ').find((s) => s.endsWith('/.default'))?.slice(0, -'/.default'.length);
    if (!audience) throw new IdentityError('invalid_scope', "scope: must name a resource's /.default scope");
    const accessToken = await this.#sign(principal, audience, origin);
    return { token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS, ext_expires_in: TOKEN_LIFETIME_SECONDS, access_token: accessToken };
  }

  /** A managed identity's token, as App Service's endpoint answers (managed-identities.ts). */
  async issueManagedIdentityToken(query: Record<string, string | undefined>, origin: string): Promise<{ access_token: string; expires_on: string; resource: string; token_type: 'Bearer'; client_id: string }> {
    const resource = query.resource?.replace(/\/(\.default)?$/, '');
    if (!resource) throw new ManagedIdentityError(400, 'resource: the resource the token is for, e.g. https://managedhsm.azure.net');
    const principal = pickManagedIdentity(this.principals, query);
    return {
      access_token: await this.#sign(principal, resource, origin),
      expires_on: String(this.clock.now() + TOKEN_LIFETIME_SECONDS),
      resource,
      token_type: 'Bearer',
      client_id: principal.clientId,
    };
  }

  async #sign(principal: PrincipalRecord, audience: string, origin: string): Promise<string> {
    const now = this.clock.now();
    return new SignJWT({ oid: principal.objectId, tid: this.tenantId, appid: principal.clientId, azp: principal.clientId, ver: '2.0' })
      .setProtectedHeader({ alg: 'RS256', kid: this.signing.kid, typ: 'JWT' })
      .setIssuer(this.issuer(origin))
      .setAudience(audience)
      .setSubject(principal.objectId)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + TOKEN_LIFETIME_SECONDS)
      .setJti(randomUUID())
      .sign(this.signing.privateKey);
  }

  /**
   * Checks signature (RS256 with our key only), issuer (this tenant, reached on `port`), audience
   * (our resource) and time (with five minutes of skew), and that the principal still exists.
   */
  async verify(token: string, port: number): Promise<VerifiedCaller> {
    const known = this.knownCaller(token);
    if (known) return known;
    const claims = await this.#verifySignedToken(token, port);
    const caller = this.#callerOf(token, claims);
    const limits = this.cacheLimits;
    while (this.#verified.size > 0 && (this.#verified.size >= limits.tokens || this.#verifiedChars + token.length > limits.chars)) {
      const oldest = this.#verified.keys().next().value as string;
      this.#verified.delete(oldest);
      this.#verifiedChars -= oldest.length;
    }
    this.#verified.set(token, claims);
    this.#verifiedChars += token.length;
    return caller;
  }

  /**
   * verify() for a token whose signature, issuer and audience were checked before, without
   * waiting: only time and principal can have changed since, and are checked again. Undefined for
   * a token not seen before (verify() it).
   */
  knownCaller(token: string): VerifiedCaller | undefined {
    const known = this.#verified.get(token);
    return known && this.#callerOf(token, known);
  }

  #callerOf(token: string, claims: VerifiedToken): VerifiedCaller {
    const now = this.clock.now();
    if (now < claims.nbf - CLOCK_SKEW_SECONDS || now > claims.exp + CLOCK_SKEW_SECONDS) {
      this.#forget(token);
      throw new IdentityError('invalid_token', 'the bearer token is expired or not yet valid');
    }
    const principal = this.#principal(claims.appid);
    if (!principal || principal.objectId !== claims.oid) {
      this.#forget(token);
      throw new IdentityError('invalid_token', 'the bearer token names a principal this tenant does not have');
    }
    return { objectId: principal.objectId, clientId: principal.clientId, tenantId: this.tenantId };
  }

  /** What the verified-token cache holds now: within its limits, whatever callers send. */
  get remembered(): { tokens: number; chars: number } {
    return { tokens: this.#verified.size, chars: this.#verifiedChars };
  }

  #forget(token: string): void {
    if (this.#verified.delete(token)) this.#verifiedChars -= token.length;
  }

  #principal(clientId: string): PrincipalRecord | undefined {
    if (this.#externalChanges.happened()) this.#principalCache.clear();
    const cached = this.#principalCache.get(clientId);
    if (cached) return cached;
    const principal = this.principals.principalByClientId(clientId);
    if (principal) this.#principalCache.set(clientId, principal);
    return principal;
  }

  async #verifySignedToken(token: string, port: number): Promise<VerifiedToken> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.signing.publicKey, {
        algorithms: ['RS256'],
        audience: this.resource,
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: new Date(this.clock.now() * 1000),
        requiredClaims: ['iss', 'aud', 'exp', 'nbf', 'oid', 'tid', 'appid'],
      }));
    } catch (error) {
      throw new IdentityError('invalid_token', `the bearer token is not valid: ${(error as Error).message}`);
    }
    const issuer = typeof payload.iss === 'string' ? safeUrl(payload.iss) : undefined;
    if (!issuer || issuer.protocol !== 'https:' || issuer.pathname !== `/${this.tenantId}/v2.0` || Number(issuer.port || 443) !== port) {
      throw new IdentityError('invalid_token', 'the bearer token was not issued by this tenant');
    }
    if (payload.tid !== this.tenantId) throw new IdentityError('invalid_token', 'the bearer token was issued for another tenant');
    return { appid: String(payload.appid), oid: String(payload.oid), nbf: payload.nbf as number, exp: payload.exp as number };
  }
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
