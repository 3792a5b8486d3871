// Unmodified @azure/keyvault-keys and @azure/identity against `mhsm start` over real TLS.
import { createHash, createHmac, createPublicKey, generateKeyPairSync, randomBytes, verify as nodeVerify } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { CryptographyClient, KeyClient, type KeyVaultKey } from '@azure/keyvault-keys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmulatorProcess, removeDataDir, seededDataDir, startEmulatorProcess } from '../helpers/emulator.js';

let emulator: EmulatorProcess;
let credential: ClientSecretCredential;
let client: KeyClient;
const clientOptions = { disableChallengeResourceVerification: true, retryOptions: { maxRetries: 0 } };

beforeAll(async () => {
  emulator = await startEmulatorProcess(seededDataDir(), ['--recoverable-days', '7']);
  const { tenantId, clientId, clientSecret } = emulator.admin;
  credential = new ClientSecretCredential(tenantId, clientId, clientSecret, { authorityHost: emulator.url, disableInstanceDiscovery: true });
  client = new KeyClient(emulator.url, credential, clientOptions);
});

afterAll(async () => {
  if (!emulator) return;
  expect(await emulator.stop()).toBe(0);
  removeDataDir(emulator.dataDir);
});

const crypto = (key: KeyVaultKey) => new CryptographyClient(key, credential, clientOptions);

describe('keys through KeyClient', () => {
  it('creates every key type and size, reporting -HSM types and 32-hex versions', async () => {
    for (const keySize of [2048, 3072, 4096]) {
      const key = await client.createRsaKey(`rsa-${keySize}`, { keySize });
      expect(key.keyType).toBe('RSA-HSM');
      expect(Buffer.from(key.key?.n as Uint8Array).length * 8).toBe(keySize);
      expect(key.properties.version).toMatch(/^[0-9a-f]{32}$/);
      expect(key.id).toBe(`${emulator.url}/keys/rsa-${keySize}/${key.properties.version}`);
    }
    for (const curve of ['P-256', 'P-256K', 'P-384', 'P-521'] as const) {
      const key = await client.createEcKey(`ec-${curve.toLowerCase()}`, { curve });
      expect(key.keyType).toBe('EC-HSM');
      expect(key.key?.crv).toBe(curve);
    }
    for (const keySize of [128, 192, 256]) {
      const key = await client.createOctKey(`oct-${keySize}`, { keySize, hsm: true });
      expect(key.keyType).toBe('oct-HSM');
      expect(key.key?.k).toBeUndefined();
    }
    const key = await client.getKey('ec-p-256');
    expect(key.properties.recoverableDays).toBe(7);
    expect(key.properties.recoveryLevel).toBe('CustomizedRecoverable+Purgeable');
  });

  it('gets versions, lists with paging, and updates properties and tags', async () => {
    const first = await client.createEcKey('versioned', { curve: 'P-256', tags: { stage: 'one' } });
    const second = await client.createEcKey('versioned', { curve: 'P-256' });
    expect((await client.getKey('versioned')).properties.version).toBe(second.properties.version);
    expect((await client.getKey('versioned', { version: first.properties.version })).properties.tags).toEqual({ stage: 'one' });
    const versions: string[] = [];
    for await (const properties of client.listPropertiesOfKeyVersions('versioned')) versions.push(properties.version as string);
    expect(versions.sort()).toEqual([first.properties.version, second.properties.version].sort());

    for (let i = 0; i < 4; i++) await client.createOctKey(`paged-${i}`, { keySize: 128 });
    let pages = 0;
    const names: string[] = [];
    for await (const page of client.listPropertiesOfKeys().byPage({ maxPageSize: 3 })) {
      pages++;
      for (const properties of page) names.push(properties.name);
    }
    expect(pages).toBeGreaterThan(1);
    expect(names).toEqual(expect.arrayContaining(['paged-0', 'paged-3', 'versioned']));
    expect(new Set(names).size).toBe(names.length);

    const updated = await client.updateKeyProperties('versioned', { enabled: false, tags: { stage: 'two' }, keyOps: ['sign'] });
    expect(updated.properties.enabled).toBe(false);
    expect(updated.properties.tags).toEqual({ stage: 'two' });
    expect(updated.keyOperations).toEqual(['sign']);
  });

  it('imports a key from a JWK, keeping its public part', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = privateKey.export({ format: 'jwk' });
    const bytes = (value: string | undefined) => Buffer.from(value as string, 'base64url');
    const imported = await client.importKey(
      'imported-rsa',
      { kty: 'RSA', keyOps: ['sign', 'verify'], n: bytes(jwk.n), e: bytes(jwk.e), d: bytes(jwk.d), p: bytes(jwk.p), q: bytes(jwk.q), dp: bytes(jwk.dp), dq: bytes(jwk.dq), qi: bytes(jwk.qi) },
      { hardwareProtected: true },
    );
    expect(imported.keyType).toBe('RSA-HSM');
    expect(imported.key?.d).toBeUndefined();
    const digest = createHash('sha256').update('imported').digest();
    const { result } = await crypto(imported).sign('RS256', digest);
    expect(nodeVerify('sha256', Buffer.from('imported'), publicKey, result)).toBe(true);
  });

  it('deletes, recovers and purges through the SDK pollers', async () => {
    await client.createEcKey('short-lived', { curve: 'P-256' });
    const deleted = await (await client.beginDeleteKey('short-lived', { intervalInMs: 50 })).pollUntilDone();
    expect(deleted.properties.recoveryId).toBe(`${emulator.url}/deletedkeys/short-lived`);
    expect(deleted.properties.scheduledPurgeDate!.getTime() - deleted.properties.deletedOn!.getTime()).toBe(7 * 86400_000);
    await expect(client.getKey('short-lived')).rejects.toMatchObject({ statusCode: 404, code: 'KeyNotFound' });
    await expect(client.createEcKey('short-lived')).rejects.toMatchObject({ statusCode: 409, code: 'Conflict' });
    expect((await client.getDeletedKey('short-lived')).name).toBe('short-lived');
    const recovered = await (await client.beginRecoverDeletedKey('short-lived', { intervalInMs: 50 })).pollUntilDone();
    expect(recovered.name).toBe('short-lived');
    await (await client.beginDeleteKey('short-lived', { intervalInMs: 50 })).pollUntilDone();
    await client.purgeDeletedKey('short-lived');
    await expect(client.getDeletedKey('short-lived')).rejects.toMatchObject({ statusCode: 404 });
    expect((await client.createEcKey('short-lived')).name).toBe('short-lived');
  });

  it('sets and reads a rotation policy and rotates a key', async () => {
    const key = await client.createRsaKey('rotated', { keySize: 2048 });
    const policy = await client.updateKeyRotationPolicy('rotated', {
      lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P30D' }],
      expiresIn: 'P90D',
    });
    expect(policy.lifetimeActions).toEqual([{ action: 'Rotate', timeAfterCreate: 'P30D' }]);
    expect(policy.expiresIn).toBe('P90D');
    expect((await client.getKeyRotationPolicy('rotated')).id).toBe(`${emulator.url}/keys/rotated/rotationpolicy`);
    const rotated = await client.rotateKey('rotated');
    expect(rotated.properties.version).not.toBe(key.properties.version);
    expect(rotated.properties.expiresOn!.getTime() - rotated.properties.createdOn!.getTime()).toBe(90 * 86400_000);
    await expect(client.updateKeyRotationPolicy('rotated', { lifetimeActions: [{ action: 'Notify', timeBeforeExpiry: 'P30D' }], expiresIn: 'P90D' })).rejects.toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('Rotate only'),
    });
  });

  it('backs a key up and restores it after a purge, with the same versions', async () => {
    const key = await client.createEcKey('backed-up', { curve: 'P-384' });
    const blob = await client.backupKey('backed-up');
    expect(blob?.length).toBeGreaterThan(100);
    await (await client.beginDeleteKey('backed-up', { intervalInMs: 50 })).pollUntilDone();
    await client.purgeDeletedKey('backed-up');
    const restored = await client.restoreKeyBackup(blob as Uint8Array);
    expect(restored.id).toBe(key.id);
    expect(Buffer.from(restored.key?.x as Uint8Array).equals(Buffer.from(key.key?.x as Uint8Array))).toBe(true);
    await expect(client.restoreKeyBackup(blob as Uint8Array)).rejects.toMatchObject({ statusCode: 409 });
  });

  it('returns random bytes', async () => {
    const bytes = await client.getRandomBytes(32);
    expect(bytes).toHaveLength(32);
    expect(Buffer.from(bytes).equals(Buffer.from(await client.getRandomBytes(32)))).toBe(false);
  });
});

describe('cryptography through CryptographyClient', () => {
  const signatureCases: Array<[string, string, string]> = [
    ...['rsa-2048', 'rsa-3072', 'rsa-4096'].flatMap((name) =>
      (['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const).map((alg): [string, string, string] => [alg, `sha${alg.slice(2)}`, name]),
    ),
    ['ES256', 'sha256', 'ec-p-256'],
    ['ES256K', 'sha256', 'ec-p-256k'],
    ['ES384', 'sha384', 'ec-p-384'],
    ['ES512', 'sha512', 'ec-p-521'],
  ];

  it.each(signatureCases)('%s with %s/%s signs what node:crypto verifies, and verifies', async (algorithm, hash, name) => {
    const key = await client.getKey(name);
    const message = Buffer.from(`message for ${algorithm}`);
    const digest = createHash(hash).update(message).digest();
    const { result } = await crypto(key).sign(algorithm, digest);
    const jwk = { ...key.key, kty: key.key?.kty?.replace('-HSM', '') } as Record<string, unknown>;
    const publicKey = createPublicKey({
      key: Object.fromEntries(
        Object.entries(jwk)
          .filter(([k]) => ['kty', 'n', 'e', 'crv', 'x', 'y'].includes(k))
          .map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('base64url') : k === 'crv' && v === 'P-256K' ? 'secp256k1' : v]),
      ) as import('node:crypto').JsonWebKey,
      format: 'jwk',
    });
    const options = algorithm.startsWith('PS') ? { key: publicKey, padding: 6, saltLength: digest.length } : algorithm.startsWith('ES') ? { key: publicKey, dsaEncoding: 'ieee-p1363' as const } : publicKey;
    expect(nodeVerify(hash, message, options, Buffer.from(result))).toBe(true);
    expect((await crypto(key).verify(algorithm, digest, result)).result).toBe(true);
  });

  it.each(
    ['rsa-2048', 'rsa-3072', 'rsa-4096'].flatMap((name) => (['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'] as const).map((algorithm) => [algorithm, name] as const)),
  )('%s with %s encrypts, decrypts, wraps and unwraps', async (algorithm, name) => {
    const key = await client.getKey(name);
    const plaintext = randomBytes(32);
    const encrypted = await crypto(key).encrypt({ algorithm, plaintext });
    expect(Buffer.from((await crypto(key).decrypt({ algorithm, ciphertext: encrypted.result })).result).equals(plaintext)).toBe(true);
    const wrapped = await crypto(key).wrapKey(algorithm, plaintext);
    expect(Buffer.from((await crypto(key).unwrapKey(algorithm, wrapped.result)).result).equals(plaintext)).toBe(true);
  });

  it('HS256 with an oct key made for sign and verify: matches node:crypto HMAC, created or imported', async () => {
    const secret = randomBytes(32);
    const imported = await client.importKey('hmac-imported', { kty: 'oct-HSM', k: secret, keyOps: ['sign', 'verify'] }, { hardwareProtected: true });
    const created = await client.createOctKey('hmac-created', { keySize: 256, keyOps: ['sign', 'verify'], hsm: true });
    for (const key of [imported, created]) {
      expect(key.keyType).toBe('oct-HSM');
      expect(key.keyOperations).toEqual(['sign', 'verify']);
    }
    const data = Buffer.from('data to authenticate');
    const { result } = await crypto(imported).sign('HS256', data);
    expect(Buffer.from(result).equals(createHmac('sha256', secret).update(data).digest())).toBe(true);
    expect((await crypto(imported).verify('HS256', data, result)).result).toBe(true);
    const mac = await crypto(created).sign('HS256', data);
    expect(mac.result).toHaveLength(32);
    expect((await crypto(created).verify('HS256', data, mac.result)).result).toBe(true);
    expect((await crypto(created).verify('HS256', Buffer.from('other data'), mac.result)).result).toBe(false);
  });

  it.each([128, 192, 256] as const)('AES-%d: GCM, CBC, CBC with padding and key wrap', async (bits) => {
    const key = await client.getKey(`oct-${bits}`);
    const aad = Buffer.from('header');
    const plaintext = randomBytes(48);
    const gcm = await crypto(key).encrypt({ algorithm: `A${bits}GCM`, plaintext, additionalAuthenticatedData: aad });
    const opened = await crypto(key).decrypt({ algorithm: `A${bits}GCM`, ciphertext: gcm.result, iv: gcm.iv!, authenticationTag: gcm.authenticationTag!, additionalAuthenticatedData: aad });
    expect(Buffer.from(opened.result).equals(plaintext)).toBe(true);
    for (const algorithm of [`A${bits}CBC`, `A${bits}CBCPAD`] as const) {
      const cbc = await crypto(key).encrypt({ algorithm, plaintext });
      expect(cbc.iv).toHaveLength(16);
      const back = await crypto(key).decrypt({ algorithm, ciphertext: cbc.result, iv: cbc.iv! });
      expect(Buffer.from(back.result).equals(plaintext)).toBe(true);
    }
    for (const algorithm of [`A${bits}KW`, 'CKM_AES_KEY_WRAP', 'CKM_AES_KEY_WRAP_PAD'] as const) {
      const secret = algorithm === 'CKM_AES_KEY_WRAP_PAD' ? plaintext.subarray(0, 21) : plaintext.subarray(0, 32);
      const wrapped = await crypto(key).wrapKey(algorithm as 'A256KW', secret);
      expect(Buffer.from((await crypto(key).unwrapKey(algorithm as 'A256KW', wrapped.result)).result).equals(secret), algorithm).toBe(true);
    }
  });

  it('refuses a disabled key and an operation outside key_ops with 403', async () => {
    const key = await client.createEcKey('guarded', { curve: 'P-256', keyOps: ['sign', 'verify'] });
    await client.updateKeyProperties('guarded', { enabled: false });
    const remote = new CryptographyClient(key.id as string, credential, clientOptions);
    await expect(remote.sign('ES256', Buffer.alloc(32))).rejects.toThrow();
    await client.updateKeyProperties('guarded', { enabled: true, keyOps: ['verify'] });
    const stillRemote = new CryptographyClient(`${emulator.url}/keys/guarded`, credential, clientOptions);
    await expect(stillRemote.sign('ES256', Buffer.alloc(32))).rejects.toThrow(/sign/);
  });
});
