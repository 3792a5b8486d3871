// The certificates of a security-domain download (SecurityDomainJsonWebKey: an RSA JWK that
// carries its certificate in x5c), and the key pairs of an automatic activation ceremony.
// @peculiar/x509 needs the Reflect metadata API loaded before it.
import 'reflect-metadata';
import { createHash, generateKeyPair, type KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import { badParameter } from '../errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const MIN_RSA_BITS = 2048;
const DAY_MS = 86_400_000;
const SIGNING = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

export interface DomainCertificate {
  der: Buffer;
  /** base64url(SHA-256(DER)) without padding: what the file's x5t_256 holds. */
  x5t256: string;
  publicKey: KeyObject;
}

export interface SecurityDomainJsonWebKey {
  kty: 'RSA';
  key_ops: string[];
  n: string;
  e: string;
  x5c: string[];
  'x5t#S256': string;
  alg: string;
  kid: string;
}

export function x5tS256(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64url');
}

/** The RSA public key of a DER certificate, refused unless it can carry shares (RSA ≥ 2048). */
export function rsaCertificateKey(der: Buffer, field: string): KeyObject {
  let publicKey: KeyObject;
  try {
    publicKey = new X509Certificate(der).publicKey;
  } catch {
    throw badParameter(`${field}: is not a DER X.509 certificate`);
  }
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw badParameter(`${field}: the certificate's key must be RSA (rsaEncryption), got ${publicKey.asymmetricKeyType ?? 'unknown'}`);
  }
  const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) throw badParameter(`${field}: the certificate's RSA key must have at least ${MIN_RSA_BITS} bits, got ${bits}`);
  return publicKey;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function optionalString(record: Record<string, unknown>, name: string, field: string): string | undefined {
  const value = record[name];
  if (value !== undefined && typeof value !== 'string') throw badParameter(`${field}.${name}: must be a string when present`);
  return value as string | undefined;
}

/** A base64url integer from a JWK, without leading zero bytes, for comparison. */
function unsignedBytes(value: string, field: string): Buffer {
  const bytes = Buffer.from(value, 'base64url');
  if (value === '' || bytes.toString('base64url') !== value.replace(/=+$/, '')) throw badParameter(`${field}: must be a base64url integer`);
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return bytes.subarray(start);
}

/** Validates certificates[index] of a download request and returns its certificate and key. */
export function parseDomainCertificate(value: unknown, index: number): DomainCertificate {
  const field = `certificates[${index}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badParameter(`${field}: must be a JSON web key object`);
  const jwk = value as Record<string, unknown>;
  if (jwk.kty !== 'RSA') throw badParameter(`${field}.kty: required, must be "RSA"`);
  if (jwk.key_ops !== undefined && (!Array.isArray(jwk.key_ops) || !jwk.key_ops.every((op) => typeof op === 'string'))) {
    throw badParameter(`${field}.key_ops: must be an array of strings`);
  }
  for (const name of ['alg', 'kid', 'use']) optionalString(jwk, name, field);
  const { x5c } = jwk;
  if (!Array.isArray(x5c) || x5c.length === 0) throw badParameter(`${field}.x5c: required, an array of standard base64 DER certificates, the first being the key's`);
  const first = x5c[0];
  if (typeof first !== 'string' || first === '' || !BASE64.test(first)) throw badParameter(`${field}.x5c[0]: must be a standard base64 (not base64url) DER certificate`);
  const der = Buffer.from(first, 'base64');
  const publicKey = rsaCertificateKey(der, `${field}.x5c[0]`);
  const x5t256 = x5tS256(der);

  const thumbprint = optionalString(jwk, 'x5t#S256', field);
  if (thumbprint !== undefined && thumbprint.replace(/=+$/, '') !== x5t256) {
    throw badParameter(`${field}.x5t#S256: does not match the certificate in x5c[0] (must be base64url of its DER's SHA-256)`);
  }
  const sha1 = optionalString(jwk, 'x5t', field);
  if (sha1 !== undefined && sha1.replace(/=+$/, '') !== createHash('sha1').update(der).digest('base64url')) {
    throw badParameter(`${field}.x5t: does not match the certificate in x5c[0] (must be base64url of its DER's SHA-1)`);
  }
  const own = publicKey.export({ format: 'jwk' });
  for (const name of ['n', 'e'] as const) {
    const given = optionalString(jwk, name, field);
    if (given !== undefined && !unsignedBytes(given, `${field}.${name}`).equals(unsignedBytes(own[name] as string, name))) {
      throw badParameter(`${field}.${name}: does not match the key of the certificate in x5c[0]`);
    }
  }
  return { der, x5t256, publicKey };
}

/** The SecurityDomainJsonWebKey a client sends to download for a certificate (as az builds it, plus kid). */
export function domainJwk(certificateDer: Buffer, kid: string): SecurityDomainJsonWebKey {
  const { n, e } = rsaCertificateKey(certificateDer, 'certificate').export({ format: 'jwk' });
  return {
    kty: 'RSA',
    key_ops: ['verify', 'encrypt', 'wrapKey'],
    n: n as string,
    e: e as string,
    x5c: [certificateDer.toString('base64')],
    'x5t#S256': x5tS256(certificateDer),
    alg: 'RSA-OAEP-256',
    kid,
  };
}

/** PEM text of DER bytes (64-character lines, ending in a newline). */
export function pem(label: string, der: Buffer): string {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

const generateRsa = promisify(generateKeyPair);

/**
 * An RSA-2048 key pair with a self-signed certificate, as a wrapping key of the domain. The key
 * is made with the asynchronous generator (on the thread pool) because RSA generation takes
 * tens to hundreds of milliseconds; callers make several in parallel.
 */
/** A ceremony's key pair: the private key, its certificate, and the certificate as the security-domain JWK. */
export type CeremonyPair = Awaited<ReturnType<typeof ceremonyKeyPair>>;

export async function ceremonyKeyPair(subject: string): Promise<{ privateKeyPem: string; certificatePem: string; jwk: SecurityDomainJsonWebKey }> {
  if (subject.trim() === '') throw badParameter('subject: must not be empty');
  const { privateKey, publicKey } = await generateRsa('rsa', { modulusLength: MIN_RSA_BITS, publicExponent: 0x10001 });
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  try {
    const keys = {
      privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, SIGNING, false, ['sign']),
      publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), SIGNING, true, ['verify']),
    } as CryptoKeyPair;
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      // Positive and non-zero: a leading hex digit of 1..7 keeps the DER integer positive.
      serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[089a-f]/, '1'),
      name: [{ CN: [subject] }],
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(now + 730 * DAY_MS),
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.digitalSignature, true),
      ],
    });
    const der = Buffer.from(certificate.rawData);
    return { privateKeyPem: pem('PRIVATE KEY', pkcs8), certificatePem: pem('CERTIFICATE', der), jwk: domainJwk(der, subject) };
  } finally {
    pkcs8.fill(0);
  }
}
