// What a restore believes of a backup, checked as create and import check their input: a sealed
// backup cannot be edited, but its content is still held to the rules, and the key material the
// token unwrapped is compared with what the backup says it is (type, size, curve, public key).
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { CKM } from '../../token/constants.js';
import { type KeySpec, type TokenKey, keyTypeOf, validateKeySpec } from '../../token/key-spec.js';
import type { PublicKeyParts, Token } from '../../token/token.js';
import { HsmError } from '../errors.js';
import { publicJwk, publicPartsFromJwk } from '../jwk.js';
import { checkKeyName, checkTags, keyOperations } from '../key-rules.js';
import { checkRotationPolicy } from '../rotation-policy.js';
import type { KeyBackup, VersionBackup } from './key-backup.js';

const MIN_RETENTION_DAYS = 7;
/** The service's limit of versions per key: a restore brings no more (each is a token write). */
export const MAX_RESTORED_VERSIONS = 100;
const MAX_RETENTION_DAYS = 90;

function bad(message: string): HsmError {
  return new HsmError('BadParameter', `value: ${message}`);
}

/** A time in a backup: seconds, or null for none. */
export const isTime = (value: unknown) => value === null || (typeof value === 'number' && Number.isFinite(value));

/** Throws BadParameter naming the rule when the backup's content breaks one of the service's rules. */
export function checkBackupContent(backup: KeyBackup): void {
  checkKeyName(backup.name);
  const days = backup.recoverableDays;
  if (!Number.isInteger(days) || days < MIN_RETENTION_DAYS || days > MAX_RETENTION_DAYS) {
    throw bad(`recoverableDays must be a whole number from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS}, not ${days}`);
  }
  checkStoredRotationPolicy(backup.rotationPolicy);
  if (backup.versions.length > MAX_RESTORED_VERSIONS) throw bad(`a backup brings at most ${MAX_RESTORED_VERSIONS} versions, not ${backup.versions.length}`);
  const seen = new Set<string>();
  backup.versions.forEach((version, index) => {
    const where = `versions[${index}]`;
    if (!/^[0-9a-f]{32}$/.test(version.version) || seen.has(version.version)) throw bad(`${where}.version must be a distinct 32-digit hex id`);
    seen.add(version.version);
    checkVersion(version, where);
  });
}

function checkVersion(version: VersionBackup, where: string): void {
  try {
    validateKeySpec(version.spec);
  } catch (error) {
    throw bad(`${where}.spec: ${(error as Error).message}`);
  }
  const operations = keyOperations(version.spec, version.keyOps);
  if (operations.length !== version.keyOps.length) throw bad(`${where}.keyOps must not repeat an operation`);
  checkTags(version.tags);
  if (!isTime(version.notBefore) || !isTime(version.expires)) throw bad(`${where}: nbf and exp must be times or null`);
  if (version.notBefore !== null && version.expires !== null && version.expires <= version.notBefore) throw bad(`${where}: exp must be later than nbf`);
  if (version.exportable && (version.releasePolicy === undefined || version.releasePolicy === null)) {
    throw bad(`${where}: an exportable key needs a release policy`);
  }
  const pair = version.spec.type === 'rsa' || version.spec.type === 'ec';
  if (pair !== (version.publicJwk !== null && typeof version.publicJwk === 'object')) {
    throw bad(`${where}.publicJwk must be present for a key pair and absent otherwise`);
  }
}

function checkStoredRotationPolicy(policy: unknown): void {
  if (policy === undefined || policy === null) return;
  const p = policy as { lifetimeActions?: unknown; expiryTime?: unknown; created?: unknown; updated?: unknown };
  if (typeof p !== 'object' || typeof p.created !== 'number' || typeof p.updated !== 'number') throw bad('rotationPolicy is not a rotation policy');
  checkRotationPolicy({ lifetimeActions: p.lifetimeActions, attributes: p.expiryTime === undefined ? {} : { expiryTime: p.expiryTime } });
}

/**
 * Checks the unwrapped key against its declared spec and public key; returns the public parts
 * to give the token, taken from the key itself where the token can tell them (RSA).
 */
export async function checkUnwrapped(token: Token, key: TokenKey, version: VersionBackup, wrappedLength: number, where: string): Promise<PublicKeyParts | undefined> {
  const shape = await token.secretShape(key);
  if (shape.keyType !== keyTypeOf(version.spec)) throw bad(`${where}: the key material is not a ${version.spec.type} key`);
  const spec: KeySpec = version.spec;
  if (spec.type === 'rsa') {
    const parts: PublicKeyParts = { type: 'rsa', modulus: shape.modulus as Buffer, publicExponent: shape.publicExponent as Buffer };
    const rebuilt = publicJwk(parts);
    if (parts.modulus.length * 8 !== spec.bits) throw bad(`${where}: the key material is not an RSA-${spec.bits} key`);
    if (rebuilt.n !== version.publicJwk?.n || rebuilt.e !== version.publicJwk?.e) throw bad(`${where}.publicJwk does not match the key material`);
    return parts;
  }
  if (spec.type === 'ec') {
    if (shape.curve !== spec.curve) throw bad(`${where}: the key material is not a ${spec.curve} key`);
    const parts = publicPartsFromJwk(version.publicJwk as Record<string, string>);
    // The token keeps no public point with an EC private key: a signature tells whether they pair.
    const message = randomBytes(32);
    const signature = await token.sign(key, { type: CKM.ECDSA }, createHash('sha256').update(message).digest());
    const jwk = version.publicJwk as Record<string, string>;
    let pairs = false;
    try {
      const publicKey = createPublicKey({ key: { kty: 'EC', crv: spec.curve, x: jwk.x as string, y: jwk.y as string }, format: 'jwk' });
      pairs = verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      pairs = false; // not a point of the curve
    }
    if (!pairs) throw bad(`${where}.publicJwk does not match the key material`);
    return parts;
  }
  // SoftHSM2 leaves CKA_VALUE_LEN at 0 on an unwrapped key (and refuses it in the template), so
  // the length is read from the wrap: RFC 5649 pads to 8 bytes and adds 8. That is exact for
  // AES sizes and to the 8-byte block for HMAC keys. A secret key's bytes do not say whether
  // they are an AES or an HMAC key: only the seal keeps that from being edited.
  const bytes = spec.bits / 8;
  const fits = shape.valueLen ? shape.valueLen === bytes : wrappedLength === 8 * Math.ceil(bytes / 8) + 8;
  if (!fits) throw bad(`${where}: the key material is not a ${spec.bits}-bit key`);
  return undefined;
}
