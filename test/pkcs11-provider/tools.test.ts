// libmhsm-pkcs11.so loaded by real PKCS#11 applications: pkcs11-tool lists, generates, signs and
// reads keys; OpenSSL's pkcs11 engine signs, makes a certificate request and serves TLS with a
// key that lives in the emulator. Every signature is checked against the public key the REST API
// gives for the key.
import { createHash, randomBytes, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../helpers/closed-port.js';
import { pkcs11Tool, providerFixture, publicKeyOverRest, run, skipProvider, writeOpensslConfig, writeProviderConfig } from '../helpers/pkcs11-provider.js';
import { accessToken, callJson } from '../helpers/rest.js';

const hsm = providerFixture('mhsm-p11-');
let conf: string;
const tool = (...args: string[]) => pkcs11Tool(conf, args);

async function ok(...args: string[]): Promise<string> {
  const result = await tool(...args);
  expect(result.stderr, args.join(' ')).not.toMatch(/error:|CKR_/);
  expect(result.code, `${args.join(' ')}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

beforeAll(async () => {
  conf = await writeProviderConfig(hsm.emulator.dataDir, path.join(hsm.scratch, 'pkcs11.json'));
});

describe.skipIf(skipProvider)('pkcs11-tool with libmhsm-pkcs11.so', () => {
  it('lists one slot per configured HSM, with its token and mechanisms', async () => {
    const slots = await ok('--list-slots');
    expect(slots).toContain(hsm.emulator.url);
    expect(slots).toMatch(/token label\s+: mhsm\n/);
    expect(slots).toMatch(/token flags\s+: rng, token initialized, PIN initialized\n/);
    const mechanisms = await ok('--list-mechanisms');
    for (const name of ['RSA-PKCS-KEY-PAIR-GEN', 'RSA-PKCS,', 'SHA256-RSA-PKCS,', 'RSA-PKCS-PSS', 'SHA384-RSA-PKCS-PSS', 'ECDSA-KEY-PAIR-GEN', 'ECDSA,', 'ECDSA-SHA256', 'AES-KEY-GEN']) {
      expect(mechanisms).toContain(name);
    }
  });

  it('generates EC and RSA key pairs that are ordinary keys over REST, with CKA_ID in a tag', async () => {
    await ok('--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'tool-ec', '--id', 'a1b2');
    await ok('--keypairgen', '--key-type', 'rsa:2048', '--label', 'tool-rsa', '--id', '0102');
    const ec = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'tool-ec');
    expect(ec.jwk).toMatchObject({ kty: 'EC-HSM', crv: 'P-256' });
    const rsa = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'tool-rsa');
    expect(Buffer.from(rsa.jwk.n, 'base64url')).toHaveLength(256);
    const bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
    const bundle = await callJson(hsm.emulator.url, bearer, 'GET', '/keys/tool-ec');
    expect(bundle.body.tags).toEqual({ 'pkcs11-id': 'a1b2' });
    expect(bundle.body.key.key_ops.sort()).toEqual(['sign', 'verify']);

    const objects = await ok('--list-objects', '--type', 'pubkey', '--label', 'tool-ec');
    expect(objects).toContain('label:      tool-ec');
    expect(objects).toContain('ID:         a1b2');
    // The public point the library shows is the one the REST API gives.
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(ec.jwk.x, 'base64url'), Buffer.from(ec.jwk.y, 'base64url')]).toString('hex');
    expect(objects.replace(/\s/g, '')).toContain(point);
  });

  it('refuses to make a key whose name is taken, leaving the key as it was', async () => {
    const bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
    const before = (await callJson(hsm.emulator.url, bearer, 'GET', '/keys/tool-ec')).body.key.kid;
    const again = await tool('--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'tool-ec');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('CKR_ATTRIBUTE_VALUE_INVALID');
    expect(again.stderr).toContain('a key named tool-ec exists');
    expect((await callJson(hsm.emulator.url, bearer, 'GET', '/keys/tool-ec')).body.key.kid).toBe(before);
  });

  it('signs with ECDSA, RSA PKCS#1 v1.5 and PSS in the emulator; the signatures verify with the public key from REST', async () => {
    const data = randomBytes(1000);
    const input = path.join(hsm.scratch, 'data');
    writeFileSync(input, data);
    const ec = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'tool-ec');
    const rsa = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'tool-rsa');
    const cases = [
      { id: 'a1b2', mechanism: 'ECDSA-SHA256', check: (sig: Buffer) => verify('sha256', data, { key: ec.key, dsaEncoding: 'ieee-p1363' }, sig) },
      { id: '0102', mechanism: 'SHA256-RSA-PKCS', check: (sig: Buffer) => verify('sha256', data, rsa.key, sig) },
      { id: '0102', mechanism: 'SHA384-RSA-PKCS', check: (sig: Buffer) => verify('sha384', data, rsa.key, sig) },
      { id: '0102', mechanism: 'SHA256-RSA-PKCS-PSS', check: (sig: Buffer) => verify('sha256', data, { key: rsa.key, padding: 6, saltLength: 32 }, sig) },
    ];
    for (const { id, mechanism, check } of cases) {
      const output = path.join(hsm.scratch, `sig-${mechanism}`);
      await ok('--sign', '--id', id, '--mechanism', mechanism, '--input-file', input, '--output-file', output);
      const signature = readFileSync(output);
      expect(check(signature), mechanism).toBe(true);
      // A signature over other data does not verify: the check can fail.
      expect(verify('sha256', Buffer.from('other'), mechanism.startsWith('ECDSA') ? { key: ec.key, dsaEncoding: 'ieee-p1363' } : rsa.key, signature)).toBe(false);
      // The library's own verification, with the public key, agrees.
      const verified = await tool('--verify', '--id', id, '--mechanism', mechanism, '--input-file', input, '--signature-file', output);
      expect(verified.stdout, mechanism).toContain('Signature is valid');
    }
    // CKM_ECDSA over a digest the caller made.
    const digestFile = path.join(hsm.scratch, 'digest');
    writeFileSync(digestFile, createHash('sha256').update(data).digest());
    await ok('--sign', '--id', 'a1b2', '--mechanism', 'ECDSA', '--input-file', digestFile, '--output-file', path.join(hsm.scratch, 'sig-raw'));
    expect(verify('sha256', data, { key: ec.key, dsaEncoding: 'ieee-p1363' }, readFileSync(path.join(hsm.scratch, 'sig-raw')))).toBe(true);
  });

  it('shows keys made over REST, with their public halves, and signs with them', async () => {
    const bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
    const made = await callJson(hsm.emulator.url, bearer, 'POST', '/keys/rest-p384/create', { kty: 'EC-HSM', crv: 'P-384' });
    expect(made.status).toBe(200);
    const listed = await ok('--list-objects');
    expect(listed).toContain('label:      rest-p384');
    expect(listed).toContain(`ID:         ${Buffer.from('rest-p384').toString('hex')}`);
    const data = randomBytes(64);
    writeFileSync(path.join(hsm.scratch, 'data384'), data);
    await ok('--sign', '--label', 'rest-p384', '--id', Buffer.from('rest-p384').toString('hex'), '--mechanism', 'ECDSA-SHA384', '--input-file', path.join(hsm.scratch, 'data384'), '--output-file', path.join(hsm.scratch, 'sig384'));
    const { key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'rest-p384');
    expect(verify('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, readFileSync(path.join(hsm.scratch, 'sig384')))).toBe(true);
  });

  it('reports the private key as the token holds it: sensitive, generated there, extractable only wrapped', async () => {
    const objects = await ok('--list-objects', '--type', 'privkey', '--id', '0102');
    // Every Managed HSM key is CKA_EXTRACTABLE with CKA_WRAP_WITH_TRUSTED in the token: it leaves
    // only wrapped under the security domain's key, for backups (pkcs11js.test.ts reads that one).
    expect(objects).toContain('Access:     sensitive, always sensitive, extractable, local');
  });

  it('gives random bytes from the HSM, past the 128 bytes of one call', async () => {
    const out = path.join(hsm.scratch, 'random');
    await ok('--generate-random', '300', '--output-file', out);
    const bytes = readFileSync(out);
    expect(bytes).toHaveLength(300);
    expect(new Set(bytes).size).toBeGreaterThan(100);
  });

  it('destroys a key by soft delete: it is gone from the objects and recoverable over REST', async () => {
    await ok('--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'tool-doomed', '--id', 'dd');
    await ok('--delete-object', '--type', 'privkey', '--id', 'dd');
    expect(await ok('--list-objects')).not.toContain('tool-doomed');
    const bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
    const deleted = await callJson(hsm.emulator.url, bearer, 'GET', '/deletedkeys/tool-doomed');
    expect(deleted.status).toBe(200);
    expect(deleted.body.recoveryId).toMatch(/\/deletedkeys\/tool-doomed$/);
  });
});

describe.skipIf(skipProvider)("OpenSSL's pkcs11 engine with libmhsm-pkcs11.so", () => {
  const openssl = (args: string[]) => run('openssl', args, { MHSM_PKCS11_CONF: conf, OPENSSL_CONF: path.join(hsm.scratch, 'openssl.cnf') });
  beforeAll(async () => {
    writeOpensslConfig(path.join(hsm.scratch, 'openssl.cnf'));
    const bearer = await accessToken(hsm.emulator.url, hsm.emulator.admin);
    expect((await callJson(hsm.emulator.url, bearer, 'POST', '/keys/engine-ec/create', { kty: 'EC-HSM', crv: 'P-256' })).status).toBe(200);
    expect((await callJson(hsm.emulator.url, bearer, 'POST', '/keys/engine-rsa/create', { kty: 'RSA-HSM', key_size: 2048 })).status).toBe(200);
  });

  it('signs with pkeyutl; the signatures verify with the public key from REST', async () => {
    const data = randomBytes(200);
    const digest = path.join(hsm.scratch, 'engine-digest');
    writeFileSync(digest, createHash('sha256').update(data).digest());
    for (const name of ['engine-ec', 'engine-rsa']) {
      const out = path.join(hsm.scratch, `${name}.sig`);
      const signed = await openssl(['pkeyutl', '-engine', 'pkcs11', '-keyform', 'engine', '-sign', '-inkey', `pkcs11:object=${name};type=private`, '-pkeyopt', 'digest:sha256', '-in', digest, '-out', out]);
      expect(signed.code, signed.stderr).toBe(0);
      const { key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, name);
      expect(verify('sha256', data, key, readFileSync(out)), name).toBe(true);
    }
  });

  it('makes a certificate signing request whose signature verifies', async () => {
    const csr = path.join(hsm.scratch, 'engine.csr');
    const made = await openssl(['req', '-new', '-engine', 'pkcs11', '-keyform', 'engine', '-key', 'pkcs11:object=engine-rsa;type=private', '-subj', '/CN=signed in the emulator', '-out', csr]);
    expect(made.code, made.stderr).toBe(0);
    const checked = await openssl(['req', '-in', csr, '-noout', '-verify', '-pubkey']);
    expect(checked.stderr + checked.stdout).toContain('verify OK');
    const { key } = await publicKeyOverRest(hsm.emulator.url, hsm.emulator.admin, 'engine-rsa');
    expect(checked.stdout).toContain(key.export({ type: 'spki', format: 'pem' }).toString().trim());
  });

  it('serves TLS from openssl s_server with the private key in the emulator; s_client verifies the handshake', async () => {
    for (const name of ['engine-ec', 'engine-rsa']) {
      const cert = path.join(hsm.scratch, `${name}.crt`);
      const made = await openssl(['req', '-new', '-x509', '-days', '1', '-engine', 'pkcs11', '-keyform', 'engine', '-key', `pkcs11:object=${name};type=private`, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-out', cert]);
      expect(made.code, made.stderr).toBe(0);
      const port = await closedPort();
      const { spawn } = await import('node:child_process');
      const server = spawn('openssl', ['s_server', '-engine', 'pkcs11', '-keyform', 'engine', '-key', `pkcs11:object=${name};type=private`, '-cert', cert, '-accept', String(port), '-naccept', '1', '-www'], {
        env: { ...process.env, MHSM_PKCS11_CONF: conf, OPENSSL_CONF: path.join(hsm.scratch, 'openssl.cnf') },
      });
      try {
        await new Promise<void>((resolve, reject) => {
          let output = '';
          const timer = setTimeout(() => reject(new Error(`s_server did not start: ${output}`)), 20_000);
          const seen = (chunk: Buffer) => {
            output += chunk.toString();
            if (output.includes('ACCEPT')) {
              clearTimeout(timer);
              resolve();
            }
          };
          server.stdout.on('data', seen);
          server.stderr.on('data', seen);
        });
        const client = await run('openssl', ['s_client', '-connect', `localhost:${port}`, '-servername', 'localhost', '-CAfile', cert, '-verify_return_error', '-verify_hostname', 'localhost'], {}, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
        expect(client.stdout, `${name}\n${client.stderr}`).toContain('Verify return code: 0 (ok)');
        expect(client.stdout).toMatch(/New, TLSv1\.3, Cipher is /);
      } finally {
        server.kill();
      }
    }
  });
});
