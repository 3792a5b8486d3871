// The one place where @azure/storage-blob's failures become StorageErrors. The SDK's RestError
// carries the request, whose URL holds the SAS: it is never kept as a cause, only its status,
// the service's error code and its message with any signature redacted.
import { StorageError, redactSas } from './backup-storage.js';

/** What was being done, for the message: "write blob manifest in folder F of container C of account A". */
export interface FailedOperation {
  readonly doing: string;
  /** The container's description: "container C of storage account A". */
  readonly container: string;
  /** For a missing blob: its description ("blob B in folder F"); otherwise a 404 means the container. */
  readonly blob?: string;
}

interface RestErrorLike {
  name: string;
  message: string;
  statusCode?: number;
  code?: string;
  details?: { errorCode?: unknown };
  response?: { headers?: { get(name: string): string | undefined } };
}

function isRestError(error: unknown): error is RestErrorLike {
  // Duck-typed: several copies of @azure/core-rest-pipeline may be installed, each with its own class.
  return error instanceof Error && error.name === 'RestError';
}

/**
 * The storage account's answer code (ContainerNotFound, AuthorizationPermissionMismatch, …), if
 * any. Answers to HEAD requests have no body: their code is only in the x-ms-error-code header,
 * which the SDK puts in `details.errorCode` and not in `code`.
 */
export function storageErrorCode(error: unknown): string | undefined {
  if (!isRestError(error)) return undefined;
  const candidates = [error.code, error.details?.errorCode, error.response?.headers?.get('x-ms-error-code')];
  return candidates.find((code): code is string => typeof code === 'string' && /^[A-Za-z]+$/.test(code));
}

/** The HTTP status of the storage account's answer; undefined when there was none. */
export function storageStatus(error: unknown): number | undefined {
  return isRestError(error) ? error.statusCode : undefined;
}

export function fromStorageFailure(error: unknown, operation: FailedOperation): StorageError {
  if (error instanceof StorageError) return error;
  const summary = redactSas(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  const cause = new Error(summary);
  if (!isRestError(error)) return new StorageError('Failed', `could not ${operation.doing}: ${summary}`, undefined, { cause });
  const status = error.statusCode;
  const code = storageErrorCode(error);
  if (status === undefined) {
    // No answer: connection refused or reset, DNS, TLS (an untrusted or mismatched certificate), timeout.
    return new StorageError('Unreachable', `could not reach ${operation.container} to ${operation.doing}: ${redactSas(error.message)}`, undefined, { cause });
  }
  if (status === 401 || status === 403) {
    return new StorageError(
      'Forbidden',
      `${operation.container} refused to ${operation.doing} (${status}${code ? ` ${code}` : ''}): the SAS is not valid for this container, lacks a permission, or has expired`,
      undefined,
      { cause },
    );
  }
  if (status === 404) {
    const missing = code === 'BlobNotFound' && operation.blob ? `${operation.blob} does not exist in ${operation.container}` : `${operation.container} does not exist`;
    return new StorageError('NotFound', `could not ${operation.doing}: ${missing}${code ? ` (${code})` : ''}`, undefined, { cause });
  }
  return new StorageError('Failed', `${operation.container} answered ${status}${code ? ` ${code}` : ''} to ${operation.doing}`, undefined, { cause });
}
