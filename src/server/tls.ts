// The emulator's own certificate authority and server certificate, made on first start in the
// data directory (DATA/ca.pem is what clients trust). The server certificate is issued anew on
// every start, so that it names the host and DNS suffix of this start.
// @peculiar/x509 needs the Reflect metadata API loaded before it.
import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints, id_ce_nameConstraints } from '@peculiar/asn1-x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface TlsMaterial {
  key: string;
  cert: string;
  ca: string;
  caPath: string;
  /** Why the data directory got a new CA, which clients must now trust, if it did. */
  caRenewed?: string;
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

/** The names a CA may certify: DNS names and subdomains of them, and IP ranges. */
interface CaScope {
  dns: string[];
  ip: string[];
}

const CA_LIFE_DAYS = 365;
const LEAF_LIFE_DAYS = 90;
/** A CA this close to its end is replaced, so that no start hands out a certificate about to lapse. */
const RENEW_BEFORE_DAYS = 30;
export const DEFAULT_DNS_SUFFIX = 'managedhsm.azure.net';

function isUnder(name: string, domain: string): boolean {
  const lower = name.toLowerCase();
  return lower === domain || lower.endsWith(`.${domain}`);
}

/** loopback, the DNS suffix, and whatever else the server certificate must name. */
function scopeFor(names: readonly string[], dnsSuffix: string): CaScope {
  const dns = ['localhost', dnsSuffix.toLowerCase()];
  const ip = ['127.0.0.0/8', '::1/128'];
  for (const name of names) {
    const family = isIP(name);
    if (family === 0 && !dns.some((domain) => isUnder(name, domain))) dns.push(name.toLowerCase());
    if (family !== 0 && !covers({ dns: [], ip }, [name])) ip.push(`${name}/${family === 4 ? 32 : 128}`);
  }
  return { dns, ip };
}

function covers(scope: CaScope, names: readonly string[]): boolean {
  const ranges = new BlockList();
  for (const range of scope.ip) {
    const [address, prefix] = range.split('/') as [string, string];
    ranges.addSubnet(address, Number(prefix), isIP(address) === 4 ? 'ipv4' : 'ipv6');
  }
  return names.every((name) => {
    const family = isIP(name);
    return family === 0 ? scope.dns.some((domain) => isUnder(name, domain)) : ranges.check(name, family === 4 ? 'ipv4' : 'ipv6');
  });
}

/** The name constraints extension (critical) that holds a CA to its scope. */
function nameConstraints(scope: CaScope): x509.Extension {
  const permitted = new GeneralSubtrees([
    ...scope.dns.map((dNSName) => new GeneralSubtree({ base: new GeneralName({ dNSName }) })),
    ...scope.ip.map((iPAddress) => new GeneralSubtree({ base: new GeneralName({ iPAddress }) })),
  ]);
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(new NameConstraints({ permittedSubtrees: permitted })));
}

interface Ca {
  cert: x509.X509Certificate;
  key: CryptoKey;
  /** Why a new CA was made in place of the one the data directory had, if it was. */
  renewed?: string;
}

/**
 * The data directory's CA: name-constrained to its scope and a year long. One that cannot certify
 * the names asked for (another host or DNS suffix), that has no recorded scope (made by an
 * earlier version, without constraints) or that nears its end is replaced, and the caller says so.
 */
async function loadOrCreateCa(dir: string, caPath: string, wanted?: { names: readonly string[]; dnsSuffix: string }): Promise<Ca> {
  const caKeyPath = path.join(dir, 'ca-key.pem');
  const scopePath = path.join(dir, 'ca-scope.json');
  let renewed: string | undefined;
  if (existsSync(caPath) && existsSync(caKeyPath)) {
    const caPem = readFileSync(caPath, 'utf8');
    const cert = new x509.X509Certificate(caPem);
    const scope = existsSync(scopePath) ? (JSON.parse(readFileSync(scopePath, 'utf8')) as CaScope) : undefined;
    if (!scope) renewed = 'the CA had no name constraints';
    else if (cert.notAfter.getTime() - Date.now() < RENEW_BEFORE_DAYS * DAY_MS) renewed = 'the CA was about to expire';
    else if (wanted && !covers(scope, wanted.names)) renewed = `the CA could not certify ${wanted.names.filter((n) => !covers(scope, [n])).join(', ')}`;
    else {
      const key = await webcrypto.subtle.importKey('pkcs8', derOf(readFileSync(caKeyPath, 'utf8')), ALGORITHM, false, ['sign']);
      if (!caPem.endsWith('\n')) writeFileSync(caPath, withNewline(caPem));
      return { cert, key: key as CryptoKey };
    }
  }
  const scope = scopeFor(wanted?.names ?? [], wanted?.dnsSuffix ?? DEFAULT_DNS_SUFFIX);
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: 'CN=managed-hsm-emulator local CA',
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + CA_LIFE_DAYS * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      nameConstraints(scope),
    ],
  });
  writeSecret(caKeyPath, pem('PRIVATE KEY', (await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) as ArrayBuffer));
  writeFileSync(scopePath, `${JSON.stringify(scope)}\n`);
  writeFileSync(caPath, withNewline(cert.toString('pem')));
  return { cert, key: keys.privateKey, ...(renewed ? { renewed } : {}) };
}

/** PEM files end with a newline, so that `cat ca.pem other.pem` makes a valid bundle. */
function withNewline(pemText: string): string {
  return pemText.endsWith('\n') ? pemText : `${pemText}\n`;
}

/** The CA (made once) and a server certificate for these names (DNS names and IP addresses). */
export async function ensureTls(dataDir: string, names: readonly string[], dnsSuffix = DEFAULT_DNS_SUFFIX): Promise<TlsMaterial> {
  const dir = path.join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caPath = path.join(dataDir, 'ca.pem');
  const unique = [...new Set(names)];
  const ca = await loadOrCreateCa(dir, caPath, { names: unique, dnsSuffix });

  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    subject: 'CN=managed-hsm-emulator',
    issuer: ca.cert.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + LEAF_LIFE_DAYS * DAY_MS),
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
  return { key, cert: certPem, ca: caPem, caPath, ...(ca.renewed ? { caRenewed: ca.renewed } : {}) };
}

/** The DER of the data directory's CA certificate (the last link of the chains it issues). */
export function caCertificateDer(dataDir: string): Buffer {
  return Buffer.from(new x509.X509Certificate(readFileSync(path.join(dataDir, 'ca.pem'), 'utf8')).rawData);
}

/**
 * A certificate from the local CA for an RSA public key whose private half is in the token: for
 * encipherment (the security domain's transfer key, in the form the Azure CLI reads) or for
 * signatures (the HSM's key-release signing key, named by the HSM's DNS names).
 */
export async function certifyPublicKey(
  dataDir: string,
  spkiDer: Buffer,
  subject: string,
  { usage = 'encipherment', dnsNames = [] }: { usage?: 'encipherment' | 'signature'; dnsNames?: readonly string[] } = {},
): Promise<Buffer> {
  mkdirSync(path.join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  const ca = await loadOrCreateCa(path.join(dataDir, 'tls'), path.join(dataDir, 'ca.pem'));
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
      new x509.KeyUsagesExtension(
        usage === 'signature' ? x509.KeyUsageFlags.digitalSignature : x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.dataEncipherment,
        true,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      // Names, for a client that checks the HSM's signing certificate against the HSM's host.
      ...(dnsNames.length > 0 ? [new x509.SubjectAlternativeNameExtension(dnsNames.map((value) => ({ type: 'dns' as const, value })))] : []),
    ],
  });
  return Buffer.from(cert.rawData);
}
