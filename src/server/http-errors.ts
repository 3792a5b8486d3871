// The one place where domain errors become HTTP statuses and the service's error envelope.
import type { HsmErrorCode } from '../hsm/errors.js';

export const STATUS_OF: Readonly<Record<HsmErrorCode, number>> = {
  BadParameter: 400,
  NotSupported: 400,
  Forbidden: 403,
  AccessDenied: 403,
  KeyNotFound: 404,
  NotFound: 404,
  RoleDefinitionNotFound: 404,
  RoleAssignmentNotFound: 404,
  Conflict: 409,
  Unavailable: 503,
  Throttled: 429,
};

export interface ErrorEnvelope {
  error: { code: string; message: string; innererror?: { code: string } };
}

/** Messages may repeat the caller's input; they are cut to this length. */
const MAX_MESSAGE = 1024;

/** The service ends its messages with the request's id; innererror only where there is one. */
export function envelope(code: string, message: string, requestId: string, verbatim = false): ErrorEnvelope {
  const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
  return { error: { code, message: verbatim ? text : `${text} (Activity ID: ${requestId})` } };
}
