// Full backup, full restore and selective key restore (backuprestore.json): each starts a job and
// answers 202 with the job's status, Azure-AsyncOperation and Retry-After; the pending endpoints
// report it. Storage parameters are checked before the job starts, so a malformed SAS or URI is a
// synchronous 400, as the service answers; what only the storage account can tell (a missing
// container, a SAS it refuses, no answer) fails the job.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BackupJobs, JobOutcome, JobStatus } from '../../hsm/backup/backup-jobs.js';
import type { FullBackup } from '../../hsm/backup/full-backup.js';
import type { BackupStorage } from '../../hsm/backup/storage/backup-storage.js';
import type { StorageParameters } from '../../hsm/backup/storage/open-storage.js';
import type { Clock } from '../../clock/clock.js';
import { HsmError } from '../../hsm/errors.js';
import { originOf } from '../origin.js';
import { type Body, bodyOf } from '../wire.js';
import { checkApiVersion } from './api-version.js';

export interface BackupRouteOptions {
  full: FullBackup;
  jobs: BackupJobs;
  /** Opens the storage a request names; throws HsmError BadParameter for malformed parameters. */
  openStorage: (parameters: StorageParameters, access: 'read' | 'write') => BackupStorage;
  hsmName: string;
  clock: Clock;
}

/** The Retry-After the 202s carry: the Python clients wait as long as it says. */
const RETRY_AFTER_SECONDS = '1';

function sasParameters(body: Body, field: string): StorageParameters {
  const value = body[field];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HsmError('BadParameter', `${field}: required, an object with storageResourceUri and token`);
  return value as StorageParameters;
}

function folderName(body: Body, field: string): string {
  const value = body[field];
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(value)) {
    throw new HsmError('BadParameter', `${field}: required, the name of a backup folder in the container (such as mhsm-NAME-2024010112000000)`);
  }
  return value;
}

/**
 * Where a restore's folder is. The official Python clients split a folder URL after its first
 * path segment (the container in a host-style URL). For a path-style URL (Azurite:
 * https://127.0.0.1:PORT/ACCOUNT/CONTAINER/FOLDER) that leaves the account as the URI and
 * CONTAINER/FOLDER as the folder: the container is then moved back into the URI.
 */
function restoreTarget(parameters: StorageParameters, folder: unknown): { parameters: StorageParameters; folder: unknown } {
  const uri = parameters.storageResourceUri;
  if (typeof uri !== 'string' || typeof folder !== 'string' || folder.split('/').length !== 2) return { parameters, folder };
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return { parameters, folder };
  }
  const pathStyle = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\]|localhost)$/i.test(parsed.hostname);
  if (!pathStyle || parsed.pathname.replace(/^\/+|\/+$/g, '').split('/').length !== 1) return { parameters, folder };
  const [container, rest] = folder.split('/') as [string, string];
  return { parameters: { ...parameters, storageResourceUri: `${uri.replace(/\/+$/, '')}/${container}` }, folder: rest };
}

/**
 * A new backup's folder, named from the emulator's clock to the hundredth of a second as the
 * service names it; a name already taken (two backups in one hundredth) moves on by one.
 */
async function freshFolder(storage: BackupStorage, hsmName: string, clock: Clock) {
  const wall = Date.now();
  const at = clock.now() * 1000 + (wall % 1000);
  for (let step = 0; step < 100; step++) {
    const folder = storage.newFolder(hsmName, new Date(at + step * 10));
    // A SAS without list permission (the service's guide makes them crdw) cannot tell: take it.
    const taken = await folder.list().then((names) => names.length > 0, () => false);
    if (!taken) return folder;
  }
  throw new HsmError('Conflict', 'Every backup folder name of this moment is taken: try again');
}

export function registerBackupRoutes(app: FastifyInstance, options: BackupRouteOptions): void {
  const { full, jobs } = options;

  const accepted = (request: FastifyRequest, reply: FastifyReply, kind: 'backup' | 'restore', status: JobStatus) => {
    reply
      .code(202)
      .header('azure-asyncoperation', `${originOf(request)}/${kind}/${status.jobId}/pending`)
      .header('retry-after', RETRY_AFTER_SECONDS);
    return status;
  };
  /** The storage and folder a restore request names, checked before its job starts. */
  const restoreSource = (body: Body, folderField: 'folderToRestore' | 'folder') => {
    const target = restoreTarget(sasParameters(body, 'sasTokenParameters'), body[folderField]);
    return { storage: options.openStorage(target.parameters, 'read'), name: folderName({ [folderField]: target.folder }, folderField) };
  };
  const start = (request: FastifyRequest, reply: FastifyReply, kind: 'backup' | 'restore', work: () => Promise<JobOutcome>) =>
    accepted(request, reply, kind, jobs.start(kind, work));

  app.post('/backup', { config: { operation: 'startFullBackup' } }, async (request, reply) => {
    checkApiVersion(request);
    const storage = options.openStorage(bodyOf(request.body) as StorageParameters, 'write');
    return start(request, reply, 'backup', async () => {
      await storage.check('write');
      const folder = await freshFolder(storage, options.hsmName, options.clock);
      await full.backup(folder);
      // statusDetails stays null, as the service answers a finished backup (recorded in every SDK).
      return { folderUri: folder.uri };
    });
  });

  app.post('/prebackup', { config: { operation: 'startFullBackup' } }, async (request, reply) => {
    checkApiVersion(request);
    const storage = options.openStorage(bodyOf(request.body) as StorageParameters, 'write');
    return start(request, reply, 'backup', async () => {
      await storage.check('write');
      return {};
    });
  });

  app.get('/backup/:jobId/pending', { config: { operation: 'fullBackupStatus' } }, async (request) => jobs.status('backup', (request.params as { jobId: string }).jobId));

  app.put('/restore', { config: { operation: 'startFullRestore' } }, async (request, reply) => {
    checkApiVersion(request);
    const { storage, name } = restoreSource(bodyOf(request.body), 'folderToRestore');
    return start(request, reply, 'restore', async () => {
      await storage.check('read');
      await full.restore(storage.folder(name));
      // null, as the service answers a finished full restore.
      return {};
    });
  });

  app.put('/prerestore', { config: { operation: 'startFullRestore' } }, async (request, reply) => {
    checkApiVersion(request);
    const { storage, name } = restoreSource(bodyOf(request.body), 'folderToRestore');
    return start(request, reply, 'restore', async () => {
      await storage.check('read');
      await full.manifest(storage.folder(name));
      return {};
    });
  });

  app.put('/keys/:name/restore', { config: { operation: 'selectiveKeyRestore' } }, async (request, reply) => {
    checkApiVersion(request);
    const { storage, name } = restoreSource(bodyOf(request.body), 'folder');
    const key = (request.params as { name: string }).name;
    return start(request, reply, 'restore', async () => {
      await storage.check('read');
      return { statusDetails: await full.restoreKey(storage.folder(name), key) };
    });
  });

  app.get('/restore/:jobId/pending', { config: { operation: 'restoreStatus' } }, async (request) => jobs.status('restore', (request.params as { jobId: string }).jobId));
}
