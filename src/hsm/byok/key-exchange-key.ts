// The key-exchange key (KEK) a transfer blob names: an RSA-HSM key of this HSM whose key_ops are
// exactly ["import"]. It only ever unwraps BYOK blobs; the service refuses any other use of it.
import type { KeyVersionRecord } from '../../store/key-records.js';
import { HsmError } from '../errors.js';

function bad(message: string): HsmError {
  return new HsmError('BadParameter', `key.key_hsm: header.kid: ${message}`);
}

/** The key name and version (if given) of a kid https://{hsm}/keys/{name}[/{version}]. */
export function kekReference(kid: string): { name: string; version?: string } {
  let path: string | undefined;
  try {
    const url = new URL(kid);
    if (url.protocol === 'https:') path = url.pathname;
  } catch {
    path = undefined;
  }
  const match = path === undefined ? null : /^\/keys\/([0-9a-zA-Z-]{1,127})(?:\/([0-9a-zA-Z]{1,64}))?\/?$/.exec(path);
  if (!match) throw bad(`'${kid.slice(0, 200)}' is not a key identifier (https://{hsm}/keys/{name}/{version})`);
  return { name: match[1] as string, ...(match[2] ? { version: match[2] } : {}) };
}

/** A key-exchange key's operations: exactly ["import"]. */
export function isKeyExchangeKeyOps(keyOps: readonly string[]): boolean {
  return keyOps.length === 1 && keyOps[0] === 'import';
}

export function assertKeyExchangeKey(version: KeyVersionRecord | undefined, kid: string): asserts version is KeyVersionRecord {
  if (!version) throw bad(`this HSM has no key-exchange key ${kid.slice(0, 200)}`);
  const { keyOps, spec } = version;
  if (spec.type !== 'rsa' || !isKeyExchangeKeyOps(keyOps)) {
    throw bad(`${version.name} is not a key-exchange key (an RSA-HSM key whose key_ops are exactly ["import"])`);
  }
}
