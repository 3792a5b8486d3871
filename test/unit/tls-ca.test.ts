// The local CA: name-constrained to loopback and the DNS suffix, a year long, replaced when it
// cannot certify what a start asks for; a certificate it signs for any other name is refused by
// TLS clients.
import 'reflect-metadata';
import { X509Certificate, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, createServer } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTls } from '../../src/server/tls.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-ca-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A server certificate for `name`, signed with the data directory's CA key (as a thief of it would). */
async function leafFor(dataDir: string, name: string): Promise<{ key: string; cert: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const caPem = readFileSync(path.join(dataDir, 'ca.pem'), 'utf8');
  const caKeyDer = Buffer.from(readFileSync(path.join(dataDir, 'tls', 'ca-key.pem'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const caKey = await webcrypto.subtle.importKey('pkcs8', caKeyDer, algorithm, false, ['sign']);
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject: `CN=${name}`,
    issuer: new x509.X509Certificate(caPem).subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingKey: caKey as CryptoKey,
    publicKey: keys.publicKey,
    signingAlgorithm: algorithm,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }])],
  });
  const pkcs8 = Buffer.from((await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) as ArrayBuffer).toString('base64');
  return { key: `-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n`, cert: cert.toString('pem') };
}

/** Connects with the CA as the only trust and returns the error, if the handshake failed. */
async function handshake(dataDir: string, leaf: { key: string; cert: string }, servername: string): Promise<string | undefined> {
  const server = createServer(leaf);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise<string | undefined>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, servername, ca: readFileSync(path.join(dataDir, 'ca.pem')) }, () => {
        socket.end();
        resolve(undefined);
      });
      socket.on('error', (error) => resolve(error.message));
    });
  } finally {
    server.close();
  }
}

describe('the local CA', () => {
  it('is constrained to loopback and the DNS suffix, for a year', async () => {
    const dir = tempDir();
    const tls = await ensureTls(dir, ['localhost', '127.0.0.1', 'mhsm.managedhsm.azure.net']);
    expect(tls.caRenewed).toBeUndefined();
    const ca = new x509.X509Certificate(tls.ca);
    expect(ca.getExtension('2.5.29.30')?.critical).toBe(true);
    const days = (ca.notAfter.getTime() - ca.notBefore.getTime()) / 86_400_000;
    expect(days).toBeLessThanOrEqual(367);
    expect((new Date(new X509Certificate(tls.cert).validTo).getTime() - Date.now()) / 86_400_000).toBeLessThanOrEqual(91);
    // Names inside the scope are accepted, names outside refused even though the CA signed them.
    expect(await handshake(dir, await leafFor(dir, 'other.managedhsm.azure.net'), 'other.managedhsm.azure.net')).toBeUndefined();
    expect(await handshake(dir, await leafFor(dir, 'www.example.com'), 'www.example.com')).toMatch(/permitted subtree violation|name constraint/i);
  });

  it('is replaced, and says so, when a start asks for a name outside it or the data directory\'s CA has no constraints', async () => {
    const dir = tempDir();
    const first = await ensureTls(dir, ['localhost']);
    expect((await ensureTls(dir, ['localhost', 'mhsm.managedhsm.azure.net'])).ca).toBe(first.ca);
    const moved = await ensureTls(dir, ['localhost', 'hsm.example.test'], 'example.test');
    expect(moved.caRenewed).toMatch(/could not certify hsm\.example\.test/);
    expect(moved.ca).not.toBe(first.ca);
    rmSync(path.join(dir, 'tls', 'ca-scope.json'));
    expect((await ensureTls(dir, ['localhost'], 'example.test')).caRenewed).toMatch(/no name constraints/);
  });
});
