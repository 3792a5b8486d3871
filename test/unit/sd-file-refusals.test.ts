// The security-domain file and restore blob (src/hsm/security-domain/sd-file.ts) at their edges:
// every input refusal with its exact code and message, the bounds of quorum, recipients and
// master key, what a parse fills in, the forms of an upload value, az's ASCII-only JSON, and that
// the key material opened on the way (shares, their content keys, master keys, items) is zeroed.
import { constants, createPrivateKey, privateDecrypt, publicEncrypt, randomBytes, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { HsmError } from '../../src/hsm/errors.js';
import { ceremonyKeyPair, parseDomainCertificate, x5tS256 } from '../../src/hsm/security-domain/certificates.js';
import { type ParsedJwe, a256CbcHs512Encrypt, decryptJwe, encryptDirJwe, encryptRsaJwe, parseJwe } from '../../src/hsm/security-domain/jwe.js';
import {
  type DomainItem,
  type RestoreBlob,
  type SecurityDomainFile,
  buildRestoreBlob,
  buildSecurityDomainFile,
  decryptEncData,
  encryptEncData,
  openRestoreBlob,
  parseRestoreBlob,
  parseSecurityDomainFile,
  parseUploadValue,
} from '../../src/hsm/security-domain/sd-file.js';
import { refusal, refusalOf } from '../helpers/refusal.js';
import type { CeremonyPair } from '../helpers/test-domain.js';

type Recipient = ReturnType<typeof parseDomainCertificate>;
let keys: CeremonyPair[];
let transfer: CeremonyPair;
let recipients: Recipient[];
let fileText: string;
let blobText: string;
const masterKey = randomBytes(32);
// randomBytes, not Buffer.from(text): the secrets themselves must stay out of Node's buffer pool.
const items: DomainItem[] = [
  { tag: 'hsm_backup', plaintext: randomBytes(48) },
  { tag: 'base_enclave_backup', plaintext: randomBytes(40) },
];

const bad = (message: string) => ({ code: 'BadParameter', message });
const der = (pair: CeremonyPair) => Buffer.from(new X509Certificate(pair.certificatePem).raw);
const holder = (pair: CeremonyPair) => ({ certificateDer: der(pair), privateKey: createPrivateKey(pair.privateKeyPem) });
const oaepDecrypt = (pair: CeremonyPair, encryptedKey: Buffer) =>
  privateDecrypt({ key: createPrivateKey(pair.privateKeyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encryptedKey);
const transferDecrypt = async (jwe: ParsedJwe) => oaepDecrypt(transfer, jwe.encryptedKey);
const parts = (compact: string) => compact.split('.');

/** The parsed JSON of the file, changed by `change`, as text again. */
function edit(text: string, change: (json: any) => void): string {
  const json = JSON.parse(text);
  change(json);
  return JSON.stringify(json);
}

/** A restore blob whose WrappedKey carries `key` to the transfer certificate, and data under `dataKey`. */
function blobWith(key: Buffer, dataKey: Buffer = key): RestoreBlob {
  return {
    EncData: { data: encryptEncData(items, dataKey), kdf: 'sp108_kdf' },
    WrappedKey: { enc_key: encryptRsaJwe(new X509Certificate(transfer.certificatePem).publicKey, key), x5t_256: x5tS256(der(transfer)) },
  };
}

/**
 * Node copies small buffers (Buffer.concat, Buffer.from of a buffer or of base64) into a shared
 * pool, where a copy that was never zeroed stays readable. Runs `run` and returns the indexes of
 * the `secrets` found in what the pool handed out meanwhile; a larger pool size for that time
 * keeps it to at most one pool change, so that both pools involved are seen.
 */
async function leftInPool(secrets: readonly Buffer[], run: () => unknown): Promise<number[]> {
  const poolSize = Buffer.poolSize;
  Buffer.poolSize = 1 << 20;
  let start: Buffer;
  let end: Buffer;
  try {
    start = Buffer.allocUnsafe(1);
    try {
      await run();
    } catch {
      // Refusals are checked elsewhere; here only what they leave behind matters.
    }
    end = Buffer.allocUnsafe(1);
  } finally {
    Buffer.poolSize = poolSize;
  }
  const regions =
    start.buffer === end.buffer
      ? [Buffer.from(start.buffer, start.byteOffset, end.byteOffset - start.byteOffset)]
      : [Buffer.from(start.buffer, start.byteOffset), Buffer.from(end.buffer, 0, end.byteOffset)];
  return secrets.flatMap((secret, index) => (regions.some((region) => region.includes(secret)) ? [index] : []));
}

/** The plaintext shares of the file, as copies outside the pool. */
function sharesOf(file: SecurityDomainFile, pairs: readonly CeremonyPair[]): Buffer[] {
  return pairs.map((pair, index) => {
    const jwe = parseJwe(file.SharedKeys.enc_shares[index]?.enc_key);
    const opened = decryptJwe(jwe, oaepDecrypt(pair, jwe.encryptedKey));
    const copy = Buffer.alloc(opened.length);
    opened.copy(copy);
    opened.fill(0);
    return copy;
  });
}

beforeAll(async () => {
  [keys, transfer] = await Promise.all([Promise.all([1, 2, 3].map((i) => ceremonyKeyPair(`key ${i}`))), ceremonyKeyPair('transfer')]);
  recipients = keys.map((pair, i) => parseDomainCertificate(pair.jwk, i));
  fileText = buildSecurityDomainFile({ masterKey, items, recipients, required: 2 });
  blobText = buildRestoreBlob({ file: parseSecurityDomainFile(fileText), privateKeys: [holder(keys[0] as CeremonyPair), holder(keys[1] as CeremonyPair)], transferCertificateDer: der(transfer) });
});

describe('building a security-domain file', () => {
  const build = (change: Partial<Parameters<typeof buildSecurityDomainFile>[0]>) => () => buildSecurityDomainFile({ masterKey, items, recipients, required: 2, ...change });

  it.each([
    ['a quorum of 1', { required: 1 }, 'required: must be an integer from 2 to 10, got 1'],
    ['a quorum of 2.5', { required: 2.5 }, 'required: must be an integer from 2 to 10, got 2.5'],
    ['a quorum of 11', { required: 11 }, 'required: must be an integer from 2 to 10, got 11'],
    ['a quorum given as text', { required: '2' as unknown as number }, 'required: must be an integer from 2 to 10, got "2"'],
    ['an empty master key', { masterKey: Buffer.alloc(0) }, 'masterKey: must not be empty'],
    ['no items', { items: [] }, 'items: at least one is needed'],
    ['an item without a tag', { items: [{ tag: '', plaintext: randomBytes(8) }] }, 'items[0].tag: required, a non-empty string'],
    ['two items with one tag', { items: [{ tag: 'a', plaintext: randomBytes(8) }, { tag: 'a', plaintext: randomBytes(8) }] }, 'items[1].tag: "a" appears twice; tags must be unique'],
  ] as const)('refuses %s', (_label, change, message) => {
    expect(refusal(build(change))).toEqual(bad(message));
  });

  it('refuses fewer recipients than the quorum, and more than 10', () => {
    const one = recipients.slice(0, 1);
    const eleven = Array.from({ length: 11 }, () => recipients[0] as Recipient);
    expect(refusal(build({ recipients: one }))).toEqual(bad('recipients: must be from required (2) to 10 certificates, got 1'));
    expect(refusal(build({ recipients: eleven }))).toEqual(bad('recipients: must be from required (2) to 10 certificates, got 11'));
  });

  it('takes as many recipients as the quorum, and up to 10, with a quorum of up to 10', () => {
    expect(parseSecurityDomainFile(build({ required: 3 })()).SharedKeys.required).toBe(3);
    const ten = Array.from({ length: 10 }, (_, i) => recipients[i % 3] as Recipient);
    expect(parseSecurityDomainFile(build({ recipients: ten })()).SharedKeys.enc_shares).toHaveLength(10);
    expect(parseSecurityDomainFile(build({ recipients: ten, required: 10 })()).SharedKeys.required).toBe(10);
  });

  it('checks item tags when encrypting data on its own too', () => {
    expect(refusal(() => encryptEncData([{ tag: 7 as unknown as string, plaintext: randomBytes(8) }], masterKey))).toEqual(bad('items[0].tag: required, a non-empty string'));
  });
});

describe('parsing a security-domain file', () => {
  const dirWithKey = (compact: string) => parts(compact).map((part, i) => (i === 1 ? 'AAAA' : part)).join('.');
  const rsaWithoutKey = () => encryptDirJwe(randomBytes(64), randomBytes(64), { alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512' });

  it.each([
    ['a value that is not text', () => 42, 'security domain file: must be JSON text'],
    ['null', () => 'null', 'security domain file: required, must be a JSON object'],
    ['an array', () => '[]', 'security domain file: required, must be a JSON object'],
    ['version 3', (t: string) => edit(t, (f) => (f.version = 3)), 'version: must be 2, got 3'],
    ['version "2"', (t: string) => edit(t, (f) => (f.version = '2')), 'version: must be 2, got "2"'],
    ['another kdf', (t: string) => edit(t, (f) => (f.EncData.kdf = 'hkdf')), 'EncData.kdf: must be "sp108_kdf", got "hkdf"'],
    ['no data', (t: string) => edit(t, (f) => delete f.EncData.data), 'EncData.data: required, a non-empty array of {compact_jwe, tag}'],
    ['empty data', (t: string) => edit(t, (f) => (f.EncData.data = [])), 'EncData.data: required, a non-empty array of {compact_jwe, tag}'],
    ['data as an object', (t: string) => edit(t, (f) => (f.EncData.data = {})), 'EncData.data: required, a non-empty array of {compact_jwe, tag}'],
    ['data as text', (t: string) => edit(t, (f) => (f.EncData.data = 'abc')), 'EncData.data: required, a non-empty array of {compact_jwe, tag}'],
    ['a data entry that is not an object', (t: string) => edit(t, (f) => (f.EncData.data[1] = 5)), 'EncData.data[1]: required, must be a JSON object'],
    ['an empty tag', (t: string) => edit(t, (f) => (f.EncData.data[0].tag = '')), 'EncData.data[0].tag: required, a non-empty string'],
    ['a missing tag', (t: string) => edit(t, (f) => delete f.EncData.data[1].tag), 'EncData.data[1].tag: required, a non-empty string'],
    ['a numeric tag', (t: string) => edit(t, (f) => (f.EncData.data[0].tag = 7)), 'EncData.data[0].tag: required, a non-empty string'],
    ['an item with an encrypted key', (t: string) => edit(t, (f) => (f.EncData.data[0].compact_jwe = dirWithKey(f.EncData.data[0].compact_jwe))), 'EncData.data[0].compact_jwe: the encrypted key part must be empty for alg "dir"'],
    ['no SharedKeys', (t: string) => edit(t, (f) => delete f.SharedKeys), 'SharedKeys: required, must be a JSON object'],
    ['a quorum of 1', (t: string) => edit(t, (f) => (f.SharedKeys.required = 1)), 'SharedKeys.required: must be an integer from 2 to 10, got 1'],
    ['a quorum of 2.5', (t: string) => edit(t, (f) => (f.SharedKeys.required = 2.5)), 'SharedKeys.required: must be an integer from 2 to 10, got 2.5'],
    ['a quorum of 11', (t: string) => edit(t, (f) => (f.SharedKeys.required = 11)), 'SharedKeys.required: must be an integer from 2 to 10, got 11'],
    ['shares as an object', (t: string) => edit(t, (f) => (f.SharedKeys.enc_shares = {})), 'SharedKeys.enc_shares: required, an array of from SharedKeys.required (2) to 10 {enc_key, x5t_256}'],
    ['fewer shares than the quorum', (t: string) => edit(t, (f) => (f.SharedKeys.enc_shares = f.SharedKeys.enc_shares.slice(0, 1))), 'SharedKeys.enc_shares: required, an array of from SharedKeys.required (2) to 10 {enc_key, x5t_256}'],
    ['11 shares', (t: string) => edit(t, (f) => (f.SharedKeys.enc_shares = Array(11).fill(f.SharedKeys.enc_shares[0]))), 'SharedKeys.enc_shares: required, an array of from SharedKeys.required (2) to 10 {enc_key, x5t_256}'],
    ['a share under alg dir', (t: string) => edit(t, (f) => (f.SharedKeys.enc_shares[0].enc_key = f.EncData.data[0].compact_jwe)), 'SharedKeys.enc_shares[0].enc_key: header "alg" must be one of RSA-OAEP-256, RSA-OAEP, RSA1_5, got "dir"'],
    ['an RSA share without an encrypted key', (t: string) => edit(t, (f) => (f.SharedKeys.enc_shares[1].enc_key = rsaWithoutKey())), 'SharedKeys.enc_shares[1].enc_key: the encrypted key part is empty'],
    ['a missing thumbprint', (t: string) => edit(t, (f) => delete f.SharedKeys.enc_shares[0].x5t_256), "SharedKeys.enc_shares[0].x5t_256: required, base64url without padding of a certificate's SHA-256 (43 characters)"],
    ['a thumbprint inside an array', (t: string) => edit(t, (f) => (f.SharedKeys.enc_shares[0].x5t_256 = [f.SharedKeys.enc_shares[0].x5t_256])), "SharedKeys.enc_shares[0].x5t_256: required, base64url without padding of a certificate's SHA-256 (43 characters)"],
  ])('refuses %s', (_label, text, message) => {
    expect(refusal(() => parseSecurityDomainFile(text(fileText) as string))).toEqual(bad(message));
  });

  it('fills in version 2 and kdf sp108_kdf when absent, and returns the fields it checked', () => {
    const json = JSON.parse(fileText);
    const bare = edit(fileText, (f) => {
      delete f.version;
      delete f.EncData.kdf;
    });
    expect(parseSecurityDomainFile(bare)).toEqual({
      EncData: { data: json.EncData.data, kdf: 'sp108_kdf' },
      SharedKeys: { enc_shares: json.SharedKeys.enc_shares, key_algorithm: 'shamir_share', required: 2 },
      version: 2,
    });
  });

  it('takes exactly as many shares as the quorum, and up to 10', () => {
    expect(parseSecurityDomainFile(edit(fileText, (f) => (f.SharedKeys.required = 3))).SharedKeys.required).toBe(3);
    const ten = edit(fileText, (f) => {
      f.SharedKeys.enc_shares = Array(10).fill(f.SharedKeys.enc_shares[0]);
      f.SharedKeys.required = 10;
    });
    expect(parseSecurityDomainFile(ten).SharedKeys.enc_shares).toHaveLength(10);
  });
});

describe('parsing a restore blob', () => {
  it.each([
    ['text that is not JSON', () => '{', 'restore blob: is not valid JSON'],
    ['null', () => 'null', 'restore blob: required, must be a JSON object'],
    ['no WrappedKey', (t: string) => edit(t, (b) => delete b.WrappedKey), 'WrappedKey: required, must be a JSON object'],
    ['no EncData', (t: string) => edit(t, (b) => delete b.EncData), 'EncData: required, must be a JSON object'],
  ])('refuses %s', (_label, text, message) => {
    expect(refusal(() => parseRestoreBlob(text(blobText)))).toEqual(bad(message));
  });
});

describe('an upload value', () => {
  const base64url = (text: string) => Buffer.from(text).toString('base64url');
  const neither = bad('value: is neither JSON text (starting with "{") nor base64url-encoded JSON');

  it.each([
    ['JSON after whitespace', () => `\n  ${blobText}`],
    ['base64url inside whitespace', () => `  ${base64url(blobText)}\n`],
    ['base64url with one "="', () => `${base64url(blobText)}=`],
    ['base64url with "=="', () => `${base64url(blobText)}==`],
    ['base64url of JSON that starts with whitespace', () => base64url(`\n ${blobText}`)],
  ])('is read as %s', (_label, value) => {
    expect(parseUploadValue(value())).toEqual({ kind: 'restore-blob', blob: parseRestoreBlob(blobText) });
  });

  it.each([
    ['empty', () => '', bad('value: required, the restore blob as JSON text (or base64url of it)')],
    ['only whitespace', () => ' \n\t ', bad('value: required, the restore blob as JSON text (or base64url of it)')],
    ['"=" inside base64url', () => `${base64url(blobText).slice(0, 8)}==${base64url(blobText).slice(8)}`, neither],
    ['base64url followed by other characters', () => `${base64url(blobText)}!!`, neither],
    ['base64url after other characters', () => `!!${base64url(blobText)}`, neither],
    ['JSON that does not parse', () => '{"WrappedKey": ', bad('value: is not valid JSON')],
  ])('is refused when %s', (_label, value, expected) => {
    expect(refusal(() => parseUploadValue(value()))).toEqual(expected);
  });
});

describe('making a restore blob offline', () => {
  it('refuses a transfer certificate that is not one', () => {
    const file = parseSecurityDomainFile(fileText);
    expect(refusal(() => buildRestoreBlob({ file, privateKeys: keys.map(holder), transferCertificateDer: Buffer.from('not a certificate') }))).toEqual(
      bad('transferCertificate: is not a DER X.509 certificate'),
    );
  });

  it('uses the first keys up to the quorum and does not try the others', async () => {
    const file = parseSecurityDomainFile(fileText);
    // The third key would fail: its certificate matches share 2, the private key does not.
    const wrongThird = { certificateDer: der(keys[2] as CeremonyPair), privateKey: createPrivateKey((keys[0] as CeremonyPair).privateKeyPem) };
    const text = buildRestoreBlob({ file, privateKeys: [holder(keys[0] as CeremonyPair), holder(keys[1] as CeremonyPair), wrongThird], transferCertificateDer: der(transfer) });
    const opened = await openRestoreBlob(parseRestoreBlob(text), transferDecrypt);
    expect(opened.map((item) => [item.tag, item.plaintext.equals((items.find((i) => i.tag === item.tag) as DomainItem).plaintext)])).toEqual([
      ['hsm_backup', true],
      ['base_enclave_backup', true],
    ]);
  });

  it('refuses a key that does not open its share as BadParameter, keeping the reason as the cause', () => {
    const file = parseSecurityDomainFile(fileText);
    const wrongFirst = { certificateDer: der(keys[0] as CeremonyPair), privateKey: createPrivateKey((keys[1] as CeremonyPair).privateKeyPem) };
    let error: unknown;
    try {
      buildRestoreBlob({ file, privateKeys: [wrongFirst, holder(keys[1] as CeremonyPair)], transferCertificateDer: der(transfer) });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(HsmError);
    expect((error as HsmError).code).toBe('BadParameter');
    const cause = (error as HsmError).cause as HsmError;
    expect(cause).toBeInstanceOf(HsmError);
    expect(cause.message).toBe('SharedKeys.enc_shares[0].enc_key: the private key could not decrypt the content key (not the key this was encrypted to?)');
  });

  it('names the share whose content was changed', () => {
    const file = parseSecurityDomainFile(fileText);
    const share = file.SharedKeys.enc_shares[1] as { enc_key: string };
    const split = parts(share.enc_key);
    split[3] = `${(split[3] as string).startsWith('A') ? 'B' : 'A'}${(split[3] as string).slice(1)}`;
    share.enc_key = split.join('.');
    expect(refusal(() => buildRestoreBlob({ file, privateKeys: [holder(keys[0] as CeremonyPair), holder(keys[1] as CeremonyPair)], transferCertificateDer: der(transfer) }))).toEqual(
      bad('SharedKeys.enc_shares[1].enc_key: the authentication tag does not match: wrong key, or the header, IV, ciphertext or tag was changed'),
    );
  });

  it('writes every character outside printable ASCII as \\uXXXX, as json.dumps does', () => {
    const tag = 'caf\u00e9 \u2615 \u{1f600}\u007f';
    const file = parseSecurityDomainFile(buildSecurityDomainFile({ masterKey, items: [{ tag, plaintext: randomBytes(16) }], recipients, required: 2 }));
    const text = buildRestoreBlob({ file, privateKeys: keys.map(holder), transferCertificateDer: der(transfer) });
    expect(text).toMatch(/^[\x20-\x7e]*$/);
    expect(text).toContain('"tag": "caf\\u00e9 \\u2615 \\ud83d\\ude00\\u007f"}]');
    expect(parseRestoreBlob(text).EncData.data[0]?.tag).toBe(tag);
  });
});

describe('opening a restore blob on the server side', () => {
  it('passes on an HsmError of the transfer-key decryption as it is', async () => {
    const denied = new HsmError('Forbidden', 'the transfer key is not usable');
    await expect(openRestoreBlob(parseRestoreBlob(blobText), async () => Promise.reject(denied))).rejects.toBe(denied);
  });

  it('reports any other failure of it as BadParameter, keeping the failure as the cause', async () => {
    const failure = new Error('decryption failed');
    const error = (await openRestoreBlob(parseRestoreBlob(blobText), async () => Promise.reject(failure)).catch((caught: unknown) => caught)) as HsmError;
    expect(error).toBeInstanceOf(HsmError);
    expect({ code: error.code, message: error.message }).toEqual(bad('WrappedKey.enc_key: the transfer key could not decrypt the content key (encrypted to another transfer key?)'));
    expect(error.cause).toBe(failure);
  });

  it.each([0, 15, 65])('refuses a master key of %i bytes', async (length) => {
    expect(await refusalOf(openRestoreBlob(blobWith(randomBytes(length), randomBytes(32)), transferDecrypt))).toEqual(
      bad(`WrappedKey.enc_key: the master key must be 16 to 64 bytes, got ${length}`),
    );
  });

  it.each([16, 64])('opens the data under a master key of %i bytes', async (length) => {
    const opened = await openRestoreBlob(blobWith(randomBytes(length)), transferDecrypt);
    expect(opened.map((item) => item.tag)).toEqual(['hsm_backup', 'base_enclave_backup']);
    opened.forEach((item, i) => expect(item.plaintext.equals((items[i] as DomainItem).plaintext)).toBe(true));
  });
});

describe('key material', () => {
  it('left unzeroed in the buffer pool is found there (the check below relies on this)', async () => {
    const secret = randomBytes(32);
    expect(await leftInPool([secret], () => Buffer.concat([secret]))).toEqual([0]);
    expect(await leftInPool([secret], () => Buffer.concat([secret]).fill(0))).toEqual([]);
  });

  it('of items opened before a failing one is zeroed when data decryption fails', async () => {
    const key = randomBytes(32);
    const data = encryptEncData(items, key);
    const broken = data.map((entry, i) => (i === 1 ? { ...entry, tag: 'another_tag' } : entry));
    expect(refusal(() => decryptEncData(broken, key)).message).toMatch(/^EncData.data\[1\].compact_jwe: the authentication tag does not match/);
    expect(await leftInPool([(items[0] as DomainItem).plaintext], () => decryptEncData(broken, key))).toEqual([]);
  });

  it('opened while making a restore blob (shares, the items) is zeroed', async () => {
    const file = parseSecurityDomainFile(fileText);
    const shares = sharesOf(file, keys.slice(0, 2));
    const secrets = [...shares, ...items.map((item) => item.plaintext)];
    const privateKeys = [holder(keys[0] as CeremonyPair), holder(keys[1] as CeremonyPair)];
    expect(await leftInPool(secrets, () => buildRestoreBlob({ file, privateKeys, transferCertificateDer: der(transfer) }))).toEqual([]);
  });

  it('of an RSA1_5 share (its content key) is zeroed after use', async () => {
    const file = parseSecurityDomainFile(fileText);
    const [share] = sharesOf(file, keys.slice(0, 1));
    const cek = randomBytes(64);
    const header = Buffer.from('{"alg":"RSA1_5","enc":"A256CBC-HS512"}').toString('base64url');
    const iv = randomBytes(16);
    const { ciphertext, tag } = a256CbcHs512Encrypt(cek, iv, Buffer.from(header, 'ascii'), share as Buffer);
    const encryptedKey = publicEncrypt({ key: new X509Certificate((keys[0] as CeremonyPair).certificatePem).publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
    (file.SharedKeys.enc_shares[0] as { enc_key: string }).enc_key = [header, encryptedKey, iv, ciphertext, tag].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    const privateKeys = [holder(keys[0] as CeremonyPair), holder(keys[1] as CeremonyPair)];
    // It still opens: the share really went through RSA1_5.
    const text = buildRestoreBlob({ file, privateKeys, transferCertificateDer: der(transfer) });
    expect((await openRestoreBlob(parseRestoreBlob(text), transferDecrypt)).map((item) => item.tag)).toEqual(['hsm_backup', 'base_enclave_backup']);
    expect(await leftInPool([cek], () => buildRestoreBlob({ file, privateKeys, transferCertificateDer: der(transfer) }))).toEqual([]);
  });

  it('of a restore blob (its master key) is zeroed once the data is open, and when refused', async () => {
    const accepted = randomBytes(32);
    const blob = blobWith(accepted);
    expect(await leftInPool([accepted], () => openRestoreBlob(blob, transferDecrypt))).toEqual([]);
    const tooShort = randomBytes(15);
    const refused = blobWith(tooShort, randomBytes(32));
    expect(await leftInPool([tooShort], () => openRestoreBlob(refused, transferDecrypt))).toEqual([]);
  });
});
