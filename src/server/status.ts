// What `mhsm status` shows: activation, the token and what it can do, the clock, the network
// rules and how much the HSM holds.
import { ALGORITHMS } from '../hsm/algorithms/registry.js';
import type { ClockControl, ClockState } from '../hsm/clock-control.js';
import type { NetworkPolicy } from '../network/network-policy.js';
import type { NetworkRules } from '../network/network-rules.js';
import type { AccessStore } from '../store/access-store.js';
import type { MetadataStore } from '../store/metadata-store.js';
import type { Token } from '../token/token.js';
import type { SecurityDomain } from '../hsm/security-domain/security-domain.js';
import type { TokenCleanup } from '../hsm/token-cleanup.js';

export interface EmulatorStatus {
  activation: { state: 'Active' | 'NotActivated'; securityDomain: 'downloaded' | 'uploaded' | 'legacy' | 'none'; downloadable: boolean; initialRoles: string };
  token: { label: string; manufacturer: string; model: string; serialNumber: string; module: string; mechanisms: number };
  algorithms: Array<{ name: string; level: string; detail: string }>;
  counts: {
    keys: number;
    deletedKeys: number;
    keyVersions: number;
    principals: number;
    roleAssignments: number;
    customRoleDefinitions: number;
    /** Key versions whose token objects are being destroyed in the background (replaced by a restore, or orphans). */
    versionsBeingRemoved: number;
  };
  clock: ClockState;
  network: NetworkRules;
}

const ORIGIN_NAMES = { download: 'downloaded', upload: 'uploaded', legacy: 'legacy' } as const;

export function statusOf(parts: {
  token: Token;
  store: MetadataStore;
  access: AccessStore;
  clock: ClockControl;
  network: NetworkPolicy;
  domain: SecurityDomain;
  cleanup: TokenCleanup;
}): EmulatorStatus {
  const { description } = parts.token;
  const counts = parts.store.counts();
  const domain = parts.domain.summary();
  return {
    activation: {
      state: domain.state,
      securityDomain: domain.origin === undefined ? 'none' : ORIGIN_NAMES[domain.origin],
      downloadable: domain.downloadable,
      initialRoles: parts.access.marker('initial-role-assignments') ?? 'default',
    },
    token: {
      label: description.label,
      manufacturer: description.manufacturerId,
      model: description.model,
      serialNumber: description.serialNumber,
      module: `${description.library.path} (${description.library.description} ${description.library.version})`,
      mechanisms: parts.token.capabilities.list().length,
    },
    algorithms: Object.values(ALGORITHMS).map((a) => ({ name: a.name, ...a.support(parts.token.capabilities) })),
    counts: {
      keys: counts.keys,
      deletedKeys: counts.deletedKeys,
      keyVersions: counts.versions,
      principals: parts.access.principals().length,
      roleAssignments: parts.access.roleAssignments().length,
      customRoleDefinitions: parts.access.customRoleDefinitions().length,
      versionsBeingRemoved: parts.cleanup.pending,
    },
    clock: parts.clock.state(),
    network: parts.network.acl.rules,
  };
}
