// The transfer key of a recovery on a real token (src/hsm/security-domain/transfer-key.ts): made
// on first use (an RSA-2048 pair in the token, certified, recorded), kept while the token holds
// it, made anew when the token lost it; the content key of a JWE encrypted to it, and each
// refusal; and its removal.
import { X509Certificate, constants, createHash, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DomainState } from '../../src/hsm/security-domain/domain-state.js';
import { type Certify, TRANSFER_KEY_LABEL, TransferKey, type TransferKeyView } from '../../src/hsm/security-domain/transfer-key.js';
import { HsmError } from '../../src/hsm/errors.js';
import { certifyPublicKey } from '../../src/server/tls.js';
import type { TokenKey } from '../../src/token/key-spec.js';
import type { Token } from '../../src/token/token.js';
import { refusalOf } from '../helpers/refusal.js';
import { storePerTest } from '../helpers/temp-store.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

const SUBJECT = 'CN=Managed HSM emulator security domain transfer key';

let opened: OpenTestToken;
let token: Token;
let caDir: string;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
  caDir = mkdtempSync(path.join(os.tmpdir(), 'mhsm-transfer-ca-'));
});

afterAll(() => {
  opened?.close();
  if (caDir) rmSync(caDir, { recursive: true, force: true });
});

const temp = storePerTest('mhsm-transfer-key-');
let state: DomainState;
let subjects: string[];
let transfer: TransferKey;

/** The emulator's CA, as the security domain certifies with it, noting each subject it is asked for. */
const certify: Certify = async (spki, subject) => {
  subjects.push(subject);
  return certifyPublicKey(caDir, spki, subject);
};

beforeEach(() => {
  state = new DomainState(temp.store.access);
  subjects = [];
  transfer = new TransferKey(token, state, certify);
});

afterEach(async () => {
  for (const id of await token.keyIdsLabelled(TRANSFER_KEY_LABEL)) await token.destroyObjectsWithId(id);
});

const tokenKey = (idHex: string): TokenKey => ({ id: Buffer.from(idHex, 'hex'), spec: { type: 'rsa', bits: 2048 } });
const labelled = async () => (await token.keyIdsLabelled(TRANSFER_KEY_LABEL)).map((id) => id.toString('hex'));
const sha = (algorithm: 'sha1' | 'sha256', der: Buffer) => createHash(algorithm).update(der).digest('base64url');

describe('getting the transfer key', () => {
  it('makes an RSA-2048 pair in the token on first use, certifies it, and records it', async () => {
    expect(transfer.currentX5t256()).toBeUndefined();
    const view = await transfer.get();
    expect(subjects).toEqual([SUBJECT]);

    const record = state.transferKey();
    expect(record?.id).toMatch(/^[0-9a-f]{32}$/);
    expect(record?.certificate).toBe(view.certificateDer.toString('base64'));
    expect(await labelled()).toEqual([record?.id]);

    const key = tokenKey(record!.id);
    const parts = await token.publicKey(key);
    expect(parts.type).toBe('rsa');
    if (parts.type !== 'rsa') return;
    expect(view.n.equals(parts.modulus)).toBe(true);
    expect(view.n).toHaveLength(256);
    expect(view.e.toString('hex')).toBe('010001');
    expect(view.x5t256).toBe(sha('sha256', view.certificateDer));
    expect(view.x5t).toBe(sha('sha1', view.certificateDer));
    expect(transfer.currentX5t256()).toBe(view.x5t256);

    const certificate = new X509Certificate(view.certificateDer);
    expect(certificate.subject).toBe(SUBJECT);
    expect(Buffer.from(certificate.publicKey.export({ format: 'jwk' }).n as string, 'base64url').equals(parts.modulus)).toBe(true);

    // The private half decrypts and never leaves the token; the public half encrypts; nothing signs or wraps.
    const { secret, public: publicObject } = await token.statedAttributes(key);
    expect(secret).toMatchObject({ decrypt: true, sign: false, unwrap: false, sensitive: true, extractable: false, token: true });
    expect(publicObject).toMatchObject({ encrypt: true, verify: false, wrap: false, token: true, modulusBits: 2048 });
  });

  it('gives the same key while the token holds it, also to the next start', async () => {
    const first = await transfer.get();
    const again = await transfer.get();
    const afterRestart = await new TransferKey(token, new DomainState(temp.store.access), certify).get();
    for (const view of [again, afterRestart]) {
      expect(view.certificateDer.equals(first.certificateDer)).toBe(true);
      expect(view).toEqual(first);
    }
    expect(subjects).toEqual([SUBJECT]);
    expect(await labelled()).toEqual([state.transferKey()?.id]);
  });

  it('makes a new key when the token lost the private half of the recorded one, removing what is left of it', async () => {
    const old = await transfer.get();
    const oldId = state.transferKey()!.id;
    const parts = await token.publicKey(tokenKey(oldId));
    // Only the public half stays behind.
    await token.destroyObjectsWithId(Buffer.from(oldId, 'hex'));
    await token.createPublicKey(tokenKey(oldId), parts, TRANSFER_KEY_LABEL);
    expect(await token.hasKey(tokenKey(oldId))).toBe(false);
    expect((await token.publicKey(tokenKey(oldId))).type).toBe('rsa');

    const renewed = await transfer.get();
    const newId = state.transferKey()!.id;
    expect(newId).not.toBe(oldId);
    expect(renewed.certificateDer.equals(old.certificateDer)).toBe(false);
    expect(renewed.n.equals(old.n)).toBe(false);
    expect(state.transferKey()?.certificate).toBe(renewed.certificateDer.toString('base64'));
    expect(transfer.currentX5t256()).toBe(renewed.x5t256);
    expect(subjects).toEqual([SUBJECT, SUBJECT]);
    expect(await labelled()).toEqual([newId]);
    await expect(token.publicKey(tokenKey(oldId))).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
  });
});

describe('the content key of a JWE encrypted to the transfer key', () => {
  const field = 'WrappedKey.enc_key';
  const encrypt = (view: TransferKeyView, cek: Buffer, oaepHash: 'sha256' | 'sha1') =>
    publicEncrypt({ key: new X509Certificate(view.certificateDer).publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, cek);
  const cannotDecrypt = { code: 'BadParameter', message: `${field}: cannot be decrypted with this HSM's transfer key` };

  it('is decrypted for RSA-OAEP-256 and RSA-OAEP', async () => {
    const view = await transfer.get();
    const cek = randomBytes(64);
    expect((await transfer.decryptCek({ header: { alg: 'RSA-OAEP-256' }, encryptedKey: encrypt(view, cek, 'sha256') }, field)).equals(cek)).toBe(true);
    expect((await transfer.decryptCek({ header: { alg: 'RSA-OAEP' }, encryptedKey: encrypt(view, cek, 'sha1') }, field)).equals(cek)).toBe(true);
    const empty = await transfer.decryptCek({ header: { alg: 'RSA-OAEP-256' }, encryptedKey: encrypt(view, Buffer.alloc(0), 'sha256') }, field);
    expect(empty).toHaveLength(0);
  });

  it('is refused before there is a transfer key', async () => {
    expect(await refusalOf(transfer.decryptCek({ header: { alg: 'RSA-OAEP-256' }, encryptedKey: Buffer.alloc(256, 1) }, field))).toEqual({
      code: 'BadParameter',
      message: `${field}: this HSM has no transfer key; get it first (GET /securitydomain/upload)`,
    });
  });

  it('is refused for any alg but RSA-OAEP-256 and RSA-OAEP', async () => {
    const view = await transfer.get();
    // A content key the transfer key would open under RSA-OAEP-256: only the alg is wrong.
    const encryptedKey = encrypt(view, randomBytes(64), 'sha256');
    // Also the names of members every object has, which a plain table lookup would find.
    const algs: unknown[] = [undefined, 'RSA1_5', 'A256KW', 'dir', 'rsa-oaep-256', 'RSA-OAEP-384', ['RSA-OAEP-256'], 256, null, 'toString', 'constructor', '__proto__', 'hasOwnProperty'];
    for (const alg of algs) {
      expect(await refusalOf(transfer.decryptCek({ header: { alg }, encryptedKey }, 'f')), JSON.stringify(alg)).toEqual({
        code: 'BadParameter',
        message: 'f: alg must be RSA-OAEP-256 or RSA-OAEP',
      });
    }
  });

  it('is refused unless the encrypted key is as long as the modulus', async () => {
    const view = await transfer.get();
    const good = encrypt(view, randomBytes(64), 'sha256');
    // The same number without its leading zero byte, or with one more.
    let short = good;
    while (short[0] !== 0) short = encrypt(view, randomBytes(64), 'sha256');
    for (const encryptedKey of [short.subarray(1), Buffer.concat([Buffer.alloc(1), good]), Buffer.alloc(0), Buffer.alloc(512, 1)]) {
      expect(await refusalOf(transfer.decryptCek({ header: { alg: 'RSA-OAEP-256' }, encryptedKey }, field))).toEqual({
        code: 'BadParameter',
        message: `${field}: the encrypted key must be 256 bytes for the transfer key`,
      });
    }
  });

  it('is refused, with the token\'s answer as the cause, when the token cannot decrypt it', async () => {
    await transfer.get();
    // A number not below the modulus is no RSA ciphertext.
    const error = await transfer.decryptCek({ header: { alg: 'RSA-OAEP-256' }, encryptedKey: Buffer.alloc(256, 0xff) }, field).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HsmError);
    expect({ code: (error as HsmError).code, message: (error as HsmError).message }).toEqual(cannotDecrypt);
    expect((error as HsmError).cause).toBeInstanceOf(Error);

    // The recorded key gone from the token.
    await token.destroyObjectsWithId(Buffer.from(state.transferKey()!.id, 'hex'));
    const gone = await transfer.decryptCek({ header: { alg: 'RSA-OAEP' }, encryptedKey: Buffer.alloc(256, 1) }, field).catch((caught: unknown) => caught);
    expect({ code: (gone as HsmError).code, message: (gone as HsmError).message }).toEqual(cannotDecrypt);
    expect((gone as HsmError).cause).toBeInstanceOf(Error);
  });

  it('is refused when the decryption is no OAEP encoding for the alg', async () => {
    const view = await transfer.get();
    const cek = randomBytes(64);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const cases: Array<[string, Buffer]> = [
      // OAEP with SHA-1 given as RSA-OAEP-256, and the other way round.
      ['RSA-OAEP-256', encrypt(view, cek, 'sha1')],
      ['RSA-OAEP', encrypt(view, cek, 'sha256')],
      // Encrypted to another key.
      ['RSA-OAEP-256', publicEncrypt({ key: other, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek)],
      // A small number: its raw decryption is no encoding at all.
      ['RSA-OAEP-256', Buffer.concat([Buffer.alloc(255), Buffer.from([2])])],
    ];
    for (const [alg, encryptedKey] of cases) {
      const error = await transfer.decryptCek({ header: { alg }, encryptedKey }, field).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(HsmError);
      expect({ code: (error as HsmError).code, message: (error as HsmError).message }).toEqual(cannotDecrypt);
    }
  });
});

describe('removing the transfer key', () => {
  it('destroys both halves in the token and clears the record', async () => {
    const view = await transfer.get();
    const id = state.transferKey()!.id;
    await transfer.remove();
    expect(state.transferKey()).toBeUndefined();
    expect(transfer.currentX5t256()).toBeUndefined();
    expect(await labelled()).toEqual([]);
    await expect(token.publicKey(tokenKey(id))).rejects.toMatchObject({ code: 'OBJECT_NOT_FOUND' });
    expect(await refusalOf(transfer.decryptCek({ header: { alg: 'RSA-OAEP-256' }, encryptedKey: someCekFor(view) }, 'f'))).toMatchObject({
      message: 'f: this HSM has no transfer key; get it first (GET /securitydomain/upload)',
    });
    // The next one is a new key.
    expect((await transfer.get()).n.equals(view.n)).toBe(false);
  });

  it('does nothing when there is none', async () => {
    await transfer.remove();
    expect(temp.store.access.marker('security-domain-transfer-key')).toBeUndefined();
    expect(await labelled()).toEqual([]);
  });
});

/** A content key encrypted to the transfer key of this view under RSA-OAEP-256. */
function someCekFor(view: TransferKeyView): Buffer {
  return publicEncrypt({ key: new X509Certificate(view.certificateDer).publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(64));
}
