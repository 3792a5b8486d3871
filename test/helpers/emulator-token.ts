// The emulator's token and store seen from outside it: another binding (pkcs11js) in another
// process, and its SQLite store read directly (after the emulator stopped, or read-only).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { locateSoftHsm } from '../../src/token/embedded-softhsm.js';

function pkcs11jsScript(script: string, dataDir: string, extra: NodeJS.ProcessEnv = {}): unknown {
  const pins = JSON.parse(readFileSync(path.join(dataDir, 'softhsm', 'pins.json'), 'utf8')) as { label: string; userPin: string };
  const output = execFileSync(process.execPath, [fileURLToPath(new URL(script, import.meta.url))], {
    env: { ...process.env, SOFTHSM2_CONF: path.join(dataDir, 'softhsm', 'softhsm2.conf'), MODULE: locateSoftHsm(), LABEL: pins.label, PIN: pins.userPin, ...extra },
    encoding: 'utf8',
  });
  return JSON.parse(output);
}

export interface InspectedKey {
  id: string;
  found: number;
  attributes: Record<string, boolean>;
  /** The CKR_* name of reading the secret, or 'read'. */
  readSecret: string;
  /** The CKR_* name of wrapping it under a fresh untrusted AES key, or 'wrapped'. */
  wrap: string;
}

export interface KeyToInspect {
  id: string;
  class: number;
  secretAttribute: number;
  names?: string[];
}

/** inspect-with-pkcs11js.cjs on the emulator's embedded token. */
export function inspectEmulatorToken(dataDir: string, keys: readonly KeyToInspect[]): InspectedKey[] {
  return pkcs11jsScript('./inspect-with-pkcs11js.cjs', dataDir, { KEYS: JSON.stringify(keys) }) as InspectedKey[];
}

/** The token objects by `${class}:${label}`. */
export function emulatorTokenCounts(dataDir: string): Record<string, number> {
  return pkcs11jsScript('./count-with-pkcs11js.cjs', dataDir) as Record<string, number>;
}

export interface StoredVersion {
  name: string;
  version: string;
  tokenId: Buffer;
  spec: { type: string };
}

/** Every key version of the current generation, from the store (open it only with the emulator stopped). */
export function storedVersions(dataDir: string): StoredVersion[] {
  const db = new Database(path.join(dataDir, 'metadata.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT name, version, token_id, spec FROM key_versions WHERE generation = (SELECT current FROM key_generation) ORDER BY name, version').all() as Array<{ name: string; version: string; token_id: Buffer; spec: string }>;
    return rows.map((row) => ({ name: row.name, version: row.version, tokenId: row.token_id, spec: JSON.parse(row.spec) }));
  } finally {
    db.close();
  }
}
