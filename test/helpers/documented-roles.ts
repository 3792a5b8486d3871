// The built-in roles as the service documents them (managed-hsm/built-in-roles.md): their GUIDs
// and data actions, without the "Microsoft.KeyVault/managedHsm/" prefix. The tests compare the
// emulator's roles against this table, in process and over the API.
export const DOCUMENTED_ROLES: Record<string, { id: string; dataActions: string[] }> = {
  'Managed HSM Administrator': {
    id: 'a290e904-7015-4bba-90c8-60543313cdb4',
    dataActions: [
      'roleAssignments/delete/action', 'roleAssignments/read/action', 'roleAssignments/write/action',
      'roleDefinitions/read/action', 'roleDefinitions/write/action', 'roleDefinitions/delete/action',
      'securitydomain/download/action', 'securitydomain/download/read', 'securitydomain/upload/action',
      'securitydomain/upload/read', 'securitydomain/transferkey/read', 'backup/start/action', 'restore/start/action',
      'backup/status/action', 'restore/status/action', 'settings/read/action', 'settings/write/action',
    ],
  },
  'Managed HSM Crypto Officer': {
    id: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
    dataActions: [
      'roleAssignments/delete/action', 'roleAssignments/read/action', 'roleAssignments/write/action',
      'roleDefinitions/read/action', 'roleDefinitions/write/action', 'roleDefinitions/delete/action',
      'keys/deletedKeys/read/action', 'keys/deletedKeys/delete', 'keys/deletedKeys/recover/action', 'keys/export/action',
    ],
  },
  'Managed HSM Crypto User': {
    id: '21dbd100-6940-42c2-9190-5d6cb909625b',
    dataActions: [
      'roleDefinitions/read/action', 'roleAssignments/read/action', 'keys/read/action', 'keys/write/action', 'keys/delete',
      'keys/create', 'keys/rotate/action', 'keys/import/action', 'keys/release/action', 'keys/backup/action',
      'keys/restore/action', 'keys/encrypt/action', 'keys/decrypt/action', 'keys/wrap/action', 'keys/unwrap/action',
      'keys/sign/action', 'keys/verify/action', 'keys/derive/action', 'rng/action',
    ],
  },
  'Managed HSM Policy Administrator': {
    id: '4bd23610-cdcf-4971-bdee-bdc562cc28e4',
    dataActions: [
      'roleDefinitions/read/action', 'roleDefinitions/write/action', 'roleDefinitions/delete/action',
      'roleAssignments/read/action', 'roleAssignments/write/action', 'roleAssignments/delete/action',
    ],
  },
  'Managed HSM Crypto Auditor': {
    id: '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3',
    dataActions: ['roleAssignments/read/action', 'roleDefinitions/read/action', 'keys/read/action', 'keys/deletedKeys/read/action'],
  },
  'Managed HSM Crypto Service Encryption User': {
    id: '33413926-3206-4cdd-b39a-83574fe37a17',
    dataActions: ['keys/read/action', 'keys/wrap/action', 'keys/unwrap/action'],
  },
  'Managed HSM Crypto Service Release User': { id: '21dbd100-6940-42c2-9190-5d6cb909625c', dataActions: ['keys/release/action'] },
  'Managed HSM Backup User': {
    id: '7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8',
    dataActions: ['backup/start/action', 'backup/status/action', 'keys/backup/action'],
  },
  'Managed HSM Restore': {
    id: '6efe6056-5259-49d2-8b3d-d3d73544b20b',
    dataActions: ['restore/start/action', 'restore/status/action', 'keys/restore/action'],
  },
};
