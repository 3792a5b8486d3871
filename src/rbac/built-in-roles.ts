// The built-in roles of Managed HSM local RBAC, with the GUIDs, names and data actions the service
// returns for them.
import type { RoleDefinitionRecord } from '../store/access-store.js';
import { DATA_ACTIONS as A, type DataAction } from './data-actions.js';

function role(name: string, roleName: string, dataActions: DataAction[]): RoleDefinitionRecord {
  return {
    name,
    roleName,
    description: '',
    permissions: [{ actions: [], notActions: [], dataActions, notDataActions: [] }],
    assignableScopes: ['/'],
  };
}

const ASSIGNMENTS_ALL = [A.roleAssignmentsDelete, A.roleAssignmentsRead, A.roleAssignmentsWrite];
const DEFINITIONS_ALL = [A.roleDefinitionsRead, A.roleDefinitionsWrite, A.roleDefinitionsDelete];

export const BUILT_IN_ROLES = {
  administrator: role('a290e904-7015-4bba-90c8-60543313cdb4', 'Managed HSM Administrator', [
    ...ASSIGNMENTS_ALL,
    ...DEFINITIONS_ALL,
    A.securityDomainDownload,
    A.securityDomainDownloadRead,
    A.securityDomainUpload,
    A.securityDomainUploadRead,
    A.securityDomainTransferKeyRead,
    A.backupStart,
    A.restoreStart,
    A.backupStatus,
    A.restoreStatus,
    A.settingsRead,
    A.settingsWrite,
  ]),
  cryptoOfficer: role('515eb02d-2335-4d2d-92f2-b1cbdf9c3778', 'Managed HSM Crypto Officer', [
    ...ASSIGNMENTS_ALL,
    ...DEFINITIONS_ALL,
    A.deletedKeysRead,
    A.deletedKeysDelete,
    A.deletedKeysRecover,
    A.keysExport,
  ]),
  cryptoUser: role('21dbd100-6940-42c2-9190-5d6cb909625b', 'Managed HSM Crypto User', [
    A.roleDefinitionsRead,
    A.roleAssignmentsRead,
    A.keysRead,
    A.keysWrite,
    A.keysDelete,
    A.keysCreate,
    A.keysRotate,
    A.keysImport,
    A.keysRelease,
    A.keysBackup,
    A.keysRestore,
    A.keysEncrypt,
    A.keysDecrypt,
    A.keysWrap,
    A.keysUnwrap,
    A.keysSign,
    A.keysVerify,
    A.keysDerive,
    A.rng,
  ]),
  policyAdministrator: role('4bd23610-cdcf-4971-bdee-bdc562cc28e4', 'Managed HSM Policy Administrator', [
    ...DEFINITIONS_ALL,
    A.roleAssignmentsRead,
    A.roleAssignmentsWrite,
    A.roleAssignmentsDelete,
  ]),
  cryptoAuditor: role('2c18b078-7c48-4d3a-af88-5a3a1b3f82b3', 'Managed HSM Crypto Auditor', [
    A.roleAssignmentsRead,
    A.roleDefinitionsRead,
    A.keysRead,
    A.deletedKeysRead,
  ]),
  cryptoServiceEncryptionUser: role('33413926-3206-4cdd-b39a-83574fe37a17', 'Managed HSM Crypto Service Encryption User', [
    A.keysRead,
    A.keysWrap,
    A.keysUnwrap,
  ]),
  cryptoServiceReleaseUser: role('21dbd100-6940-42c2-9190-5d6cb909625c', 'Managed HSM Crypto Service Release User', [A.keysRelease]),
  backup: role('7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8', 'Managed HSM Backup User', [A.backupStart, A.backupStatus, A.keysBackup]),
  restore: role('6efe6056-5259-49d2-8b3d-d3d73544b20b', 'Managed HSM Restore', [A.restoreStart, A.restoreStatus, A.keysRestore]),
} as const satisfies Record<string, RoleDefinitionRecord>;

const BY_NAME = new Map<string, RoleDefinitionRecord>(Object.values(BUILT_IN_ROLES).map((r) => [r.name, r]));

/** The built-in role with this GUID (any case), if it is one. */
export function builtInRole(name: string): RoleDefinitionRecord | undefined {
  return BY_NAME.get(name.toLowerCase());
}

export const BUILT_IN_ROLE_LIST: readonly RoleDefinitionRecord[] = [...BY_NAME.values()];
