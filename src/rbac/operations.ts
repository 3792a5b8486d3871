// Every data-plane operation and the data action it needs, with where its scope comes from:
// 'hsm' = '/', 'keys' = '/keys', 'key' = '/keys/{name}' of the addressed key, 'path' = the
// scope written before /providers/Microsoft.Authorization in the URL.
import { DATA_ACTIONS as A, type DataAction } from './data-actions.js';

export type ScopeSource = 'hsm' | 'keys' | 'key' | 'path';

export interface OperationRule {
  action: DataAction;
  scope: ScopeSource;
}

const rule = (action: DataAction, scope: ScopeSource): OperationRule => ({ action, scope });

export const OPERATIONS = {
  createKey: rule(A.keysCreate, 'key'),
  importKey: rule(A.keysImport, 'key'),
  getKey: rule(A.keysRead, 'key'),
  listKeys: rule(A.keysRead, 'keys'),
  listKeyVersions: rule(A.keysRead, 'key'),
  updateKey: rule(A.keysWrite, 'key'),
  deleteKey: rule(A.keysDelete, 'key'),
  getRotationPolicy: rule(A.keysRead, 'key'),
  setRotationPolicy: rule(A.keysWrite, 'key'),
  rotateKey: rule(A.keysRotate, 'key'),
  backupKey: rule(A.keysBackup, 'key'),
  restoreKey: rule(A.keysRestore, 'keys'),
  encrypt: rule(A.keysEncrypt, 'key'),
  decrypt: rule(A.keysDecrypt, 'key'),
  wrapKey: rule(A.keysWrap, 'key'),
  unwrapKey: rule(A.keysUnwrap, 'key'),
  sign: rule(A.keysSign, 'key'),
  verify: rule(A.keysVerify, 'key'),
  releaseKey: rule(A.keysRelease, 'key'),
  getDeletedKey: rule(A.deletedKeysRead, 'key'),
  listDeletedKeys: rule(A.deletedKeysRead, 'keys'),
  recoverDeletedKey: rule(A.deletedKeysRecover, 'key'),
  purgeDeletedKey: rule(A.deletedKeysDelete, 'key'),
  getRandomBytes: rule(A.rng, 'hsm'),
  listRoleDefinitions: rule(A.roleDefinitionsRead, 'path'),
  getRoleDefinition: rule(A.roleDefinitionsRead, 'path'),
  setRoleDefinition: rule(A.roleDefinitionsWrite, 'path'),
  deleteRoleDefinition: rule(A.roleDefinitionsDelete, 'path'),
  listRoleAssignments: rule(A.roleAssignmentsRead, 'path'),
  getRoleAssignment: rule(A.roleAssignmentsRead, 'path'),
  createRoleAssignment: rule(A.roleAssignmentsWrite, 'path'),
  deleteRoleAssignment: rule(A.roleAssignmentsDelete, 'path'),
  // Operations whose routes arrive with the security-domain, backup and settings work.
  downloadSecurityDomain: rule(A.securityDomainDownload, 'hsm'),
  securityDomainDownloadStatus: rule(A.securityDomainDownloadRead, 'hsm'),
  getTransferKey: rule(A.securityDomainTransferKeyRead, 'hsm'),
  uploadSecurityDomain: rule(A.securityDomainUpload, 'hsm'),
  securityDomainUploadStatus: rule(A.securityDomainUploadRead, 'hsm'),
  startFullBackup: rule(A.backupStart, 'hsm'),
  fullBackupStatus: rule(A.backupStatus, 'hsm'),
  startFullRestore: rule(A.restoreStart, 'hsm'),
  restoreStatus: rule(A.restoreStatus, 'hsm'),
  selectiveKeyRestore: rule(A.keysRestore, 'key'),
  getSettings: rule(A.settingsRead, 'hsm'),
  updateSetting: rule(A.settingsWrite, 'hsm'),
} as const satisfies Record<string, OperationRule>;

export type OperationName = keyof typeof OPERATIONS;
