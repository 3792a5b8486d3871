// Full backup and restore of the HSM, and selective restore of one key, over a folder of blobs.
// Backup: a consistent snapshot of the store, every version's material wrapped by the token
// under the domain's trusted key, the whole in sealed blobs with the manifest written last (a
// folder without one is no backup). Restore: everything is read, opened, checked and unwrapped
// into new token objects first; then one store transaction replaces every key and the local RBAC;
// then the old token objects go. A crash at any instant leaves the HSM as it was or as the backup,
// never mixed: start-up reconciliation removes the token objects that no committed row names,
// which are the new ones before the commit and the old ones after it.
import { randomBytes } from 'node:crypto';
import type { RoleAssignmentRecord } from '../../store/access-store.js';
import type { KeyVersionRecord } from '../../store/key-records.js';
import type { HsmSnapshot, MetadataStore } from '../../store/metadata-store.js';
import type { Token } from '../../token/token.js';
import { HsmError } from '../errors.js';
import { BACKUP_FORMAT } from './key-backup.js';
import {
  type AccessBlob,
  type BackedUpKey,
  FOLDER_REFUSAL,
  FULL_BACKUP_FORMAT,
  KEYS_PER_CHUNK,
  type KeysChunk,
  MANIFEST_BLOB,
  type Manifest,
  blobRef,
  checkRef,
  chunkBlobName,
  decodeBlob,
  encodeBlob,
  isManifest,
} from './full-backup-format.js';
import { checkBackupContent, isTime } from './restore-checks.js';
import { type ProtectionSource, wrapMechanismOf } from './single-key-backup.js';
import { destroyAll, tokenKeysOf, unwrapVersions, wrapVersions } from './unwrap-versions.js';

/** Where a backup's blobs are written and read: a storage folder. */
export interface FolderBlobs {
  write(name: string, data: Buffer): Promise<void>;
  read(name: string): Promise<Buffer>;
}

export interface FullBackupOptions {
  /** The HSM's name, written into the manifest. */
  hsmName: string;
  /** Whose role assignments a full restore keeps beside the backup's: the initial administrator's, so that the HSM stays reachable. */
  keepAssignmentsOf: string;
  /** Told after the store changed under the local RBAC, so that its caches are dropped. */
  rbacChanged: () => void;
}

export class FullBackup {
  constructor(
    private readonly token: Token,
    private readonly store: MetadataStore,
    private readonly domain: ProtectionSource,
    private readonly options: FullBackupOptions,
  ) {}

  async backup(folder: FolderBlobs): Promise<{ keys: number; versions: number }> {
    const { wrappingKey, sealer } = this.domain.protection();
    const mechanism = wrapMechanismOf(this.token);
    const snapshot = this.store.snapshot();
    const backupId = randomBytes(16).toString('hex');
    const byName = versionsByKey(snapshot.versions);
    const chunks: Manifest['chunks'] = [];
    const keyIndex: Record<string, number> = {};
    let keyCount = 0;
    let versionCount = 0;
    for (let start = 0, index = 0; start < snapshot.keys.length; start += KEYS_PER_CHUNK, index++) {
      const keys: BackedUpKey[] = [];
      for (const key of snapshot.keys.slice(start, start + KEYS_PER_CHUNK)) {
        const versions = byName.get(key.name.toLowerCase()) ?? [];
        try {
          keys.push({ key, versions: await wrapVersions(this.token, wrappingKey, mechanism, versions) });
        } catch (error) {
          // Purged since the snapshot: the backup shows the HSM a moment later, without it.
          if (error instanceof HsmError && error.code === 'KeyNotFound') continue;
          throw error;
        }
        keyIndex[key.name.toLowerCase()] = index;
        keyCount++;
        versionCount += versions.length;
      }
      const chunk: KeysChunk = { format: FULL_BACKUP_FORMAT, backupId, index, keys };
      chunks.push(await this.#writeSealed(folder, chunkBlobName(index), chunk));
    }
    const access: AccessBlob = { format: FULL_BACKUP_FORMAT, backupId, roleDefinitions: snapshot.roleDefinitions, roleAssignments: snapshot.roleAssignments };
    const accessRef = await this.#writeSealed(folder, 'access', access);
    const manifest: Manifest = {
      format: FULL_BACKUP_FORMAT,
      backupId,
      hsm: this.options.hsmName,
      created: new Date().toISOString(),
      keyCount,
      versionCount,
      chunks,
      access: accessRef,
      keyIndex,
    };
    await folder.write(MANIFEST_BLOB, await sealer.seal(encodeBlob(manifest), 'full-backup'));
    return { keys: keyCount, versions: versionCount };
  }

  /** Opens the folder's manifest: refused unless it is a backup sealed under this HSM's domain. */
  async manifest(folder: FolderBlobs): Promise<Manifest> {
    const { sealer } = this.domain.protection();
    const manifest = decodeBlob<Manifest>(await sealer.unseal(await folder.read(MANIFEST_BLOB), 'full-backup', 'folderToRestore'), undefined, 'the manifest');
    if (!isManifest(manifest)) throw new HsmError('BadParameter', `${FOLDER_REFUSAL} (the manifest is incomplete)`);
    return manifest;
  }

  /** Replaces every key and the local RBAC with the backup's, atomically. */
  async restore(folder: FolderBlobs): Promise<string> {
    const { wrappingKey } = this.domain.protection();
    const mechanism = wrapMechanismOf(this.token);
    const manifest = await this.manifest(folder);
    const keys: BackedUpKey[] = [];
    for (const ref of manifest.chunks) keys.push(...(await this.#readChunk(folder, manifest, ref)).keys);
    const access = decodeBlob<AccessBlob>(await this.#readChecked(folder, manifest.access), manifest.backupId, 'the role blob');
    for (const entry of keys) checkKey(entry);
    const restored: KeyVersionRecord[] = [];
    try {
      for (const { key, versions } of keys) restored.push(...(await unwrapVersions(this.token, wrappingKey, mechanism, key.name, versions)));
    } catch (error) {
      await destroyAll(this.token, tokenKeysOf(restored));
      throw error;
    }
    const kept: RoleAssignmentRecord[] = this.store.snapshot().roleAssignments.filter((a) => a.principalId.toLowerCase() === this.options.keepAssignmentsOf.toLowerCase());
    const assignments = [...access.roleAssignments.filter((a) => !kept.some((k) => k.name.toLowerCase() === a.name.toLowerCase())), ...kept];
    const next: HsmSnapshot = { keys: keys.map((entry) => entry.key), versions: restored, roleDefinitions: access.roleDefinitions, roleAssignments: assignments };
    let replaced: KeyVersionRecord[];
    try {
      replaced = this.store.replaceAll(next);
    } catch (error) {
      await destroyAll(this.token, tokenKeysOf(restored));
      throw error;
    }
    this.options.rbacChanged();
    await destroyAll(this.token, tokenKeysOf(replaced));
    return `Number of keys restored: ${keys.length}, Number of key versions restored: ${restored.length}`;
  }

  /** Restores one key with all its versions from a full backup, replacing the key of that name if there is one. */
  async restoreKey(folder: FolderBlobs, name: string): Promise<string> {
    const { wrappingKey } = this.domain.protection();
    const manifest = await this.manifest(folder);
    const index = manifest.keyIndex[name.toLowerCase()];
    const ref = index === undefined ? undefined : manifest.chunks[index];
    if (!ref) throw new HsmError('KeyNotFound', `The backup in this folder has no key named ${name}`);
    const entry = (await this.#readChunk(folder, manifest, ref)).keys.find((candidate) => candidate.key.name.toLowerCase() === name.toLowerCase());
    if (!entry) throw new HsmError('KeyNotFound', `The backup in this folder has no key named ${name}`);
    checkKey(entry);
    const versions = await unwrapVersions(this.token, wrappingKey, wrapMechanismOf(this.token), entry.key.name, entry.versions);
    let replaced: KeyVersionRecord[];
    try {
      replaced = this.store.replaceKey(entry.key, versions);
    } catch (error) {
      await destroyAll(this.token, tokenKeysOf(versions));
      throw error;
    }
    await destroyAll(this.token, tokenKeysOf(replaced));
    return `Number of successful key versions restored: ${versions.length}, Number of key versions could not overwrite: 0`;
  }

  async #writeSealed(folder: FolderBlobs, name: string, value: unknown): Promise<Manifest['access']> {
    const sealed = await this.domain.protection().sealer.seal(encodeBlob(value), 'full-backup');
    await folder.write(name, sealed);
    return blobRef(name, sealed);
  }

  async #readChecked(folder: FolderBlobs, ref: Manifest['access']): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await folder.read(ref.blob);
    } catch (error) {
      if (error instanceof HsmError) throw error;
      throw new HsmError('BadParameter', `${FOLDER_REFUSAL} (${ref.blob} cannot be read)`, { cause: error });
    }
    checkRef(ref, data);
    return this.domain.protection().sealer.unseal(data, 'full-backup', 'folderToRestore');
  }

  async #readChunk(folder: FolderBlobs, manifest: Manifest, ref: Manifest['access']): Promise<KeysChunk> {
    const chunk = decodeBlob<KeysChunk>(await this.#readChecked(folder, ref), manifest.backupId, ref.blob);
    if (!Array.isArray(chunk.keys)) throw new HsmError('BadParameter', `${FOLDER_REFUSAL} (${ref.blob} holds no keys)`);
    return chunk;
  }
}

function versionsByKey(versions: readonly KeyVersionRecord[]): Map<string, KeyVersionRecord[]> {
  const byName = new Map<string, KeyVersionRecord[]>();
  for (const version of versions) {
    const name = version.name.toLowerCase();
    const versions = byName.get(name);
    if (versions) versions.push(version);
    else byName.set(name, [version]);
  }
  return byName;
}

/** A key of a full backup is held to the rules a single-key backup is. */
function checkKey({ key, versions }: BackedUpKey): void {
  checkBackupContent({ format: BACKUP_FORMAT, name: key.name, recoverableDays: key.recoverableDays, rotationPolicy: key.rotationPolicy, versions });
  if (!isTime(key.deletedDate) || !isTime(key.scheduledPurgeDate) || (key.deletedDate === null) !== (key.scheduledPurgeDate === null)) {
    throw new HsmError('BadParameter', `${FOLDER_REFUSAL} (key ${key.name} has no valid deleted state)`);
  }
}
