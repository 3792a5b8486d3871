// Checks that an error keeps a SAS token's signature to itself: not in its message, its cause or
// anything else it holds, plain or percent-encoded.
import { inspect } from 'node:util';
import { expect } from 'vitest';

/** The `sig` field of a SAS token (with or without its `?`). */
export function sigOf(sas: string): string {
  const sig = new URLSearchParams(sas.replace(/^\?/, '')).get('sig');
  if (!sig) throw new Error('the test SAS has no sig');
  return sig;
}

/** Every string reachable from a value through its own properties (enumerable or not), causes included. */
export function stringsIn(value: unknown, seen = new Set<unknown>(), depth = 0): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null || seen.has(value) || depth > 8) return [];
  seen.add(value);
  const strings: string[] = [];
  for (const key of Reflect.ownKeys(value)) {
    let child: unknown;
    try {
      child = (value as Record<PropertyKey, unknown>)[key];
    } catch {
      continue;
    }
    strings.push(...stringsIn(child, seen, depth + 1));
  }
  if (value instanceof Map || value instanceof Set) for (const entry of value) strings.push(...stringsIn(entry, seen, depth + 1));
  return strings;
}

/** Neither the message nor anything the error holds (its cause included) has the signature, plain or percent-encoded. */
export function expectNoSecret(error: unknown, sas: string): void {
  const sig = sigOf(sas);
  for (const text of [...stringsIn(error), inspect(error, { depth: 8 })]) {
    expect(text).not.toContain(sig);
    expect(text).not.toContain(encodeURIComponent(sig));
  }
}
