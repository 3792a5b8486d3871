// The content of a single-key backup: every version's metadata and its key material wrapped by
// the token under the domain's trusted wrapping key (RFC 5649). The whole is then sealed under
// the domain's sealing key (security-domain/sealer.ts), so that nothing in it can be edited and
// only an HSM of the same domain can open it; decodeBackup checks only its structure, and
// restore-checks.ts checks its content as create and import would.
import type { KeyVersionRecord } from '../../store/key-records.js';
import { HsmError } from '../errors.js';

export const BACKUP_FORMAT = 'mhsm-key-backup/2';

/** A version as the store keeps it, less what belongs to this token (its CKA_ID), plus its material. */
export type VersionBackup = Omit<KeyVersionRecord, 'name' | 'tokenId'> & {
  /** base64url of the key material wrapped under the trusted wrapping key. */
  wrapped: string;
};

export interface KeyBackup {
  format: typeof BACKUP_FORMAT;
  name: string;
  recoverableDays: number;
  rotationPolicy: unknown;
  /** Oldest first, so that a restore makes the same version the newest. */
  versions: VersionBackup[];
}

export function encodeBackup(backup: KeyBackup): Buffer {
  return Buffer.from(JSON.stringify(backup), 'utf8');
}

const NOT_A_BACKUP = 'value: not a key backup made by a Managed HSM emulator';

function isVersion(value: unknown): value is VersionBackup {
  const v = value as Partial<VersionBackup> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.version === 'string' &&
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

export function decodeBackup(plaintext: Buffer): KeyBackup {
  let parsed: Partial<KeyBackup>;
  try {
    parsed = JSON.parse(plaintext.toString('utf8')) as Partial<KeyBackup>;
  } catch {
    throw new HsmError('BadParameter', NOT_A_BACKUP);
  }
  if (
    parsed?.format !== BACKUP_FORMAT ||
    typeof parsed.name !== 'string' ||
    typeof parsed.recoverableDays !== 'number' ||
    !Array.isArray(parsed.versions) ||
    parsed.versions.length === 0 ||
    !parsed.versions.every(isVersion)
  ) {
    throw new HsmError('BadParameter', NOT_A_BACKUP);
  }
  return parsed as KeyBackup;
}
