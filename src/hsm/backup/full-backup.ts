// Full backup and restore of the HSM, and selective restore of one key, over a folder of blobs.
// Backup: a snapshot of the store as of one instant, every version's material wrapped by the token
// under the domain's trusted key, the whole in sealed blobs with the manifest written last (a
// folder without one is no backup). Restore: a chunk at a time, every key is read, opened, checked
// and unwrapped into new token objects, and staged in the store beside the current keys, unseen;
// then one short store transaction makes the staged keys and the backup's local RBAC the HSM's;
// then the replaced rows and their token objects go, in the background (token-cleanup.ts). A crash
// at any instant leaves the HSM as it was or as the backup, never mixed: start-up drops the rows
// of the generation that is not current and removes the token objects that no committed row
// names, which are the new ones before the swap and the old ones after it.
import { randomBytes } from 'node:crypto';
import type { RoleAssignmentRecord } from '../../store/access-store.js';
import type { KeyVersionRecord } from '../../store/key-records.js';
import type { MetadataStore, StagedRestore } from '../../store/metadata-store.js';
import type { Token } from '../../token/token.js';
import { HsmError } from '../errors.js';
import { EventLoopBudget } from '../event-loop-budget.js';
import type { TokenCleanup } from '../token-cleanup.js';
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
import { type ProtectionSource, wrapMechanismOf } from '../security-domain/protection.js';
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
  /** The HSM's role assignments now. */
  roleAssignments: () => RoleAssignmentRecord[];
  /** Where replaced and abandoned token objects go. */
  cleanup: TokenCleanup;
  /** This HSM's soft-delete retention, which restored keys take (a property of the HSM, not of the backup). */
  recoverableDays?: number;
  /** Refuses a selective restore past the service's limits (KeyService.assertRoomForRestore). */
  assertRoomForRestore?: (name: string, versions: number) => void;
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
    const snapshot = await this.store.readSnapshot();
    const backupId = randomBytes(16).toString('hex');
    const byName = versionsByKey(snapshot.versions);
    const chunks: Manifest['chunks'] = [];
    const keyIndex: Record<string, number> = {};
    let keyCount = 0;
    let versionCount = 0;
    const budget = new EventLoopBudget();
    for (let start = 0, index = 0; start < snapshot.keys.length; start += KEYS_PER_CHUNK, index++) {
      const keys: BackedUpKey[] = [];
      for (const key of snapshot.keys.slice(start, start + KEYS_PER_CHUNK)) {
        await budget.spend();
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
    const manifest = await this.manifest(folder);
    const access = decodeBlob<AccessBlob>(await this.#readChecked(folder, manifest.access), manifest.backupId, 'the role blob');
    let staged: StagedRestore;
    try {
      staged = this.store.stageRestore();
    } catch (error) {
      throw new HsmError('Conflict', 'The keys a previous restore replaced are still being removed: try again in a moment', { cause: error });
    }
    let counts: { keys: number; versions: number };
    try {
      counts = await this.#stageKeys(folder, manifest, staged);
      const keep = this.options.keepAssignmentsOf.toLowerCase();
      const kept = this.options.roleAssignments().filter((a) => a.principalId.toLowerCase() === keep);
      const assignments = [...access.roleAssignments.filter((a) => !kept.some((k) => k.name.toLowerCase() === a.name.toLowerCase())), ...kept];
      staged.commit({ roleDefinitions: access.roleDefinitions, roleAssignments: assignments });
    } catch (error) {
      staged.discard();
      this.options.cleanup.collectStale();
      throw error;
    }
    this.options.rbacChanged();
    this.options.cleanup.collectStale();
    return `Number of keys restored: ${counts.keys}, Number of key versions restored: ${counts.versions}`;
  }

  /** Every chunk read, checked, unwrapped and staged in turn; a failure destroys what it had unwrapped and not staged. */
  async #stageKeys(folder: FolderBlobs, manifest: Manifest, staged: StagedRestore): Promise<{ keys: number; versions: number }> {
    const { wrappingKey } = this.domain.protection();
    const mechanism = wrapMechanismOf(this.token);
    const names = new Set<string>();
    let versionCount = 0;
    const budget = new EventLoopBudget();
    for (const ref of manifest.chunks) {
      const chunk = await this.#readChunk(folder, manifest, ref);
      for (const entry of chunk.keys) {
        checkKey(entry);
        const name = entry.key.name.toLowerCase();
        if (names.has(name)) throw new HsmError('BadParameter', `${FOLDER_REFUSAL} (key ${entry.key.name} appears twice)`);
        names.add(name);
      }
      const entries: Array<{ key: BackedUpKey['key']; versions: KeyVersionRecord[] }> = [];
      const kept = new Set<string>();
      try {
        for (const { key, versions } of chunk.keys) {
          await budget.spend();
          const restored = await unwrapVersions(this.token, wrappingKey, mechanism, key.name, versions, this.store.versionsOldestFirst(key.name));
          entries.push({ key: { ...key, recoverableDays: this.options.recoverableDays ?? key.recoverableDays }, versions: restored.versions });
          for (const id of restored.kept) kept.add(id);
        }
        staged.add(entries);
        // A kept object is safe from a purge only once a staged row names it: one purged before
        // that may be gone, and this restore cannot vouch for it.
        for (const id of kept) {
          if (this.store.versionsByTokenId(Buffer.from(id, 'hex')).length === 0) {
            throw new HsmError('Conflict', 'A key was purged while the restore was reading it: start the restore again');
          }
        }
      } catch (error) {
        const made = tokenKeysOf(entries.flatMap((entry) => entry.versions)).filter((key) => !kept.has(key.id.toString('hex')));
        await destroyAll(this.token, made);
        throw error;
      }
      versionCount += entries.reduce((sum, entry) => sum + entry.versions.length, 0);
    }
    if (names.size !== manifest.keyCount || versionCount !== manifest.versionCount) {
      throw new HsmError('BadParameter', `${FOLDER_REFUSAL} (the manifest counts ${manifest.keyCount} keys and ${manifest.versionCount} versions, the blobs hold ${names.size} and ${versionCount})`);
    }
    return { keys: names.size, versions: versionCount };
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
    this.options.assertRoomForRestore?.(entry.key.name, entry.versions.length);
    const current = this.store.versionsOldestFirst(entry.key.name);
    const { versions, kept } = await unwrapVersions(this.token, wrappingKey, wrapMechanismOf(this.token), entry.key.name, entry.versions, current);
    let replaced: KeyVersionRecord[];
    try {
      this.options.assertRoomForRestore?.(entry.key.name, versions.length);
      replaced = this.store.replaceKey({ ...entry.key, recoverableDays: this.options.recoverableDays ?? entry.key.recoverableDays }, versions);
    } catch (error) {
      await destroyAll(this.token, tokenKeysOf(versions).filter((key) => !kept.has(key.id.toString('hex'))));
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
