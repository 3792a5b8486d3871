// Key material going into and coming back from a backup (single-key or full): each version
// wrapped by the token under the domain's trusted key; on the way back unwrapped, checked
// against what the backup says it is, and given its public object. Either every version comes
// back or none: on any failure the objects made so far are destroyed before the error goes on.
import type { KeyVersionRecord } from '../../store/key-records.js';
import type { TokenKey } from '../../token/key-spec.js';
import type { Token } from '../../token/token.js';
import { fromTokenError } from '../errors.js';
import { KEY_OBJECT_OPTIONS, TOKEN_OBJECT_LABEL } from '../key-objects.js';
import type { VersionBackup } from './key-backup.js';
import { checkUnwrapped } from './restore-checks.js';

/** Every version with its material wrapped, less what belongs to this token (its CKA_ID). */
export async function wrapVersions(token: Token, wrappingKey: TokenKey, mechanism: number, versions: readonly KeyVersionRecord[]): Promise<VersionBackup[]> {
  const wrapped: VersionBackup[] = [];
  for (const version of versions) {
    let material: Buffer;
    try {
      material = await token.wrapKey(wrappingKey, { type: mechanism }, { id: version.tokenId, spec: version.spec });
    } catch (error) {
      throw fromTokenError(error, `backup key ${version.name}`);
    }
    const { name: _name, tokenId: _tokenId, ...fields } = version;
    wrapped.push({ ...fields, wrapped: material.toString('base64url') });
  }
  return wrapped;
}

/** Restored versions, and which of them name objects that were already there (kept, not made). */
export interface UnwrappedVersions {
  versions: KeyVersionRecord[];
  /** CKA_IDs (hex) of the objects reused rather than made. */
  kept: Set<string>;
}

/**
 * The backup's versions back as token objects. A version the HSM holds now (`current`, same id,
 * same spec, same public key) whose object wraps to the very bytes the backup holds has the same
 * material (the wrap is deterministic and authenticated): its object is kept, not unwrapped again,
 * so a restore over the HSM it was taken from makes and destroys objects only for what changed.
 */
export async function unwrapVersions(
  token: Token,
  wrappingKey: TokenKey,
  mechanism: number,
  name: string,
  versions: readonly VersionBackup[],
  current: readonly KeyVersionRecord[] = [],
): Promise<UnwrappedVersions> {
  const made: TokenKey[] = [];
  const ids: Buffer[] = [];
  const kept = new Set<string>();
  try {
    for (const [index, version] of versions.entries()) {
      const wrapped = Buffer.from(version.wrapped, 'base64url');
      const same = await unchangedObject(token, wrappingKey, mechanism, version, wrapped, current);
      if (same) {
        ids.push(same);
        kept.add(same.toString('hex'));
        continue;
      }
      let tokenKey: TokenKey;
      try {
        tokenKey = await token.unwrapKey(wrappingKey, { type: mechanism }, wrapped, version.spec, KEY_OBJECT_OPTIONS);
      } catch (error) {
        throw fromTokenError(error, `restore key ${name}`);
      }
      made.push(tokenKey);
      ids.push(tokenKey.id);
      const publicParts = await checkUnwrapped(token, tokenKey, version, wrapped.length, `versions[${index}]`);
      if (publicParts) await token.createPublicKey(tokenKey, publicParts, TOKEN_OBJECT_LABEL);
    }
  } catch (error) {
    await destroyAll(token, made);
    throw error;
  }
  return { versions: versions.map(({ wrapped: _wrapped, ...fields }, index) => ({ ...fields, name, tokenId: ids[index] as Buffer })), kept };
}

async function unchangedObject(
  token: Token,
  wrappingKey: TokenKey,
  mechanism: number,
  version: VersionBackup,
  wrapped: Buffer,
  current: readonly KeyVersionRecord[],
): Promise<Buffer | undefined> {
  const now = current.find((candidate) => candidate.version === version.version);
  if (!now || JSON.stringify(now.spec) !== JSON.stringify(version.spec) || JSON.stringify(now.publicJwk) !== JSON.stringify(version.publicJwk)) return undefined;
  try {
    const again = await token.wrapKey(wrappingKey, { type: mechanism }, { id: now.tokenId, spec: now.spec });
    return again.equals(wrapped) ? now.tokenId : undefined;
  } catch {
    return undefined; // gone from the token, or not wrappable: unwrapped afresh
  }
}

/** Destroys the objects of these keys (one token search for all; failures leave orphans that start-up removes). */
export async function destroyAll(token: Token, keys: readonly TokenKey[]): Promise<void> {
  await token.destroyLabelledObjectsWithIds(TOKEN_OBJECT_LABEL, keys.map((key) => key.id)).catch(() => undefined);
}

/** The token keys of stored versions. */
export function tokenKeysOf(versions: readonly KeyVersionRecord[]): TokenKey[] {
  return versions.map((version) => ({ id: version.tokenId, spec: version.spec }));
}
