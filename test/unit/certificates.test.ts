// Security-domain certificates (src/hsm/security-domain/certificates.ts): the thumbprint, the RSA
// key a certificate must carry (type and size), each check of a download request's JWK (shape,
// x5c, thumbprints, n and e, with what a client may write differently), the JWK made for a
// certificate, PEM text, and the key pairs of the activation ceremony.
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ceremonyKeyPair,
  domainJwk,
  parseDomainCertificate,
  pem,
  rsaCertificateKey,
  x5tS256,
} from '../../src/hsm/security-domain/certificates.js';
import { refusal, refusalOf } from '../helpers/refusal.js';

interface Fixture {
  der: Buffer;
  privateKey: KeyObject;
}

// Made when the file loads, so that the tables below can name them.
const work = mkdtempSync(path.join(os.tmpdir(), 'mhsm-certificates-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A certificate for a fresh key of this kind, made by openssl. Its signature (by one P-256 key for
 * all) does not matter: the module reads the key a certificate carries, it does not verify it.
 */
function certificateFor(name: string, genpkey: string[]): Fixture {
  openssl(['genpkey', ...genpkey, '-out', `${name}.key`]);
  openssl(['pkey', '-in', `${name}.key`, '-pubout', '-out', `${name}.pub`]);
  openssl(['x509', '-new', '-force_pubkey', `${name}.pub`, '-subj', `/CN=${name}`, '-key', 'signer.key', '-days', '1', '-outform', 'DER', '-out', `${name}.der`]);
  return { der: readFileSync(path.join(work, `${name}.der`)), privateKey: createPrivateKey(readFileSync(path.join(work, `${name}.key`))) };
}

const rsa = (bits: number) => ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`];

openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'signer.key']);
const rsa2048 = certificateFor('rsa2048', rsa(2048));
const otherRsa2048 = certificateFor('other', rsa(2048));
const rsa2047 = certificateFor('rsa2047', rsa(2047));
const rsa1024 = certificateFor('rsa1024', rsa(1024));
const ec = certificateFor('ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
const ed25519 = certificateFor('ed25519', ['-algorithm', 'ED25519']);
const rsaPss = certificateFor('rsapss', ['-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048']);
// X9.42 DH: a key type node:crypto does not name.
const dhx = certificateFor('dhx', ['-algorithm', 'DHX', '-pkeyopt', 'dh_rfc5114:2']);

const badParameter = (message: string) => ({ code: 'BadParameter', message });
const jwkOf = (key: KeyObject) => createPublicKey(key).export({ format: 'jwk' }) as { n: string; e: string };
const sha = (algorithm: 'sha1' | 'sha256', der: Buffer) => createHash(algorithm).update(der).digest('base64url');

describe('x5tS256', () => {
  it('is base64url of the SHA-256 of the bytes, without padding', () => {
    // SHA-256 test vectors (FIPS 180-2): "" and "abc".
    expect(x5tS256(Buffer.alloc(0))).toBe('47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU');
    expect(x5tS256(Buffer.from('abc'))).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  });
});

describe('the key of a certificate', () => {
  it('is the RSA public key of a DER certificate of 2048 bits or more', () => {
    const key = rsaCertificateKey(rsa2048.der, 'cert');
    expect(key.type).toBe('public');
    expect(key.equals(createPublicKey(rsa2048.privateKey))).toBe(true);
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it.each([
    ['bytes that are not DER', Buffer.from('not a certificate'), 'cert: is not a DER X.509 certificate'],
    ['no bytes', Buffer.alloc(0), 'cert: is not a DER X.509 certificate'],
    ['an EC key', ec.der, "cert: the certificate's key must be RSA (rsaEncryption), got ec"],
    ['an Ed25519 key', ed25519.der, "cert: the certificate's key must be RSA (rsaEncryption), got ed25519"],
    ['an RSA-PSS key', rsaPss.der, "cert: the certificate's key must be RSA (rsaEncryption), got rsa-pss"],
    ['a key of a type without a name', dhx.der, "cert: the certificate's key must be RSA (rsaEncryption), got unknown"],
    ['an RSA key of 2047 bits', rsa2047.der, "cert: the certificate's RSA key must have at least 2048 bits, got 2047"],
    ['an RSA key of 1024 bits', rsa1024.der, "cert: the certificate's RSA key must have at least 2048 bits, got 1024"],
  ])('refuses %s, naming the field', (_label, der, message) => {
    expect(refusal(() => rsaCertificateKey(der, 'cert'))).toEqual(badParameter(message));
  });
});

describe('a certificate of a download request', () => {
  /** The JWK a client sends for a certificate, with each member a client may give. */
  const full = (fixture: Fixture = rsa2048): Record<string, unknown> => ({
    kty: 'RSA',
    key_ops: ['verify', 'encrypt', 'wrapKey'],
    ...jwkOf(fixture.privateKey),
    x5c: [fixture.der.toString('base64')],
    'x5t#S256': sha('sha256', fixture.der),
    x5t: sha('sha1', fixture.der),
    alg: 'RSA-OAEP-256',
    kid: 'key 1',
    use: 'enc',
  });
  const parsesTo = (value: unknown, fixture: Fixture = rsa2048, index = 0) => {
    const parsed = parseDomainCertificate(value, index);
    expect(parsed.der.equals(fixture.der)).toBe(true);
    expect(parsed.x5t256).toBe(sha('sha256', fixture.der));
    expect(parsed.publicKey.equals(createPublicKey(fixture.privateKey))).toBe(true);
  };
  const refused = (value: unknown, message: string, index = 0) => expect(refusal(() => parseDomainCertificate(value, index))).toEqual(badParameter(message));

  it('gives the DER, its SHA-256 thumbprint and the RSA key of a JWK with every member right', () => {
    parsesTo(full());
    parsesTo(full(otherRsa2048), otherRsa2048, 7);
  });

  it('needs only kty and x5c: every other member is checked when present', () => {
    parsesTo({ kty: 'RSA', x5c: [rsa2048.der.toString('base64')] });
    // Certificates after the first (a chain) are not read.
    parsesTo({ kty: 'RSA', x5c: [rsa2048.der.toString('base64'), 'not read'] });
    parsesTo({ ...full(), key_ops: [] });
  });

  it.each([
    ['a string', 'x'],
    ['null', null],
    ['an array', [full()]],
    ['a number', 5],
  ])('refuses %s in place of a JWK object', (_label, value) => {
    refused(value, 'certificates[3]: must be a JSON web key object', 3);
  });

  it.each([
    ['no kty', { kty: undefined }, 'certificates[0].kty: required, must be "RSA"'],
    ['kty EC', { kty: 'EC' }, 'certificates[0].kty: required, must be "RSA"'],
    ['kty RSA-HSM', { kty: 'RSA-HSM' }, 'certificates[0].kty: required, must be "RSA"'],
    ['key_ops not an array', { key_ops: 'verify' }, 'certificates[0].key_ops: must be an array of strings'],
    ['key_ops with a number among strings', { key_ops: ['verify', 5] }, 'certificates[0].key_ops: must be an array of strings'],
    ['key_ops of numbers only', { key_ops: [1, 2] }, 'certificates[0].key_ops: must be an array of strings'],
    ['alg not a string', { alg: 256 }, 'certificates[0].alg: must be a string when present'],
    ['kid not a string', { kid: ['key 1'] }, 'certificates[0].kid: must be a string when present'],
    ['use not a string', { use: null }, 'certificates[0].use: must be a string when present'],
    ['no x5c', { x5c: undefined }, "certificates[0].x5c: required, an array of standard base64 DER certificates, the first being the key's"],
    ['x5c a string', { x5c: 'MIIB' }, "certificates[0].x5c: required, an array of standard base64 DER certificates, the first being the key's"],
    ['x5c empty', { x5c: [] }, "certificates[0].x5c: required, an array of standard base64 DER certificates, the first being the key's"],
    ['x5c[0] a number whose digits are base64', { x5c: [1234] }, 'certificates[0].x5c[0]: must be a standard base64 (not base64url) DER certificate'],
    ['x5c[0] empty', { x5c: [''] }, 'certificates[0].x5c[0]: must be a standard base64 (not base64url) DER certificate'],
    ['x5c[0] without its padding', { x5c: ['QUJDRA'] }, 'certificates[0].x5c[0]: must be a standard base64 (not base64url) DER certificate'],
    ['x5c[0] in PEM', { x5c: ['-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n'] }, 'certificates[0].x5c[0]: must be a standard base64 (not base64url) DER certificate'],
    ['x5c[0] not a certificate', { x5c: ['bm90IGEgY2VydA=='] }, 'certificates[0].x5c[0]: is not a DER X.509 certificate'],
  ])('refuses %s', (_label, change, message) => {
    refused({ ...full(), ...change }, message);
  });

  it('refuses x5c[0] in base64url', () => {
    const standard = rsa2048.der.toString('base64');
    const url = rsa2048.der.toString('base64url');
    // The two alphabets differ in this certificate (it has "+" or "/").
    expect(url).not.toBe(standard.replace(/=+$/, ''));
    refused({ ...full(), x5c: [url] }, 'certificates[0].x5c[0]: must be a standard base64 (not base64url) DER certificate');
  });

  it.each([
    ['an EC key', ec, "certificates[2].x5c[0]: the certificate's key must be RSA (rsaEncryption), got ec"],
    ['a 1024-bit RSA key', rsa1024, "certificates[2].x5c[0]: the certificate's RSA key must have at least 2048 bits, got 1024"],
  ])('refuses a certificate of %s', (_label, fixture, message) => {
    refused({ kty: 'RSA', x5c: [fixture.der.toString('base64')] }, message, 2);
  });

  describe('x5t#S256 and x5t', () => {
    const s256 = sha('sha256', rsa2048.der);
    const s1 = sha('sha1', rsa2048.der);

    it('take the thumbprints with or without trailing "=" padding', () => {
      // A 32-byte SHA-256 pads with one "=", a 20-byte SHA-1 with one too; any run of them is taken.
      for (const padding of ['=', '==']) {
        parsesTo({ ...full(), 'x5t#S256': s256 + padding });
        parsesTo({ ...full(), x5t: s1 + padding });
      }
    });

    it.each([
      ['x5t#S256 of another certificate', { 'x5t#S256': sha('sha256', Buffer.from('other')) }, 'x5t#S256', 'SHA-256'],
      ['x5t#S256 with "=" in front', { 'x5t#S256': `=${s256}` }, 'x5t#S256', 'SHA-256'],
      ['x5t#S256 holding the SHA-1', { 'x5t#S256': s1 }, 'x5t#S256', 'SHA-256'],
      ['x5t#S256 empty', { 'x5t#S256': '' }, 'x5t#S256', 'SHA-256'],
      ['x5t of another certificate', { x5t: sha('sha1', Buffer.from('other')) }, 'x5t', 'SHA-1'],
      ['x5t with "=" in front', { x5t: `=${s1}` }, 'x5t', 'SHA-1'],
      ['x5t holding the SHA-256', { x5t: s256 }, 'x5t', 'SHA-1'],
      ['x5t empty', { x5t: '' }, 'x5t', 'SHA-1'],
    ])('refuses %s', (_label, change, name, hash) => {
      refused({ ...full(), ...change }, `certificates[0].${name}: does not match the certificate in x5c[0] (must be base64url of its DER's ${hash})`);
    });

    it.each([['x5t#S256'], ['x5t']])('refuses %s when it is not a string', (name) => {
      refused({ ...full(), [name]: 1 }, `certificates[0].${name}: must be a string when present`);
    });
  });

  describe('n and e', () => {
    const own = () => jwkOf(rsa2048.privateKey);

    it('take the certificate key\'s n and e with leading zero bytes, with padding, or alone', () => {
      const { n, e } = own();
      const withZeros = (value: string, zeros: number) => Buffer.concat([Buffer.alloc(zeros), Buffer.from(value, 'base64url')]).toString('base64url');
      expect(e).toBe('AQAB');
      parsesTo({ ...full(), n: withZeros(n, 1), e: withZeros(e, 3) });
      // A 256-byte modulus pads with "==" in base64.
      expect(Buffer.from(n, 'base64url').toString('base64')).toMatch(/[^=]==$/);
      parsesTo({ ...full(), n: `${n}==`, e: 'AQAB' });
      parsesTo({ ...full(), n: undefined, e });
      parsesTo({ ...full(), n, e: undefined });
    });

    it.each([
      ['n of another key', { n: jwkOf(otherRsa2048.privateKey).n }, 'certificates[0].n: does not match the key of the certificate in x5c[0]'],
      ['e of 3', { e: 'Aw' }, 'certificates[0].e: does not match the key of the certificate in x5c[0]'],
      ['e with a zero byte after it', { e: 'AQABAA' }, 'certificates[0].e: does not match the key of the certificate in x5c[0]'],
      ['n of zero bytes only', { n: 'AAAA' }, 'certificates[0].n: does not match the key of the certificate in x5c[0]'],
      ['n empty', { n: '' }, 'certificates[0].n: must be a base64url integer'],
      ['e empty', { e: '' }, 'certificates[0].e: must be a base64url integer'],
      ['n with a stray character', { n: `${own().n.slice(0, 10)}!${own().n.slice(10)}` }, 'certificates[0].n: must be a base64url integer'],
      ['e with "=" inside', { e: 'AQ=AB' }, 'certificates[0].e: must be a base64url integer'],
      ['n not a string', { n: 65537 }, 'certificates[0].n: must be a string when present'],
    ])('refuses %s', (_label, change, message) => {
      refused({ ...full(), ...change }, message);
    });

    it('refuses a modulus in standard base64 although it decodes to the right bytes', () => {
      const standard = Buffer.from(own().n, 'base64url').toString('base64').replace(/=+$/, '');
      expect(standard).toMatch(/[+/]/);
      expect(Buffer.from(standard, 'base64url').equals(Buffer.from(own().n, 'base64url'))).toBe(true);
      refused({ ...full(), n: standard }, 'certificates[0].n: must be a base64url integer');
    });
  });
});

describe('the JWK of a certificate', () => {
  it('is the RSA key with its certificate, SHA-256 thumbprint, the key operations az sends, RSA-OAEP-256 and the kid', () => {
    const { n, e } = jwkOf(rsa2048.privateKey);
    expect(domainJwk(rsa2048.der, 'my kid')).toStrictEqual({
      kty: 'RSA',
      key_ops: ['verify', 'encrypt', 'wrapKey'],
      n,
      e,
      x5c: [rsa2048.der.toString('base64')],
      'x5t#S256': sha('sha256', rsa2048.der),
      alg: 'RSA-OAEP-256',
      kid: 'my kid',
    });
    // What it makes is what a download request takes.
    expect(parseDomainCertificate(domainJwk(rsa2048.der, 'k'), 0).der.equals(rsa2048.der)).toBe(true);
  });

  it('refuses a certificate whose key cannot carry shares', () => {
    expect(refusal(() => domainJwk(ec.der, 'k'))).toEqual(badParameter("certificate: the certificate's key must be RSA (rsaEncryption), got ec"));
    expect(refusal(() => domainJwk(rsa1024.der, 'k'))).toEqual(badParameter("certificate: the certificate's RSA key must have at least 2048 bits, got 1024"));
  });
});

describe('PEM text', () => {
  it('is standard base64 in lines of 64 characters between the labelled lines, ending in a newline', () => {
    const der = Buffer.from(Array.from({ length: 100 }, (_, i) => (i * 37 + 250) % 256));
    const base64 = der.toString('base64');
    expect(base64).toHaveLength(136);
    expect(base64).toMatch(/[+/]/);
    expect(pem('TEST DATA', der)).toBe(`-----BEGIN TEST DATA-----\n${base64.slice(0, 64)}\n${base64.slice(64, 128)}\n${base64.slice(128)}\n-----END TEST DATA-----\n`);
  });

  it('has no empty line when the base64 fills its last line', () => {
    const der = Buffer.alloc(48, 0xfb);
    expect(der.toString('base64')).toHaveLength(64);
    expect(pem('X', der)).toBe(`-----BEGIN X-----\n${der.toString('base64')}\n-----END X-----\n`);
    const two = Buffer.alloc(96, 0xfb);
    expect(pem('X', two)).toBe(`-----BEGIN X-----\n${two.toString('base64').slice(0, 64)}\n${two.toString('base64').slice(64)}\n-----END X-----\n`);
  });

  it('is read back by node:crypto', () => {
    expect(new X509Certificate(pem('CERTIFICATE', rsa2048.der)).raw.equals(rsa2048.der)).toBe(true);
  });
});

describe('a ceremony key pair', () => {
  it('is an RSA-2048 key in PKCS#8 PEM with a self-signed certificate for it and the JWK of that certificate', async () => {
    const before = Date.now();
    const pair = await ceremonyKeyPair('ceremony key 1');
    const after = Date.now();
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n(?:[A-Za-z0-9+/]{64}\n)+[A-Za-z0-9+/=]{1,64}\n-----END PRIVATE KEY-----\n$/);
    const privateKey = createPrivateKey(pair.privateKeyPem);
    expect(privateKey.asymmetricKeyType).toBe('rsa');
    expect(privateKey.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048, publicExponent: 65537n });

    expect(pair.certificatePem).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    const certificate = new X509Certificate(pair.certificatePem);
    expect(certificate.publicKey.equals(createPublicKey(privateKey))).toBe(true);
    expect(certificate.subject).toBe('CN=ceremony key 1');
    expect(certificate.issuer).toBe('CN=ceremony key 1');
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.ca).toBe(false);
    // Valid from a day before it was made, for two years (730 days).
    const DAY = 86_400_000;
    const validFrom = Date.parse(certificate.validFrom);
    const validTo = Date.parse(certificate.validTo);
    // The dates are whole seconds.
    expect(validFrom).toBeGreaterThanOrEqual(Math.floor((before - DAY) / 1000) * 1000);
    expect(validFrom).toBeLessThanOrEqual(after - DAY);
    expect(validTo - validFrom).toBeGreaterThanOrEqual(731 * DAY - 1000);
    expect(validTo - validFrom).toBeLessThanOrEqual(731 * DAY + 1000);

    expect(pair.jwk).toStrictEqual(domainJwk(Buffer.from(certificate.raw), 'ceremony key 1'));
    expect(pem('CERTIFICATE', Buffer.from(certificate.raw))).toBe(pair.certificatePem);
  });

  it('marks the certificate an end entity for key encipherment and signatures, both extensions critical', async () => {
    const pair = await ceremonyKeyPair('ceremony key 2');
    const certificate = new x509.X509Certificate(pair.certificatePem);
    const basic = certificate.getExtension(x509.BasicConstraintsExtension);
    expect(basic).not.toBeNull();
    expect({ ca: basic?.ca, pathLength: basic?.pathLength, critical: basic?.critical }).toEqual({ ca: false, pathLength: undefined, critical: true });
    const usages = certificate.getExtension(x509.KeyUsagesExtension);
    expect({ usages: usages?.usages, critical: usages?.critical }).toEqual({
      usages: x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.digitalSignature,
      critical: true,
    });
    expect(certificate.extensions).toHaveLength(2);
  });

  it('has a fresh key and a positive 16-byte serial number each time', async () => {
    const pairs = await Promise.all(Array.from({ length: 8 }, (_, i) => ceremonyKeyPair(`key ${i}`)));
    const certificates = pairs.map((pair) => new X509Certificate(pair.certificatePem));
    for (const certificate of certificates) {
      // 32 hex digits, the first 1 to 7: no leading zero byte and no sign bit.
      expect(certificate.serialNumber).toMatch(/^[1-7][0-9A-F]{31}$/);
    }
    expect(new Set(certificates.map((certificate) => certificate.serialNumber)).size).toBe(8);
    expect(new Set(pairs.map((pair) => pair.jwk.n)).size).toBe(8);
    expect(pairs.map((pair) => pair.jwk.kid)).toEqual(Array.from({ length: 8 }, (_, i) => `key ${i}`));
  });

  it.each([[''], ['   '], ['\t\n']])('refuses the empty subject %j', async (subject) => {
    expect(await refusalOf(ceremonyKeyPair(subject))).toEqual(badParameter('subject: must not be empty'));
  });
});
