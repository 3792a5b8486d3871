// `mhsm backup start|restore`: full backups of the running emulator to an Azure Blob Storage
// container (a SAS for it) or to a local directory, and full or selective restores from them;
// progress on a terminal while the job runs, the folder's URI at the end.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { type ClientCommandFlags, addClientOptions, clientFor, output } from './client-options.js';
import { ConfigError } from './config.js';
import type { RestClient } from './rest-client.js';

interface JobStatus {
  status: string;
  statusDetails: string | null;
  error: { code: string; message: string } | null;
  endTime: number | null;
  jobId: string;
  azureStorageBlobContainerUri?: string | null;
}

type BackupFlags = ClientCommandFlags & { storageUri?: string; sas?: string; dir?: string; folderUri?: string; key?: string };

const POLL_MS = 500;

async function waitForJob(client: RestClient, kind: 'backup' | 'restore', started: JobStatus): Promise<JobStatus> {
  const began = Date.now();
  let status = started;
  while (status.endTime === null) {
    if (process.stderr.isTTY) process.stderr.write(`\r${kind} ${status.jobId}: ${status.status} (${Math.round((Date.now() - began) / 1000)} s)`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    status = await client.call<JobStatus>('GET', `/${kind}/${status.jobId}/pending`);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (status.status !== 'Succeeded') throw new Error(`${kind} failed: ${status.error?.code ?? status.status}: ${status.error?.message ?? status.statusDetails ?? ''}`);
  return status;
}

/** The SAS from the flag or MHSM_BACKUP_SAS (better: flags show in ps). */
function sasOf(flags: BackupFlags): string | undefined {
  return flags.sas ?? process.env.MHSM_BACKUP_SAS;
}

export function addBackupCommands(program: Command): void {
  const backup = program.command('backup').description('full backups of the HSM (to Azure Blob Storage or a local directory) and restores from them');

  addClientOptions(
    backup
      .command('start')
      .description('back up every key and the local RBAC; prints the backup folder')
      .option('--storage-uri <uri>', 'the container URL, such as https://ACCOUNT.blob.core.windows.net/CONTAINER')
      .option('--sas <token>', 'a SAS for the container with create, write and list (MHSM_BACKUP_SAS; prefer the variable)')
      .option('--dir <path>', 'a local directory instead (under DATA/backups or a --local-backup-root of the emulator)'),
  ).action(async (flags: BackupFlags) => {
    if ((flags.dir === undefined) === (flags.storageUri === undefined)) throw new ConfigError('give either --storage-uri (with --sas) or --dir');
    const body = flags.dir !== undefined ? { storageResourceUri: pathToFileURL(path.resolve(flags.dir)).href } : { storageResourceUri: flags.storageUri, token: sasOf(flags) };
    const client = clientFor(flags);
    const done = await waitForJob(client, 'backup', await client.call<JobStatus>('POST', '/backup', body));
    output(flags, done, (s) => [`backup: ${s.statusDetails ?? 'done'}`, `folder: ${s.azureStorageBlobContainerUri}`]);
  });

  addClientOptions(
    backup
      .command('restore')
      .description('restore the whole HSM from a backup folder, or one key of it with --key')
      .option('--folder-uri <uri>', 'the backup folder URL that `backup start` printed')
      .option('--sas <token>', 'a SAS for the container with read and list (MHSM_BACKUP_SAS; prefer the variable)')
      .option('--dir <path>', 'a local backup folder instead')
      .option('--key <name>', 'restore only this key, with all its versions'),
  ).action(async (flags: BackupFlags) => {
    if ((flags.dir === undefined) === (flags.folderUri === undefined)) throw new ConfigError('give either --folder-uri (with --sas) or --dir');
    // As the official clients do: the folder is the last segment of its URL.
    const folderUrl = flags.dir !== undefined ? pathToFileURL(path.resolve(flags.dir)).href : (flags.folderUri as string).replace(/\/+$/, '');
    const at = folderUrl.lastIndexOf('/');
    const sasTokenParameters = { storageResourceUri: folderUrl.slice(0, at), ...(flags.dir === undefined ? { token: sasOf(flags) } : {}) };
    const folder = folderUrl.slice(at + 1);
    const client = clientFor(flags);
    const started = flags.key
      ? await client.call<JobStatus>('PUT', `/keys/${encodeURIComponent(flags.key)}/restore`, { sasTokenParameters, folder })
      : await client.call<JobStatus>('PUT', '/restore', { sasTokenParameters, folderToRestore: folder });
    const done = await waitForJob(client, 'restore', started);
    output(flags, done, (s) => [`restore: ${s.statusDetails ?? 'done'}`]);
  });
}
