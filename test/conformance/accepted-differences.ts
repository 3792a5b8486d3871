// The differences from the recorded service that the emulator keeps on purpose, each with its
// reason (docs/differences.md lists them for users). A pattern is a part of a difference's text
// (replay.ts). Each must still occur: one that no longer does is a fixed difference to remove.

/** Differences that may occur in any recording. */
export const IN_ANY_RECORDING: Record<string, string> = {
  'live object {"error":{"code":"Unauthorized","message":"Request is missing a Bearer or PoP':
    "The 401 challenge: the emulator's body is the error envelope saying what is missing; the service sent an empty body (or \"OK\"). Clients read only the status and WWW-Authenticate.",
  '(held before the test)': "Listing role assignments: the recorded HSMs held assignments of their own principals before the test; a new emulator holds none of them.",
  'body.statusDetails: recorded "Number of successful key versions restored: ':
    "A selective restore's statusDetails: the service's counts were recorded not to match the versions (2 restored of a key with one; 0 restored and 2 not overwritten of another); the emulator counts what it restored.",
  "(the emulator's own)": "Listing role assignments shows the emulator's own, its initial administrator's, which the recorded HSMs did not have.",
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
  'azure-cli/hsm-full-backup-restore.json': {
    'body.error: recorded object {"code":null': "The 2020 service answered a job's error as an object of nulls while it ran; the 2022 recordings (and the emulator) answer null.",
  },
  'azure-cli/hsm-selective-key-restore.json': {
    'body.error: recorded object {"code":null': "The 2020 service answered a job's error as an object of nulls while it ran; the 2022 recordings (and the emulator) answer null.",
    'body.nextLink: recorded absent, live null': 'The 2020 service left out a null nextLink; the emulator answers it null, as later versions do.',
  },
  'azure-cli/hsm-key.json': {
    '-hsm-file': 'The recorded HSM held five keys of an earlier test (*-hsm-file), which this test lists, deletes and purges; a new emulator has none.',
    'attributes.exportable: recorded absent, live false': "The 2020 service had no exportable attribute yet; the emulator answers it, as the service has since (recorded at every api-version, 7.0 included, in 2022).",
    'attributes.exportable: recorded true, live false':
      "The service answered exportable: true for the restored key (and its later versions), created not exportable; the emulator keeps the key's attribute.",
    'body.nextLink: recorded absent, live null': 'The 2020 service left out a null nextLink; the emulator answers it null, as later versions do.',
    'PUT /keys/import-key-plain: status: recorded 200, live 400': 'The 2020 service imported a 1024-bit RSA key; Managed HSM documents 2048, 3072 and 4096 bits, which the emulator keeps to.',
  },
  'azure-cli/security-domain.json': {
    '#3 POST /securitydomain/download: status: recorded 200, live 202': 'The 2020 service answered a download at once with 200; the service and its API since answer 202 with the file, and a pending status to poll.',
    '#6 POST /securitydomain/upload: ': "The test uploads to a second, new HSM a domain made for the recorded one; the emulator replayed against is active, and no recorded domain opens here.",
    'GET /securitydomain/upload/pending: ': 'So nothing was uploaded here; the 2020 service also wrote statusDetails and Succeeded where the API (and the emulator) write status_details and Success.',
    '#11 POST /keys/restore: status: recorded 200, live 409': 'The recorded restore went to the second HSM; here the key is still there.',
  },
  'azure-cli/hsm-key-release-policy.json': {
    'body.release_policy.': 'At api-version 7.0, older than release policies, the service answered a policy in its preview form (decoded, version 0.2); the emulator answers the 7.3 form at every version.',
  },
  'azure-cli/key-attestation.json': {
    'body.attributes.attestation.version: recorded "MRVL-1", live "1.0"': "The service's attestation is its HSM vendor's format (MRVL-1); the emulator's is its own, version 1.0 (docs/key-attestation.md).",
    'body.attributes.hsmPlatform: recorded absent, live "mhsm-emulator-softhsm2"': 'The emulator names its platform, so that nothing takes it for a vendor HSM; the recorded answer had no hsmPlatform.',
  },
  'python-keys/key-backup-restore.json': {
    'body.attributes.exportable: recorded true, live false':
      "The service answered exportable: true for the restored key, created not exportable; the emulator answers the key's own attribute.",
  },
};
