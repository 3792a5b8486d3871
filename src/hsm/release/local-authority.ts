// The local attestation authority: what Microsoft Azure Attestation is to a real Managed HSM, for
// tests. It signs attestation tokens (JWTs) with a key of its own, kept in DATA/attestation/
// (0600), and the emulator serves its OpenID metadata and JWKS under /attestation, as an
// authority must (iss, jwks_uri, each key with kid and x5c). `mhsm attest` mints tokens with
// chosen claims and runtime key; /generate-test-token mints the one the official SDKs' release
// tests ask their mock authority for.
// @peculiar/x509 needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { type KeyObject, createPrivateKey, createPublicKey, generateKeyPair as generateKeyPairCallback, randomBytes, webcrypto } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import { SignJWT } from 'jose';

export const AUTHORITY_PATH = '/attestation';
const ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 } as const;
const generateKeyPair = promisify(generateKeyPairCallback);

/** The issuer name of the local authority at an origin: `https://host:port/attestation/`. */
export function localIssuer(origin: string): string {
  return `${origin}${AUTHORITY_PATH}/`;
}

/** An RSA public key as an attestation's runtime key (x-ms-runtime.keys[]). */
export function runtimeJwk(publicKey: KeyObject, kid: string): Record<string, unknown> {
  const { kty, n, e } = publicKey.export({ format: 'jwk' });
  if (kty !== 'RSA') throw new TypeError('a runtime key must be an RSA public key');
  return { kty, kid, use: 'enc', key_ops: ['encrypt', 'wrapKey'], e, n };
}

export interface MintOptions {
  issuer: string;
  claims: Record<string, unknown>;
  /** Runtime keys, as JWKs (x-ms-runtime.keys). */
  runtimeKeys: Record<string, unknown>[];
  /** Unix seconds. */
  now: number;
  lifetimeSeconds?: number;
}

export class LocalAttestationAuthority {
  #testRuntimeKey: Promise<Record<string, unknown>> | undefined;

  private constructor(
    private readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
    readonly certificateDer: Buffer,
    readonly kid: string,
  ) {}

  /**
   * The authority of the data directory, made on first use. Its key and certificate are one file,
   * made whole beside it and linked into place (never replaced): of two processes making it at
   * once, one wins and both use its key.
   */
  static async open(dataDir: string): Promise<LocalAttestationAuthority> {
    const dir = path.join(dataDir, 'attestation');
    const file = path.join(dir, 'authority.json');
    if (!existsSync(file)) await LocalAttestationAuthority.#create(dir, file);
    const { key, certificate } = JSON.parse(readFileSync(file, 'utf8')) as { key: string; certificate: string };
    const privateKey = createPrivateKey(key);
    const parsed = new x509.X509Certificate(certificate);
    const kid = Buffer.from(await parsed.getThumbprint('SHA-256')).toString('base64url');
    return new LocalAttestationAuthority(privateKey, createPublicKey(privateKey), Buffer.from(parsed.rawData), kid);
  }

  static async #create(dir: string, file: string): Promise<void> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
      name: 'CN=managed-hsm-emulator local attestation authority',
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + 10 * 365 * 86_400_000),
      keys,
      signingAlgorithm: ALGORITHM,
      extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
    const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(partial, `${JSON.stringify({ key, certificate: certificate.toString('pem') })}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(partial, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(partial);
    }
  }

  /** The JWKS the emulator serves at /attestation/keys. */
  jwks(): { keys: Record<string, unknown>[] } {
    const { kty, n, e } = this.publicKey.export({ format: 'jwk' });
    return { keys: [{ kty, kid: this.kid, use: 'sig', alg: 'RS256', n, e, x5c: [this.certificateDer.toString('base64')] }] };
  }

  /** The OpenID Connect discovery document of the authority at this origin. */
  metadata(origin: string): Record<string, unknown> {
    return {
      issuer: localIssuer(origin),
      jwks_uri: `${origin}${AUTHORITY_PATH}/keys`,
      id_token_signing_alg_values_supported: ['RS256'],
      claims_supported: ['iss', 'iat', 'nbf', 'exp', 'x-ms-runtime', 'x-ms-inittime'],
    };
  }

  /** An attestation token with these claims and runtime keys, signed by the authority. */
  async mint({ issuer, claims, runtimeKeys, now, lifetimeSeconds = 8 * 3600 }: MintOptions): Promise<string> {
    const origin = issuer.replace(/\/+$/, '').replace(new RegExp(`${AUTHORITY_PATH}$`), '');
    const runtimeClaims = claims['x-ms-runtime'];
    const runtime = typeof runtimeClaims === 'object' && runtimeClaims !== null ? runtimeClaims : {};
    return new SignJWT({ 'x-ms-inittime': {}, ...claims, 'x-ms-runtime': { ...runtime, keys: runtimeKeys } })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.kid, jku: `${origin}${AUTHORITY_PATH}/keys` })
      .setIssuer(issuer)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + lifetimeSeconds)
      .sign(this.privateKey);
  }

  /**
   * The token the SDKs' release tests get from their mock authority: `sdk-test: true`, and a
   * runtime key made for this process whose private half nobody keeps (those tests only check
   * that a release is answered).
   */
  async testToken(issuer: string, now: number): Promise<string> {
    this.#testRuntimeKey ??= generateKeyPair('rsa', { modulusLength: 2048 }).then(({ publicKey }) => runtimeJwk(publicKey, 'fake-release-key'));
    return this.mint({ issuer, claims: { 'sdk-test': true, 'maa-ehd': 'sdk-test' }, runtimeKeys: [await this.#testRuntimeKey], now, lifetimeSeconds: 7 * 86_400 });
  }
}
