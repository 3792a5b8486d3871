// The data actions of Managed HSM local RBAC, as role definitions name them.
const PREFIX = 'Microsoft.KeyVault/managedHsm/';

const action = <T extends string>(suffix: T) => `${PREFIX}${suffix}` as const;

export const DATA_ACTIONS = {
  keysRead: action('keys/read/action'),
  keysWrite: action('keys/write/action'),
  keysCreate: action('keys/create'),
  keysImport: action('keys/import/action'),
  keysDelete: action('keys/delete'),
  keysRotate: action('keys/rotate/action'),
  keysBackup: action('keys/backup/action'),
  keysRestore: action('keys/restore/action'),
  keysRelease: action('keys/release/action'),
  keysExport: action('keys/export/action'),
  keysDerive: action('keys/derive/action'),
  keysEncrypt: action('keys/encrypt/action'),
  keysDecrypt: action('keys/decrypt/action'),
  keysWrap: action('keys/wrap/action'),
  keysUnwrap: action('keys/unwrap/action'),
  keysSign: action('keys/sign/action'),
  keysVerify: action('keys/verify/action'),
  deletedKeysRead: action('keys/deletedKeys/read/action'),
  deletedKeysRecover: action('keys/deletedKeys/recover/action'),
  deletedKeysDelete: action('keys/deletedKeys/delete'),
  rng: action('rng/action'),
  roleAssignmentsRead: action('roleAssignments/read/action'),
  roleAssignmentsWrite: action('roleAssignments/write/action'),
  roleAssignmentsDelete: action('roleAssignments/delete/action'),
  roleDefinitionsRead: action('roleDefinitions/read/action'),
  roleDefinitionsWrite: action('roleDefinitions/write/action'),
  roleDefinitionsDelete: action('roleDefinitions/delete/action'),
  securityDomainDownload: action('securitydomain/download/action'),
  securityDomainDownloadRead: action('securitydomain/download/read'),
  securityDomainUpload: action('securitydomain/upload/action'),
  securityDomainUploadRead: action('securitydomain/upload/read'),
  securityDomainTransferKeyRead: action('securitydomain/transferkey/read'),
  backupStart: action('backup/start/action'),
  backupStatus: action('backup/status/action'),
  restoreStart: action('restore/start/action'),
  restoreStatus: action('restore/status/action'),
  settingsRead: action('settings/read/action'),
  settingsWrite: action('settings/write/action'),
} as const;

export type DataAction = (typeof DATA_ACTIONS)[keyof typeof DATA_ACTIONS];
