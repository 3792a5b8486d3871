// A key's release policy, as the service takes and returns it: `{contentType, immutable, data}`,
// `data` being base64url of a JSON policy. The policy is checked against the grammar (an anyOf
// of authorities, each with allOf or anyOf of claim conditions, nested at will, `equals` the one
// operator) and stored normalized as the service returns it: `{claim, condition: "equals",
// value}` becomes `{claim, equals}`, version "1.0" becomes "1.0.0", members in name order.
import { HsmError } from '../errors.js';

export const DEFAULT_CONTENT_TYPE = 'application/json; charset=utf-8';
const CONTENT_TYPES = new Set([DEFAULT_CONTENT_TYPE, 'application/json; version=1.0', 'application/json']);
const MAX_POLICY_BYTES = 10 * 1024;
const MAX_DEPTH = 8;

export interface StoredReleasePolicy {
  contentType: string;
  immutable: boolean;
  /** base64url of the normalized policy JSON. */
  data: string;
}

export type ClaimValue = string | number | boolean;

export type Condition = { claim: string; equals: ClaimValue } | { allOf: Condition[] } | { anyOf: Condition[] };

export interface AuthorityRule {
  authority: string;
  condition: { allOf: Condition[] } | { anyOf: Condition[] };
}

export interface ReleasePolicyDocument {
  version: '1.0.0';
  anyOf: AuthorityRule[];
}

function bad(field: string, message: string): HsmError {
  return new HsmError('BadParameter', `Key Release Policy: ${message} (${field})`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A claim condition's value: a JSON string, number or boolean. */
function claimValue(value: unknown, where: string): ClaimValue {
  if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return value;
  throw bad(where, 'a claim condition compares with a string, a number or true/false');
}

/** The member naming anyOf or allOf, in either case (the documentation writes both). */
function listOf(object: Record<string, unknown>, where: string): { kind: 'allOf' | 'anyOf'; items: unknown[] } | undefined {
  const keys = Object.keys(object).filter((key) => /^(allof|anyof)$/i.test(key));
  if (keys.length > 1) throw bad(where, 'allOf and anyOf cannot be used together');
  const key = keys[0];
  if (key === undefined) return undefined;
  const items = object[key];
  if (!Array.isArray(items) || items.length === 0) throw bad(where, `${key} must be a non-empty array of conditions`);
  return { kind: key.toLowerCase() === 'allof' ? 'allOf' : 'anyOf', items };
}

function condition(value: unknown, where: string, depth: number): Condition {
  if (!isObject(value)) throw bad(where, 'a condition must be an object');
  if (depth > MAX_DEPTH) throw bad(where, `conditions nest at most ${MAX_DEPTH} deep`);
  const list = listOf(value, where);
  if (list) {
    const nested = list.items.map((item, i) => condition(item, `${where}.${list.kind}[${i}]`, depth + 1));
    return list.kind === 'allOf' ? { allOf: nested } : { anyOf: nested };
  }
  const { claim, condition: operator, value: operand, ...rest } = value;
  if (typeof claim !== 'string' || claim.length === 0) throw bad(where, "a claim condition needs a 'claim' name");
  if (operator !== undefined) {
    if (operator !== 'equals') throw bad(where, `unknown operator '${String(operator).slice(0, 40)}'; the one operator is 'equals'`);
    return { claim, equals: claimValue(operand, where) };
  }
  const operators = Object.keys(rest);
  if (operators.length !== 1 || operators[0] !== 'equals') {
    throw bad(where, `unknown operator '${(operators.find((name) => name !== 'equals') ?? '(none)').slice(0, 40)}'; the one operator is 'equals'`);
  }
  return { claim, equals: claimValue(rest.equals, where) };
}

/** Checks a policy document against the grammar and returns it normalized. */
export function parsePolicyDocument(document: unknown, field: string): ReleasePolicyDocument {
  if (!isObject(document)) throw bad(field, 'the policy must be a JSON object');
  if (document.version === undefined) throw bad(field, "missing 'version' property");
  if (document.version !== '1.0.0' && document.version !== '1.0') throw bad(field, `version '${String(document.version).slice(0, 20)}' is not supported; use '1.0.0'`);
  const authorities = document.anyOf;
  if (!Array.isArray(authorities) || authorities.length === 0) throw bad(field, "missing 'anyOf': a non-empty array of authorities");
  return {
    version: '1.0.0',
    anyOf: authorities.map((entry, i) => {
      const where = `${field}.anyOf[${i}]`;
      if (!isObject(entry) || typeof entry.authority !== 'string' || entry.authority.length === 0) throw bad(where, "an authority needs an 'authority' (the attestation issuer)");
      const list = listOf(entry, where);
      if (!list) throw bad(where, 'an authority needs allOf or anyOf claim conditions');
      const conditions = list.items.map((item, j) => condition(item, `${where}.${list.kind}[${j}]`, 1));
      return { authority: entry.authority, condition: list.kind === 'allOf' ? { allOf: conditions } : { anyOf: conditions } };
    }),
  };
}

/** The JSON the service stores and returns: members in name order at every level. */
function wireForm(document: ReleasePolicyDocument): unknown {
  const conditionForm = (c: Condition): unknown => ('claim' in c ? { claim: c.claim, equals: c.equals } : 'allOf' in c ? { allOf: c.allOf.map(conditionForm) } : { anyOf: c.anyOf.map(conditionForm) });
  return {
    anyOf: document.anyOf.map((rule) => ({ ...(conditionForm(rule.condition) as object), authority: rule.authority })),
    version: document.version,
  };
}

function decodeData(data: unknown, field: string): unknown {
  if (typeof data !== 'string' || data.length === 0) throw bad(`${field}.data`, 'data must be the policy JSON, base64url-encoded');
  if (data.length > (MAX_POLICY_BYTES * 4) / 3 + 4 || !/^[A-Za-z0-9_+/-]*=*$/.test(data)) throw bad(`${field}.data`, `data must be base64url of at most ${MAX_POLICY_BYTES} bytes`);
  try {
    return JSON.parse(Buffer.from(data, 'base64').toString('utf8')); // base64 or base64url: Node takes both
  } catch {
    throw bad(`${field}.data`, 'data does not decode to JSON');
  }
}

/** A release_policy of a request, checked and normalized; undefined when absent. */
export function checkReleasePolicy(input: unknown, field = 'release_policy'): StoredReleasePolicy | undefined {
  if (input === undefined || input === null) return undefined;
  if (!isObject(input)) throw bad(field, 'release_policy must be an object {contentType, immutable, data}');
  const contentType = input.contentType ?? DEFAULT_CONTENT_TYPE;
  if (typeof contentType !== 'string' || !CONTENT_TYPES.has(contentType)) throw bad(`${field}.contentType`, `contentType must be '${DEFAULT_CONTENT_TYPE}'`);
  if (input.immutable !== undefined && typeof input.immutable !== 'boolean') throw bad(`${field}.immutable`, 'immutable must be true or false');
  const document = parsePolicyDocument(decodeData(input.data, field), field);
  return {
    contentType,
    immutable: input.immutable ?? false,
    data: Buffer.from(JSON.stringify(wireForm(document))).toString('base64url'),
  };
}

/** The stored policy's document (for evaluation); a 400 for one an earlier version stored unchecked. */
export function policyDocumentOf(stored: StoredReleasePolicy): ReleasePolicyDocument {
  try {
    return parsePolicyDocument(JSON.parse(Buffer.from(stored.data, 'base64url').toString('utf8')), 'release_policy');
  } catch (error) {
    throw new HsmError('BadParameter', "Key Release Policy: the key's stored policy cannot be evaluated; set it again (release_policy)", { cause: error });
  }
}

export function isStoredReleasePolicy(value: unknown): value is StoredReleasePolicy {
  return isObject(value) && typeof value.data === 'string' && typeof value.immutable === 'boolean' && typeof value.contentType === 'string';
}
