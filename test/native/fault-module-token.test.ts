// Through the token layer: a call the module answers with an impossible length settles, so its
// pooled session goes back to the pool (the pool takes a session back only when the call settles).
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { CKM } from '../../src/token/constants.js';
import type { TokenKey } from '../../src/token/key-spec.js';
import { Token } from '../../src/token/token.js';
import { type TestToken, createTestToken } from '../helpers/test-token.js';
import { buildFaultModule, rejectionWithin, setFault, valueWithin } from './fault-module/fault-module.js';

const SESSIONS = 2;

let testToken: TestToken | undefined;
let token: Token | undefined;

beforeAll(async () => {
  testToken = await createTestToken();
  const modulePath = buildFaultModule(testToken.dataDir);
  token = await Token.open({ modulePath, label: testToken.label, pin: testToken.pin, sessions: SESSIONS });
});

afterEach(() => setFault(undefined));

afterAll(() => {
  token?.close();
  testToken?.remove();
});

async function signAfterFaults(key: TokenKey, mechanism: { type: number }, data: Buffer): Promise<void> {
  const t = token as Token;
  setFault('huge-length-sign');
  const errors = await Promise.all(Array.from({ length: 2 * SESSIONS }, () => rejectionWithin(t.sign(key, mechanism, data))));
  for (const error of errors) expect(error).toMatchObject({ code: 'ERR_MODULE_FAULT', fn: 'C_Sign' });

  setFault(undefined);
  const signatures = await valueWithin(Promise.all(Array.from({ length: 4 * SESSIONS }, () => t.sign(key, mechanism, data))));
  for (const signature of signatures) expect(await t.verify(key, mechanism, data, signature)).toBe(true);
}

it('rejects faulty RSA signatures (pooled sessions, worker threads) and still has every pooled session', async () => {
  const key = await (token as Token).generateKey({ type: 'rsa', bits: 2048 }, { ephemeral: true });
  await signAfterFaults(key, { type: CKM.SHA256_RSA_PKCS }, Buffer.from('pooled'));
});

it('rejects faulty P-256 signatures (the inline session) and the inline session still works', async () => {
  const key = await (token as Token).generateKey({ type: 'ec', curve: 'P-256' }, { ephemeral: true });
  await signAfterFaults(key, { type: CKM.ECDSA }, createHash('sha256').update('inline').digest());
});
