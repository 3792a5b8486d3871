// The service's rules for key names, key types, operations, tags and attributes, each failing
// with a BadParameter that names the field and the rule.
import type { CurveName } from '../token/curves.js';
import type { KeySpec } from '../token/key-spec.js';
import { HsmError } from './errors.js';

const NAME = /^[0-9a-zA-Z-]+$/;
export const MAX_NAME_LENGTH = 127;
export const MAX_TAGS = 15;
export const MAX_TAG_LENGTH = 256;

export type KeyOperation = 'encrypt' | 'decrypt' | 'sign' | 'verify' | 'wrapKey' | 'unwrapKey' | 'deriveKey' | 'import' | 'export';
const ALL_OPERATIONS: readonly KeyOperation[] = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'deriveKey', 'import', 'export'];

/** What each kind of key may be used for, and what it gets when key_ops is not given. */
const OPERATIONS: Readonly<Record<KeySpec['type'], { allowed: readonly KeyOperation[]; defaults: readonly KeyOperation[] }>> = {
  rsa: {
    allowed: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export'],
    defaults: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'],
  },
  ec: { allowed: ['sign', 'verify', 'export'], defaults: ['sign', 'verify'] },
  // The service gives an oct-HSM key every symmetric operation by default (as recorded), though
  // no algorithm signs or derives with an AES key.
  aes: {
    allowed: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'sign', 'verify', 'deriveKey', 'export'],
    defaults: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey', 'sign', 'verify', 'deriveKey'],
  },
  'generic-secret': { allowed: ['sign', 'verify', 'export'], defaults: ['sign', 'verify'] },
};

function bad(message: string): HsmError {
  return new HsmError('BadParameter', message);
}

export function checkKeyName(name: string): void {
  if (!NAME.test(name) || name.length > MAX_NAME_LENGTH) {
    throw bad(`key name '${name.slice(0, 140)}' is invalid: use 1 to ${MAX_NAME_LENGTH} letters, digits and dashes`);
  }
}

export function keyOperations(spec: KeySpec, requested: unknown): KeyOperation[] {
  const rules = OPERATIONS[spec.type];
  if (requested === undefined || requested === null) return [...rules.defaults];
  if (!Array.isArray(requested)) throw bad('key_ops: must be an array of operation names');
  const operations = requested.map((operation, index) => {
    if (typeof operation !== 'string' || !(ALL_OPERATIONS as readonly string[]).includes(operation)) {
      throw bad(`key_ops[${index}]: must be one of ${ALL_OPERATIONS.join(', ')}`);
    }
    if (!rules.allowed.includes(operation as KeyOperation)) throw bad(`key_ops[${index}]: '${operation}' is not an operation of this key type`);
    return operation as KeyOperation;
  });
  const distinct = [...new Set(operations)];
  if (distinct.includes('import') && distinct.length > 1) {
    throw bad("key_ops: 'import' marks a key-exchange key and cannot be combined with other operations");
  }
  return distinct;
}

export function checkTags(tags: unknown): Record<string, string> {
  if (tags === undefined || tags === null) return {};
  if (typeof tags !== 'object' || Array.isArray(tags)) throw bad('tags: must be an object of string values');
  const entries = Object.entries(tags as Record<string, unknown>);
  if (entries.length > MAX_TAGS) throw bad(`tags: at most ${MAX_TAGS} tags, not ${entries.length}`);
  for (const [name, value] of entries) {
    if (typeof value !== 'string') throw bad(`tags.${name}: must be a string`);
    if (name.length === 0 || name.length > MAX_TAG_LENGTH) throw bad(`tags: a tag name must be 1 to ${MAX_TAG_LENGTH} characters`);
    if (value.length > MAX_TAG_LENGTH) throw bad(`tags.${name}: a tag value must be at most ${MAX_TAG_LENGTH} characters`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

export interface AttributeInput {
  enabled?: unknown;
  nbf?: unknown;
  exp?: unknown;
  exportable?: unknown;
}

export interface CheckedAttributes {
  enabled?: boolean;
  notBefore?: number | null;
  expires?: number | null;
  exportable?: boolean;
}

function timestamp(value: unknown, field: string): number | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw bad(`attributes.${field}: must be a whole number of Unix seconds`);
  return value;
}

export function checkAttributes(attributes: unknown): CheckedAttributes {
  if (attributes === undefined || attributes === null) return {};
  if (typeof attributes !== 'object' || Array.isArray(attributes)) throw bad('attributes: must be an object');
  const input = attributes as AttributeInput;
  const checked: CheckedAttributes = {};
  if (input.enabled !== undefined) {
    if (typeof input.enabled !== 'boolean') throw bad('attributes.enabled: must be true or false');
    checked.enabled = input.enabled;
  }
  if (input.exportable !== undefined) {
    if (typeof input.exportable !== 'boolean') throw bad('attributes.exportable: must be true or false');
    checked.exportable = input.exportable;
  }
  const notBefore = timestamp(input.nbf, 'nbf');
  const expires = timestamp(input.exp, 'exp');
  if (notBefore !== undefined) checked.notBefore = notBefore;
  if (expires !== undefined) checked.expires = expires;
  if (typeof notBefore === 'number' && typeof expires === 'number' && expires <= notBefore) {
    throw bad('attributes.exp: must be later than attributes.nbf');
  }
  return checked;
}

const CURVES: Readonly<Record<string, CurveName>> = { 'P-256': 'P-256', 'P-384': 'P-384', 'P-521': 'P-521', 'P-256K': 'secp256k1' };

/**
 * An oct key asked for with only sign and verify is an HMAC key (a generic secret in the token);
 * otherwise an oct key is an AES key.
 */
export function wantsHmac(keyOps: unknown): boolean {
  return Array.isArray(keyOps) && keyOps.length > 0 && keyOps.every((op) => op === 'sign' || op === 'verify');
}

/** The key spec of a create request: kty with key_size or crv, and key_ops for oct keys. */
export function specForCreate(kty: unknown, keySize: unknown, crv: unknown, keyOps?: unknown, publicExponent?: unknown): KeySpec {
  if (publicExponent !== undefined && publicExponent !== null && kty !== 'RSA' && kty !== 'RSA-HSM') throw bad('public_exponent: only RSA keys have one');
  switch (kty) {
    case 'RSA':
    case 'RSA-HSM': {
      const bits = keySize ?? 2048;
      if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw bad('key_size: an RSA key must be 2048, 3072 or 4096 bits');
      if (publicExponent === undefined || publicExponent === null || publicExponent === 65537) return { type: 'rsa', bits };
      if (publicExponent === 3) return { type: 'rsa', bits, publicExponent: 3 };
      throw bad('public_exponent: an RSA-HSM key takes 3 or 65537');
    }
    case 'EC':
    case 'EC-HSM': {
      if (keySize !== undefined && keySize !== null) throw bad('key_size: not used with EC keys; give crv');
      // Only an absent crv means the default: a crv of another type is refused, not defaulted.
      const curve = crv === undefined || crv === null ? CURVES['P-256'] : typeof crv === 'string' && Object.hasOwn(CURVES, crv) ? CURVES[crv] : undefined;
      if (!curve) throw bad('crv: must be one of P-256, P-256K, P-384, P-521');
      return { type: 'ec', curve };
    }
    case 'oct':
    case 'oct-HSM':
    // The service takes AES for oct-HSM on create, and answers oct-HSM.
    case 'AES': {
      const bits = keySize ?? 256;
      if (bits !== 128 && bits !== 192 && bits !== 256) throw bad('key_size: an oct key must be 128, 192 or 256 bits');
      return wantsHmac(keyOps) ? { type: 'generic-secret', bits } : { type: 'aes', bits };
    }
    default:
      throw bad(`kty: must be one of RSA-HSM, EC-HSM, oct-HSM (or RSA, EC, oct, AES), not ${JSON.stringify(kty)?.slice(0, 60)}`);
  }
}
