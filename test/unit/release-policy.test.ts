// A key's release policy as a request gives it (src/hsm/release/release-policy.ts): the envelope
// {contentType, immutable, data}, the policy grammar with its refusals by field and rule, the
// normalized form the service stores and returns; and when a key may carry one
// (src/hsm/release/release-rules.ts).
import { describe, expect, it } from 'vitest';
import { changedReleasePolicy, releasePolicyOfNewKey } from '../../src/hsm/release/release-rules.js';
import { type StoredReleasePolicy, checkReleasePolicy, isStoredReleasePolicy, parsePolicyDocument, policyDocumentOf } from '../../src/hsm/release/release-policy.js';
import type { KeyVersionRecord } from '../../src/store/key-records.js';
import { refusal } from '../helpers/refusal.js';

const AUTHORITY = 'https://attest.example/';
const encoded = (document: unknown) => Buffer.from(JSON.stringify(document)).toString('base64url');
const withConditions = (conditions: unknown[]) => ({ version: '1.0.0', anyOf: [{ authority: AUTHORITY, allOf: conditions }] });
const GOOD = withConditions([{ claim: 'tee', equals: 'sgx' }]);
const storedJson = (stored: StoredReleasePolicy | undefined) => Buffer.from(stored?.data as string, 'base64url').toString('utf8');
const refused = (message: string, field: string) => ({ code: 'BadParameter', message: `Key Release Policy: ${message} (${field})` });
const refusedDocument = (document: unknown) => refusal(() => checkReleasePolicy({ data: encoded(document) }));

describe('the envelope', () => {
  it('is optional: undefined and null are no policy', () => {
    expect(checkReleasePolicy(undefined)).toBeUndefined();
    expect(checkReleasePolicy(null)).toBeUndefined();
  });

  it('must be an object, named by the field it came in', () => {
    for (const bad of [[], 'policy', 5, true]) {
      expect(refusal(() => checkReleasePolicy(bad)), JSON.stringify(bad)).toEqual(refused('release_policy must be an object {contentType, immutable, data}', 'release_policy'));
    }
    expect(refusal(() => checkReleasePolicy(7, 'key.release_policy'))).toEqual(refused('release_policy must be an object {contentType, immutable, data}', 'key.release_policy'));
    expect(refusal(() => checkReleasePolicy({ data: '' }, 'key.release_policy'))).toEqual(refused('data must be the policy JSON, base64url-encoded', 'key.release_policy.data'));
  });

  it('takes the content types the service names, charset=utf-8 when absent, and refuses any other', () => {
    for (const contentType of ['application/json; charset=utf-8', 'application/json; version=1.0', 'application/json']) {
      expect(checkReleasePolicy({ data: encoded(GOOD), contentType })?.contentType).toBe(contentType);
    }
    expect(checkReleasePolicy({ data: encoded(GOOD) })?.contentType).toBe('application/json; charset=utf-8');
    for (const contentType of ['text/plain', '', 5, 'application/json; charset=utf-8; x=1']) {
      expect(refusal(() => checkReleasePolicy({ data: encoded(GOOD), contentType })), String(contentType)).toEqual(
        refused("contentType must be 'application/json; charset=utf-8'", 'release_policy.contentType'),
      );
    }
  });

  it('keeps immutable as given, false when absent, and refuses anything but true or false', () => {
    expect(checkReleasePolicy({ data: encoded(GOOD) })?.immutable).toBe(false);
    expect(checkReleasePolicy({ data: encoded(GOOD), immutable: true })?.immutable).toBe(true);
    expect(checkReleasePolicy({ data: encoded(GOOD), immutable: false })?.immutable).toBe(false);
    for (const immutable of ['true', 1, null, {}]) {
      expect(refusal(() => checkReleasePolicy({ data: encoded(GOOD), immutable })), JSON.stringify(immutable)).toEqual(refused('immutable must be true or false', 'release_policy.immutable'));
    }
  });

  it('refuses data that is missing or not a string', () => {
    for (const data of [undefined, '', 5, {}]) {
      expect(refusal(() => checkReleasePolicy({ data })), JSON.stringify(data)).toEqual(refused('data must be the policy JSON, base64url-encoded', 'release_policy.data'));
    }
  });

  it('refuses data with a character outside base64 and base64url anywhere in it', () => {
    const good = encoded(GOOD);
    for (const data of ['!!', `!${good}`, `${good}!`, `${good.slice(0, 8)} ${good.slice(8)}`, `${good.slice(0, 8)}=${good.slice(8)}`]) {
      expect(refusal(() => checkReleasePolicy({ data })), data.slice(0, 12)).toEqual(refused('data must be base64url of at most 10240 bytes', 'release_policy.data'));
    }
  });

  it('reads base64url unpadded and base64 with +, / and padding alike', () => {
    const document = withConditions([{ claim: 'x-ms-sevsnpvm-hostdata', equals: '>>>???a' }]);
    const base64 = Buffer.from(JSON.stringify(document)).toString('base64');
    const base64url = encoded(document);
    // The document is chosen so that both alphabets differ and base64 pads.
    expect(base64).toMatch(/[+/]/);
    expect(base64).toMatch(/[^=]==$/);
    expect(base64url).not.toMatch(/[+/=]/);
    const fromBase64 = checkReleasePolicy({ data: base64 });
    expect(fromBase64).toEqual(checkReleasePolicy({ data: base64url }));
    expect(JSON.parse(storedJson(fromBase64)).anyOf[0].allOf[0]).toEqual({ claim: 'x-ms-sevsnpvm-hostdata', equals: '>>>???a' });
  });

  it('takes a policy of up to 10 KiB and refuses a longer one', () => {
    // JSON ignores trailing blanks: a policy padded to an exact size.
    const ofBytes = (bytes: number) => {
      const json = JSON.stringify(GOOD);
      return Buffer.from(json + ' '.repeat(bytes - Buffer.byteLength(json))).toString('base64url');
    };
    const normalized = checkReleasePolicy({ data: encoded(GOOD) })?.data;
    const largest = ofBytes(10242);
    expect(largest).toHaveLength(13656);
    expect(checkReleasePolicy({ data: largest })?.data).toBe(normalized);
    expect(checkReleasePolicy({ data: `${largest}=` })?.data).toBe(normalized);
    const tooLong = ofBytes(10243);
    expect(tooLong).toHaveLength(13658);
    expect(refusal(() => checkReleasePolicy({ data: tooLong }))).toEqual(refused('data must be base64url of at most 10240 bytes', 'release_policy.data'));
    expect(refusal(() => checkReleasePolicy({ data: `${largest}==` }))).toEqual(refused('data must be base64url of at most 10240 bytes', 'release_policy.data'));
  });

  it('refuses data that does not decode to JSON', () => {
    expect(refusal(() => checkReleasePolicy({ data: Buffer.from('{"version":').toString('base64url') }))).toEqual(refused('data does not decode to JSON', 'release_policy.data'));
  });
});

describe('the policy document', () => {
  it.each([
    ['an array', []],
    ['a string', 'policy'],
    ['null', null],
    ['a number', 3],
  ])('refuses %s as the policy', (_label, document) => {
    expect(refusedDocument(document)).toEqual(refused('the policy must be a JSON object', 'release_policy'));
  });

  it('needs a version, 1.0.0 or 1.0, quoting at most 20 characters of another', () => {
    expect(refusedDocument({ anyOf: GOOD.anyOf })).toEqual(refused("missing 'version' property", 'release_policy'));
    for (const version of ['2.0', 1, '1.0.0 ', '1', null]) {
      expect(refusedDocument({ version, anyOf: GOOD.anyOf }), String(version)).toEqual(refused(`version '${String(version)}' is not supported; use '1.0.0'`, 'release_policy'));
    }
    expect(refusedDocument({ version: `${'9'.repeat(20)}tail`, anyOf: GOOD.anyOf })).toEqual(refused(`version '${'9'.repeat(20)}' is not supported; use '1.0.0'`, 'release_policy'));
  });

  it('needs a non-empty anyOf of authorities', () => {
    for (const anyOf of [undefined, [], {}, 'https://attest.example/']) {
      expect(refusedDocument({ version: '1.0.0', anyOf }), JSON.stringify(anyOf)).toEqual(refused("missing 'anyOf': a non-empty array of authorities", 'release_policy'));
    }
  });

  it('needs each authority entry to name its authority, by index', () => {
    const good = GOOD.anyOf[0];
    for (const entry of ['https://attest.example/', null, { allOf: good?.allOf }, { authority: '', allOf: good?.allOf }, { authority: 5, allOf: good?.allOf }]) {
      expect(refusedDocument({ version: '1.0.0', anyOf: [good, entry] }), JSON.stringify(entry)).toEqual(refused("an authority needs an 'authority' (the attestation issuer)", 'release_policy.anyOf[1]'));
    }
  });

  it('needs allOf or anyOf under an authority, named in any case but not inside a longer name', () => {
    const conditions = [{ claim: 'tee', equals: 'sgx' }];
    for (const entry of [{ authority: AUTHORITY }, { authority: AUTHORITY, xallOf: conditions }, { authority: AUTHORITY, allOfs: conditions }, { authority: AUTHORITY, all: conditions }]) {
      expect(refusedDocument({ version: '1.0.0', anyOf: [entry] }), JSON.stringify(entry)).toEqual(refused('an authority needs allOf or anyOf claim conditions', 'release_policy.anyOf[0]'));
    }
    for (const key of ['allOf', 'ALLOF', 'allof', 'anyOf', 'AnyOf', 'ANYOF']) {
      const kind = key.toLowerCase() === 'allof' ? 'allOf' : 'anyOf';
      expect(parsePolicyDocument({ version: '1.0.0', anyOf: [{ authority: AUTHORITY, [key]: conditions }] }, 'p').anyOf[0]?.condition, key).toEqual({ [kind]: [{ claim: 'tee', equals: 'sgx' }] });
    }
  });

  it('refuses allOf and anyOf side by side, in any case, at an authority and in a condition', () => {
    const conditions = [{ claim: 'tee', equals: 'sgx' }];
    for (const entry of [
      { authority: AUTHORITY, allOf: conditions, anyOf: conditions },
      { authority: AUTHORITY, allOf: conditions, AllOf: conditions },
    ]) {
      expect(refusedDocument({ version: '1.0.0', anyOf: [entry] })).toEqual(refused('allOf and anyOf cannot be used together', 'release_policy.anyOf[0]'));
    }
    expect(refusedDocument(withConditions([{ claim: 'a', equals: 1 }, { allOf: conditions, anyOf: conditions }]))).toEqual(refused('allOf and anyOf cannot be used together', 'release_policy.anyOf[0].allOf[1]'));
  });

  it('refuses an empty or non-array list, naming it as written', () => {
    expect(refusedDocument({ version: '1.0.0', anyOf: [{ authority: AUTHORITY, allOf: [] }] })).toEqual(refused('allOf must be a non-empty array of conditions', 'release_policy.anyOf[0]'));
    expect(refusedDocument({ version: '1.0.0', anyOf: [{ authority: AUTHORITY, AnyOf: { claim: 'a', equals: 1 } }] })).toEqual(refused('AnyOf must be a non-empty array of conditions', 'release_policy.anyOf[0]'));
    expect(refusedDocument(withConditions([{ anyOf: [] }]))).toEqual(refused('anyOf must be a non-empty array of conditions', 'release_policy.anyOf[0].allOf[0]'));
  });

  it('refuses a condition that is not an object, by its path', () => {
    for (const condition of ['tee', null, [], 3]) {
      expect(refusedDocument(withConditions([{ claim: 'a', equals: 1 }, condition])), JSON.stringify(condition)).toEqual(refused('a condition must be an object', 'release_policy.anyOf[0].allOf[1]'));
    }
    expect(refusedDocument({ version: '1.0.0', anyOf: [{ authority: AUTHORITY, anyOf: [{ allOf: [{ claim: 'a', equals: 1 }, 'x'] }] }] })).toEqual(
      refused('a condition must be an object', 'release_policy.anyOf[0].anyOf[0].allOf[1]'),
    );
  });

  it('nests conditions 8 deep and no deeper', () => {
    const nested = (wrappers: number): unknown => (wrappers === 0 ? { claim: 'tee', equals: 'sgx' } : { allOf: [nested(wrappers - 1)] });
    // The authority's own list holds depth 1: seven wrappers put the claim at depth 8.
    expect(checkReleasePolicy({ data: encoded(withConditions([nested(7)])) })).toBeDefined();
    expect(refusedDocument(withConditions([nested(8)]))).toEqual(refused('conditions nest at most 8 deep', `release_policy.anyOf[0].allOf[0]${'.allOf[0]'.repeat(8)}`));
  });

  it("needs a claim condition to name its claim", () => {
    for (const condition of [{ equals: 1 }, { claim: '', equals: 1 }, { claim: 5, equals: 1 }, { claim: null, condition: 'equals', value: 1 }]) {
      expect(refusedDocument(withConditions([condition])), JSON.stringify(condition)).toEqual(refused("a claim condition needs a 'claim' name", 'release_policy.anyOf[0].allOf[0]'));
    }
  });

  it.each([
    ['a condition naming another operator', { claim: 'a', condition: 'notEquals', value: 1 }, 'notEquals'],
    ['a condition naming a number', { claim: 'a', condition: 5, value: 1 }, '5'],
    ['a condition naming a long operator', { claim: 'a', condition: 'o'.repeat(50), value: 1 }, 'o'.repeat(40)],
    ['no operator at all', { claim: 'a' }, '(none)'],
    ['exists, which is not in the grammar', { claim: 'a', exists: true }, 'exists'],
    ['a second operator after equals', { claim: 'a', equals: 1, notEquals: 2 }, 'notEquals'],
    ['a second operator before equals', { claim: 'a', notEquals: 2, equals: 1 }, 'notEquals'],
    ['a long operator name', { claim: 'a', ['p'.repeat(50)]: 1 }, 'p'.repeat(40)],
  ])('refuses %s, naming it', (_label, condition, operator) => {
    expect(refusedDocument(withConditions([condition]))).toEqual(refused(`unknown operator '${operator}'; the one operator is 'equals'`, 'release_policy.anyOf[0].allOf[0]'));
  });

  it('compares only with a string, a finite number or a boolean', () => {
    for (const condition of [{ claim: 'a', equals: null }, { claim: 'a', equals: {} }, { claim: 'a', equals: [1] }, { claim: 'a', condition: 'equals' }, { claim: 'a', condition: 'equals', value: [] }]) {
      expect(refusedDocument(withConditions([condition])), JSON.stringify(condition)).toEqual(refused('a claim condition compares with a string, a number or true/false', 'release_policy.anyOf[0].allOf[0]'));
    }
    // JSON reads 1e400 as Infinity.
    const infinite = Buffer.from(`{"version":"1.0.0","anyOf":[{"authority":"${AUTHORITY}","allOf":[{"claim":"a","equals":1e400}]}]}`).toString('base64url');
    expect(refusal(() => checkReleasePolicy({ data: infinite }))).toEqual(refused('a claim condition compares with a string, a number or true/false', 'release_policy.anyOf[0].allOf[0]'));
    for (const equals of ['', 'sgx', 0, -1.5, true, false]) {
      expect(parsePolicyDocument(withConditions([{ claim: 'a', equals }]), 'p').anyOf[0]?.condition).toEqual({ allOf: [{ claim: 'a', equals }] });
    }
  });
});

describe('the stored form', () => {
  it('is the policy normalized: equals for condition/value, 1.0.0, list names as the grammar writes them, members in name order', () => {
    const document = {
      version: '1.0',
      anyOf: [
        {
          ALLOF: [{ value: true, claim: 'b', condition: 'equals' }, { AnyOf: [{ equals: 3, claim: 'c' }, { allof: [{ claim: 'd', equals: 'x' }] }] }],
          authority: 'https://one.example',
        },
        { authority: 'https://two.example/', anyOf: [{ claim: 'e', equals: 'f' }] },
      ],
    };
    const stored = checkReleasePolicy({ data: encoded(document), contentType: 'application/json', immutable: true });
    expect(stored).toEqual({ contentType: 'application/json', immutable: true, data: expect.any(String) });
    expect(storedJson(stored)).toBe(
      '{"anyOf":[{"allOf":[{"claim":"b","equals":true},{"anyOf":[{"claim":"c","equals":3},{"allOf":[{"claim":"d","equals":"x"}]}]}],"authority":"https://one.example"},' +
        '{"anyOf":[{"claim":"e","equals":"f"}],"authority":"https://two.example/"}],"version":"1.0.0"}',
    );
    expect(policyDocumentOf(stored as StoredReleasePolicy)).toEqual({
      version: '1.0.0',
      anyOf: [
        { authority: 'https://one.example', condition: { allOf: [{ claim: 'b', equals: true }, { anyOf: [{ claim: 'c', equals: 3 }, { allOf: [{ claim: 'd', equals: 'x' }] }] }] } },
        { authority: 'https://two.example/', condition: { anyOf: [{ claim: 'e', equals: 'f' }] } },
      ],
    });
  });

  it('refuses to evaluate a stored policy that is not JSON or not the grammar', () => {
    const message = "Key Release Policy: the key's stored policy cannot be evaluated; set it again (release_policy)";
    const unreadable = [
      { contentType: 'application/json', immutable: false, data: Buffer.from('not json').toString('base64url') },
      { contentType: 'application/json', immutable: false, data: encoded({ version: '2.0', anyOf: GOOD.anyOf }) },
      { contentType: 'application/json', immutable: false, data: encoded(withConditions([{ claim: 'a', greater: 1 }])) },
    ];
    for (const stored of unreadable) {
      expect(refusal(() => policyDocumentOf(stored))).toEqual({ code: 'BadParameter', message });
    }
    // What is wrong with it is kept as the cause, for the log.
    let cause: unknown;
    try {
      policyDocumentOf(unreadable[1] as StoredReleasePolicy);
    } catch (error) {
      cause = (error as Error).cause;
    }
    expect(cause).toMatchObject(refused("version '2.0' is not supported; use '1.0.0'", 'release_policy'));
  });

  it('is recognized only with a string data, a boolean immutable and a string contentType', () => {
    const stored = checkReleasePolicy({ data: encoded(GOOD) });
    expect(isStoredReleasePolicy(stored)).toBe(true);
    const { data, immutable, contentType } = stored as StoredReleasePolicy;
    for (const other of [
      null,
      undefined,
      'policy',
      [data],
      { immutable, contentType },
      { data, contentType },
      { data, immutable },
      { data: 5, immutable, contentType },
      { data, immutable: 'false', contentType },
      { data, immutable, contentType: 1 },
    ]) {
      expect(isStoredReleasePolicy(other), JSON.stringify(other)).toBe(false);
    }
  });
});

describe('which keys carry a policy', () => {
  const record = (exportable: boolean, releasePolicy: unknown) => ({ name: 'Guarded', exportable, releasePolicy }) as KeyVersionRecord;

  it('an exportable key is made with a policy, and only an exportable one', () => {
    const stored = releasePolicyOfNewKey(true, { data: encoded(GOOD) });
    expect(stored).toEqual(checkReleasePolicy({ data: encoded(GOOD) }));
    expect(releasePolicyOfNewKey(false, undefined)).toBeUndefined();
    expect(releasePolicyOfNewKey(false, null)).toBeUndefined();
    expect(refusal(() => releasePolicyOfNewKey(true, undefined))).toEqual({ code: 'BadParameter', message: 'Exportable keys must have release policy' });
    expect(refusal(() => releasePolicyOfNewKey(false, { data: encoded(GOOD) }))).toEqual({ code: 'BadParameter', message: 'Non-exportable keys must not have release policy' });
    // The policy itself is checked first, whichever the key.
    expect(refusal(() => releasePolicyOfNewKey(false, { data: '' }))).toEqual(refused('data must be the policy JSON, base64url-encoded', 'release_policy.data'));
  });

  it('a policy changes only on an exportable key, and never once immutable', () => {
    const mutable = checkReleasePolicy({ data: encoded(GOOD) });
    const immutable = checkReleasePolicy({ data: encoded(GOOD), immutable: true });
    const next = { data: encoded(withConditions([{ claim: 'tee', equals: 'sev' }])), immutable: true };
    expect(changedReleasePolicy(record(true, mutable), next)).toEqual(checkReleasePolicy(next));
    expect(changedReleasePolicy(record(true, mutable), undefined)).toBeUndefined();
    expect(refusal(() => changedReleasePolicy(record(true, immutable), next))).toEqual({
      code: 'BadParameter',
      message: 'release_policy: the release policy of key Guarded is immutable and cannot be changed',
    });
    expect(refusal(() => changedReleasePolicy(record(false, undefined), next))).toEqual({
      code: 'BadParameter',
      message: 'release_policy: only an exportable key (attributes.exportable: true) can have a release policy',
    });
    // A policy an earlier version stored in another shape is not taken as immutable: it may be set again.
    expect(changedReleasePolicy(record(true, { immutable: true, data: 5 }), next)).toEqual(checkReleasePolicy(next));
    expect(refusal(() => changedReleasePolicy(record(true, mutable), { data: '!' }))).toEqual(refused('data must be base64url of at most 10240 bytes', 'release_policy.data'));
  });
});
