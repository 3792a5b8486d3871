// The differences from the recorded service that the emulator keeps on purpose, each with its
// reason (docs/differences.md lists them for users). A pattern is a part of a difference's text
// (replay.ts). Each must still occur: one that no longer does is a fixed difference to remove.

/** Differences that may occur in any recording. */
export const IN_ANY_RECORDING: Record<string, string> = {
  'live object {"error":{"code":"Unauthorized","message":"Request is missing a Bearer or PoP':
    "The 401 challenge: the emulator's body is the error envelope saying what is missing; the service sent an empty body (or \"OK\"). Clients read only the status and WWW-Authenticate.",
  'roleAssignments: body.value: live ':
    "Listing role assignments shows the HSM's own: the recorded HSMs held their principals' assignments, the emulator holds its initial administrator's.",
  'roleDefinitions: body.value: live adds an item named 6efe6056-5259-49d2-8b3d-d3d73544b20b':
    'The built-in role Managed HSM Restore, documented today, postdates the recordings.',
  'roleDefinitions: body.value: live lacks the item named 770fd66c-6266-4643-9d4e-b616870898d5':
    'The built-in role Managed HSM ARM User, recorded in 2022, is no longer documented; the emulator has no ARM plane.',
  'roleDefinitions: body.value[a290e904-7015-4bba-90c8-60543313cdb4].properties.permissions[0].dataActions: live lacks [] and adds ["Microsoft.KeyVault/managedHsm/settings/read/action", "Microsoft.KeyVault/managedHsm/settings/write/action"]':
    "The Administrator's settings actions came with the settings API (7.5), after these recordings.",
};

/** Differences of one recording, by its file. */
export const IN_RECORDING: Record<string, Record<string, string>> = {
  'js-admin/backup-full-fails-to-authenticate.json': {
    '#1 POST /backup: ': 'A token that is not a SAS is refused at once with a 400 naming token; the service accepted the job and failed it later.',
  },
  'js-admin/restore-full-fails-to-authenticate.json': {
    '#1 PUT /restore: ': 'A token that is not a SAS is refused at once with a 400 naming token; the service accepted the job and failed it later.',
    '#2 GET /restore/': 'So there is no job to poll.',
  },
  'js-admin/settings-get-and-update.json': {
    'body.value: recorded "true", live "false"': "The recorded HSM had the setting on before the test; a new emulator has the service's default, off.",
  },
  'python-keys/key-backup-restore.json': {
    'body.attributes.exportable: recorded true, live false':
      "The service answered exportable: true for the restored key, created not exportable; the emulator answers the key's own attribute.",
  },
};
