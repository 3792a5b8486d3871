// Checked through another binding (pkcs11js) in another process: the keys the token layer makes
// are sensitive and non-extractable inside the token, and their secrets cannot be read or wrapped.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CKA } from '../../src/token/constants.js';
import { type KeySpec, type TokenKey, secretClassOf } from '../../src/token/key-spec.js';
import type { Token } from '../../src/token/token.js';
import { type OpenTestToken, type TestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let testToken: TestToken;
let token: Token;

beforeAll(async () => {
  opened = await openTestToken();
  ({ testToken, token } = opened);
});

afterAll(() => opened?.close());

const specs: KeySpec[] = [
  { type: 'rsa', bits: 2048 },
  { type: 'rsa', bits: 3072 },
  { type: 'ec', curve: 'P-256' },
  { type: 'ec', curve: 'P-384' },
  { type: 'ec', curve: 'P-521' },
  { type: 'ec', curve: 'secp256k1' },
  { type: 'aes', bits: 128 },
  { type: 'aes', bits: 192 },
  { type: 'aes', bits: 256 },
  { type: 'generic-secret', bits: 256 },
];

function secretAttributeOf(spec: KeySpec): number {
  return spec.type === 'rsa' ? CKA.PRIVATE_EXPONENT : CKA.VALUE;
}

it('every generated key is sensitive and non-extractable, as pkcs11js sees it from another process', async () => {
  const keys: TokenKey[] = [];
  for (const spec of specs) keys.push(await token.generateKey(spec));
  const input = keys.map((key) => ({ id: key.id.toString('hex'), class: secretClassOf(key.spec), secretAttribute: secretAttributeOf(key.spec) }));
  const script = fileURLToPath(new URL('../helpers/inspect-with-pkcs11js.cjs', import.meta.url));
  const output = execFileSync(process.execPath, [script], {
    env: { ...process.env, MODULE: testToken.modulePath, LABEL: testToken.label, PIN: testToken.pin, KEYS: JSON.stringify(input) },
    encoding: 'utf8',
  });
  const results = JSON.parse(output) as Array<{ id: string; found: number; attributes: Record<string, boolean>; readSecret: string; wrap: string }>;
  expect(results).toHaveLength(specs.length);
  for (const [index, result] of results.entries()) {
    const label = JSON.stringify(specs[index]);
    expect(result.found, label).toBe(1);
    expect(result.attributes, label).toEqual({
      CKA_TOKEN: true,
      CKA_PRIVATE: true,
      CKA_SENSITIVE: true,
      CKA_EXTRACTABLE: false,
      CKA_ALWAYS_SENSITIVE: true,
      CKA_NEVER_EXTRACTABLE: true,
    });
    expect(result.readSecret, label).toBe('CKR_ATTRIBUTE_SENSITIVE');
    expect(result.wrap, label).toBe('CKR_KEY_UNEXTRACTABLE');
  }
});
