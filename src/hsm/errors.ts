// The domain's errors: one code per condition the service reports, mapped to HTTP in server/.
import { TokenError, tokenFailureCode } from '../token/errors.js';

export type HsmErrorCode =
  | 'BadParameter'
  | 'KeyNotFound'
  | 'NotFound'
  | 'RoleDefinitionNotFound'
  | 'RoleAssignmentNotFound'
  | 'Forbidden'
  | 'Conflict'
  | 'AccessDenied'
  | 'NotSupported'
  | 'Unavailable'
  | 'Throttled';

export class HsmError extends Error {
  override readonly name = 'HsmError';
  /** For Throttled: when the caller may try again. */
  readonly retryAfterSeconds: number | undefined;
  /** The service's own message, sent as it is (without the Activity ID): clients compare it. */
  readonly verbatim: boolean;
  constructor(
    readonly code: HsmErrorCode,
    message: string,
    options?: ErrorOptions & { retryAfterSeconds?: number; verbatim?: boolean },
  ) {
    super(message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.verbatim = options?.verbatim ?? false;
  }
}

export function badParameter(message: string): HsmError {
  return new HsmError('BadParameter', message);
}

/** Token codes that mean the caller's input was wrong, with the message the caller gets. */
const INPUT_ERRORS: Readonly<Record<string, string>> = {
  CKR_DATA_LEN_RANGE: 'the input has a length this algorithm and key cannot take',
  CKR_DATA_INVALID: 'the input is not valid for this algorithm',
  CKR_ENCRYPTED_DATA_LEN_RANGE: 'the ciphertext has a length this algorithm and key cannot take',
  CKR_ENCRYPTED_DATA_INVALID: 'the ciphertext could not be decrypted',
  CKR_WRAPPED_KEY_INVALID: 'the wrapped key could not be unwrapped',
  CKR_WRAPPED_KEY_LEN_RANGE: 'the wrapped key has a length this algorithm cannot take',
  CKR_SIGNATURE_LEN_RANGE: 'the signature has the wrong length',
  CKR_KEY_SIZE_RANGE: 'the key size does not fit this algorithm on this token',
};

/**
 * The one place where token errors become domain errors. Input errors become BadParameter;
 * anything else is unexpected and stays an internal error (logged with its cause, never shown).
 */
export function fromTokenError(error: unknown, context: string): Error {
  if (error instanceof HsmError) return error;
  const code = tokenFailureCode(error);
  const message = code === undefined ? undefined : INPUT_ERRORS[code];
  if (message) return new HsmError('BadParameter', `${context}: ${message}`, { cause: error });
  if (error instanceof TokenError && error.code === 'OBJECT_NOT_FOUND') {
    return new HsmError('KeyNotFound', `${context}: the key material is missing from the token`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}
