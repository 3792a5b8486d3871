// Single-key backup blobs: every version's metadata in the clear, and its key material wrapped
// by the token under this HSM's trusted wrapping key (RFC 5649). Only a token holding the same
// wrapping key can restore the material; the security domain will make that key shared.
import type { KeyVersionRecord } from '../store/key-records.js';
import { HsmError } from './errors.js';

export const BACKUP_FORMAT = 'mhsm-key-backup/1';

/** A version as the store keeps it, less what belongs to this token (its CKA_ID), plus its material. */
export type VersionBackup = Omit<KeyVersionRecord, 'name' | 'tokenId'> & {
  /** base64url of the key material wrapped under the trusted wrapping key. */
  wrapped: string;
};

export interface KeyBackup {
  format: typeof BACKUP_FORMAT;
  /** The serial number of the token that made it. */
  hsm: string;
  name: string;
  recoverableDays: number;
  rotationPolicy: unknown;
  versions: VersionBackup[];
}

export function encodeBackup(backup: KeyBackup): Buffer {
  return Buffer.from(JSON.stringify(backup), 'utf8');
}

const NOT_A_BACKUP = 'value: not a key backup made by this HSM';

function isVersion(value: unknown): value is VersionBackup {
  const v = value as Partial<VersionBackup> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.version === 'string' &&
    /^[0-9a-f]{32}$/.test(v.version) &&
    typeof v.spec === 'object' &&
    v.spec !== null &&
    typeof v.wrapped === 'string' &&
    Array.isArray(v.keyOps) &&
    typeof v.enabled === 'boolean' &&
    typeof v.exportable === 'boolean' &&
    typeof v.created === 'number' &&
    typeof v.updated === 'number' &&
    typeof v.tags === 'object'
  );
}

export function decodeBackup(blob: Buffer): KeyBackup {
  let parsed: Partial<KeyBackup>;
  try {
    parsed = JSON.parse(blob.toString('utf8')) as Partial<KeyBackup>;
  } catch {
    throw new HsmError('BadParameter', NOT_A_BACKUP);
  }
  if (
    parsed?.format !== BACKUP_FORMAT ||
    typeof parsed.name !== 'string' ||
    typeof parsed.hsm !== 'string' ||
    typeof parsed.recoverableDays !== 'number' ||
    !Array.isArray(parsed.versions) ||
    parsed.versions.length === 0 ||
    !parsed.versions.every(isVersion)
  ) {
    throw new HsmError('BadParameter', NOT_A_BACKUP);
  }
  return parsed as KeyBackup;
}
