// Single-key backup and restore (POST /keys/{name}/backup, POST /keys/restore): every version's
// key material wrapped by the token under the domain's trusted key, the whole sealed under the
// domain's sealing key. A backup restores into any HSM holding the same security domain, under
// its own name and version ids, and into no other.
import type { MetadataStore } from '../../store/metadata-store.js';
import type { TokenKey } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';
import { HsmError, fromTokenError } from '../errors.js';
import { KEY_OBJECT_OPTIONS, TOKEN_OBJECT_LABEL } from '../key-objects.js';
import type { KeyService, KeyView } from '../key-service.js';
import type { DomainProtection } from '../security-domain/security-domain.js';
import { BACKUP_FORMAT, type VersionBackup, decodeBackup, encodeBackup } from './key-backup.js';
import { checkBackupContent, checkUnwrapped } from './restore-checks.js';

export interface ProtectionSource {
  protection(): DomainProtection;
}

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
    const mechanism = { type: this.#wrapMechanism() };
    const versions: VersionBackup[] = [];
    for (const version of this.store.versionsOldestFirst(key.name)) {
      const wrapped = await tokenCall(`backup key ${name}`, () => this.token.wrapKey(wrappingKey, mechanism, { id: version.tokenId, spec: version.spec }));
      const { name: _name, tokenId: _tokenId, ...fields } = version;
      versions.push({ ...fields, wrapped: wrapped.toString('base64url') });
    }
    const plaintext = encodeBackup({ format: BACKUP_FORMAT, name: key.name, recoverableDays: key.recoverableDays, rotationPolicy: key.rotationPolicy, versions });
    return sealer.seal(plaintext, 'key-backup');
  }

  /** Restores under the backup's name and version ids; 409 if the name is taken; nothing is left of a refused one. */
  async restore(blob: Buffer): Promise<KeyView> {
    const { wrappingKey, sealer } = this.domain.protection();
    const backup = decodeBackup(await sealer.unseal(blob, 'key-backup', 'value'));
    checkBackupContent(backup);
    if (this.store.getKey(backup.name)) throw new HsmError('Conflict', `Key ${backup.name} already exists; delete and purge it before restoring`);
    const mechanism = { type: this.#wrapMechanism() };
    const made: TokenKey[] = [];
    const taken = () => new HsmError('Conflict', `Key ${backup.name} already exists; delete and purge it before restoring`);
    try {
      for (const [index, version] of backup.versions.entries()) {
        const wrapped = Buffer.from(version.wrapped, 'base64url');
        const tokenKey = await tokenCall(`restore key ${backup.name}`, () => this.token.unwrapKey(wrappingKey, mechanism, wrapped, version.spec, KEY_OBJECT_OPTIONS));
        made.push(tokenKey);
        const publicParts = await checkUnwrapped(this.token, tokenKey, version, wrapped.length, `versions[${index}]`);
        if (publicParts) await this.token.createPublicKey(tokenKey, publicParts, TOKEN_OBJECT_LABEL);
      }
      // One transaction, and only if the name is still free: a create or another restore of the
      // same name that finished meanwhile wins, and this one leaves nothing behind.
      const versions = backup.versions.map(({ wrapped: _wrapped, ...fields }, index) => ({ ...fields, name: backup.name, tokenId: (made[index] as TokenKey).id }));
      if (!this.store.addKey(versions, { recoverableDays: backup.recoverableDays, rotationPolicy: backup.rotationPolicy })) throw taken();
    } catch (error) {
      for (const tokenKey of made) await this.token.destroyKey(tokenKey).catch(() => undefined);
      throw error instanceof HsmError ? error : new HsmError('BadParameter', 'value: this backup cannot be restored into this HSM', { cause: error });
    }
    return this.keys.get(backup.name);
  }

  #wrapMechanism(): number {
    const mechanism = this.token.capabilities.aesKeyWrapPad;
    if (mechanism === undefined) throw new HsmError('NotSupported', 'backup needs AES key wrap with padding, which this token lacks');
    return mechanism;
  }
}

async function tokenCall<T>(context: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw fromTokenError(error, context);
  }
}
