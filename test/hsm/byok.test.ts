// BYOK import through the key service over a real token: blobs made by node:crypto for every
// target type and every enc, each imported key used and checked against the original; every
// refusal checked to leave no token object (token or session) and no row.
import { createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShiftableClock } from '../../src/clock/clock.js';
import { KeyService } from '../../src/hsm/key-service.js';
import { SqliteMetadataStore } from '../../src/store/sqlite-store.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';
import { type ObjectCounter, inProcessObjects } from '../helpers/pkcs11.js';
import { ENCS, type Enc, keyHsmFor, rsaAesCiphertext, targetPlaintext, transferBlob } from '../helpers/byok-blob.js';

let opened: OpenTestToken;
let dir: string;
let store: SqliteMetadataStore;
let keys: KeyService;
let objectCounter: ObjectCounter;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;
const ORIGIN = 'https://localhost:8443';

interface Kek {
  name: string;
  kid: string;
  n: string;
  e: string;
}

async function createKek(bits: 2048 | 3072 | 4096 = 2048): Promise<Kek> {
  const name = unique('kek');
  const view = await keys.create(name, { kty: 'RSA-HSM', keySize: bits, keyOps: ['import'] });
  const jwk = view.version.publicJwk as { n: string; e: string };
  return { name, kid: `${ORIGIN}/keys/${name}/${view.version.version}`, n: jwk.n, e: jwk.e };
}

/** Every object the token holds for this process: token objects and every session's objects. */
async function objectCount(): Promise<number> {
  return objectCounter.count();
}

function rowCount(): number {
  return store.tokenIds().length;
}

beforeAll(async () => {
  opened = await openTestToken();
  dir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-byok-'));
  store = new SqliteMetadataStore(path.join(dir, 'metadata.db'));
  keys = new KeyService(opened.token, store, new ShiftableClock(() => 1_700_000_000_000), { recoverableDays: 7 });
  objectCounter = await inProcessObjects(opened.testToken.modulePath, opened.testToken.label);
});

afterAll(async () => {
  objectCounter?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
  opened?.close();
});

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest();

interface Target {
  label: string;
  jwk: Record<string, unknown>;
  material: KeyObject | Buffer;
  /** Uses the imported key and checks the result against the original. */
  check(name: string): Promise<void>;
}

function rsaTarget(bits: number): Target {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    label: `RSA-${bits}`,
    jwk: { kty: 'RSA-HSM', key_ops: ['sign', 'verify', 'decrypt', 'unwrapKey'] },
    material: privateKey,
    async check(name) {
      const jwk = keys.get(name).version.publicJwk as { n: string; e: string };
      expect(jwk.n).toBe(publicKey.export({ format: 'jwk' }).n);
      const data = randomBytes(64);
      const { value } = await keys.sign(name, undefined, 'RS256', sha256(data));
      expect(nodeVerify('sha256', data, publicKey, value)).toBe(true);
    },
  };
}

const EC_CURVES = [
  { crv: 'P-256', node: 'prime256v1', alg: 'ES256', hash: 'sha256' },
  { crv: 'P-384', node: 'secp384r1', alg: 'ES384', hash: 'sha384' },
  { crv: 'P-521', node: 'secp521r1', alg: 'ES512', hash: 'sha512' },
  { crv: 'P-256K', node: 'secp256k1', alg: 'ES256K', hash: 'sha256' },
] as const;

function ecTarget({ crv, node, alg, hash }: (typeof EC_CURVES)[number]): Target {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: node });
  return {
    label: `EC ${crv}`,
    jwk: { kty: 'EC-HSM', crv, key_ops: ['sign', 'verify'] },
    material: privateKey,
    async check(name) {
      const jwk = keys.get(name).version.publicJwk as { x: string; y: string; crv: string };
      const original = publicKey.export({ format: 'jwk' });
      expect({ x: jwk.x, y: jwk.y }).toEqual({ x: original.x, y: original.y });
      const data = randomBytes(64);
      const digest = createHash(hash).update(data).digest();
      const { value } = await keys.sign(name, undefined, alg, digest);
      expect(nodeVerify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, value)).toBe(true);
    },
  };
}

function aesTarget(bits: 128 | 192 | 256): Target {
  const value = randomBytes(bits / 8);
  return {
    label: `AES-${bits}`,
    jwk: { kty: 'oct-HSM', key_ops: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'] },
    material: value,
    async check(name) {
      const plaintext = randomBytes(100);
      const { result } = await keys.encrypt(name, undefined, 'encrypt', `A${bits}GCM`, { plaintext });
      const decipher = createDecipheriv(`aes-${bits}-gcm`, value, (result.iv as Buffer).subarray(0, 12));
      decipher.setAuthTag(result.tag as Buffer);
      expect(Buffer.concat([decipher.update(result.value), decipher.final()])).toEqual(plaintext);
    },
  };
}

describe('import of transfer blobs made by node:crypto', () => {
  const targets: Target[] = [
    rsaTarget(2048),
    rsaTarget(3072),
    rsaTarget(4096),
    ...EC_CURVES.map(ecTarget),
    aesTarget(128),
    aesTarget(192),
    aesTarget(256),
  ];

  for (const enc of ENCS) {
    it(`imports RSA 2048/3072/4096, EC on every curve and AES of every size with ${enc}; each works like the original`, async () => {
      const kek = await createKek();
      const before = await objectCount();
      for (const target of targets) {
        const name = unique('byok');
        const view = await keys.importKey(name, { jwk: { ...target.jwk, key_hsm: keyHsmFor(kek, target.material, { enc }) } });
        expect(view.version.spec.type, target.label).toBe(target.label.startsWith('RSA') ? 'rsa' : target.label.startsWith('EC') ? 'ec' : 'aes');
        await target.check(name);
      }
      // Each import left its key's objects (two for a key pair, one for AES) and nothing else.
      expect(await objectCount()).toBe(before + 7 * 2 + 3);
    }, 60_000);
  }

  it('takes KEKs of 3072 and 4096 bits, 16- and 24-byte ephemeral keys, and base64 (not url) encoding', async () => {
    const target = ecTarget(EC_CURVES[0]);
    for (const bits of [3072, 4096] as const) {
      const kek = await createKek(bits);
      for (const ephemeralBytes of [16, 24]) {
        const name = unique('byok');
        await keys.importKey(name, { jwk: { ...target.jwk, key_hsm: keyHsmFor(kek, target.material, { ephemeralBytes }) } });
        await target.check(name);
      }
    }
    const kek = await createKek();
    const base64 = Buffer.from(keyHsmFor(kek, target.material), 'base64url').toString('base64');
    expect(base64).toMatch(/[+/=]/);
    await keys.importKey(unique('byok'), { jwk: { ...target.jwk, key_hsm: base64 } });
  }, 60_000);

  it('gives the imported key the protections of every key: sensitive, wrap-with-trusted, in the token', async () => {
    const kek = await createKek();
    const target = rsaTarget(2048);
    const view = await keys.importKey(unique('byok'), { jwk: { ...target.jwk, key_hsm: keyHsmFor(kek, target.material) } });
    expect(await opened.token.keyProtection({ id: view.version.tokenId, spec: view.version.spec })).toMatchObject({
      token: true,
      private: true,
      sensitive: true,
      wrapWithTrusted: true,
    });
  });
});

describe('refusals leave nothing behind', () => {
  let kek: Kek;
  let other: Kek;
  const ec = () => ecTarget(EC_CURVES[0]);

  beforeAll(async () => {
    kek = await createKek();
    other = await createKek();
  });

  async function refused(jwk: Record<string, unknown>, message: RegExp): Promise<void> {
    const objects = await objectCount();
    const rows = rowCount();
    const name = unique('refused');
    await expect(keys.importKey(name, { jwk })).rejects.toMatchObject({ code: 'BadParameter', message });
    expect(await objectCount()).toBe(objects);
    expect(rowCount()).toBe(rows);
    expect(store.getKey(name)).toBeUndefined();
  }

  const kekPublic = (k: Kek) => createPublicKey({ key: { kty: 'RSA', n: k.n, e: k.e }, format: 'jwk' });

  it('an unknown kid, a kid that is not a key identifier, and a key that is not a KEK', async () => {
    const target = ec();
    await refused({ ...target.jwk, key_hsm: keyHsmFor({ ...kek, kid: `${ORIGIN}/keys/no-such-kek/0123abcd` }, target.material) }, /header\.kid: this HSM has no key-exchange key/);
    await refused({ ...target.jwk, key_hsm: keyHsmFor({ ...kek, kid: 'not a url' }, target.material) }, /header\.kid: 'not a url' is not a key identifier/);
    const plain = await keys.create(unique('rsa'), { kty: 'RSA-HSM' });
    const jwk = plain.version.publicJwk as { n: string; e: string };
    const plainKid = `${ORIGIN}/keys/${plain.version.name}/${plain.version.version}`;
    await refused({ ...target.jwk, key_hsm: keyHsmFor({ kid: plainKid, ...jwk }, target.material) }, /is not a key-exchange key .*exactly \["import"\]/);
  });

  it('a ciphertext wrapped for another KEK, or altered in either part', async () => {
    const target = ec();
    const plaintext = targetPlaintext(target.material);
    for (const enc of ENCS) {
      await refused({ ...target.jwk, key_hsm: transferBlob(kek.kid, rsaAesCiphertext(kekPublic(other), plaintext, { enc }), enc) }, /does not (unwrap|decrypt)/);
      for (const at of [10, 300]) {
        const ciphertext = rsaAesCiphertext(kekPublic(kek), plaintext, { enc });
        ciphertext[at] = (ciphertext[at] as number) ^ 0x01;
        await refused({ ...target.jwk, key_hsm: transferBlob(kek.kid, ciphertext, enc) }, /does not (unwrap|decrypt)/);
      }
    }
  });

  it('a target that is not the declared type, curve or size', async () => {
    const p384 = ecTarget(EC_CURVES[1]);
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    await refused({ kty: 'RSA-HSM', key_hsm: keyHsmFor(kek, p384.material) }, /does not unwrap to a RSA-HSM key/);
    await refused({ kty: 'EC-HSM', crv: 'P-256', key_hsm: keyHsmFor(kek, p384.material) }, /on P-384, not the declared crv/);
    await refused({ kty: 'RSA-HSM', key_hsm: keyHsmFor(kek, rsa1024) }, /RSA key of 1024 bits/);
    await refused({ kty: 'oct-HSM', key_hsm: keyHsmFor(kek, randomBytes(20)) }, /not 16, 24 or 32 bytes, the sizes of an oct-HSM AES key/);
    await refused({ kty: 'EC-HSM', crv: 'P-256', key_hsm: keyHsmFor(kek, rsaTarget(2048).material) }, /does not unwrap to a EC-HSM key/);
  });

  it('an unsupported enc, bad JSON, bad base64 and a ciphertext of the wrong length', async () => {
    const target = ec();
    const good = JSON.parse(Buffer.from(keyHsmFor(kek, target.material), 'base64url').toString()) as Record<string, Record<string, unknown>>;
    const encode = (document: unknown) => Buffer.from(JSON.stringify(document)).toString('base64url');
    await refused({ ...target.jwk, key_hsm: encode({ ...good, header: { ...good.header, enc: 'A256KW' } }) }, /header\.enc: must be one of CKM_RSA_AES_KEY_WRAP/);
    await refused({ ...target.jwk, key_hsm: encode({ ...good, header: { ...good.header, alg: 'RSA-OAEP' } }) }, /header\.alg: must be 'dir'/);
    await refused({ ...target.jwk, key_hsm: Buffer.from('{"schema_version":').toString('base64url') }, /decoded bytes are not JSON/);
    await refused({ ...target.jwk, key_hsm: 'not*base64' }, /must be base64url or base64/);
    await refused({ ...target.jwk, key_hsm: encode({ ...good, ciphertext: (good.ciphertext as unknown as string).slice(0, 400) }) }, /ciphertext: must be 256 bytes of RSA-OAEP/);
    await refused({ ...target.jwk, key_hsm: 42 }, /must be the transfer blob/);
  });
});

describe('the key-exchange key', () => {
  it('is RSA-HSM with key_ops exactly ["import"]; import with any other operation is refused', async () => {
    await expect(keys.create(unique('kek'), { kty: 'RSA-HSM', keyOps: ['import', 'sign'] })).rejects.toMatchObject({ code: 'BadParameter', message: /'import'.*cannot be combined/ });
    await expect(keys.create(unique('kek'), { kty: 'EC-HSM', keyOps: ['import'] })).rejects.toMatchObject({ code: 'BadParameter' });
    const kek = await createKek();
    await expect(keys.decrypt(kek.name, undefined, 'decrypt', 'RSA-OAEP', { ciphertext: Buffer.alloc(256) })).rejects.toMatchObject({ code: 'Forbidden' });
    await expect(keys.sign(kek.name, undefined, 'RS256', Buffer.alloc(32))).rejects.toMatchObject({ code: 'Forbidden' });
  });

  it('a disabled KEK imports nothing', async () => {
    const kek = await createKek();
    keys.update(kek.name, undefined, { attributes: { enabled: false } });
    const target = ecTarget(EC_CURVES[0]);
    await expect(keys.importKey(unique('byok'), { jwk: { ...target.jwk, key_hsm: keyHsmFor(kek, target.material) } })).rejects.toMatchObject({ code: 'Forbidden' });
  });
});

// The PKCS#8 this test hands over must be what createPrivateKey reads back (a sanity check of the helper).
it('the helper wraps PKCS#8 that node:crypto reads back', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  expect(createPrivateKey({ key: targetPlaintext(privateKey), format: 'der', type: 'pkcs8' }).asymmetricKeyType).toBe('ec');
  expect(ENCS as readonly Enc[]).toHaveLength(3);
});
