// Every data-plane operation: the data action it needs, its name in the audit log, and where its
// scope comes from:
// 'hsm' = '/', 'keys' = '/keys', 'key' = '/keys/{name}' of the addressed key, 'path' = the
// scope written before /providers/Microsoft.Authorization in the URL.
import { DATA_ACTIONS as A, type DataAction } from '../rbac/data-actions.js';

export type ScopeSource = 'hsm' | 'keys' | 'key' | 'path';

export interface OperationRule {
  action: DataAction;
  scope: ScopeSource;
  /** The operationName the service writes in its audit log. */
  auditName: string;
  /** Answered before the HSM is activated: the security domain's endpoints and the emulator's own. */
  beforeActivation?: true;
}

const rule = (action: DataAction, scope: ScopeSource, auditName: string): OperationRule => ({ action, scope, auditName });
const early = (action: DataAction, scope: ScopeSource, auditName: string): OperationRule => ({ action, scope, auditName, beforeActivation: true });

export const OPERATIONS = {
  createKey: rule(A.keysCreate, 'key', 'KeyCreate'),
  importKey: rule(A.keysImport, 'key', 'KeyImport'),
  getKey: rule(A.keysRead, 'key', 'KeyGet'),
  getKeyAttestation: rule(A.keysRead, 'key', 'KeyGetAttestation'),
  listKeys: rule(A.keysRead, 'keys', 'KeyList'),
  listKeyVersions: rule(A.keysRead, 'key', 'KeyListVersions'),
  updateKey: rule(A.keysWrite, 'key', 'KeyUpdate'),
  deleteKey: rule(A.keysDelete, 'key', 'KeyDelete'),
  getRotationPolicy: rule(A.keysRead, 'key', 'KeyRotationPolicyGet'),
  setRotationPolicy: rule(A.keysWrite, 'key', 'KeyRotationPolicySet'),
  rotateKey: rule(A.keysRotate, 'key', 'KeyRotate'),
  backupKey: rule(A.keysBackup, 'key', 'KeyBackup'),
  restoreKey: rule(A.keysRestore, 'keys', 'KeyRestore'),
  encrypt: rule(A.keysEncrypt, 'key', 'KeyEncrypt'),
  decrypt: rule(A.keysDecrypt, 'key', 'KeyDecrypt'),
  wrapKey: rule(A.keysWrap, 'key', 'KeyWrap'),
  unwrapKey: rule(A.keysUnwrap, 'key', 'KeyUnwrap'),
  sign: rule(A.keysSign, 'key', 'KeySign'),
  verify: rule(A.keysVerify, 'key', 'KeyVerify'),
  releaseKey: rule(A.keysRelease, 'key', 'KeyRelease'),
  getDeletedKey: rule(A.deletedKeysRead, 'key', 'KeyGetDeleted'),
  listDeletedKeys: rule(A.deletedKeysRead, 'keys', 'KeyListDeleted'),
  recoverDeletedKey: rule(A.deletedKeysRecover, 'key', 'KeyRecover'),
  purgeDeletedKey: rule(A.deletedKeysDelete, 'key', 'KeyPurge'),
  getRandomBytes: rule(A.rng, 'hsm', 'GetRandomBytes'),
  listRoleDefinitions: rule(A.roleDefinitionsRead, 'path', 'RoleDefinitionList'),
  getRoleDefinition: rule(A.roleDefinitionsRead, 'path', 'RoleDefinitionGet'),
  setRoleDefinition: rule(A.roleDefinitionsWrite, 'path', 'RoleDefinitionCreate'),
  deleteRoleDefinition: rule(A.roleDefinitionsDelete, 'path', 'RoleDefinitionDelete'),
  listRoleAssignments: rule(A.roleAssignmentsRead, 'path', 'RoleAssignmentList'),
  getRoleAssignment: rule(A.roleAssignmentsRead, 'path', 'RoleAssignmentGet'),
  createRoleAssignment: rule(A.roleAssignmentsWrite, 'path', 'RoleAssignmentCreate'),
  deleteRoleAssignment: rule(A.roleAssignmentsDelete, 'path', 'RoleAssignmentDelete'),
  downloadSecurityDomain: early(A.securityDomainDownload, 'hsm', 'SecurityDomainDownload'),
  securityDomainDownloadStatus: early(A.securityDomainDownloadRead, 'hsm', 'SecurityDomainDownloadStatus'),
  getTransferKey: early(A.securityDomainTransferKeyRead, 'hsm', 'SecurityDomainTransferKeyGet'),
  uploadSecurityDomain: early(A.securityDomainUpload, 'hsm', 'SecurityDomainUpload'),
  securityDomainUploadStatus: early(A.securityDomainUploadRead, 'hsm', 'SecurityDomainUploadStatus'),
  // Operations whose routes arrive with the full backup work.
  startFullBackup: rule(A.backupStart, 'hsm', 'BackupCreate'),
  fullBackupStatus: rule(A.backupStatus, 'hsm', 'BackupStatus'),
  startFullRestore: rule(A.restoreStart, 'hsm', 'RestoreCreate'),
  restoreStatus: rule(A.restoreStatus, 'hsm', 'RestoreStatus'),
  selectiveKeyRestore: rule(A.keysRestore, 'key', 'SelectiveKeyRestore'),
  // Settings.
  getSettings: rule(A.settingsRead, 'hsm', 'SettingsGet'),
  updateSetting: rule(A.settingsWrite, 'hsm', 'SettingsUpdate'),
  // The emulator's own: administrators, through the settings actions of their role.
  getStatus: early(A.settingsRead, 'hsm', 'EmulatorStatusGet'),
  getClock: early(A.settingsRead, 'hsm', 'EmulatorClockGet'),
  shiftClock: early(A.settingsWrite, 'hsm', 'EmulatorClockShift'),
  getNetworkRules: early(A.settingsRead, 'hsm', 'EmulatorNetworkRulesGet'),
  setNetworkRules: early(A.settingsWrite, 'hsm', 'EmulatorNetworkRulesSet'),
} as const satisfies Record<string, OperationRule>;

export type OperationName = keyof typeof OPERATIONS;
