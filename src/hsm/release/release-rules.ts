// When a key may carry a release policy: an exportable key must have one from its first
// version, a key that is not exportable may not have one, and an immutable policy never changes.
import type { KeyVersionRecord } from '../../store/key-records.js';
import { HsmError } from '../errors.js';
import { type StoredReleasePolicy, checkReleasePolicy, isStoredReleasePolicy } from './release-policy.js';

export function releasePolicyOfNewKey(exportable: boolean, input: unknown): StoredReleasePolicy | undefined {
  const policy = checkReleasePolicy(input);
  if (exportable && !policy) throw new HsmError('BadParameter', 'Exportable keys must have release policy');
  if (!exportable && policy) throw new HsmError('BadParameter', 'Non-exportable keys must not have release policy');
  return policy;
}

export function changedReleasePolicy(current: KeyVersionRecord, input: unknown): StoredReleasePolicy | undefined {
  if (!current.exportable) throw new HsmError('BadParameter', 'release_policy: only an exportable key (attributes.exportable: true) can have a release policy');
  if (isStoredReleasePolicy(current.releasePolicy) && current.releasePolicy.immutable) {
    throw new HsmError('BadParameter', `release_policy: the release policy of key ${current.name} is immutable and cannot be changed`);
  }
  return checkReleasePolicy(input);
}
