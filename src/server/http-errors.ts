// The one place where domain errors become HTTP statuses and the service's error envelope.
import type { HsmErrorCode } from '../hsm/errors.js';

export const STATUS_OF: Readonly<Record<HsmErrorCode, number>> = {
  BadParameter: 400,
  NotSupported: 400,
  Forbidden: 403,
  AccessDenied: 403,
  KeyNotFound: 404,
  RoleDefinitionNotFound: 404,
  RoleAssignmentNotFound: 404,
  Conflict: 409,
  Unavailable: 503,
};

export interface ErrorEnvelope {
  error: { code: string; message: string; innererror: { code: string } | null };
}

/** The service ends its messages with the request's id. */
export function envelope(code: string, message: string, requestId: string): ErrorEnvelope {
  return { error: { code, message: `${message} (Activity ID: ${requestId})`, innererror: null } };
}
