// The attestation authorities a release trusts (src/hsm/release/trusted-authorities.ts): how an
// issuer is named, how `--attestation-authority` is read, and which tokens verify: issued by a
// trusted authority, signed under its keys with an allowed algorithm, current by the emulator's
// clock. Remote keys come from a local HTTPS server, the one way to make an authority answer.
import { type KeyObject, X509Certificate, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Server, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, errors } from 'jose';
import { Agent, type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ShiftableClock } from '../../src/clock/clock.js';
import { LocalAttestationAuthority, localIssuer } from '../../src/hsm/release/local-authority.js';
import { type ConfiguredAuthority, TrustedAuthorities, parseAuthority, sameIssuer } from '../../src/hsm/release/trusted-authorities.js';
import { ensureTls } from '../../src/server/tls.js';
import { refusalOf } from '../helpers/refusal.js';

// The emulator's clock, fixed: every time below is relative to it, not to the machine's.
const NOW = 1_900_000_000;
const clock = new ShiftableClock(() => NOW * 1000);
const LOCAL = localIssuer('https://localhost:8443');
const CONFIGURED = 'https://maa.example/';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

let dir: string;
let local: LocalAttestationAuthority;
let server: Server;
let origin: string;
let previousDispatcher: Dispatcher;
type Route = (request: IncomingMessage, response: ServerResponse) => void;
let routes: Record<string, Route> = {};
let hits: Record<string, number> = {};

const current = (claims: Record<string, unknown> = {}) => ({ iss: CONFIGURED, iat: NOW, nbf: NOW, exp: NOW + 3600, ...claims });
const signed = (key: KeyObject, alg: string, claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
const withKey = (keys: ConfiguredAuthority['keys'], issuer = CONFIGURED) => new TrustedAuthorities(local, [{ issuer, keys }], clock);
const json = (body: unknown, status = 200): Route => (_request, response) => {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};
const jwksOf = (publicKey: KeyObject, kid = 'k1') => ({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
const badTarget = (message: string) => ({ code: 'BadParameter', message: `target: ${message}` });
const unsigned = (issuer: string) => badTarget(`the attestation token's signature does not verify under the keys of authority ${issuer}`);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-authorities-'));
  local = await LocalAttestationAuthority.open(dir);
  const tls = await ensureTls(dir, ['localhost']);
  server = createServer({ key: tls.key, cert: tls.cert }, (request, response) => {
    const route = (request.url ?? '').split('?')[0] as string;
    hits[route] = (hits[route] ?? 0) + 1;
    const handler = routes[route];
    if (handler) handler(request, response);
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  // This process trusts the test server's CA (the authority's TLS is checked as always).
  previousDispatcher = getGlobalDispatcher();
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(path.join(dir, 'ca.pem')) } }));
});

afterAll(async () => {
  if (previousDispatcher) setGlobalDispatcher(previousDispatcher);
  server?.closeAllConnections();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  routes = {};
  hits = {};
});

describe('issuer names', () => {
  it.each([
    ['https://a.example/x', 'HTTPS://A.EXAMPLE/x'],
    ['https://a.example/x/', 'https://a.example/x'],
    ['https://a.example/x///', 'https://a.example/x'],
    ['https://a.example:443/x', 'https://a.example/x'],
    ['https://a.example', 'https://a.example/'],
    ['issuer-a/', 'issuer-a'],
    ['issuer-a///', 'issuer-a'],
  ])('%s and %s are one issuer', (a, b) => {
    expect(sameIssuer(a, b)).toBe(true);
    expect(sameIssuer(b, a)).toBe(true);
  });

  it.each([
    ['https://a.example/x', 'https://a.example/X', 'the path keeps its case'],
    ['https://a.example/x', 'https://b.example/x', 'another host'],
    ['https://a.example/x', 'http://a.example/x', 'another scheme'],
    ['https://a.example:8443/x', 'https://a.example/x', 'another port'],
    ['https://a.example/x', 'https://a.examplex', 'a path is not part of the host'],
    ['https://a.example/x/y', 'https://a.example/xy', 'a slash inside the path counts'],
    ['issuer-a', 'issuer-b', 'other text'],
    ['Issuer-A', 'issuer-a', 'text that is not a URL keeps its case'],
    ['iss/x', 'issx', 'a slash inside text counts'],
    ['issuer-a', 'https://issuer-a/', 'text and a URL'],
  ])('%s and %s are two issuers (%s)', (a, b) => {
    expect(sameIssuer(a, b)).toBe(false);
    expect(sameIssuer(b, a)).toBe(false);
  });
});

describe('--attestation-authority', () => {
  it('an issuer alone must be an HTTPS URL: its metadata is fetched', () => {
    expect(parseAuthority('https://maa.example')).toEqual({ issuer: 'https://maa.example' });
    expect(() => parseAuthority('http://maa.example')).toThrow(new TypeError("--attestation-authority: http://maa.example: an authority's metadata is fetched over HTTPS only"));
    expect(() => parseAuthority('maa.example')).toThrow(new TypeError("--attestation-authority: 'maa.example' is not a URL (the authority's issuer, as its tokens' iss)"));
    expect(() => parseAuthority('=/etc/key.pem')).toThrow(new TypeError("--attestation-authority: '' is not a URL (the authority's issuer, as its tokens' iss)"));
    expect(() => parseAuthority('not a url=https://keys.example/jwks')).toThrow(new TypeError("--attestation-authority: 'not a url' is not a URL (the authority's issuer, as its tokens' iss)"));
  });

  it('a JWKS URL must be HTTPS, in any case', () => {
    for (const source of ['http://keys.example/jwks', 'HTTP://keys.example/jwks']) {
      expect(() => parseAuthority(`https://maa.example=${source}`)).toThrow(new TypeError(`--attestation-authority: ${source}: an authority's JWKS is fetched over HTTPS only`));
    }
    for (const source of ['https://keys.example/jwks', 'HTTPS://keys.example/jwks']) {
      const parsed = parseAuthority(`https://maa.example=${source}`);
      expect(parsed).toEqual({ issuer: 'https://maa.example', keys: expect.any(Function), remote: true });
    }
  });

  it('a file: a PEM public key, a PEM certificate or a JWKS, each verifying what its key signed', async () => {
    const pem = path.join(dir, 'maa-key.pem');
    writeFileSync(pem, rsa.publicKey.export({ format: 'pem', type: 'spki' }));
    const certificate = path.join(dir, 'maa-cert.pem');
    writeFileSync(certificate, new X509Certificate(local.certificateDer).toString());
    const jwks = path.join(dir, 'maa-jwks.json');
    writeFileSync(jwks, `\n  ${JSON.stringify(local.jwks())}`);

    // A file path that holds a URL is still a file.
    mkdirSync(path.join(dir, 'https:'));
    writeFileSync(path.join(dir, 'https:', 'key.pem'), rsa.publicKey.export({ format: 'pem', type: 'spki' }));
    expect(parseAuthority(`${CONFIGURED}=${dir}/https://key.pem`)).toEqual({ issuer: CONFIGURED, keys: expect.anything() });

    const byPem = parseAuthority(`${CONFIGURED}=${pem}`);
    expect(byPem).toEqual({ issuer: CONFIGURED, keys: expect.anything() });
    const token = await signed(rsa.privateKey, 'RS256', current({ tee: 'sgx' }));
    expect((await new TrustedAuthorities(undefined, [byPem], clock).verify(token, [])).claims).toMatchObject({ tee: 'sgx' });

    const minted = await local.mint({ issuer: CONFIGURED, claims: { tee: 'sev' }, runtimeKeys: [], now: NOW });
    for (const file of [certificate, jwks]) {
      const authorities = new TrustedAuthorities(undefined, [parseAuthority(`${CONFIGURED}=${file}`)], clock);
      expect((await authorities.verify(minted, [])).claims, file).toMatchObject({ tee: 'sev', iss: CONFIGURED });
      expect(await refusalOf(authorities.verify(token, [])), file).toEqual(unsigned(CONFIGURED));
    }
  });
});

describe('what a token must be', () => {
  it('a non-empty string of at most 64 KiB', async () => {
    const authorities = new TrustedAuthorities(local, [], clock);
    for (const target of [undefined, null, '', 5, { token: 'x' }]) {
      expect(await refusalOf(authorities.verify(target, [LOCAL])), JSON.stringify(target)).toEqual(badTarget('required, an attestation token (a JWT)'));
    }
    expect(await refusalOf(authorities.verify('a'.repeat(64 * 1024 + 1), [LOCAL]))).toEqual(badTarget('an attestation token is at most 64 KiB'));
    expect(await refusalOf(authorities.verify('a'.repeat(64 * 1024), [LOCAL]))).toEqual(badTarget('is not an attestation token (a JWT)'));
  });

  it('a JWT: three parts, a JSON header and a JSON payload', async () => {
    const authorities = new TrustedAuthorities(local, [], clock);
    const good = await local.mint({ issuer: LOCAL, claims: {}, runtimeKeys: [], now: NOW });
    const [header, payload, signature] = good.split('.') as [string, string, string];
    for (const target of ['not a jwt', `${header}.${payload}`, `${Buffer.from('{"alg":').toString('base64url')}.${payload}.${signature}`, `${header}.${Buffer.from('[').toString('base64url')}.${signature}`]) {
      const refused = await authorities.verify(target, [LOCAL]).catch((error: unknown) => error);
      expect(refused, target.slice(0, 20)).toMatchObject(badTarget('is not an attestation token (a JWT)'));
      expect((refused as Error).cause).toBeInstanceOf(Error);
    }
    expect((await authorities.verify(good, [LOCAL])).issuer).toBe(LOCAL);
  });

  it("names its issuer in 'iss'", async () => {
    const authorities = withKey(rsa.publicKey);
    for (const iss of [undefined, 5, { url: CONFIGURED }]) {
      const token = await signed(rsa.privateKey, 'RS256', current({ iss }));
      expect(await refusalOf(authorities.verify(token, [LOCAL])), JSON.stringify(iss)).toEqual(badTarget("the attestation token has no issuer ('iss')"));
    }
  });

  it('is signed with an RSA or EC algorithm of the JWS set, and no other', async () => {
    const ec = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as const;
    for (const alg of ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']) {
      const pair = alg.startsWith('ES') ? generateKeyPairSync('ec', { namedCurve: ec[alg as keyof typeof ec] }) : rsa;
      const token = await signed(pair.privateKey, alg, current({ alg }));
      expect((await withKey(pair.publicKey).verify(token, [])).claims.alg, alg).toBe(alg);
    }
    const ed = generateKeyPairSync('ed25519');
    const token = await signed(ed.privateKey, 'EdDSA', current());
    const refused = await withKey(ed.publicKey).verify(token, []).catch((error: unknown) => error);
    expect(refused).toMatchObject(unsigned(CONFIGURED));
    expect((refused as Error).cause).toBeInstanceOf(errors.JOSEAlgNotAllowed);
  });

  it('carries an exp, and is current by the emulator clock, a minute either way allowed', async () => {
    const authorities = withKey(rsa.publicKey);
    const at = async (claims: Record<string, unknown>) => authorities.verify(await signed(rsa.privateKey, 'RS256', current(claims)), []);
    const { exp: _exp, ...noExp } = current();
    expect(await refusalOf(authorities.verify(await signed(rsa.privateKey, 'RS256', noExp), []))).toEqual(badTarget('the attestation token is not valid now, or has no exp'));
    expect((await at({ exp: NOW - 59 })).claims.exp).toBe(NOW - 59);
    expect(await refusalOf(at({ exp: NOW - 60 }))).toEqual(badTarget(`the attestation token expired (exp ${NOW - 60})`));
    expect(await refusalOf(at({ iat: NOW - 7200, nbf: NOW - 7200, exp: NOW - 3600 }))).toEqual(badTarget(`the attestation token expired (exp ${NOW - 3600})`));
    expect((await at({ nbf: NOW + 60 })).claims.nbf).toBe(NOW + 60);
    expect(await refusalOf(at({ nbf: NOW + 61 }))).toEqual(badTarget('the attestation token is not valid now, or has no nbf'));
    // Current by the machine's time, not by the emulator's.
    const real = Math.floor(Date.now() / 1000);
    expect(await refusalOf(at({ iat: real, nbf: real, exp: real + 3600 }))).toEqual(badTarget(`the attestation token expired (exp ${real + 3600})`));
  });
});

describe('which authority verifies it', () => {
  it('the local authority, under any name the emulator answers by, returning the verified claims', async () => {
    const authorities = new TrustedAuthorities(local, [], clock);
    const token = await local.mint({ issuer: LOCAL, claims: { tee: 'sgx', 'x-ms-runtime': { vm: 1 } }, runtimeKeys: [], now: NOW });
    const verified = await authorities.verify(token, ['https://mhsm.example/attestation/', LOCAL]);
    expect(verified).toEqual({
      issuer: LOCAL,
      claims: { iss: LOCAL, iat: NOW, nbf: NOW, exp: NOW + 8 * 3600, tee: 'sgx', 'x-ms-inittime': {}, 'x-ms-runtime': { vm: 1, keys: [] } },
    });
    const respelled = await local.mint({ issuer: 'HTTPS://LOCALHOST:8443/attestation', claims: {}, runtimeKeys: [], now: NOW });
    expect((await authorities.verify(respelled, [LOCAL])).issuer).toBe('HTTPS://LOCALHOST:8443/attestation');
  });

  it('no authority for an issuer that is neither configured nor a local name, quoting at most 200 characters', async () => {
    const authorities = new TrustedAuthorities(local, [{ issuer: CONFIGURED, keys: rsa.publicKey }], clock);
    const elsewhere = await local.mint({ issuer: 'https://elsewhere.example/attestation/', claims: {}, runtimeKeys: [], now: NOW });
    expect(await refusalOf(authorities.verify(elsewhere, [LOCAL]))).toEqual(badTarget("the attestation's issuer 'https://elsewhere.example/attestation/' is not an authority this HSM trusts"));
    const long = `https://long.example/${'p'.repeat(300)}`;
    const token = await signed(rsa.privateKey, 'RS256', current({ iss: long }));
    expect(await refusalOf(authorities.verify(token, [LOCAL]))).toEqual(badTarget(`the attestation's issuer '${long.slice(0, 200)}' is not an authority this HSM trusts`));
  });

  it('none for the local names once the local authority is turned off', async () => {
    const token = await local.mint({ issuer: LOCAL, claims: {}, runtimeKeys: [], now: NOW });
    expect(await refusalOf(new TrustedAuthorities(undefined, [], clock).verify(token, [LOCAL]))).toEqual(badTarget(`the attestation's issuer '${LOCAL}' is not an authority this HSM trusts`));
    expect(await refusalOf(new TrustedAuthorities(local, [], clock).verify(token, []))).toEqual(badTarget(`the attestation's issuer '${LOCAL}' is not an authority this HSM trusts`));
  });

  it("a configured authority owns its name: the local authority's signature does not pass under it", async () => {
    const token = await local.mint({ issuer: LOCAL, claims: {}, runtimeKeys: [], now: NOW });
    const refused = await refusalOf(new TrustedAuthorities(local, [{ issuer: 'https://LOCALHOST:8443/attestation', keys: rsa.publicKey }], clock).verify(token, [LOCAL]));
    expect(refused).toEqual(unsigned(LOCAL));
  });

  it('the signature must verify under the authority key, quoting at most 200 characters of its name', async () => {
    const long = `https://long.example/${'p'.repeat(300)}`;
    const token = await signed(otherRsa.privateKey, 'RS256', current({ iss: long }));
    expect(await refusalOf(withKey(rsa.publicKey, long).verify(token, []))).toEqual(unsigned(long.slice(0, 200)));
  });

  it('a local key of the wrong type is a bad signature, not an unavailable authority', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const token = await signed(rsa.privateKey, 'RS256', current());
    expect(await refusalOf(withKey(ec.publicKey).verify(token, []))).toEqual(unsigned(CONFIGURED));
    // A key of another curve fails inside WebCrypto, not in jose: still the token's fault.
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const es256 = await signed(ec.privateKey, 'ES256', current());
    expect(await refusalOf(withKey(p384.publicKey).verify(es256, []))).toEqual(unsigned(CONFIGURED));
    // The local authority's key is RSA: an EC signature under its name is as bad.
    const underLocal = await signed(ec.privateKey, 'ES256', current({ iss: LOCAL }));
    expect(await refusalOf(new TrustedAuthorities(local, [], clock).verify(underLocal, [LOCAL]))).toEqual(unsigned(LOCAL));
  });
});

describe('remote keys', () => {
  it('a JWKS URL: verifies under the keys it serves, refuses a signature they do not verify', async () => {
    routes['/keys'] = json(jwksOf(rsa.publicKey));
    const authorities = new TrustedAuthorities(local, [parseAuthority(`${CONFIGURED}=${origin}/keys`)], clock);
    expect((await authorities.verify(await signed(rsa.privateKey, 'RS256', current({ n: 1 })), [])).claims.n).toBe(1);
    const forged = new SignJWT(current()).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(otherRsa.privateKey);
    expect(await refusalOf(authorities.verify(await forged, []))).toEqual(unsigned(CONFIGURED));
  });

  it('a JWKS that cannot be reached: the HSM is unavailable, the token not to blame', async () => {
    const authorities = new TrustedAuthorities(local, [parseAuthority(`${CONFIGURED}=https://127.0.0.1:1/keys`)], clock);
    const token = await signed(rsa.privateKey, 'RS256', current());
    expect(await refusalOf(authorities.verify(token, []))).toEqual({ code: 'Unavailable', message: `the keys of attestation authority ${CONFIGURED} could not be fetched; try again` });
    const long = `https://long.example/${'p'.repeat(300)}`;
    const longToken = await signed(rsa.privateKey, 'RS256', current({ iss: long }));
    expect(await refusalOf(new TrustedAuthorities(local, [parseAuthority(`${long}=https://127.0.0.1:1/keys`)], clock).verify(longToken, []))).toEqual({
      code: 'Unavailable',
      message: `the keys of attestation authority ${long.slice(0, 200)} could not be fetched; try again`,
    });
  });

  it('a JWKS that does not answer in time: unavailable', async () => {
    routes['/slow-keys'] = () => undefined; // never answers
    const authorities = new TrustedAuthorities(local, [parseAuthority(`${CONFIGURED}=${origin}/slow-keys`)], clock);
    const refused = await authorities.verify(await signed(rsa.privateKey, 'RS256', current()), []).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'Unavailable', message: `the keys of attestation authority ${CONFIGURED} could not be fetched; try again` });
    expect((refused as Error).cause).toBeInstanceOf(errors.JWKSTimeout);
  }, 20_000);

  it('an issuer alone: its keys from the jwks_uri of its OpenID metadata, read once', async () => {
    routes['/maa/.well-known/openid-configuration'] = json({ issuer: `${origin}/maa`, jwks_uri: `${origin}/maa/keys` });
    routes['/maa/keys'] = json(jwksOf(rsa.publicKey));
    for (const issuer of [`${origin}/maa`, `${origin}/maa/`, `${origin}/maa//`]) {
      hits = {};
      const authorities = new TrustedAuthorities(local, [parseAuthority(issuer)], clock);
      const token = await signed(rsa.privateKey, 'RS256', current({ iss: `${origin}/maa` }));
      expect((await authorities.verify(token, [])).issuer, issuer).toBe(`${origin}/maa`);
      expect((await authorities.verify(token, [])).issuer, issuer).toBe(`${origin}/maa`);
      expect(hits['/maa/.well-known/openid-configuration'], issuer).toBe(1);
    }
  });

  it('metadata that cannot be read is unavailable, and is read again on the next request', async () => {
    const issuer = `${origin}/maa`;
    const authorities = new TrustedAuthorities(local, [parseAuthority(issuer)], clock);
    const token = await signed(rsa.privateKey, 'RS256', current({ iss: issuer }));
    const unavailable = { code: 'Unavailable', message: `the OpenID metadata of attestation authority ${issuer} could not be read; try again` };
    const metadata = '/maa/.well-known/openid-configuration';
    routes['/maa/keys'] = json(jwksOf(rsa.publicKey));
    // An error status, even with a usable body; no jwks_uri; a jwks_uri that is not HTTPS.
    const cases: Array<[Route, string]> = [
      [json({ jwks_uri: `${origin}/maa/keys` }, 500), "500 from the authority's OpenID metadata"],
      [json({ issuer }), 'the OpenID metadata has no https jwks_uri'],
      [json({ jwks_uri: 5 }), 'the OpenID metadata has no https jwks_uri'],
      [json({ jwks_uri: `http://localhost:${new URL(origin).port}/maa/keys` }), 'the OpenID metadata has no https jwks_uri'],
    ];
    for (const [route, cause] of cases) {
      routes[metadata] = route;
      const refused = await authorities.verify(token, []).catch((error: unknown) => error);
      expect(refused, cause).toMatchObject(unavailable);
      expect((refused as Error).cause, cause).toMatchObject({ message: cause });
    }
    expect(hits[metadata]).toBe(4);
    routes[metadata] = json({ jwks_uri: `${origin}/maa/keys` });
    expect((await authorities.verify(token, [])).issuer).toBe(issuer);
  });

  it('metadata naming keys that cannot be reached: unavailable', async () => {
    const issuer = `${origin}/maa`;
    routes['/maa/.well-known/openid-configuration'] = json({ jwks_uri: 'https://127.0.0.1:1/keys' });
    const token = await signed(rsa.privateKey, 'RS256', current({ iss: issuer }));
    expect(await refusalOf(new TrustedAuthorities(local, [parseAuthority(issuer)], clock).verify(token, []))).toEqual({
      code: 'Unavailable',
      message: `the keys of attestation authority ${issuer} could not be fetched; try again`,
    });
  });

  it('metadata that cannot be reached: unavailable, quoting at most 200 characters of the issuer', async () => {
    const long = `https://127.0.0.1:1/${'p'.repeat(300)}`;
    const token = await signed(rsa.privateKey, 'RS256', current({ iss: long }));
    expect(await refusalOf(new TrustedAuthorities(local, [parseAuthority(long)], clock).verify(token, []))).toEqual({
      code: 'Unavailable',
      message: `the OpenID metadata of attestation authority ${long.slice(0, 200)} could not be read; try again`,
    });
  });

  it('metadata that does not answer in time: unavailable', async () => {
    const issuer = `${origin}/silent`;
    routes['/silent/.well-known/openid-configuration'] = () => undefined; // never answers
    const started = Date.now();
    const token = await signed(rsa.privateKey, 'RS256', current({ iss: issuer }));
    expect(await refusalOf(new TrustedAuthorities(local, [parseAuthority(issuer)], clock).verify(token, []))).toEqual({
      code: 'Unavailable',
      message: `the OpenID metadata of attestation authority ${issuer} could not be read; try again`,
    });
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 20_000);
});
