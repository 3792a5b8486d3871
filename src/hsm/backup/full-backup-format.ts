// The blobs of a full backup folder. Every blob is sealed under the domain's sealing key (so only
// an HSM of the same domain opens it, and no byte of it can be edited); the manifest names the
// other blobs with their SHA-256, so that none can be left out, swapped or taken from another
// backup; each blob repeats the backup's id. Key material inside is wrapped under the domain's
// trusted key as in single-key backups.
import { createHash } from 'node:crypto';
import type { RoleAssignmentRecord, RoleDefinitionRecord } from '../../store/access-store.js';
import type { KeyRecord } from '../../store/key-records.js';
import { HsmError } from '../errors.js';
import type { VersionBackup } from './key-backup.js';

export const FULL_BACKUP_FORMAT = 'mhsm-full-backup/1';
export const MANIFEST_BLOB = 'manifest';
/** Keys per blob: a few hundred KiB each, so that no blob is large to seal or to parse. */
export const KEYS_PER_CHUNK = 250;

export interface BackedUpKey {
  key: KeyRecord;
  versions: VersionBackup[];
}

export interface KeysChunk {
  format: typeof FULL_BACKUP_FORMAT;
  backupId: string;
  index: number;
  keys: BackedUpKey[];
}

export interface AccessBlob {
  format: typeof FULL_BACKUP_FORMAT;
  backupId: string;
  roleDefinitions: RoleDefinitionRecord[];
  roleAssignments: RoleAssignmentRecord[];
}

export interface BlobRef {
  blob: string;
  sha256: string;
}

export interface Manifest {
  format: typeof FULL_BACKUP_FORMAT;
  backupId: string;
  /** The HSM's name and when the backup was made (ISO 8601). */
  hsm: string;
  created: string;
  keyCount: number;
  versionCount: number;
  chunks: BlobRef[];
  access: BlobRef;
  /** Which chunk holds each key, by lower-case name, for a selective restore. */
  keyIndex: Record<string, number>;
}

export function chunkBlobName(index: number): string {
  return `keys-${String(index).padStart(5, '0')}`;
}

export function blobRef(blob: string, data: Buffer): BlobRef {
  return { blob, sha256: createHash('sha256').update(data).digest('base64url') };
}

const FOLDER_REFUSAL = 'folderToRestore: the folder does not hold a full backup made by a Managed HSM emulator of this security domain';

export function encodeBlob(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** Parses an unsealed blob and checks that it is what the manifest says it is. */
export function decodeBlob<T extends { format: string; backupId: string }>(plaintext: Buffer, backupId: string | undefined, what: string): T {
  let value: T;
  try {
    value = JSON.parse(plaintext.toString('utf8')) as T;
  } catch {
    throw new HsmError('BadParameter', `${FOLDER_REFUSAL} (${what} is not JSON)`);
  }
  if (value?.format !== FULL_BACKUP_FORMAT || typeof value.backupId !== 'string' || (backupId !== undefined && value.backupId !== backupId)) {
    throw new HsmError('BadParameter', `${FOLDER_REFUSAL} (${what} is not of this backup)`);
  }
  return value;
}

export function checkRef(ref: BlobRef, data: Buffer): void {
  if (blobRef(ref.blob, data).sha256 !== ref.sha256) throw new HsmError('BadParameter', `${FOLDER_REFUSAL} (${ref.blob} is not the blob the manifest names)`);
}

export function isManifest(value: Manifest): boolean {
  return (
    Array.isArray(value.chunks) &&
    typeof value.access === 'object' &&
    value.access !== null &&
    typeof value.keyIndex === 'object' &&
    value.chunks.every((ref) => typeof ref?.blob === 'string' && typeof ref.sha256 === 'string')
  );
}

export { FOLDER_REFUSAL };
