// The two security-domain documents of managed-hsm-api.md section 11: the file a download returns
// (data encrypted under the master key, the master key Shamir-split and each share encrypted to
// one certificate) and the restore blob an upload takes (the same data under a new master key,
// that key encrypted to the HSM's transfer key). Field names are Azure's, so they stay as sent.
import { type KeyObject, randomBytes } from 'node:crypto';
import { HsmError, badParameter } from '../errors.js';
import { rsaCertificateKey, x5tS256 } from './certificates.js';
import { CONTENT_ENCRYPTION, type ParsedJwe, decryptJwe, decryptRsaCek, encryptDirJwe, encryptRsaJwe, parseJwe } from './jwe.js';
import { combineShares, splitSecret } from './shamir.js';
import { deriveKey } from './sp800-108.js';

export interface EncDataItem {
  compact_jwe: string;
  tag: string;
}

export interface EncData {
  data: EncDataItem[];
  kdf: 'sp108_kdf';
}

/** A JWE and the base64url SHA-256 thumbprint of the certificate whose key can open it. */
export interface WrappedSecret {
  enc_key: string;
  x5t_256: string;
}

export interface SecurityDomainFile {
  EncData: EncData;
  SharedKeys: { enc_shares: WrappedSecret[]; key_algorithm: 'shamir_share'; required: number };
  version: 2;
}

export interface RestoreBlob {
  EncData: EncData;
  WrappedKey: WrappedSecret;
}

/** One piece of HSM state: its plaintext is the caller's to zero. */
export interface DomainItem {
  tag: string;
  plaintext: Buffer;
}

export type UploadValue = { kind: 'restore-blob'; blob: RestoreBlob } | { kind: 'security-domain-file'; file: SecurityDomainFile };

const MIN_QUORUM = 2;
const MAX_QUORUM = 10;
const RSA_ALGORITHMS = ['RSA-OAEP-256', 'RSA-OAEP', 'RSA1_5'];
const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;
const EMPTY = Buffer.alloc(0);

function zeroAll(items: readonly DomainItem[]): void {
  for (const item of items) item.plaintext.fill(0);
}

/** The per-tag content key: SP 800-108 (HMAC-SHA512) of the master key, label = tag, 512 bits. */
function itemKey(masterKey: Buffer, tag: string): Buffer {
  return deriveKey(masterKey, tag, EMPTY, 512);
}

function checkTags(items: readonly { tag?: unknown }[], field: string): void {
  const seen = new Set<string>();
  items.forEach(({ tag }, index) => {
    if (typeof tag !== 'string' || tag === '') throw badParameter(`${field}[${index}].tag: required, a non-empty string`);
    if (seen.has(tag)) throw badParameter(`${field}[${index}].tag: "${tag}" appears twice; tags must be unique`);
    seen.add(tag);
  });
}

export function encryptEncData(items: readonly DomainItem[], masterKey: Buffer): EncDataItem[] {
  checkTags(items, 'items');
  return items.map(({ tag, plaintext }) => {
    const cek = itemKey(masterKey, tag);
    try {
      return { compact_jwe: encryptDirJwe(cek, plaintext, { alg: 'dir', enc: CONTENT_ENCRYPTION, kid: tag }), tag };
    } finally {
      cek.fill(0);
    }
  });
}

export function decryptEncData(data: readonly EncDataItem[], masterKey: Buffer): DomainItem[] {
  const items: DomainItem[] = [];
  try {
    data.forEach(({ compact_jwe, tag }, index) => {
      const parsed = parseJwe(compact_jwe, `EncData.data[${index}].compact_jwe`);
      const cek = itemKey(masterKey, tag);
      try {
        items.push({ tag, plaintext: decryptJwe(parsed, cek) });
      } finally {
        cek.fill(0);
      }
    });
    return items;
  } catch (error) {
    zeroAll(items);
    throw error;
  }
}

function checkQuorum(required: unknown, field: string): number {
  if (typeof required !== 'number' || !Number.isInteger(required) || required < MIN_QUORUM || required > MAX_QUORUM) {
    throw badParameter(`${field}: must be an integer from ${MIN_QUORUM} to ${MAX_QUORUM}, got ${JSON.stringify(required)}`);
  }
  return required;
}

export function buildSecurityDomainFile(options: {
  masterKey: Buffer;
  items: readonly DomainItem[];
  recipients: readonly { x5t256: string; publicKey: KeyObject }[];
  required: number;
}): string {
  const { masterKey, items, recipients } = options;
  const required = checkQuorum(options.required, 'required');
  if (masterKey.length === 0) throw badParameter('masterKey: must not be empty');
  if (items.length === 0) throw badParameter('items: at least one is needed');
  if (recipients.length < required || recipients.length > MAX_QUORUM) {
    throw badParameter(`recipients: must be from required (${required}) to ${MAX_QUORUM} certificates, got ${recipients.length}`);
  }
  const data = encryptEncData(items, masterKey);
  const shares = splitSecret(masterKey, recipients.length, required);
  try {
    const enc_shares = recipients.map(({ x5t256, publicKey }, index) => ({ enc_key: encryptRsaJwe(publicKey, shares[index] as Buffer), x5t_256: x5t256 }));
    const file: SecurityDomainFile = {
      EncData: { data, kdf: 'sp108_kdf' },
      SharedKeys: { enc_shares, key_algorithm: 'shamir_share', required },
      version: 2,
    };
    return JSON.stringify(file);
  } finally {
    for (const share of shares) share.fill(0);
  }
}

// ---- parsing ---------------------------------------------------------------------------------

function asObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badParameter(`${field}: required, must be a JSON object`);
  return value as Record<string, unknown>;
}

function parseJsonText(text: unknown, what: string): unknown {
  if (typeof text !== 'string') throw badParameter(`${what}: must be JSON text`);
  try {
    return JSON.parse(text);
  } catch {
    throw badParameter(`${what}: is not valid JSON`);
  }
}

/** A JWE under an RSA key: the shares and the restore blob's wrapped key. */
function parseWrapped(value: unknown, field: string): WrappedSecret {
  const record = asObject(value, field);
  const jwe = parseJwe(record.enc_key, `${field}.enc_key`);
  if (!RSA_ALGORITHMS.includes(jwe.header.alg)) throw badParameter(`${field}.enc_key: header "alg" must be one of ${RSA_ALGORITHMS.join(', ')}, got ${JSON.stringify(jwe.header.alg)}`);
  if (jwe.encryptedKey.length === 0) throw badParameter(`${field}.enc_key: the encrypted key part is empty`);
  if (typeof record.x5t_256 !== 'string' || !THUMBPRINT.test(record.x5t_256)) {
    throw badParameter(`${field}.x5t_256: required, base64url without padding of a certificate's SHA-256 (43 characters)`);
  }
  return { enc_key: record.enc_key as string, x5t_256: record.x5t_256 };
}

function parseEncData(value: unknown): EncData {
  const record = asObject(value, 'EncData');
  if (record.kdf !== undefined && record.kdf !== 'sp108_kdf') throw badParameter(`EncData.kdf: must be "sp108_kdf", got ${JSON.stringify(record.kdf)}`);
  if (!Array.isArray(record.data) || record.data.length === 0) throw badParameter('EncData.data: required, a non-empty array of {compact_jwe, tag}');
  const data = record.data.map((entry, index) => asObject(entry, `EncData.data[${index}]`));
  checkTags(data, 'EncData.data');
  return {
    data: data.map((entry, index) => {
      const field = `EncData.data[${index}].compact_jwe`;
      const jwe = parseJwe(entry.compact_jwe, field);
      if (jwe.header.alg !== 'dir') throw badParameter(`${field}: header "alg" must be "dir", got ${JSON.stringify(jwe.header.alg)}`);
      if (jwe.encryptedKey.length !== 0) throw badParameter(`${field}: the encrypted key part must be empty for alg "dir"`);
      return { compact_jwe: entry.compact_jwe as string, tag: entry.tag as string };
    }),
    kdf: 'sp108_kdf',
  };
}

function securityDomainFileOf(value: unknown): SecurityDomainFile {
  const record = asObject(value, 'security domain file');
  if (record.version !== undefined && record.version !== 2) throw badParameter(`version: must be 2, got ${JSON.stringify(record.version)}`);
  const EncData = parseEncData(record.EncData);
  const shared = asObject(record.SharedKeys, 'SharedKeys');
  if (shared.key_algorithm !== 'shamir_share') throw badParameter(`SharedKeys.key_algorithm: required, must be "shamir_share", got ${JSON.stringify(shared.key_algorithm)}`);
  const required = checkQuorum(shared.required, 'SharedKeys.required');
  if (!Array.isArray(shared.enc_shares) || shared.enc_shares.length < required || shared.enc_shares.length > MAX_QUORUM) {
    throw badParameter(`SharedKeys.enc_shares: required, an array of from SharedKeys.required (${required}) to ${MAX_QUORUM} {enc_key, x5t_256}`);
  }
  const enc_shares = shared.enc_shares.map((entry, index) => parseWrapped(entry, `SharedKeys.enc_shares[${index}]`));
  return { EncData, SharedKeys: { enc_shares, key_algorithm: 'shamir_share', required }, version: 2 };
}

function restoreBlobOf(value: unknown): RestoreBlob {
  const record = asObject(value, 'restore blob');
  return { EncData: parseEncData(record.EncData), WrappedKey: parseWrapped(record.WrappedKey, 'WrappedKey') };
}

export function parseSecurityDomainFile(text: string): SecurityDomainFile {
  return securityDomainFileOf(parseJsonText(text, 'security domain file'));
}

export function parseRestoreBlob(text: string): RestoreBlob {
  return restoreBlobOf(parseJsonText(text, 'restore blob'));
}

/**
 * The `value` of an upload. The Azure CLI sends the restore blob's JSON text as it is; the REST
 * examples base64url-encode the whole value. JSON starts with "{", base64url never does.
 */
export function parseUploadValue(value: unknown): UploadValue {
  if (typeof value !== 'string' || value.trim() === '') throw badParameter('value: required, the restore blob as JSON text (or base64url of it)');
  let text = value;
  if (!value.trimStart().startsWith('{')) {
    const trimmed = value.trim().replace(/=+$/, '');
    text = Buffer.from(trimmed, 'base64url').toString('utf8');
    if (!/^[A-Za-z0-9_-]+$/.test(trimmed) || !text.trimStart().startsWith('{')) {
      throw badParameter('value: is neither JSON text (starting with "{") nor base64url-encoded JSON');
    }
  }
  const record = asObject(parseJsonText(text, 'value'), 'value');
  if ('WrappedKey' in record) return { kind: 'restore-blob', blob: restoreBlobOf(record) };
  if ('SharedKeys' in record) return { kind: 'security-domain-file', file: securityDomainFileOf(record) };
  throw badParameter('value: is neither a restore blob (no WrappedKey) nor a security domain file (no SharedKeys)');
}

/**
 * JSON as Python's json.dumps writes it by default (az writes the restore blob so): ", " and
 * ": " separators and every character outside printable ASCII escaped as \uXXXX.
 */
function pythonJson(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value).map(([key, entry]) => `${pythonJson(key)}: ${pythonJson(entry)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

// ---- restore blob ----------------------------------------------------------------------------

/** The shares the given keys open, in the order of the keys, up to the quorum (as az does). */
function openShares(file: SecurityDomainFile, privateKeys: readonly { certificateDer: Buffer; privateKey: KeyObject }[]): Buffer[] {
  const { enc_shares, required } = file.SharedKeys;
  const shares: Buffer[] = [];
  try {
    for (const [keyIndex, { certificateDer, privateKey }] of privateKeys.entries()) {
      const thumbprint = x5tS256(certificateDer);
      for (const [index, entry] of enc_shares.entries()) {
        if (shares.length >= required) return shares;
        if (entry.x5t_256 !== thumbprint) continue;
        const parsed = parseJwe(entry.enc_key, `SharedKeys.enc_shares[${index}].enc_key`);
        let cek: Buffer;
        try {
          cek = decryptRsaCek(privateKey, parsed);
        } catch (error) {
          throw new HsmError('BadParameter', `privateKeys[${keyIndex}]: its certificate matches SharedKeys.enc_shares[${index}], but the key cannot decrypt that share: is it the certificate's private key?`, { cause: error });
        }
        try {
          shares.push(decryptJwe(parsed, cek));
        } finally {
          cek.fill(0);
        }
      }
    }
    if (shares.length < required) {
      throw badParameter(`Insufficient shares available: the file needs ${required}, and the given keys' certificates match only ${shares.length} of its shares`);
    }
    return shares;
  } catch (error) {
    for (const share of shares) share.fill(0);
    throw error;
  }
}

/**
 * Offline, as `az keyvault security-domain restore-blob`: recovers the master key from `required`
 * shares, decrypts the data, and re-encrypts it under a new random 32-byte master key that is
 * itself encrypted to the transfer key. The output is byte-for-byte az 2.45's shape.
 */
export function buildRestoreBlob(options: {
  file: SecurityDomainFile;
  privateKeys: readonly { certificateDer: Buffer; privateKey: KeyObject }[];
  transferCertificateDer: Buffer;
}): string {
  const { file, privateKeys, transferCertificateDer } = options;
  const { required } = file.SharedKeys;
  if (privateKeys.length < required) {
    throw badParameter(`Insufficient shares available: this security domain file needs ${required} of its keys, ${privateKeys.length} given`);
  }
  const transferKey = rsaCertificateKey(transferCertificateDer, 'transferCertificate');
  const shares = openShares(file, privateKeys);
  let masterKey: Buffer;
  try {
    masterKey = combineShares(shares);
  } finally {
    for (const share of shares) share.fill(0);
  }
  let items: DomainItem[];
  try {
    items = decryptEncData(file.EncData.data, masterKey);
  } finally {
    masterKey.fill(0);
  }
  const newMasterKey = randomBytes(32);
  try {
    const blob: RestoreBlob = {
      EncData: { data: encryptEncData(items, newMasterKey), kdf: 'sp108_kdf' },
      WrappedKey: { enc_key: encryptRsaJwe(transferKey, newMasterKey), x5t_256: x5tS256(transferCertificateDer) },
    };
    return pythonJson(blob);
  } finally {
    newMasterKey.fill(0);
    zeroAll(items);
  }
}

/**
 * The server side of an upload: `decryptCek` opens WrappedKey.enc_key's content key (in the token,
 * with the transfer key's private half); the master key it protects then opens every item. The
 * caller checks WrappedKey.x5t_256 against its transfer certificate and zeroes the plaintexts.
 */
export async function openRestoreBlob(blob: RestoreBlob, decryptCek: (parsed: ParsedJwe) => Promise<Buffer>): Promise<DomainItem[]> {
  const parsed = parseJwe(blob.WrappedKey.enc_key, 'WrappedKey.enc_key');
  let cek: Buffer;
  try {
    cek = await decryptCek(parsed);
  } catch (error) {
    if (error instanceof HsmError) throw error;
    throw new HsmError('BadParameter', 'WrappedKey.enc_key: the transfer key could not decrypt the content key (encrypted to another transfer key?)', { cause: error });
  }
  let masterKey: Buffer;
  try {
    masterKey = decryptJwe(parsed, cek);
  } finally {
    cek.fill(0);
  }
  try {
    if (masterKey.length < 16 || masterKey.length > 64) throw badParameter(`WrappedKey.enc_key: the master key must be 16 to 64 bytes, got ${masterKey.length}`);
    return decryptEncData(blob.EncData.data, masterKey);
  } finally {
    masterKey.fill(0);
  }
}
