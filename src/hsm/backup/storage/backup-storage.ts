// Where full backups go: the contract the backup and restore jobs use, whatever holds the blobs
// (an Azure Blob Storage container, Azurite, or a local directory with the same layout).
//
// Layout, as the service's: a container holds one folder per backup, named
// mhsm-{hsmName}-{yyyyMMddHHmmss}{hundredths} (UTC), and a folder holds the backup's blobs.
// Blob names are relative to their folder and may have `/`-separated segments.

/** What a job needs of the storage: a backup writes, a restore reads. */
export type BackupAccess = 'write' | 'read';

export interface BackupFolderStore {
  /** The folder's name (one segment, for example mhsm-contoso-2022102422582377). */
  readonly name: string;
  /** A short description for messages (account, container, folder); never a secret. */
  readonly where: string;
  /** The folder's URL without any SAS: what FullBackupOperation.azureStorageBlobContainerUri reports. */
  readonly uri: string;
  /** Writes one whole blob under the folder, replacing any blob of that name. */
  write(name: string, data: Buffer): Promise<void>;
  /** One blob's content; StorageError 'NotFound' if it is missing. */
  read(name: string): Promise<Buffer>;
  /** The names of the folder's blobs (relative to it), sorted; empty if the folder has none. */
  list(): Promise<string[]>;
}

export interface BackupStorage {
  /** A short description for messages (account and container, or directory); never a secret. */
  readonly where: string;
  /**
   * Checks, before a job starts, that the container exists and that the credential allows what the
   * job needs; throws a StorageError (Forbidden, NotFound, Unreachable, BadSas).
   */
  check(access: BackupAccess): Promise<void>;
  /** The folder of a new backup of this HSM, named from `now` as the service names it. */
  newFolder(hsmName: string, now: Date): BackupFolderStore;
  /** An existing backup's folder by name (StorageError 'BadName' if the name cannot be one). */
  folder(name: string): BackupFolderStore;
}

/**
 * Input errors (thrown synchronously when storage is opened, so that a route can answer 400 as the
 * service does for an invalid SAS): BadUri, BadSas, BadName, ManagedIdentityUnavailable.
 * Storage answers (usually a Failed job): NotFound, Forbidden, Unreachable, Failed.
 */
export type StorageErrorCode =
  | 'BadUri'
  | 'BadSas'
  | 'BadName'
  | 'ManagedIdentityUnavailable'
  | 'NotFound'
  | 'Forbidden'
  | 'Unreachable'
  | 'Failed';

const INPUT_CODES: ReadonlySet<StorageErrorCode> = new Set(['BadUri', 'BadSas', 'BadName', 'ManagedIdentityUnavailable']);

/** A storage failure. Its message and cause never hold a SAS signature. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    /** The request field at fault (storageResourceUri, token, useManagedIdentity, folder), for input errors. */
    readonly field?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Whether the caller's input was wrong (a 400), rather than the storage refusing or failing. */
  get isInputError(): boolean {
    return INPUT_CODES.has(this.code);
  }
}

/** Replaces every SAS signature in a text (plain or percent-encoded `sig=`) with `sig=REDACTED`. */
export function redactSas(text: string): string {
  return text.replace(/(sig(?:=|%3D))[^&\s"'<>]*/gi, '$1REDACTED');
}

/** One folder or blob-name segment: no `.`/`..`, no separators, nothing a shell or URL must quote. */
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/;

/** Throws 'BadName' unless `name` is one safe segment (a folder name). */
export function checkFolderName(name: string, field = 'folder'): void {
  if (typeof name !== 'string' || !SEGMENT.test(name)) {
    throw new StorageError('BadName', `${field}: must be one path segment of 1 to 255 letters, digits, '.', '_' or '-', not starting with '.' or '-'`, field);
  }
}

/** Throws 'BadName' unless `name` is a blob name of safe `/`-separated segments. */
export function checkBlobName(name: string): void {
  const segments = typeof name === 'string' ? name.split('/') : [];
  if (segments.length === 0 || segments.length > 16 || !segments.every((segment) => SEGMENT.test(segment))) {
    throw new StorageError('BadName', `name: a blob name must be up to 16 '/'-separated segments of letters, digits, '.', '_' or '-', none empty or starting with '.' or '-'`, 'name');
  }
}

/** HSM names as `mhsm start --name` takes them (src/cli/config.ts): 1 to 24 letters, digits and dashes. */
const HSM_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,22}[A-Za-z0-9])?$/;

/** mhsm-{hsmName}-{yyyyMMddHHmmss}{hundredths of a second}, in UTC, as in `mhsm-contoso-2022102422582377`. */
export function backupFolderName(hsmName: string, now: Date): string {
  if (typeof hsmName !== 'string' || !HSM_NAME.test(hsmName)) {
    throw new StorageError('BadName', 'hsmName: must be 1 to 24 letters, digits and dashes, not starting or ending with a dash', 'hsmName');
  }
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new StorageError('BadName', 'now: must be a valid date', 'now');
  const two = (n: number) => String(n).padStart(2, '0');
  const stamp =
    String(now.getUTCFullYear()).padStart(4, '0') +
    two(now.getUTCMonth() + 1) +
    two(now.getUTCDate()) +
    two(now.getUTCHours()) +
    two(now.getUTCMinutes()) +
    two(now.getUTCSeconds()) +
    two(Math.floor(now.getUTCMilliseconds() / 10));
  return `mhsm-${hsmName}-${stamp}`;
}
