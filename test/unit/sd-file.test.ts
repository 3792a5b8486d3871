// The security-domain file and the restore blob (managed-hsm-api.md section 11): built for three
// ceremony keys with quorum 2, turned into a restore blob offline with each pair of keys, and
// opened again as the server does; shapes and key order checked against the section.
import { constants, createPrivateKey, privateDecrypt, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import 'reflect-metadata';
import { X509CertificateGenerator } from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { ceremonyKeyPair, parseDomainCertificate } from '../../src/hsm/security-domain/certificates.js';
import { type ParsedJwe, parseJwe } from '../../src/hsm/security-domain/jwe.js';
import {
  type DomainItem,
  buildRestoreBlob,
  buildSecurityDomainFile,
  decryptEncData,
  encryptEncData,
  openRestoreBlob,
  parseRestoreBlob,
  parseSecurityDomainFile,
  parseUploadValue,
} from '../../src/hsm/security-domain/sd-file.js';
import type { CeremonyPair } from '../helpers/test-domain.js';

let keys: CeremonyPair[];
let transfer: CeremonyPair;
let stranger: CeremonyPair;
const masterKey = randomBytes(32);
const items = (): DomainItem[] => [
  { tag: 'hsm_backup', plaintext: Buffer.from('the keys and roles of the HSM') },
  { tag: 'base_enclave_backup', plaintext: randomBytes(300) },
];
const original = items();

const der = (pair: CeremonyPair) => Buffer.from(new X509Certificate(pair.certificatePem).raw);
const holder = (pair: CeremonyPair) => ({ certificateDer: der(pair), privateKey: createPrivateKey(pair.privateKeyPem) });
const headerOf = (compact: string) => Buffer.from(compact.split('.')[0] as string, 'base64url').toString();

/** The server's side, done here with node:crypto and the transfer private key. */
const transferDecrypt = async (jwe: ParsedJwe) =>
  privateDecrypt({ key: createPrivateKey(transfer.privateKeyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, jwe.encryptedKey);

let fileText: string;

beforeAll(async () => {
  [keys, transfer, stranger] = await Promise.all([Promise.all([1, 2, 3].map((i) => ceremonyKeyPair(`key ${i}`))), ceremonyKeyPair('transfer'), ceremonyKeyPair('stranger')]);
  const recipients = keys.map((pair, i) => parseDomainCertificate(pair.jwk, i));
  fileText = buildSecurityDomainFile({ masterKey, items: original, recipients, required: 2 });
});

describe('security-domain file', () => {
  it('is the bare JSON object of section 11, fields in order', () => {
    const file = JSON.parse(fileText);
    expect(Object.keys(file)).toEqual(['EncData', 'SharedKeys', 'version']);
    expect(Object.keys(file.EncData)).toEqual(['data', 'kdf']);
    expect(file.EncData.kdf).toBe('sp108_kdf');
    expect(file.EncData.data.map((d: object) => Object.keys(d))).toEqual([['compact_jwe', 'tag'], ['compact_jwe', 'tag']]);
    expect(file.EncData.data.map((d: { tag: string }) => d.tag)).toEqual(['hsm_backup', 'base_enclave_backup']);
    for (const { compact_jwe, tag } of file.EncData.data) {
      expect(headerOf(compact_jwe)).toBe(`{"alg":"dir","enc":"A256CBC-HS512","kid":"${tag}"}`);
      expect(compact_jwe.split('.')[1]).toBe('');
    }
    expect(Object.keys(file.SharedKeys)).toEqual(['enc_shares', 'key_algorithm', 'required']);
    expect(file.SharedKeys.key_algorithm).toBe('shamir_share');
    expect(file.SharedKeys.required).toBe(2);
    expect(file.version).toBe(2);
    expect(file.SharedKeys.enc_shares).toHaveLength(3);
    file.SharedKeys.enc_shares.forEach((share: { enc_key: string; x5t_256: string }, i: number) => {
      expect(Object.keys(share)).toEqual(['enc_key', 'x5t_256']);
      expect(share.x5t_256).toBe(keys[i]?.jwk['x5t#S256']);
      expect(headerOf(share.enc_key)).toBe('{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512","kid":"not used"}');
      // Share i: one uint16 LE word (x << 9) | y per master-key byte, x = i + 1.
      const parsed = parseJwe(share.enc_key);
      const cek = privateDecrypt({ key: createPrivateKey((keys[i] as CeremonyPair).privateKeyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, parsed.encryptedKey);
      expect(parsed.ciphertext.length).toBe(80); // 64 bytes of words, padded
      expect(cek).toHaveLength(64);
    });
    expect(parseSecurityDomainFile(fileText).SharedKeys.required).toBe(2);
  });

  it('decrypts its data with the master key, and only with it', () => {
    const file = parseSecurityDomainFile(fileText);
    const opened = decryptEncData(file.EncData.data, masterKey);
    expect(opened.map((i) => i.tag)).toEqual(original.map((i) => i.tag));
    opened.forEach((item, i) => expect(item.plaintext.equals((original[i] as DomainItem).plaintext)).toBe(true));
    expect(() => decryptEncData(file.EncData.data, randomBytes(32))).toThrow(/EncData.data\[0\].compact_jwe: the authentication tag does not match/);
  });

  it('is refused when malformed, with the field named', () => {
    const file = JSON.parse(fileText);
    const edit = (change: (f: typeof file) => void) => {
      const copy = structuredClone(file);
      change(copy);
      return JSON.stringify(copy);
    };
    expect(() => parseSecurityDomainFile('{"value": "x"')).toThrow(/security domain file: is not valid JSON/);
    expect(() => parseSecurityDomainFile(edit((f) => delete f.SharedKeys.key_algorithm))).toThrow(/SharedKeys.key_algorithm: required, must be "shamir_share"/);
    expect(() => parseSecurityDomainFile(edit((f) => (f.SharedKeys.required = '2')))).toThrow(/SharedKeys.required: must be an integer from 2 to 10/);
    expect(() => parseSecurityDomainFile(edit((f) => (f.SharedKeys.required = 4)))).toThrow(/SharedKeys.enc_shares: required, an array of from SharedKeys.required \(4\)/);
    expect(() => parseSecurityDomainFile(edit((f) => (f.EncData.data[1].compact_jwe = 'a.b.c')))).toThrow(/EncData.data\[1\].compact_jwe: a compact JWE has 5 parts/);
    expect(() => parseSecurityDomainFile(edit((f) => (f.EncData.data[1].tag = 'hsm_backup')))).toThrow(/EncData.data\[1\].tag: "hsm_backup" appears twice/);
    expect(() => parseSecurityDomainFile(edit((f) => (f.EncData.kdf = 'hkdf')))).toThrow(/EncData.kdf: must be "sp108_kdf"/);
    expect(() => parseSecurityDomainFile(edit((f) => (f.SharedKeys.enc_shares[2].x5t_256 += '=')))).toThrow(/SharedKeys.enc_shares\[2\].x5t_256: required, base64url without padding/);
    expect(() => parseSecurityDomainFile(edit((f) => (f.SharedKeys.enc_shares[0].enc_key = f.EncData.data[0].compact_jwe)))).toThrow(/SharedKeys.enc_shares\[0\].enc_key: header "alg" must be one of RSA-OAEP-256/);
    expect(() => parseSecurityDomainFile(edit((f) => (f.EncData.data[0].compact_jwe = f.SharedKeys.enc_shares[0].enc_key)))).toThrow(/EncData.data\[0\].compact_jwe: header "alg" must be "dir"/);
    expect(() => parseSecurityDomainFile(edit((f) => (f.version = 3)))).toThrow(/version: must be 2/);
    expect(() => parseSecurityDomainFile(edit((f) => delete f.EncData))).toThrow(/EncData: required, must be a JSON object/);
  });
});

describe('restore blob', () => {
  it.each([
    [0, 1],
    [0, 2],
    [1, 2],
    [2, 0],
  ])('made offline with keys %i and %i opens on the server side to the original items', async (a, b) => {
    const file = parseSecurityDomainFile(fileText);
    const text = buildRestoreBlob({ file, privateKeys: [holder(keys[a] as CeremonyPair), holder(keys[b] as CeremonyPair)], transferCertificateDer: der(transfer) });
    const opened = await openRestoreBlob(parseRestoreBlob(text), transferDecrypt);
    expect(opened.map((i) => i.tag)).toEqual(['hsm_backup', 'base_enclave_backup']);
    opened.forEach((item, i) => expect(item.plaintext.equals((original[i] as DomainItem).plaintext)).toBe(true));
  });

  it('has az 2.45 shape: json.dumps separators, key order, fresh master key, no trailing newline', async () => {
    const file = parseSecurityDomainFile(fileText);
    const text = buildRestoreBlob({ file, privateKeys: keys.map(holder), transferCertificateDer: der(transfer) });
    const blob = JSON.parse(text);
    const [first, second] = blob.EncData.data;
    const wrapped = blob.WrappedKey;
    expect(text).toBe(
      `{"EncData": {"data": [{"compact_jwe": "${first.compact_jwe}", "tag": "hsm_backup"}, {"compact_jwe": "${second.compact_jwe}", "tag": "base_enclave_backup"}], "kdf": "sp108_kdf"}, ` +
        `"WrappedKey": {"enc_key": "${wrapped.enc_key}", "x5t_256": "${transfer.jwk['x5t#S256']}"}}`,
    );
    expect(headerOf(first.compact_jwe)).toBe('{"alg":"dir","enc":"A256CBC-HS512","kid":"hsm_backup"}');
    expect(headerOf(wrapped.enc_key)).toBe('{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512","kid":"not used"}');
    const jwe = parseJwe(wrapped.enc_key);
    expect(jwe.encryptedKey).toHaveLength(256);
    expect(jwe.ciphertext).toHaveLength(48); // a raw 32-byte master key, padded
    // Re-encrypted, not copied: the data no longer opens with the file's master key.
    expect(first.compact_jwe).not.toBe(file.EncData.data[0]?.compact_jwe);
    expect(() => decryptEncData(blob.EncData.data, masterKey)).toThrow(/authentication tag does not match/);
  });

  it('refuses fewer keys than required, and skips keys whose certificate is not in the file', () => {
    const file = parseSecurityDomainFile(fileText);
    const transferCertificateDer = der(transfer);
    expect(() => buildRestoreBlob({ file, privateKeys: [holder(keys[0] as CeremonyPair)], transferCertificateDer })).toThrow(/Insufficient shares available: this security domain file needs 2 of its keys, 1 given/);
    expect(() => buildRestoreBlob({ file, privateKeys: [holder(stranger), holder(keys[1] as CeremonyPair)], transferCertificateDer })).toThrow(/Insufficient shares available: .* match only 1 of its shares/);
    const text = buildRestoreBlob({ file, privateKeys: [holder(stranger), holder(keys[1] as CeremonyPair), holder(keys[2] as CeremonyPair)], transferCertificateDer });
    expect(parseRestoreBlob(text).EncData.data).toHaveLength(2);
  });

  it('refuses a key that does not belong to its certificate', () => {
    const file = parseSecurityDomainFile(fileText);
    const wrongKey = { certificateDer: der(keys[0] as CeremonyPair), privateKey: createPrivateKey(stranger.privateKeyPem) };
    expect(() => buildRestoreBlob({ file, privateKeys: [wrongKey, holder(keys[1] as CeremonyPair)], transferCertificateDer: der(transfer) })).toThrow(
      /privateKeys\[0\]: its certificate matches SharedKeys.enc_shares\[0\], but the key cannot decrypt that share/,
    );
  });

  it('fails cleanly on a tampered item, a wrong master key and a wrong transfer key, zeroing what it decrypted', async () => {
    const file = parseSecurityDomainFile(fileText);
    const text = buildRestoreBlob({ file, privateKeys: [holder(keys[0] as CeremonyPair), holder(keys[1] as CeremonyPair)], transferCertificateDer: der(transfer) });
    const tampered = parseRestoreBlob(text);
    const parts = (tampered.EncData.data[1] as { compact_jwe: string }).compact_jwe.split('.');
    parts[3] = `${(parts[3] as string).startsWith('A') ? 'B' : 'A'}${(parts[3] as string).slice(1)}`;
    (tampered.EncData.data[1] as { compact_jwe: string }).compact_jwe = parts.join('.');
    await expect(openRestoreBlob(tampered, transferDecrypt)).rejects.toThrow(/EncData.data\[1\].compact_jwe: the authentication tag does not match/);

    // A WrappedKey from another blob: the master key opens, but it is not this data's.
    const other = parseRestoreBlob(buildRestoreBlob({ file, privateKeys: [holder(keys[1] as CeremonyPair), holder(keys[2] as CeremonyPair)], transferCertificateDer: der(transfer) }));
    await expect(openRestoreBlob({ ...parseRestoreBlob(text), WrappedKey: other.WrappedKey }, transferDecrypt)).rejects.toThrow(/EncData.data\[0\].compact_jwe: the authentication tag does not match/);

    const strangerDecrypt = async (jwe: ParsedJwe) =>
      privateDecrypt({ key: createPrivateKey(stranger.privateKeyPem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, jwe.encryptedKey);
    await expect(openRestoreBlob(parseRestoreBlob(text), strangerDecrypt)).rejects.toThrow(/WrappedKey.enc_key: the transfer key could not decrypt the content key/);

    let handedOut: Buffer | undefined;
    await openRestoreBlob(parseRestoreBlob(text), async (jwe) => (handedOut = await transferDecrypt(jwe)));
    expect(handedOut?.equals(Buffer.alloc(64))).toBe(true); // the CEK was zeroed after use
  });

  it('is told apart from a security-domain file in an upload value, as JSON or base64url', () => {
    const file = parseSecurityDomainFile(fileText);
    const text = buildRestoreBlob({ file, privateKeys: [holder(keys[0] as CeremonyPair), holder(keys[1] as CeremonyPair)], transferCertificateDer: der(transfer) });
    expect(parseUploadValue(text).kind).toBe('restore-blob');
    expect(parseUploadValue(Buffer.from(text).toString('base64url')).kind).toBe('restore-blob');
    expect(parseUploadValue(fileText).kind).toBe('security-domain-file');
    expect(parseUploadValue(Buffer.from(fileText).toString('base64url')).kind).toBe('security-domain-file');
    expect(() => parseUploadValue(42)).toThrow(/value: required, the restore blob as JSON text/);
    expect(() => parseUploadValue('not json at all!')).toThrow(/value: is neither JSON text .* nor base64url-encoded JSON/);
    expect(() => parseUploadValue(Buffer.from('"a string"').toString('base64url'))).toThrow(/value: is neither JSON text/);
    expect(() => parseUploadValue('{"EncData": {}}')).toThrow(/value: is neither a restore blob \(no WrappedKey\) nor a security domain file/);
    expect(() => parseUploadValue(JSON.stringify({ ...JSON.parse(text), WrappedKey: { enc_key: 'x', x5t_256: 'y' } }))).toThrow(/WrappedKey.enc_key: a compact JWE has 5 parts/);
  });
});

describe('EncData items', () => {
  it('use a per-tag CEK: swapping the tags of two items makes both fail', () => {
    const key = randomBytes(32);
    const data = encryptEncData(items(), key);
    const swapped = [
      { compact_jwe: data[0]?.compact_jwe as string, tag: data[1]?.tag as string },
      { compact_jwe: data[1]?.compact_jwe as string, tag: data[0]?.tag as string },
    ];
    expect(() => decryptEncData(swapped, key)).toThrow(/EncData.data\[0\].compact_jwe: the authentication tag does not match/);
  });
});

describe('ceremony key pair', () => {
  it('is an RSA-2048 certificate valid from a day ago for two years, with the download JWK', async () => {
    const pair = keys[0] as CeremonyPair;
    const certificate = new X509Certificate(pair.certificatePem);
    expect(certificate.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(certificate.checkPrivateKey(createPrivateKey(pair.privateKeyPem))).toBe(true);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    const from = Date.parse(certificate.validFrom);
    const to = Date.parse(certificate.validTo);
    expect(Date.now() - from).toBeGreaterThan(23 * 3600_000);
    expect(Math.round((to - from) / 86_400_000)).toBe(731);
    expect(certificate.subject).toBe('CN=key 1');
    expect(Object.keys(pair.jwk)).toEqual(['kty', 'key_ops', 'n', 'e', 'x5c', 'x5t#S256', 'alg', 'kid']);
    expect(pair.jwk).toMatchObject({ kty: 'RSA', key_ops: ['verify', 'encrypt', 'wrapKey'], alg: 'RSA-OAEP-256', kid: 'key 1', e: 'AQAB' });
    expect(Buffer.from(pair.jwk.x5c[0] as string, 'base64').equals(Buffer.from(certificate.raw))).toBe(true);
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });
});

describe('download certificates', () => {
  it('give the DER, the x5t#S256 and the key of an az-style JWK (no kid)', () => {
    const { kid: _kid, ...fromAz } = (keys[1] as CeremonyPair).jwk;
    const parsed = parseDomainCertificate(fromAz, 1);
    expect(parsed.der.equals(der(keys[1] as CeremonyPair))).toBe(true);
    expect(parsed.x5t256).toBe((keys[1] as CeremonyPair).jwk['x5t#S256']);
    expect(parsed.publicKey.export({ format: 'jwk' }).n).toBe((keys[1] as CeremonyPair).jwk.n);
  });

  it('are refused with the field named when not an RSA certificate of 2048 bits or more, or inconsistent', async () => {
    const jwk = (keys[0] as CeremonyPair).jwk;
    expect(() => parseDomainCertificate(null, 0)).toThrow(/certificates\[0\]: must be a JSON web key object/);
    expect(() => parseDomainCertificate({ ...jwk, kty: 'EC' }, 1)).toThrow(/certificates\[1\].kty: required, must be "RSA"/);
    expect(() => parseDomainCertificate({ ...jwk, x5c: undefined }, 1)).toThrow(/certificates\[1\].x5c: required/);
    expect(() => parseDomainCertificate({ ...jwk, x5c: [Buffer.from((jwk.x5c[0] as string), 'base64').toString('base64url')] }, 2)).toThrow(/certificates\[2\].x5c\[0\]: must be a standard base64/);
    expect(() => parseDomainCertificate({ ...jwk, x5c: ['AAAA'] }, 2)).toThrow(/certificates\[2\].x5c\[0\]: is not a DER X.509 certificate/);
    expect(() => parseDomainCertificate({ ...jwk, 'x5t#S256': (keys[1] as CeremonyPair).jwk['x5t#S256'] }, 0)).toThrow(/certificates\[0\].x5t#S256: does not match/);
    expect(() => parseDomainCertificate({ ...jwk, n: (keys[1] as CeremonyPair).jwk.n }, 0)).toThrow(/certificates\[0\].n: does not match the key/);
    expect(() => parseDomainCertificate({ ...jwk, e: 'Aw' }, 0)).toThrow(/certificates\[0\].e: does not match the key/);
    expect(() => parseDomainCertificate({ ...jwk, key_ops: 'encrypt' }, 0)).toThrow(/certificates\[0\].key_ops: must be an array of strings/);
    expect(() => parseDomainCertificate({ ...jwk, kid: 7 }, 0)).toThrow(/certificates\[0\].kid: must be a string when present/);
    // Certificates for an RSA-1024 key and for an EC key (the x509 provider is set by certificates.ts).
    const subtle = webcrypto.subtle;
    for (const [algorithm, rule] of [
      [{ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]) }, /must have at least 2048 bits, got 1024/],
      [{ name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }, /must be RSA \(rsaEncryption\), got ec/],
    ] as const) {
      const pair = (await subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
      const certificate = await X509CertificateGenerator.createSelfSigned({ name: 'CN=weak', keys: pair, signingAlgorithm: { name: algorithm.name, hash: 'SHA-256' } as EcdsaParams });
      expect(() => parseDomainCertificate({ kty: 'RSA', x5c: [Buffer.from(certificate.rawData).toString('base64')] }, 3)).toThrow(new RegExp(`certificates\\[3\\].x5c\\[0\\]: .*${rule.source}`));
    }
  });
});
