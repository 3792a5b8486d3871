// Single-key backup and restore (POST /keys/{name}/backup, POST /keys/restore): every version's
// key material wrapped by the token under the domain's trusted key, the whole sealed under the
// domain's sealing key. A backup restores into any HSM holding the same security domain, under
// its own name and version ids, and into no other.
import type { MetadataStore } from '../../store/metadata-store.js';
import type { Token } from '../../token/token.js';
import { HsmError } from '../errors.js';
import type { KeyService, KeyView } from '../key-service.js';
import { type ProtectionSource, wrapMechanismOf } from '../security-domain/protection.js';
import { SealRefused, type Sealer } from '../security-domain/sealer.js';
import { BACKUP_FORMAT, type KeyBackup, decodeBackup, encodeBackup } from './key-backup.js';
import { checkBackupContent } from './restore-checks.js';
import { destroyAll, tokenKeysOf, unwrapVersions, wrapVersions } from './unwrap-versions.js';

/** What the service answers to a corrupt backup, word for word. */
export const CORRUPT_BACKUP = 'Backup blob contains invalid or corrupt version.';

export class SingleKeyBackup {
  constructor(
    private readonly token: Token,
    private readonly store: MetadataStore,
    private readonly keys: KeyService,
    private readonly domain: ProtectionSource,
  ) {}

  async backup(name: string): Promise<Buffer> {
    const { key } = this.keys.get(name);
    const { wrappingKey, sealer } = this.domain.protection();
    const versions = await wrapVersions(this.token, wrappingKey, this.#wrapMechanism(), this.store.versionsOldestFirst(key.name));
    const plaintext = encodeBackup({ format: BACKUP_FORMAT, name: key.name, recoverableDays: key.recoverableDays, rotationPolicy: key.rotationPolicy, versions });
    return sealer.seal(plaintext, 'key-backup');
  }

  /** Restores under the backup's name and version ids; 409 if the name is taken; nothing is left of a refused one. */
  async restore(blob: Buffer): Promise<KeyView> {
    const { wrappingKey, sealer } = this.domain.protection();
    const backup = await this.#opened(sealer, blob);
    checkBackupContent(backup);
    const taken = () => new HsmError('Conflict', `Key ${backup.name} already exists; delete and purge it before restoring`);
    if (this.store.getKey(backup.name)) throw taken();
    this.keys.assertRoomForRestore(backup.name, backup.versions.length);
    let versions;
    try {
      ({ versions } = await unwrapVersions(this.token, wrappingKey, this.#wrapMechanism(), backup.name, backup.versions));
    } catch (error) {
      throw error instanceof HsmError ? error : new HsmError('BadParameter', 'value: this backup cannot be restored into this HSM', { cause: error });
    }
    // One transaction, and only if the name is still free: a create or another restore of the
    // same name that finished meanwhile wins, and this one leaves nothing behind.
    try {
      this.keys.assertRoomForRestore(backup.name, versions.length);
    } catch (error) {
      await destroyAll(this.token, tokenKeysOf(versions));
      throw error;
    }
    // The key takes this HSM's retention: a property of the HSM, not of the backup.
    if (!this.store.addKey(versions, { recoverableDays: this.keys.recoverableDays, rotationPolicy: backup.rotationPolicy })) {
      await destroyAll(this.token, tokenKeysOf(versions));
      throw taken();
    }
    return this.keys.get(backup.name);
  }

  /**
   * The backup's content. A blob that is not a backup, or was altered, gets the service's own
   * message, which the SDKs' tests compare; one from another domain says so.
   */
  async #opened(sealer: Sealer, blob: Buffer): Promise<KeyBackup> {
    try {
      return decodeBackup(await sealer.unseal(blob, 'key-backup', 'value'));
    } catch (error) {
      if (error instanceof SealRefused && error.reason === 'other-domain') throw error;
      throw new HsmError('BadParameter', CORRUPT_BACKUP, { cause: error, verbatim: true });
    }
  }

  #wrapMechanism(): number {
    return wrapMechanismOf(this.token);
  }
}
