// The full backup and restore jobs the REST API polls (src/hsm/backup/backup-jobs.ts): one at a
// time, run after the request returns, reported as the service reports them, with their times
// from the emulator clock, their failures by code and message, and the last hundred remembered.
import { describe, expect, it } from 'vitest';
import { type JobOutcome, type JobStatus, BackupJobs } from '../../src/hsm/backup/backup-jobs.js';
import { HsmError } from '../../src/hsm/errors.js';
import { refusal } from '../helpers/refusal.js';

const T0 = 1_800_000_000;

/** The emulator clock, set by the test. */
function testClock() {
  const clock = { seconds: T0, now: () => clock.seconds };
  return clock;
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The job's status once it has ended (a few event loop turns at most). */
async function ended(jobs: BackupJobs, kind: 'backup' | 'restore', jobId: string): Promise<JobStatus> {
  for (let i = 0; i < 50; i++) {
    const status = jobs.status(kind, jobId);
    if (status.endTime !== null) return status;
    await turn();
  }
  throw new Error(`job ${jobId} did not end`);
}

describe('a job that starts', () => {
  it('is reported in progress, with a fresh 32-digit id, the start time, and for a backup a folder still unknown', () => {
    const clock = testClock();
    const jobs = new BackupJobs(clock);
    const started = jobs.start('backup', () => new Promise<JobOutcome>(() => undefined));
    expect(started.jobId).toMatch(/^[0-9a-f]{32}$/);
    expect(started).toStrictEqual({ status: 'InProgress', statusDetails: null, error: null, startTime: T0, endTime: null, jobId: started.jobId, azureStorageBlobContainerUri: null });
    expect(jobs.status('backup', started.jobId)).toStrictEqual(started);
  });

  it('reports a restore without a folder URI', () => {
    const jobs = new BackupJobs(testClock());
    const started = jobs.start('restore', () => new Promise<JobOutcome>(() => undefined));
    expect(started).toStrictEqual({ status: 'InProgress', statusDetails: null, error: null, startTime: T0, endTime: null, jobId: started.jobId });
    expect(Object.keys(jobs.status('restore', started.jobId))).not.toContain('azureStorageBlobContainerUri');
  });

  it('runs its work only after start returns', async () => {
    const jobs = new BackupJobs(testClock());
    let ran = false;
    jobs.start('backup', async () => {
      ran = true;
      return {};
    });
    expect(ran).toBe(false);
    await turn();
    expect(ran).toBe(true);
  });
});

describe('one job at a time', () => {
  it('refuses a second job of either kind while one runs, and is busy until it ends', async () => {
    const clock = testClock();
    const jobs = new BackupJobs(clock);
    expect(jobs.busy).toBe(false);
    const work = deferred<JobOutcome>();
    const first = jobs.start('backup', () => work.promise);
    expect(jobs.busy).toBe(true);
    for (const kind of ['backup', 'restore'] as const) {
      expect(refusal(() => jobs.start(kind, async () => ({}))), kind).toEqual({
        code: 'Conflict',
        message: 'A backup or restore operation is already in progress on this HSM: wait for it to finish',
      });
    }
    await turn();
    expect(jobs.busy).toBe(true);
    work.resolve({});
    await ended(jobs, 'backup', first.jobId);
    expect(jobs.busy).toBe(false);
    const second = jobs.start('restore', async () => ({}));
    expect(second.jobId).not.toBe(first.jobId);
    expect(jobs.busy).toBe(true);
    await ended(jobs, 'restore', second.jobId);
    expect(jobs.busy).toBe(false);
  });

  it('takes a new job once a failed one has ended', async () => {
    const jobs = new BackupJobs(testClock());
    const failed = jobs.start('restore', async () => {
      throw new HsmError('BadParameter', 'no');
    });
    await ended(jobs, 'restore', failed.jobId);
    expect(jobs.busy).toBe(false);
    expect(jobs.start('backup', async () => ({})).status).toBe('InProgress');
  });
});

describe('a job that ends', () => {
  it('reports a backup that succeeded with its details, the folder it wrote, and the end time', async () => {
    const clock = testClock();
    const jobs = new BackupJobs(clock);
    const work = deferred<JobOutcome>();
    const started = jobs.start('backup', () => work.promise);
    await turn();
    clock.seconds = T0 + 42;
    work.resolve({ statusDetails: 'Backup completed', folderUri: 'https://account.blob.core.windows.net/backups/mhsm-test-2030' });
    expect(await ended(jobs, 'backup', started.jobId)).toStrictEqual({
      status: 'Succeeded',
      statusDetails: 'Backup completed',
      error: null,
      startTime: T0,
      endTime: T0 + 42,
      jobId: started.jobId,
      azureStorageBlobContainerUri: 'https://account.blob.core.windows.net/backups/mhsm-test-2030',
    });
    // What start returned is the status as it was then.
    expect(started.status).toBe('InProgress');
    expect(started.endTime).toBeNull();
  });

  it('reports no details and no folder when the work names none', async () => {
    const jobs = new BackupJobs(testClock());
    const started = jobs.start('backup', async () => ({}));
    const status = await ended(jobs, 'backup', started.jobId);
    expect(status.status).toBe('Succeeded');
    expect(status.statusDetails).toBeNull();
    expect(status.azureStorageBlobContainerUri).toBeNull();
  });

  it('reports a restore that succeeded with its details and never a folder URI', async () => {
    const clock = testClock();
    const jobs = new BackupJobs(clock);
    const started = jobs.start('restore', async () => {
      clock.seconds = T0 + 7;
      return { statusDetails: 'Number of keys restored: 3, Number of key versions restored: 4', folderUri: 'https://account.blob.core.windows.net/backups/x' };
    });
    expect(await ended(jobs, 'restore', started.jobId)).toStrictEqual({
      status: 'Succeeded',
      statusDetails: 'Number of keys restored: 3, Number of key versions restored: 4',
      error: null,
      startTime: T0,
      endTime: T0 + 7,
      jobId: started.jobId,
    });
  });

  it('reports a refusal of the work by its code and message, also as the details, and does not log it', async () => {
    const clock = testClock();
    const jobs = new BackupJobs(clock);
    const logged: unknown[] = [];
    jobs.onUnexpected = (error) => logged.push(error);
    const started = jobs.start('restore', async () => {
      clock.seconds = T0 + 3;
      throw new HsmError('BadParameter', 'folderToRestore: the folder does not hold a full backup');
    });
    expect(await ended(jobs, 'restore', started.jobId)).toStrictEqual({
      status: 'Failed',
      statusDetails: 'folderToRestore: the folder does not hold a full backup',
      error: { code: 'BadParameter', message: 'folderToRestore: the folder does not hold a full backup' },
      startTime: T0,
      endTime: T0 + 3,
      jobId: started.jobId,
    });
    expect(logged).toEqual([]);
  });

  it('reports an unexpected failure as an internal error without its detail, and hands the error to the log', async () => {
    const clock = testClock();
    const jobs = new BackupJobs(clock);
    const logged: unknown[] = [];
    jobs.onUnexpected = (error) => logged.push(error);
    const cause = new Error('CKR_DEVICE_ERROR at /var/lib/softhsm/tokens');
    const started = jobs.start('backup', async () => {
      throw cause;
    });
    expect(await ended(jobs, 'backup', started.jobId)).toStrictEqual({
      status: 'Failed',
      statusDetails: 'The job failed unexpectedly; see the emulator log',
      error: { code: 'InternalError', message: 'The job failed unexpectedly; see the emulator log' },
      startTime: T0,
      endTime: T0,
      jobId: started.jobId,
      azureStorageBlobContainerUri: null,
    });
    expect(logged).toEqual([cause]);
  });
});

describe('job status', () => {
  it('is found by id in any case, and is a copy the caller cannot change', async () => {
    const jobs = new BackupJobs(testClock());
    const started = jobs.start('backup', async () => ({ folderUri: 'https://a.blob.core.windows.net/c/f' }));
    await ended(jobs, 'backup', started.jobId);
    const upper = jobs.status('backup', started.jobId.toUpperCase());
    expect(upper.jobId).toBe(started.jobId);
    upper.status = 'Failed';
    expect(jobs.status('backup', started.jobId).status).toBe('Succeeded');
  });

  it('refuses an unknown id, and the id of a job of the other kind, naming the kind and the id', () => {
    const jobs = new BackupJobs(testClock());
    const backup = jobs.start('backup', () => new Promise<JobOutcome>(() => undefined));
    expect(refusal(() => jobs.status('restore', backup.jobId))).toEqual({ code: 'NotFound', message: `No restore job with id ${backup.jobId} on this HSM` });
    expect(refusal(() => jobs.status('backup', 'feedface'))).toEqual({ code: 'NotFound', message: 'No backup job with id feedface on this HSM' });
  });

  it('names at most 64 characters of an unknown id', () => {
    const jobs = new BackupJobs(testClock());
    const long = `${'a'.repeat(64)}${'b'.repeat(100)}`;
    expect(refusal(() => jobs.status('backup', long))).toEqual({ code: 'NotFound', message: `No backup job with id ${'a'.repeat(64)} on this HSM` });
  });

  it('remembers the last hundred jobs: the oldest is forgotten when the hundred-and-first starts', async () => {
    const jobs = new BackupJobs(testClock());
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const { jobId } = jobs.start('restore', async () => ({ statusDetails: `job ${i}` }));
      ids.push(jobId);
      await ended(jobs, 'restore', jobId);
    }
    expect(jobs.status('restore', ids[0]!).statusDetails).toBe('job 0');
    const last = jobs.start('restore', async () => ({ statusDetails: 'job 100' }));
    await ended(jobs, 'restore', last.jobId);
    expect(refusal(() => jobs.status('restore', ids[0]!))).toEqual({ code: 'NotFound', message: `No restore job with id ${ids[0]} on this HSM` });
    expect(jobs.status('restore', ids[1]!).statusDetails).toBe('job 1');
    expect(jobs.status('restore', last.jobId).statusDetails).toBe('job 100');
  });
});
