// Whether an attestation's claims satisfy a key's release policy (src/hsm/release/policy-evaluation.ts):
// the token's issuer picks the policy's authorities, then their conditions decide, claim by claim.
import { describe, expect, it } from 'vitest';
import { claimAt, evaluatePolicy } from '../../src/hsm/release/policy-evaluation.js';
import { parsePolicyDocument } from '../../src/hsm/release/release-policy.js';

const ISSUER = 'https://attest.example/attestation/';
const OTHER = 'https://other.example/';

/** The verdict of a policy of these authority entries, parsed as a stored policy is. */
const verdict = (anyOf: unknown[], claims: Record<string, unknown>, issuer = ISSUER) => evaluatePolicy(parsePolicyDocument({ version: '1.0.0', anyOf }, 'p'), issuer, claims);
const one = (claim: string, equals: unknown) => [{ authority: ISSUER, allOf: [{ claim, equals }] }];

describe('claims by name', () => {
  it('reads a dotted name through nested objects', () => {
    const claims = { 'x-ms-runtime': { 'client-payload': { nonce: 'n-1' }, keys: [{ kid: 'k' }] }, top: 1 };
    expect(claimAt(claims, 'top')).toBe(1);
    expect(claimAt(claims, 'x-ms-runtime.client-payload.nonce')).toBe('n-1');
    expect(claimAt(claims, 'x-ms-runtime.client-payload')).toEqual({ nonce: 'n-1' });
    expect(claimAt(claims, 'x-ms-runtime.keys')).toEqual([{ kid: 'k' }]);
  });

  it('takes a claim whose own name has dots before the nested one', () => {
    const claims = { 'a.b': 'flat', a: { b: 'nested' } };
    expect(claimAt(claims, 'a.b')).toBe('flat');
    expect(claimAt({ a: { b: 'nested' } }, 'a.b')).toBe('nested');
    expect(verdict(one('a.b', 'flat'), claims)).toBe('released');
    expect(verdict(one('a.b', 'nested'), claims)).toBe('claims-differ');
  });

  it('finds nothing past a value that is not an object, inside an array, or on the prototype', () => {
    const claims = { text: 'abc', none: null, list: ['zero', { kid: 'k' }], empty: {} };
    for (const name of ['missing', 'missing.deeper', 'text.length', 'none.x', 'list.0', 'list.1.kid', 'list.length', 'empty.toString', 'constructor', 'empty.constructor.name', 'text.']) {
      expect(claimAt(claims, name), name).toBeUndefined();
    }
    expect(claimAt(Object.create({ inherited: 'yes' }) as Record<string, unknown>, 'inherited')).toBeUndefined();
  });
});

describe('equals', () => {
  it.each([
    ['the same string', 'sgx', 'sgx', 'released'],
    ['a string of another case', 'SGX', 'sgx', 'claims-differ'],
    ['the empty string and a string', '', 'sgx', 'claims-differ'],
    ['the same number', 7, 7, 'released'],
    ['another number', 7, 8, 'claims-differ'],
    ['true and true', true, true, 'released'],
    ['true and false', true, false, 'claims-differ'],
    ['false and false', false, false, 'released'],
    ['a boolean and its text', false, 'false', 'released'],
    ['a boolean and other text', true, 'True', 'claims-differ'],
    ['a number and its text', 3, '3', 'released'],
    ['a number and text of it written otherwise', 3, '3.0', 'claims-differ'],
    ['text and the number it is', '3', 3, 'released'],
    ['text and the boolean it is', 'true', true, 'released'],
    ['a number and a boolean', 1, true, 'claims-differ'],
    ['zero and false', 0, false, 'claims-differ'],
  ])('%s: %j equals %j is %s', (_label, actual, expected, outcome) => {
    expect(verdict(one('c', expected), { c: actual })).toBe(outcome);
  });

  it('an object, array, null or absent claim equals nothing, not even its text', () => {
    const cases: Array<[unknown, string]> = [
      [{}, '[object Object]'],
      [['1'], '1'],
      [[], ''],
      [null, 'null'],
      [undefined, 'undefined'],
    ];
    for (const [actual, text] of cases) {
      expect(verdict(one('c', text), { c: actual }), JSON.stringify(actual) ?? 'undefined').toBe('claims-differ');
    }
    expect(verdict(one('c', 'undefined'), {})).toBe('claims-differ');
  });
});

describe('allOf and anyOf', () => {
  const a = { claim: 'a', equals: 1 };
  const b = { claim: 'b', equals: 2 };

  it('allOf needs every condition, anyOf one of them', () => {
    expect(verdict([{ authority: ISSUER, allOf: [a, b] }], { a: 1, b: 2 })).toBe('released');
    expect(verdict([{ authority: ISSUER, allOf: [a, b] }], { a: 1, b: 3 })).toBe('claims-differ');
    expect(verdict([{ authority: ISSUER, allOf: [a, b] }], { a: 0, b: 2 })).toBe('claims-differ');
    expect(verdict([{ authority: ISSUER, anyOf: [a, b] }], { a: 0, b: 2 })).toBe('released');
    expect(verdict([{ authority: ISSUER, anyOf: [a, b] }], { a: 1, b: 0 })).toBe('released');
    expect(verdict([{ authority: ISSUER, anyOf: [a, b] }], { a: 0, b: 0 })).toBe('claims-differ');
  });

  it('nested lists decide as they read', () => {
    const rules = [{ authority: ISSUER, anyOf: [{ allOf: [a, b] }, { allOf: [{ claim: 'c', equals: 3 }, { anyOf: [a, b] }] }] }];
    expect(verdict(rules, { a: 1, b: 2 })).toBe('released');
    expect(verdict(rules, { c: 3, b: 2 })).toBe('released');
    expect(verdict(rules, { c: 3, a: 1 })).toBe('released');
    expect(verdict(rules, { c: 3 })).toBe('claims-differ');
    expect(verdict(rules, { a: 1 })).toBe('claims-differ');
    const allNested = [{ authority: ISSUER, allOf: [{ anyOf: [a, b] }, { anyOf: [{ claim: 'c', equals: 3 }] }] }];
    expect(verdict(allNested, { b: 2, c: 3 })).toBe('released');
    expect(verdict(allNested, { b: 2, c: 4 })).toBe('claims-differ');
  });
});

describe('authorities', () => {
  const sgx = { claim: 'tee', equals: 'sgx' };

  it("only the issuer's entries count: another authority's satisfied conditions release nothing", () => {
    const rules = [
      { authority: OTHER, allOf: [sgx] },
      { authority: ISSUER, allOf: [{ claim: 'tee', equals: 'sev' }] },
    ];
    expect(verdict(rules, { tee: 'sgx' })).toBe('claims-differ');
    expect(verdict(rules, { tee: 'sgx' }, OTHER)).toBe('released');
    expect(verdict(rules, { tee: 'sev' })).toBe('released');
  });

  it('releases when any one of several entries of the issuer holds', () => {
    const rules = [
      { authority: ISSUER, allOf: [{ claim: 'tee', equals: 'sev' }] },
      { authority: ISSUER, allOf: [sgx] },
    ];
    expect(verdict(rules, { tee: 'sgx' })).toBe('released');
    expect(verdict(rules, { tee: 'sev' })).toBe('released');
    expect(verdict(rules, { tee: 'tdx' })).toBe('claims-differ');
  });

  it('an issuer the policy does not name is no authority, whatever the claims', () => {
    expect(verdict([{ authority: ISSUER, allOf: [sgx] }], { tee: 'sgx' }, OTHER)).toBe('no-authority');
    expect(verdict([{ authority: ISSUER, allOf: [sgx] }], { tee: 'sgx' }, 'https://attest.example/other/')).toBe('no-authority');
  });

  it('names the issuer without case in scheme and host and without trailing slashes, the path exactly', () => {
    const rules = [{ authority: 'HTTPS://Attest.Example/attestation', allOf: [sgx] }];
    expect(verdict(rules, { tee: 'sgx' }, 'https://attest.example/attestation/')).toBe('released');
    expect(verdict(rules, { tee: 'sgx' }, 'https://attest.example/attestation//')).toBe('released');
    expect(verdict(rules, { tee: 'sgx' }, 'https://attest.example/Attestation')).toBe('no-authority');
  });
});
