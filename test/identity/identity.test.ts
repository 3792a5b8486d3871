// The emulated tenant in process (src/identity/identity.ts, managed-identities.ts): what it keeps
// in the data directory, the client-credentials grant with each refusal, and the token check
// claim by claim: signature, algorithm, issuer, tenant, audience, time with its skew, and the
// principal, each answer compared exactly, over a real SQLite store and a clock the test moves.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { SignJWT, decodeJwt, decodeProtectedHeader, importPKCS8 } from 'jose';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ShiftableClock } from '../../src/clock/clock.js';
import { CLOCK_SKEW_SECONDS, INITIAL_ADMINISTRATOR, Identity, IdentityError, TOKEN_LIFETIME_SECONDS, isClientId } from '../../src/identity/identity.js';
import { MANAGED_IDENTITY_HASH, addManagedIdentity, headerMatches, isManagedIdentity, pickManagedIdentity } from '../../src/identity/managed-identities.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { refusalOf } from '../helpers/refusal.js';
import { storePerTest } from '../helpers/temp-store.js';

const RESOURCE = 'https://managedhsm.azure.net';
const ORIGIN = 'https://localhost:8443';
const PORT = 8443;
const START = 1_900_000_000;

const temp = storePerTest('mhsm-identity-');
let dir: string;
let store: SqliteMetadataStore;
let now: number;
let clock: ShiftableClock;
let identity: Identity;

beforeEach(async () => {
  ({ dir, store } = temp);
  now = START * 1000;
  clock = new ShiftableClock(() => now);
  identity = await Identity.open(dir, RESOURCE, clock, store.access);
});


function grant(fields: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: identity.admin.clientId,
    client_secret: identity.admin.clientSecret,
    scope: `${RESOURCE}/.default`,
    ...fields,
  });
}

async function adminToken(): Promise<string> {
  return (await identity.issueToken(grant(), ORIGIN)).access_token;
}


/** A token signed with `key` (the tenant's own unless given), claims of the admin's by default. */
async function forged(claims: Record<string, unknown>, options: { key?: CryptoKey | Uint8Array; alg?: string; omit?: string[] } = {}): Promise<string> {
  const base: Record<string, unknown> = {
    iss: identity.issuer(ORIGIN),
    aud: RESOURCE,
    exp: clock.now() + TOKEN_LIFETIME_SECONDS,
    nbf: clock.now(),
    oid: identity.admin.objectId,
    tid: identity.tenantId,
    appid: identity.admin.clientId,
    ...claims,
  };
  for (const name of options.omit ?? []) delete base[name];
  const key = options.key ?? (await importPKCS8(readFileSync(path.join(dir, 'identity', 'signing-key.pem'), 'utf8'), 'RS256'));
  return new SignJWT(base).setProtectedHeader({ alg: options.alg ?? 'RS256' }).sign(key);
}

describe('the data directory', () => {
  it('keeps the signing key and admin.json at 0600 and registers the administrator once', async () => {
    for (const file of ['identity/signing-key.pem', 'admin.json', 'identity/managed-identity-header']) {
      expect(statSync(path.join(dir, file)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(path.join(dir, 'identity')).mode & 0o777).toBe(0o700);
    const admin = JSON.parse(readFileSync(path.join(dir, 'admin.json'), 'utf8'));
    expect(admin).toEqual(identity.admin);
    expect(Object.keys(admin).sort()).toEqual(['clientId', 'clientSecret', 'objectId', 'tenantId']);
    for (const id of [admin.tenantId, admin.clientId, admin.objectId]) expect(isClientId(id)).toBe(true);
    expect(admin.clientSecret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(identity.tenantId).toBe(admin.tenantId);
    const principals = store.access.principals();
    expect(principals).toHaveLength(1);
    expect(principals[0]).toMatchObject({ objectId: admin.objectId, clientId: admin.clientId, displayName: INITIAL_ADMINISTRATOR, created: START });
    expect(principals[0]?.secretHash).toMatch(/^hmac-sha256:/);

    // Opened again: the same tenant, key and administrator, nobody added.
    const again = await Identity.open(dir, RESOURCE, clock, store.access);
    expect(again.admin).toEqual(identity.admin);
    expect(again.jwks).toEqual(identity.jwks);
    expect(store.access.principals()).toHaveLength(1);
    expect(await again.verify(await adminToken(), PORT)).toEqual({ objectId: admin.objectId, clientId: admin.clientId, tenantId: admin.tenantId });
  });

  it('publishes its RS256 key by thumbprint, and signs with it', async () => {
    const { keys } = identity.jwks;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'RSA', e: 'AQAB', alg: 'RS256', use: 'sig' });
    expect(keys[0]).not.toHaveProperty('d');
    expect(Buffer.from(keys[0]?.n ?? '', 'base64url')).toHaveLength(256);
    const header = decodeProtectedHeader(await adminToken());
    expect(header).toEqual({ alg: 'RS256', kid: keys[0]?.kid, typ: 'JWT' });
    expect(keys[0]?.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('puts admin.json back to 0600 when it opens', async () => {
    chmodSync(path.join(dir, 'admin.json'), 0o644);
    await Identity.open(dir, RESOURCE, clock, store.access);
    expect(statSync(path.join(dir, 'admin.json')).mode & 0o777).toBe(0o600);
  });

  it('replaces an administrator hash of an older scheme when it opens', async () => {
    store.access.setPrincipalSecretHash(identity.admin.objectId, 'scrypt:AAAA:BBBB');
    // A hash that no longer matches the secret is left alone: only a matching one is migrated.
    await Identity.open(dir, RESOURCE, clock, store.access);
    expect(store.access.principalByClientId(identity.admin.clientId)?.secretHash).toBe('scrypt:AAAA:BBBB');
  });
});

describe('the client-credentials grant', () => {
  it('issues a one-hour token for the scope resource, naming the principal and the tenant', async () => {
    const answer = await identity.issueToken(grant(), ORIGIN);
    expect(answer).toMatchObject({ token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600 });
    expect(Object.keys(answer).sort()).toEqual(['access_token', 'expires_in', 'ext_expires_in', 'token_type']);
    const claims = decodeJwt(answer.access_token);
    expect(claims).toMatchObject({
      iss: `${ORIGIN}/${identity.tenantId}/v2.0`,
      aud: RESOURCE,
      sub: identity.admin.objectId,
      oid: identity.admin.objectId,
      tid: identity.tenantId,
      appid: identity.admin.clientId,
      azp: identity.admin.clientId,
      ver: '2.0',
      iat: START,
      nbf: START,
      exp: START + 3600,
    });
    expect(isClientId(String(claims.jti))).toBe(true);
    expect(decodeJwt(await adminToken()).jti).not.toBe(claims.jti);
    expect(TOKEN_LIFETIME_SECONDS).toBe(3600);
    expect(CLOCK_SKEW_SECONDS).toBe(300);
  });

  it('takes the audience from the first /.default scope among several', async () => {
    const { access_token } = await identity.issueToken(grant({ scope: 'openid https://vault.azure.net/.default offline_access' }), ORIGIN);
    expect(decodeJwt(access_token).aud).toBe('https://vault.azure.net');
  });

  it('refuses each bad request with its OAuth code and the field', async () => {
    const error = await identity.issueToken(grant({ grant_type: 'password' }), ORIGIN).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityError);
    expect((error as Error).name).toBe('IdentityError');
    const cases: [Record<string, string>, string, string][] = [
      [{ grant_type: 'password' }, 'unsupported_grant_type', 'grant_type: only client_credentials is supported'],
      [{ client_id: 'not-a-guid' }, 'invalid_request', 'client_id: must be a GUID, the client id of an application of this tenant'],
      [{ client_id: `${identity.admin.clientId}x` }, 'invalid_request', 'client_id: must be a GUID, the client id of an application of this tenant'],
      [{ client_id: randomUUID() }, 'invalid_client', 'AADSTS7000215: Invalid client secret or unknown client_id.'],
      [{ client_secret: 'wrong' }, 'invalid_client', 'AADSTS7000215: Invalid client secret or unknown client_id.'],
      [{ scope: RESOURCE }, 'invalid_scope', "scope: must name a resource's /.default scope"],
      [{ scope: '/.default' }, 'invalid_scope', "scope: must name a resource's /.default scope"],
    ];
    for (const [fields, code, message] of cases) {
      expect(await refusalOf(identity.issueToken(grant(fields), ORIGIN)), JSON.stringify(fields)).toEqual({ code, message });
    }
    for (const missing of ['grant_type', 'client_id', 'client_secret', 'scope']) {
      const form = grant();
      form.delete(missing);
      expect((await refusalOf(identity.issueToken(form, ORIGIN))).code, missing).toMatch(/^(unsupported_grant_type|invalid_request|invalid_client|invalid_scope)$/);
    }
    const noSecret = grant();
    noSecret.delete('client_secret');
    expect(await refusalOf(identity.issueToken(noSecret, ORIGIN))).toEqual({ code: 'invalid_client', message: 'AADSTS7000215: Invalid client secret or unknown client_id.' });
  });

  it('accepts another principal of the tenant, and refuses it once removed', async () => {
    const principal = await addSecondPrincipal();
    await expect(identity.issueToken(grant({ client_id: principal.clientId, client_secret: principal.secret }), ORIGIN)).resolves.toMatchObject({ token_type: 'Bearer' });
    // Removed by `mhsm principal delete`, through a connection of its own, as the server sees it.
    await elsewhere((access) => access.removePrincipal(principal.objectId));
    expect((await refusalOf(identity.issueToken(grant({ client_id: principal.clientId, client_secret: principal.secret }), ORIGIN))).code).toBe('invalid_client');
  });
});

/** A change made as `mhsm principal` makes it: on another connection to the same store. */
async function elsewhere(change: (access: SqliteMetadataStore['access']) => void): Promise<void> {
  const other = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  try {
    change(other.access);
  } finally {
    await other.close();
  }
}

async function addSecondPrincipal(): Promise<{ clientId: string; objectId: string; secret: string }> {
  const principal = { clientId: randomUUID(), objectId: randomUUID(), secret: 'second-secret' };
  store.access.addPrincipal({ objectId: principal.objectId, clientId: principal.clientId, displayName: 'second', secretHash: identity.hasher.hash(principal.secret), created: START });
  return principal;
}

describe('token verification', () => {
  it('accepts its own token, again from memory, and names the caller', async () => {
    const token = await adminToken();
    const caller = { objectId: identity.admin.objectId, clientId: identity.admin.clientId, tenantId: identity.tenantId };
    expect(await identity.verify(token, PORT)).toEqual(caller);
    expect(await identity.verify(token, PORT)).toEqual(caller);
  });

  it('knows a verified token without waiting, checks its time and principal again, and forgets it once refused', async () => {
    const token = await adminToken();
    const caller = { objectId: identity.admin.objectId, clientId: identity.admin.clientId, tenantId: identity.tenantId };
    // Never verified: not known, whatever it says.
    expect(identity.knownCaller(token)).toBeUndefined();
    await identity.verify(token, PORT);
    expect(identity.knownCaller(token)).toEqual(caller);
    // Past its expiry and the skew: refused, and no longer known.
    now = (START + TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS + 1) * 1000;
    expect(() => identity.knownCaller(token)).toThrow(new IdentityError('invalid_token', 'the bearer token is expired or not yet valid'));
    now = START * 1000;
    expect(identity.knownCaller(token)).toBeUndefined();
    // A principal removed (by `mhsm principal`) after its token was verified.
    const second = await addSecondPrincipal();
    const theirs = (await identity.issueToken(grant({ client_id: second.clientId, client_secret: second.secret }), ORIGIN)).access_token;
    await identity.verify(theirs, PORT);
    await elsewhere((access) => access.removePrincipal(second.objectId));
    await new Promise((resolve) => setImmediate(resolve));
    expect(() => identity.knownCaller(theirs)).toThrow(new IdentityError('invalid_token', 'the bearer token names a principal this tenant does not have'));
    expect(identity.knownCaller(theirs)).toBeUndefined();
  });

  it('holds the token to its times, five minutes of skew either side, remembered or not', async () => {
    const token = await adminToken();
    const early = await forged({ nbf: START + 1000 });
    const expired = 'the bearer token is expired or not yet valid';
    // Not yet valid: refused until five minutes before nbf.
    now = (START + 1000 - CLOCK_SKEW_SECONDS - 1) * 1000;
    expect((await refusalOf(identity.verify(early, PORT))).code).toBe('invalid_token');
    now = (START + 1000 - CLOCK_SKEW_SECONDS) * 1000;
    await expect(identity.verify(early, PORT)).resolves.toMatchObject({ objectId: identity.admin.objectId });
    // Remembered, then before its nbf less skew again: the clock moves only forward in the
    // service, but the check must not rest on the memory.
    now = (START + 1000 - CLOCK_SKEW_SECONDS - 1) * 1000;
    expect(await refusalOf(identity.verify(early, PORT))).toEqual({ code: 'invalid_token', message: expired });
    // Expired: accepted up to five minutes after exp, from memory and afresh.
    await identity.verify(token, PORT);
    now = (START + TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) * 1000;
    await expect(identity.verify(token, PORT)).resolves.toMatchObject({ objectId: identity.admin.objectId });
    now += 1000;
    expect(await refusalOf(identity.verify(token, PORT))).toEqual({ code: 'invalid_token', message: expired });
    // Forgotten once refused: verified afresh, and refused by jose's own time check.
    const refused = await refusalOf(identity.verify(token, PORT));
    expect(refused.code).toBe('invalid_token');
    expect(refused.message).toMatch(/^the bearer token (is not valid: .*exp|is expired)/);
  });

  it('refuses a token of another key, another algorithm or altered, naming why', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const otherKey = await importPKCS8(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 'RS256');
    const token = await adminToken();
    const [header, payload] = token.split('.');
    const withClaims = (claims: Record<string, unknown>) => `${header}.${Buffer.from(JSON.stringify({ ...decodeJwt(token), ...claims })).toString('base64url')}.${token.split('.')[2]}`;
    const cases = [
      await forged({}, { key: otherKey }),
      await forged({}, { key: new TextEncoder().encode('a shared secret of thirty-two bytes!'), alg: 'HS256' }),
      await forged({}, { key: await importPKCS8(readFileSync(path.join(dir, 'identity', 'signing-key.pem'), 'utf8'), 'PS256'), alg: 'PS256' }),
      withClaims({ oid: randomUUID() }),
      `${header}.${payload}.`,
      `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${payload}.`,
      'not a token',
    ];
    for (const bad of cases) {
      const refused = await refusalOf(identity.verify(bad, PORT));
      expect(refused.code).toBe('invalid_token');
      expect(refused.message).toMatch(/^the bearer token is not valid: ./);
    }
  });

  it('needs every claim it checks', async () => {
    for (const claim of ['iss', 'aud', 'exp', 'nbf', 'oid', 'tid', 'appid']) {
      const refused = await refusalOf(identity.verify(await forged({}, { omit: [claim] }), PORT));
      expect(refused.code, claim).toBe('invalid_token');
      expect(refused.message, claim).toMatch(/^the bearer token (is not valid: .*|was not issued by this tenant)$/);
    }
  });

  it('refuses another audience, issuer, port or tenant', async () => {
    const notIssued = { code: 'invalid_token', message: 'the bearer token was not issued by this tenant' };
    const another = { code: 'invalid_token', message: 'the bearer token was issued for another tenant' };
    expect((await refusalOf(identity.verify(await forged({ aud: 'https://vault.azure.net' }), PORT))).message).toMatch(/^the bearer token is not valid: .*aud/);
    const issuers: [unknown, number, { code: string; message: string } | undefined][] = [
      [`http://localhost:8443/${identity.tenantId}/v2.0`, PORT, notIssued],
      [`https://localhost:8443/${randomUUID()}/v2.0`, PORT, notIssued],
      [`https://localhost:8443/${identity.tenantId}/v2.0/`, PORT, notIssued],
      [`https://localhost:8443/${identity.tenantId}`, PORT, notIssued],
      [`https://localhost:9443/${identity.tenantId}/v2.0`, PORT, notIssued],
      [`https://localhost/${identity.tenantId}/v2.0`, PORT, notIssued],
      [`https://localhost/${identity.tenantId}/v2.0`, 443, undefined],
      [`https://localhost:443/${identity.tenantId}/v2.0`, 443, undefined],
      [`https://elsewhere.example:8443/${identity.tenantId}/v2.0`, PORT, undefined],
      ['not a url', PORT, notIssued],
      [42, PORT, notIssued],
    ];
    for (const [iss, port, expected] of issuers) {
      const outcome = await identity.verify(await forged({ iss }), port).then(
        () => undefined,
        (error: { code: string; message: string }) => ({ code: error.code, message: error.message }),
      );
      expect(outcome, String(iss)).toEqual(expected);
    }
    expect(await refusalOf(identity.verify(await forged({ tid: randomUUID() }), PORT))).toEqual(another);
  });

  it('refuses a token whose principal is gone or is another one, even remembered', async () => {
    const second = await addSecondPrincipal();
    const { access_token } = await identity.issueToken(grant({ client_id: second.clientId, client_secret: second.secret }), ORIGIN);
    expect(await identity.verify(access_token, PORT)).toEqual({ objectId: second.objectId, clientId: second.clientId, tenantId: identity.tenantId });
    const gone = { code: 'invalid_token', message: 'the bearer token names a principal this tenant does not have' };
    expect(await refusalOf(identity.verify(await forged({ oid: second.objectId }), PORT))).toEqual(gone);
    expect(await refusalOf(identity.verify(await forged({ appid: randomUUID() }), PORT))).toEqual(gone);
    const impostor = randomUUID();
    await elsewhere((access) => {
      access.removePrincipal(second.objectId);
      access.addPrincipal({ objectId: impostor, clientId: second.clientId, displayName: 'impostor', secretHash: 'x', created: START });
    });
    expect(await refusalOf(identity.verify(access_token, PORT))).toEqual(gone);
    await elsewhere((access) => access.removePrincipal(impostor));
    expect(await refusalOf(identity.verify(access_token, PORT))).toEqual(gone);
  });
});

describe('what verification remembers', () => {
  const caller = () => ({ objectId: identity.admin.objectId, clientId: identity.admin.clientId, tenantId: identity.tenantId });

  it('remembers each verified token once, and forgets one refused since', async () => {
    expect(identity.remembered).toEqual({ tokens: 0, chars: 0 });
    const token = await adminToken();
    await identity.verify(token, PORT);
    await identity.verify(token, PORT);
    expect(identity.remembered).toEqual({ tokens: 1, chars: token.length });
    const other = await adminToken();
    await identity.verify(other, PORT);
    expect(identity.remembered).toEqual({ tokens: 2, chars: token.length + other.length });
    // Refused tokens are not remembered; a remembered one refused later is forgotten.
    await refusalOf(identity.verify(await forged({ tid: randomUUID() }), PORT));
    expect(identity.remembered.tokens).toBe(2);
    now = (START + TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS + 1) * 1000;
    await refusalOf(identity.verify(token, PORT));
    expect(identity.remembered).toEqual({ tokens: 1, chars: other.length });
    await refusalOf(identity.verify(token, PORT));
    expect(identity.remembered).toEqual({ tokens: 1, chars: other.length });
  });

  it('keeps to its limits of tokens and characters, dropping the oldest', async () => {
    const byCount = await Identity.open(dir, RESOURCE, clock, store.access, { tokens: 3, chars: 1_000_000 });
    const tokens = [];
    for (let i = 0; i < 5; i++) tokens.push((await byCount.issueToken(grant(), ORIGIN)).access_token);
    for (const token of tokens) expect(await byCount.verify(token, PORT)).toEqual(caller());
    const length = (list: string[]) => list.reduce((sum, token) => sum + token.length, 0);
    expect(byCount.remembered).toEqual({ tokens: 3, chars: length(tokens.slice(2)) });

    const tokenLength = tokens[0]?.length ?? 0;
    const byChars = await Identity.open(dir, RESOURCE, clock, store.access, { tokens: 100, chars: Math.floor(tokenLength * 2.5) });
    for (const token of tokens.slice(0, 3)) await byChars.verify(token, PORT);
    expect(byChars.remembered).toEqual({ tokens: 2, chars: length(tokens.slice(1, 3)) });
    // Exactly at the limit is within it.
    const exact = await Identity.open(dir, RESOURCE, clock, store.access, { tokens: 2, chars: length(tokens.slice(0, 2)) });
    for (const token of tokens.slice(0, 2)) await exact.verify(token, PORT);
    expect(exact.remembered.tokens).toBe(2);

    // A limit below one token still verifies, remembering that one alone.
    const tiny = await Identity.open(dir, RESOURCE, clock, store.access, { tokens: 1, chars: 10 });
    for (const token of tokens.slice(0, 2)) expect(await tiny.verify(token, PORT)).toEqual(caller());
    expect(tiny.remembered).toEqual({ tokens: 1, chars: tokens[1]?.length });
  });

  it('reads a principal from the store once, and again after another connection changed it', async () => {
    const reads = vi.spyOn(store.access, 'principalByClientId');
    const token = await adminToken();
    // The grant read the administrator: from then on it is remembered.
    expect(reads).toHaveBeenCalledTimes(1);
    await identity.verify(token, PORT);
    await identity.verify(await adminToken(), PORT);
    await identity.verify(token, PORT);
    expect(reads).toHaveBeenCalledTimes(1);
    await elsewhere((access) => access.addPrincipal({ objectId: randomUUID(), clientId: randomUUID(), displayName: 'x', secretHash: 'x', created: 0 }));
    await identity.verify(token, PORT);
    await identity.verify(token, PORT);
    expect(reads).toHaveBeenCalledTimes(2);
    reads.mockRestore();
  });
});

describe('managed identities', () => {
  it('are principals without a secret, the first registered answering for the system-assigned one', async () => {
    const first = addManagedIdentity(store.access, 'app-one', START);
    now += 1000;
    const second = addManagedIdentity(store.access, 'app-two', START + 1);
    const stored = store.access.principalByClientId(first.clientId);
    expect(stored?.secretHash).toBe(MANAGED_IDENTITY_HASH);
    expect(stored && isManagedIdentity(stored)).toBe(true);
    expect(isManagedIdentity(store.access.principalByClientId(identity.admin.clientId) ?? stored!)).toBe(false);
    expect((await refusalOf(identity.issueToken(grant({ client_id: first.clientId, client_secret: MANAGED_IDENTITY_HASH }), ORIGIN))).code).toBe('invalid_client');

    expect(pickManagedIdentity(store.access, {}).objectId).toBe(first.objectId);
    expect(pickManagedIdentity(store.access, { client_id: second.clientId.toUpperCase() }).objectId).toBe(second.objectId);
    expect(pickManagedIdentity(store.access, { object_id: second.objectId.toUpperCase() }).objectId).toBe(second.objectId);
    expect(pickManagedIdentity(store.access, { principal_id: second.objectId }).objectId).toBe(second.objectId);
    // The administrator is no managed identity, by either id.
    expect(() => pickManagedIdentity(store.access, { client_id: identity.admin.clientId })).toThrow(`no managed identity of this tenant has client id ${identity.admin.clientId}`);
    expect(() => pickManagedIdentity(store.access, { object_id: 'ABC' })).toThrow('no managed identity of this tenant has object id abc');
    expect(() => pickManagedIdentity(store.access, { mi_res_id: '/subscriptions/x' })).toThrow(/^mi_res_id: name the identity by client_id or object_id/);
    // The system-assigned one is the first registered, even when another was created earlier.
    const earlier = addManagedIdentity(store.access, 'app-earlier', START - 100);
    expect(pickManagedIdentity(store.access, {}).objectId).toBe(first.objectId);
    store.access.removePrincipal(earlier.objectId);
    // The system-assigned one deleted: the oldest left answers.
    const third = addManagedIdentity(store.access, 'app-three', START - 10);
    store.access.removePrincipal(first.objectId);
    expect(pickManagedIdentity(store.access, {}).objectId).toBe(third.objectId);
    store.access.removePrincipal(third.objectId);
    store.access.removePrincipal(second.objectId);
    const none = (() => {
      try {
        pickManagedIdentity(store.access, {});
      } catch (error) {
        return { status: (error as { status: number }).status, message: (error as Error).message };
      }
      return undefined;
    })();
    expect(none).toEqual({ status: 404, message: 'no managed identity is registered: mhsm principal create --managed-identity NAME' });
  });

  it('get tokens for a resource, with or without /.default, that the data plane accepts', async () => {
    const app = addManagedIdentity(store.access, 'app', START);
    for (const resource of [RESOURCE, `${RESOURCE}/`, `${RESOURCE}/.default`]) {
      const answer = await identity.issueManagedIdentityToken({ resource }, ORIGIN);
      expect(answer).toMatchObject({ expires_on: String(START + 3600), resource: RESOURCE, token_type: 'Bearer', client_id: app.clientId });
      expect(await identity.verify(answer.access_token, PORT)).toEqual({ objectId: app.objectId, clientId: app.clientId, tenantId: identity.tenantId });
    }
    for (const resource of [undefined, '', '/', '/.default']) {
      const refused = await identity.issueManagedIdentityToken({ resource }, ORIGIN).catch((error: { status: number; message: string }) => ({ status: error.status, message: error.message }));
      expect(refused, String(resource)).toEqual({ status: 400, message: 'resource: the resource the token is for, e.g. https://managedhsm.azure.net' });
    }
  });

  it('check the IDENTITY_HEADER exactly, in constant time', () => {
    const header = identity.managedIdentityHeader;
    expect(header).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(readFileSync(path.join(dir, 'identity', 'managed-identity-header'), 'utf8')).toBe(`${header}\n`);
    expect(headerMatches(header, header)).toBe(true);
    expect(headerMatches(header, undefined)).toBe(false);
    expect(headerMatches(header, '')).toBe(false);
    expect(headerMatches(header, `${header}x`)).toBe(false);
    expect(headerMatches(header, header.slice(0, -1))).toBe(false);
    expect(headerMatches(header, `${header.slice(0, -1)}${header.endsWith('A') ? 'B' : 'A'}`)).toBe(false);
  });
});
