// The emulator's own certificate authority and server certificate, made on first start in the
// data directory (DATA/ca.pem is what clients trust). The server certificate is issued anew on
// every start, so that it names the host and DNS suffix of this start.
// @peculiar/x509 needs the Reflect metadata API loaded before it.
import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface TlsMaterial {
  key: string;
  cert: string;
  ca: string;
  caPath: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const body = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function derOf(text: string): Buffer {
  return Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function writeSecret(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

async function loadOrCreateCa(caPath: string, caKeyPath: string): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  if (existsSync(caPath) && existsSync(caKeyPath)) {
    const key = await webcrypto.subtle.importKey('pkcs8', derOf(readFileSync(caKeyPath, 'utf8')), ALGORITHM, false, ['sign']);
    const caPem = readFileSync(caPath, 'utf8');
    if (!caPem.endsWith('\n')) writeFileSync(caPath, withNewline(caPem));
    return { cert: new x509.X509Certificate(caPem), key: key as CryptoKey };
  }
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: 'CN=managed-hsm-emulator local CA',
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 3650 * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  writeSecret(caKeyPath, pem('PRIVATE KEY', (await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) as ArrayBuffer));
  writeFileSync(caPath, withNewline(cert.toString('pem')));
  return { cert, key: keys.privateKey };
}

/** PEM files end with a newline, so that `cat ca.pem other.pem` makes a valid bundle. */
function withNewline(pemText: string): string {
  return pemText.endsWith('\n') ? pemText : `${pemText}\n`;
}

/** The CA (made once) and a server certificate for these names (DNS names and IP addresses). */
export async function ensureTls(dataDir: string, names: readonly string[]): Promise<TlsMaterial> {
  const dir = path.join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caPath = path.join(dataDir, 'ca.pem');
  const ca = await loadOrCreateCa(caPath, path.join(dir, 'ca-key.pem'));

  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const unique = [...new Set(names)];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    subject: 'CN=managed-hsm-emulator',
    issuer: ca.cert.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 397 * DAY_MS),
    signingKey: ca.key,
    publicKey: keys.publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(unique.map((name): x509.JsonGeneralName => (isIP(name) ? { type: 'ip', value: name } : { type: 'dns', value: name }))),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  const key = pem('PRIVATE KEY', (await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) as ArrayBuffer);
  writeSecret(path.join(dir, 'server-key.pem'), key);
  const certPem = cert.toString('pem');
  writeFileSync(path.join(dir, 'server.pem'), withNewline(certPem));
  const caPem = ca.cert.toString('pem');
  // A sanity check with node's own parser: the chain must verify before we serve it.
  if (!new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey)) throw new Error('the new server certificate does not verify under the CA');
  return { key, cert: certPem, ca: caPem, caPath };
}

/**
 * A certificate from the local CA for a public key held elsewhere (the security domain's transfer
 * key, whose private half is in the token): the form in which the Azure CLI reads that key.
 */
export async function certifyPublicKey(dataDir: string, spkiDer: Buffer, subject: string): Promise<Buffer> {
  mkdirSync(path.join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  const ca = await loadOrCreateCa(path.join(dataDir, 'ca.pem'), path.join(dataDir, 'tls', 'ca-key.pem'));
  const publicKey = await webcrypto.subtle.importKey('spki', spkiDer, { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['encrypt']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    subject,
    issuer: ca.cert.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 365 * DAY_MS),
    signingKey: ca.key,
    publicKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment, true),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return Buffer.from(cert.rawData);
}
