// One loaded and initialised instance per module path: C_Initialize is process-wide, so every
// token opened in this process shares it. Reference-counted so that C_Finalize runs when the
// last user releases it.
import { type NativeModule, loadNativeModule } from '../native/addon.js';
import { isModuleLoadError, isPkcs11Error } from '../native/errors.js';
import { TokenError } from './errors.js';

interface Entry {
  module: NativeModule;
  users: number;
}

const loaded = new Map<string, Entry>();

export function acquireModule(modulePath: string): NativeModule {
  const existing = loaded.get(modulePath);
  if (existing) {
    existing.users++;
    return existing.module;
  }
  let module: NativeModule;
  try {
    module = loadNativeModule(modulePath);
  } catch (error) {
    if (isModuleLoadError(error)) throw new TokenError('MODULE_UNAVAILABLE', error.message, { cause: error });
    throw error;
  }
  try {
    module.initialize();
  } catch (error) {
    // Another library in this process (another binding) may have initialised it already.
    if (!isPkcs11Error(error, 'CKR_CRYPTOKI_ALREADY_INITIALIZED')) {
      throw new TokenError('MODULE_UNAVAILABLE', `cannot initialise PKCS#11 module ${modulePath}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  loaded.set(modulePath, { module, users: 1 });
  return module;
}

export function releaseModule(module: NativeModule): void {
  const entry = loaded.get(module.path);
  if (!entry || entry.module !== module) return;
  entry.users--;
  if (entry.users > 0) return;
  loaded.delete(module.path);
  try {
    module.finalize();
  } catch (error) {
    if (!isPkcs11Error(error, 'CKR_CRYPTOKI_NOT_INITIALIZED')) throw error;
  }
}
