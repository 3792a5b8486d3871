// Client secrets: keyed hashes checked in microseconds; scrypt hashes of earlier versions still
// accepted, and replaced on the first success.
import { createHmac, randomBytes, scryptSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ShiftableClock } from '../../src/clock/clock.js';
import { Identity } from '../../src/identity/identity.js';
import { SecretHasher } from '../../src/identity/secrets.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function legacyHash(secret: string): string {
  const salt = randomBytes(16);
  return `scrypt:${salt.toString('base64url')}:${scryptSync(secret, salt, 32).toString('base64url')}`;
}

it('hashes with a 0600 key of the data directory and checks in constant time', async () => {
  const hasher = SecretHasher.open(dir);
  expect(statSync(path.join(dir, 'identity', 'secret-hash-key')).mode & 0o777).toBe(0o600);
  const stored = hasher.hash('s3cret');
  expect(stored).toMatch(/^hmac-sha256:[A-Za-z0-9_-]{43}$/);
  expect(await hasher.check('s3cret', stored)).toEqual({ matches: true, needsRehash: false });
  expect(await hasher.check('s3creT', stored)).toEqual({ matches: false, needsRehash: false });
  // Another data directory's key gives other hashes.
  expect(SecretHasher.open(mkdtempSync(path.join(dir, 'other-'))).hash('s3cret')).not.toBe(stored);
  // A thousand wrong secrets cost well under a second (scrypt cost tens of milliseconds each).
  const started = performance.now();
  for (let i = 0; i < 1000; i++) await hasher.check(`wrong-${i}`, stored);
  expect(performance.now() - started).toBeLessThan(1000);
  expect(await hasher.check('s3cret', legacyHash('s3cret'))).toEqual({ matches: true, needsRehash: true });
  expect(await hasher.check('other', legacyHash('s3cret'))).toEqual({ matches: false, needsRehash: false });
});

it('replaces a principal\'s scrypt hash on its next token, and the administrator\'s at once', async () => {
  const store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  try {
    const clock = new ShiftableClock();
    const first = await Identity.open(dir, 'https://managedhsm.azure.net', clock, store.access);
    const admin = store.access.principalByClientId(first.admin.clientId)!;
    store.access.setPrincipalSecretHash(admin.objectId, legacyHash(first.admin.clientSecret));
    const app = { objectId: 'c0ffee00-0000-4000-8000-000000000001', clientId: 'c0ffee00-0000-4000-8000-000000000002', secret: 'app-secret-value' };
    store.access.addPrincipal({ objectId: app.objectId, clientId: app.clientId, displayName: 'old app', secretHash: legacyHash(app.secret), created: 0 });

    const identity = await Identity.open(dir, 'https://managedhsm.azure.net', clock, store.access);
    expect(store.access.principalByClientId(first.admin.clientId)?.secretHash).toMatch(/^hmac-sha256:/);
    expect(store.access.principalByClientId(app.clientId)?.secretHash).toMatch(/^scrypt:/);
    const form = (secret: string) => new URLSearchParams({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: secret, scope: 'https://managedhsm.azure.net/.default' });
    await expect(identity.issueToken(form('wrong'), 'https://localhost')).rejects.toMatchObject({ code: 'invalid_client' });
    expect(store.access.principalByClientId(app.clientId)?.secretHash).toMatch(/^scrypt:/);
    await expect(identity.issueToken(form(app.secret), 'https://localhost')).resolves.toMatchObject({ token_type: 'Bearer' });
    expect(store.access.principalByClientId(app.clientId)?.secretHash).toMatch(/^hmac-sha256:/);
    await expect(identity.issueToken(form(app.secret), 'https://localhost')).resolves.toMatchObject({ token_type: 'Bearer' });
    // Client ids that are no GUID are refused before any look-up.
    await expect(identity.issueToken(new URLSearchParams({ grant_type: 'client_credentials', client_id: 'x'.repeat(5000), client_secret: 's' }), 'https://localhost')).rejects.toMatchObject({
      code: 'invalid_request',
    });
  } finally {
    await store.close();
  }
});

it('takes a 32-byte key only, and reads its key file as written', () => {
  for (const bytes of [0, 31, 33]) expect(() => new SecretHasher(Buffer.alloc(bytes)), String(bytes)).toThrow(new RangeError('the secret-hash key must be 32 bytes'));
  const own = mkdtempSync(path.join(dir, 'key-'));
  const hasher = SecretHasher.open(own);
  const file = path.join(own, 'identity', 'secret-hash-key');
  const key = Buffer.from(readFileSync(file, 'utf8'), 'base64url');
  expect(key).toHaveLength(32);
  expect(readFileSync(file, 'utf8')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  // The hash is HMAC-SHA-256 of the secret's UTF-8 under that key.
  expect(hasher.hash('sécret')).toBe(`hmac-sha256:${createHmac('sha256', key).update(Buffer.from('sécret', 'utf8')).digest('base64url')}`);
  expect(new SecretHasher(key).hash('sécret')).toBe(hasher.hash('sécret'));
  // Opened again, the same key; a key file made wider is put back to 0600.
  chmodSync(file, 0o644);
  expect(SecretHasher.open(own).hash('x')).toBe(hasher.hash('x'));
  expect(statSync(file).mode & 0o777).toBe(0o600);
});

it('matches nothing it cannot read as a hash', async () => {
  const hasher = new SecretHasher(randomBytes(32));
  const good = hasher.hash('s3cret');
  const none = { matches: false, needsRehash: false };
  for (const stored of ['', 'hmac-sha256', 'scrypt', 'scrypt:c2FsdA', 'bcrypt:a:b', `${good}x`, good.slice(0, -2), good.replace('hmac-sha256', 'hmac-sha512'), `HMAC-SHA256:${good.split(':')[1]}`]) {
    expect(await hasher.check('s3cret', stored), stored).toEqual(none);
  }
  // A legacy hash with an empty salt part still checks what it can: a wrong secret fails.
  expect(await hasher.check('s3cret', 'scrypt::AAAA')).toEqual(none);
  expect(await hasher.check('s3cret', good)).toEqual({ matches: true, needsRehash: false });
});
