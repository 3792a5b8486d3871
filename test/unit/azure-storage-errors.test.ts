// How the storage account's failures become StorageErrors (src/hsm/backup/storage/azure-storage-errors.ts):
// the status and service code read from the SDK's RestError, the message for each kind of answer,
// and a cause that keeps the summary but never the request, whose URL holds the SAS. The answers a
// real Azurite gives are in test/hsm/azure-blob-storage.test.ts; here each case is built as the SDK
// builds it, including those Azurite never sends (401, 404 without a code, 5xx).
import { inspect } from 'node:util';
import { RestError } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { type FailedOperation, fromStorageFailure, storageErrorCode, storageStatus } from '../../src/hsm/backup/storage/azure-storage-errors.js';
import { StorageError } from '../../src/hsm/backup/storage/backup-storage.js';

const SIG = 'Zm9vYmFy%2Bc2VjcmV0%3D';
const SAS_URL = `https://127.0.0.1:10000/devstoreaccount1/backups/mhsm-x-2022102422582377/manifest?sv=2021-08-06&sp=r&sig=${SIG}`;
const CONTAINER = 'container backups of storage account devstoreaccount1';
const WRITE: FailedOperation = { doing: 'write blob manifest in folder mhsm-x-2022102422582377', container: CONTAINER };
const READ: FailedOperation = { doing: 'read blob manifest', container: CONTAINER, blob: 'blob manifest of folder mhsm-x-2022102422582377' };
const TAIL = 'the SAS is not valid for this container, lacks a permission, or has expired';

/** Response headers as the SDK gives them: looked up by name. */
function headers(values: Record<string, string>): { get(name: string): string | undefined } {
  return { get: (name) => values[name.toLowerCase()] };
}

/** A RestError as the SDK throws it for an answer (or for none, without statusCode), with the request's URL. */
function restError(
  message: string,
  options: { statusCode?: number; code?: string; errorCode?: unknown; header?: string; response?: object } = {},
): RestError {
  const request = { url: SAS_URL, method: 'GET', headers: headers({}) };
  const response = options.response ?? { status: options.statusCode ?? 0, request, headers: headers(options.header === undefined ? {} : { 'x-ms-error-code': options.header }) };
  const error = new RestError(message, {
    ...(options.statusCode === undefined ? {} : { statusCode: options.statusCode }),
    ...(options.code === undefined ? {} : { code: options.code }),
    request: request as never,
    ...(options.statusCode === undefined && options.response === undefined ? {} : { response: response as never }),
  });
  if (options.errorCode !== undefined) error.details = { errorCode: options.errorCode };
  return error;
}

function expectNoSig(error: unknown): void {
  const decoded = decodeURIComponent(SIG);
  const text = inspect(error, { depth: 8, showHidden: true });
  expect(text).not.toContain(SIG);
  expect(text).not.toContain(decoded);
}

/** The parts of a StorageError a caller relies on, its cause's message included. */
function parts(error: StorageError): { code: string; message: string; field: string | undefined; cause: string | undefined } {
  return { code: error.code, message: error.message, field: error.field, cause: error.cause instanceof Error ? error.cause.message : undefined };
}

describe('storageErrorCode', () => {
  it("reads the service's code from the error's code, then details.errorCode, then the x-ms-error-code header", () => {
    expect(storageErrorCode(restError('m', { statusCode: 404, code: 'BlobNotFound', errorCode: 'Other', header: 'Third' }))).toBe('BlobNotFound');
    // HEAD answers have no body: the code is only in the header, which the SDK copies to details.
    expect(storageErrorCode(restError('', { statusCode: 404, errorCode: 'ContainerNotFound', header: 'Third' }))).toBe('ContainerNotFound');
    expect(storageErrorCode(restError('', { statusCode: 403, header: 'AuthorizationFailure' }))).toBe('AuthorizationFailure');
  });

  it('skips what is not a code of letters: the SDK\'s own codes, numbers, empty strings', () => {
    expect(storageErrorCode(restError('m', { code: RestError.REQUEST_SEND_ERROR, errorCode: 'ContainerNotFound' }))).toBe('ContainerNotFound');
    expect(storageErrorCode(restError('m', { statusCode: 500, code: 'PARSE_ERROR', header: 'InternalError' }))).toBe('InternalError');
    expect(storageErrorCode(restError('m', { statusCode: 500, code: '500Error', errorCode: 42, header: 'InternalError' }))).toBe('InternalError');
    expect(storageErrorCode(restError('m', { statusCode: 500, code: '', errorCode: 'Bad Code', header: 'Code1' }))).toBeUndefined();
    expect(storageErrorCode(restError('m', { code: RestError.REQUEST_SEND_ERROR }))).toBeUndefined();
    expect(storageErrorCode(restError('m', { statusCode: 500 }))).toBeUndefined();
  });

  it('copes with an answer without headers and with no answer at all', () => {
    expect(storageErrorCode(restError('m', { statusCode: 500, errorCode: 'ServerBusy', response: { status: 500 } }))).toBe('ServerBusy');
    expect(storageErrorCode(restError('m', { statusCode: 500, response: { status: 500 } }))).toBeUndefined();
    expect(storageErrorCode(restError('connect ECONNREFUSED 127.0.0.1:1', { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
  });

  it('is undefined for anything but a RestError, whatever it carries', () => {
    const errno = Object.assign(new Error('no such file'), { code: 'ENOENT', statusCode: 404 });
    const lookalike = { name: 'RestError', message: 'm', statusCode: 404, code: 'BlobNotFound' };
    const renamed = Object.assign(new TypeError('m'), { code: 'BlobNotFound', statusCode: 404 });
    for (const value of [errno, lookalike, renamed, 'BlobNotFound', undefined, null, 404]) {
      expect(storageErrorCode(value), inspect(value)).toBeUndefined();
      expect(storageStatus(value), inspect(value)).toBeUndefined();
    }
  });

  it('takes any Error named RestError, from whichever copy of the SDK made it', () => {
    const foreign = Object.assign(new Error('m'), { name: 'RestError', statusCode: 409, code: 'ContainerBeingDeleted' });
    expect(storageErrorCode(foreign)).toBe('ContainerBeingDeleted');
    expect(storageStatus(foreign)).toBe(409);
  });
});

describe('storageStatus', () => {
  it("is the answer's HTTP status, undefined when there was no answer", () => {
    expect(storageStatus(restError('m', { statusCode: 412 }))).toBe(412);
    expect(storageStatus(restError('m', { code: 'ECONNRESET' }))).toBeUndefined();
  });
});

describe('fromStorageFailure', () => {
  it('passes a StorageError through as it is', () => {
    const own = new StorageError('BadName', 'name: bad', 'name');
    expect(fromStorageFailure(own, WRITE)).toBe(own);
  });

  it('reports a failure that is not an answer of the account as Failed, with the error summarised and the SAS redacted', () => {
    const failed = fromStorageFailure(new TypeError(`fetch failed for ${SAS_URL}`), WRITE);
    const summary = `TypeError: fetch failed for ${SAS_URL.replace(SIG, 'REDACTED')}`;
    expect(parts(failed)).toEqual({ code: 'Failed', message: `could not ${WRITE.doing}: ${summary}`, field: undefined, cause: summary });
    expect(failed.isInputError).toBe(false);
    expectNoSig(failed);
    expect(parts(fromStorageFailure('a thrown string', READ))).toEqual({
      code: 'Failed',
      message: `could not ${READ.doing}: a thrown string`,
      field: undefined,
      cause: 'a thrown string',
    });
  });

  it('reports no answer (refused, reset, TLS, timeout) as Unreachable, naming the container', () => {
    const error = restError(`connect ECONNREFUSED 127.0.0.1:1 while sending ${SAS_URL}`, { code: 'ECONNREFUSED' });
    const unreachable = fromStorageFailure(error, WRITE);
    const shown = `connect ECONNREFUSED 127.0.0.1:1 while sending ${SAS_URL.replace(SIG, 'REDACTED')}`;
    expect(parts(unreachable)).toEqual({ code: 'Unreachable', message: `could not reach ${CONTAINER} to ${WRITE.doing}: ${shown}`, field: undefined, cause: `RestError: ${shown}` });
    expectNoSig(unreachable);
  });

  it('reports 401 and 403 as Forbidden, with the status and, when there is one, the code', () => {
    const cases: Array<[RestError, string]> = [
      [restError('Server failed to authenticate the request.', { statusCode: 403, code: 'AuthorizationFailure' }), `(403 AuthorizationFailure)`],
      [restError('', { statusCode: 403, errorCode: 'AuthorizationPermissionMismatch' }), `(403 AuthorizationPermissionMismatch)`],
      [restError('', { statusCode: 403 }), '(403)'],
      [restError('Unauthorized', { statusCode: 401, code: 'InvalidAuthenticationInfo' }), '(401 InvalidAuthenticationInfo)'],
      [restError('', { statusCode: 401 }), '(401)'],
    ];
    for (const [error, said] of cases) {
      const forbidden = fromStorageFailure(error, WRITE);
      expect(parts(forbidden), said).toEqual({ code: 'Forbidden', message: `${CONTAINER} refused to ${WRITE.doing} ${said}: ${TAIL}`, field: undefined, cause: `RestError: ${error.message}` });
      expect(forbidden.cause).not.toBe(error);
      expectNoSig(forbidden);
    }
  });

  it('reports 404 as NotFound: the blob when the account says BlobNotFound of a blob, otherwise the container', () => {
    const cases: Array<[RestError, FailedOperation, string]> = [
      [restError('', { statusCode: 404, errorCode: 'BlobNotFound' }), READ, `${READ.blob} does not exist in ${CONTAINER} (BlobNotFound)`],
      [restError('The specified blob does not exist.', { statusCode: 404, code: 'BlobNotFound' }), WRITE, `${CONTAINER} does not exist (BlobNotFound)`],
      [restError('The specified container does not exist.', { statusCode: 404, code: 'ContainerNotFound' }), READ, `${CONTAINER} does not exist (ContainerNotFound)`],
      [restError('', { statusCode: 404 }), READ, `${CONTAINER} does not exist`],
      [restError('', { statusCode: 404 }), WRITE, `${CONTAINER} does not exist`],
    ];
    for (const [error, operation, missing] of cases) {
      const notFound = fromStorageFailure(error, operation);
      expect(parts(notFound), missing).toEqual({ code: 'NotFound', message: `could not ${operation.doing}: ${missing}`, field: undefined, cause: `RestError: ${error.message}` });
      expectNoSig(notFound);
    }
  });

  it('reports any other answer as Failed, with the status and, when there is one, the code', () => {
    const cases: Array<[RestError, string]> = [
      [restError('The server is busy.', { statusCode: 503, code: 'ServerBusy' }), `${CONTAINER} answered 503 ServerBusy to ${WRITE.doing}`],
      [restError('', { statusCode: 412, errorCode: 'LeaseIdMissing' }), `${CONTAINER} answered 412 LeaseIdMissing to ${WRITE.doing}`],
      [restError('Internal error', { statusCode: 500 }), `${CONTAINER} answered 500 to ${WRITE.doing}`],
      [restError('', { statusCode: 400, code: 'InvalidQueryParameterValue' }), `${CONTAINER} answered 400 InvalidQueryParameterValue to ${WRITE.doing}`],
    ];
    for (const [error, message] of cases) {
      const failed = fromStorageFailure(error, WRITE);
      expect(parts(failed), message).toEqual({ code: 'Failed', message, field: undefined, cause: `RestError: ${error.message}` });
      expectNoSig(failed);
    }
  });

  it("redacts a signature the service's message echoes, in the message and the cause", () => {
    const error = restError(`Signature did not match. sig=${SIG} was used`, { statusCode: 403, code: 'AuthorizationFailure' });
    const forbidden = fromStorageFailure(error, WRITE);
    expect((forbidden.cause as Error).message).toBe('RestError: Signature did not match. sig=REDACTED was used');
    expectNoSig(forbidden);
  });
});
