// Scopes of role assignments: '/' (the whole HSM), '/keys' (every key) and '/keys/{name}' (one key).
import { HsmError } from '../hsm/errors.js';

const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** The canonical form of a scope written in a URL or a body: '', '/' and '//' are the root. */
export function parseScope(text: string, field = 'scope'): string {
  const trimmed = text.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  const parts = trimmed.split('/');
  if (parts[0] === '' && parts[1]?.toLowerCase() === 'keys') {
    if (parts.length === 2) return '/keys';
    if (parts.length === 3 && KEY_NAME.test(parts[2] as string)) return `/keys/${parts[2]}`;
  }
  throw new HsmError('BadParameter', `${field}: must be '/', '/keys' or '/keys/{key name}', not '${text.slice(0, 140)}'`);
}

/**
 * The scope of the key a path names. A name that is not a key name addresses no key: it is
 * authorized at '/keys' (and then refused by the key rules).
 */
export function keyScope(name: string): string {
  return KEY_NAME.test(name) ? `/keys/${name}` : '/keys';
}

/** Whether an assignment at `assigned` reaches `target`: a scope covers itself and what lies under it. */
export function covers(assigned: string, target: string): boolean {
  if (assigned === '/') return true;
  const a = assigned.toLowerCase();
  const t = target.toLowerCase();
  return t === a || t.startsWith(`${a}/`);
}

/** Scopes name keys without regard to case, as key names are. */
export function sameScope(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
