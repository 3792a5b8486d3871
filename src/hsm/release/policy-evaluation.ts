// Whether an attestation's claims satisfy a release policy: one of the policy's authorities is
// the token's issuer, and that authority's conditions hold. A claim is named in dot notation
// (`x-ms-runtime.client-payload.nonce`); a claim that is absent fails its condition. `equals`
// compares JSON values of one type exactly; a string and a boolean or number compare as their
// text, as the service compares `"true"` with `true`.
import type { ClaimValue, Condition, ReleasePolicyDocument } from './release-policy.js';
import { sameIssuer } from './trusted-authorities.js';

export function claimAt(claims: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let value: unknown = claims;
  for (const part of name.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function equal(actual: unknown, expected: ClaimValue): boolean {
  if (typeof actual !== 'string' && typeof actual !== 'number' && typeof actual !== 'boolean') return false;
  if (typeof actual === typeof expected) return actual === expected;
  return String(actual) === String(expected);
}

function holds(condition: Condition, claims: Record<string, unknown>): boolean {
  if ('claim' in condition) return equal(claimAt(claims, condition.claim), condition.equals);
  if ('allOf' in condition) return condition.allOf.every((c) => holds(c, claims));
  return condition.anyOf.some((c) => holds(c, claims));
}

export type PolicyVerdict = 'released' | 'no-authority' | 'claims-differ';

export function evaluatePolicy(policy: ReleasePolicyDocument, issuer: string, claims: Record<string, unknown>): PolicyVerdict {
  const rules = policy.anyOf.filter((rule) => sameIssuer(rule.authority, issuer));
  if (rules.length === 0) return 'no-authority';
  return rules.some((rule) => holds(rule.condition, claims)) ? 'released' : 'claims-differ';
}
