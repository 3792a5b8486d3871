// Full backup, restore and selective-restore jobs: one at a time, run off the request path,
// reported as the service reports them ({status, statusDetails, error, startTime, endTime, jobId}
// and, for a backup, the folder's URI). Times are the emulator clock's seconds.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock/clock.js';
import { HsmError } from '../errors.js';

export type JobKind = 'backup' | 'restore';

export interface JobStatus {
  status: 'InProgress' | 'Succeeded' | 'Failed';
  statusDetails: string | null;
  error: { code: string; message: string } | null;
  startTime: number;
  endTime: number | null;
  jobId: string;
  /** Backups only: the folder the backup was written to, once it succeeded. */
  azureStorageBlobContainerUri?: string | null;
}

export interface JobOutcome {
  statusDetails?: string;
  folderUri?: string;
}

/** Finished jobs remembered for their pending endpoints. */
const KEPT_JOBS = 100;

export class BackupJobs {
  readonly #jobs = new Map<string, { kind: JobKind; status: JobStatus }>();
  #running: string | undefined;

  constructor(private readonly clock: Clock) {}

  /**
   * Starts a job unless one is running; `work` runs after this returns. Its failure is the job's:
   * an HsmError's code and message, or an internal error with no detail.
   */
  start(kind: JobKind, work: () => Promise<JobOutcome>): JobStatus {
    if (this.#running !== undefined) {
      throw new HsmError('Conflict', 'A backup or restore operation is already in progress on this HSM: wait for it to finish');
    }
    const jobId = randomBytes(16).toString('hex');
    const status: JobStatus = {
      status: 'InProgress',
      statusDetails: null,
      error: null,
      startTime: this.clock.now(),
      endTime: null,
      jobId,
      ...(kind === 'backup' ? { azureStorageBlobContainerUri: null } : {}),
    };
    this.#jobs.set(jobId, { kind, status });
    while (this.#jobs.size > KEPT_JOBS) this.#jobs.delete(this.#jobs.keys().next().value as string);
    this.#running = jobId;
    const snapshot = { ...status };
    setImmediate(() => {
      work()
        .then((outcome) => {
          status.status = 'Succeeded';
          status.statusDetails = outcome.statusDetails ?? null;
          if (kind === 'backup') status.azureStorageBlobContainerUri = outcome.folderUri ?? null;
        })
        .catch((error: unknown) => {
          status.status = 'Failed';
          status.error =
            error instanceof HsmError
              ? { code: error.code, message: error.message }
              : { code: 'InternalError', message: 'The job failed unexpectedly; see the emulator log' };
          status.statusDetails = status.error.message;
          if (!(error instanceof HsmError)) this.onUnexpected(error);
        })
        .finally(() => {
          status.endTime = this.clock.now();
          this.#running = undefined;
        });
    });
    return snapshot;
  }

  /** Called with a job's unexpected failure, for the server log. */
  onUnexpected: (error: unknown) => void = () => {};

  status(kind: JobKind, jobId: string): JobStatus {
    const job = this.#jobs.get(jobId.toLowerCase());
    if (!job || job.kind !== kind) throw new HsmError('NotFound', `No ${kind} job with id ${jobId.slice(0, 64)} on this HSM`);
    return { ...job.status };
  }

  get busy(): boolean {
    return this.#running !== undefined;
  }
}
