// The error objects the addon throws or rejects with.

/** A PKCS#11 return value other than CKR_OK: `code` is the CKR_* name, `fn` the C function. */
export interface Pkcs11Error extends Error {
  name: 'Pkcs11Error';
  code: string;
  rv: number;
  fn: string;
}

export function isPkcs11Error(error: unknown, code?: string): error is Pkcs11Error {
  if (!(error instanceof Error) || error.name !== 'Pkcs11Error') return false;
  const candidate = error as Partial<Pkcs11Error>;
  if (typeof candidate.rv !== 'number' || typeof candidate.code !== 'string') return false;
  return code === undefined || candidate.code === code;
}

/** Codes of the addon's own errors about loading a module (not PKCS#11 return values). */
export type ModuleLoadErrorCode = 'ERR_MODULE_NOT_FOUND' | 'ERR_MODULE_LOAD' | 'ERR_NOT_PKCS11';

export function isModuleLoadError(error: unknown): error is Error & { code: ModuleLoadErrorCode } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_MODULE_LOAD' || code === 'ERR_NOT_PKCS11');
}
