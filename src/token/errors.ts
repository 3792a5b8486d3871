// Errors of the token layer that are not a single PKCS#11 return value.
import { isPkcs11Error } from '../native/errors.js';

export type TokenErrorCode =
  | 'MODULE_UNAVAILABLE'
  | 'TOKEN_NOT_FOUND'
  | 'PIN_INCORRECT'
  | 'SO_PIN_INCORRECT'
  | 'OBJECT_NOT_FOUND'
  | 'OBJECT_AMBIGUOUS'
  | 'TOKEN_CLOSED'
  | 'PUBLIC_POINT_NOT_FOUND';

export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    readonly code: TokenErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const SESSION_LOST = new Set(['CKR_SESSION_HANDLE_INVALID', 'CKR_SESSION_CLOSED', 'CKR_USER_NOT_LOGGED_IN']);
const HANDLE_INVALID = new Set([
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_WRAPPING_KEY_HANDLE_INVALID',
  'CKR_UNWRAPPING_KEY_HANDLE_INVALID',
]);

/** The token dropped our sessions or our login (for example when all sessions were closed). */
export function isSessionLost(error: unknown): boolean {
  return isPkcs11Error(error) && SESSION_LOST.has(error.code);
}

/** A cached object handle no longer names an object. */
export function isHandleInvalid(error: unknown): boolean {
  return isPkcs11Error(error) && HANDLE_INVALID.has(error.code);
}

/**
 * The CKR_* name of a failed token call, or undefined for any other error: what the layers above
 * the token read, so that none of them needs the addon's error objects.
 */
export function tokenFailureCode(error: unknown): string | undefined {
  return isPkcs11Error(error) ? error.code : undefined;
}
