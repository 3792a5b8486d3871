// The token layer keeps slow work off the JS thread: RSA-4096 generation, RSA private-key
// operations and token-object writes go to worker threads through the call scheduler, so a 1 ms
// timer stays on time. (test/native/async.test.ts checks the addon alone; this checks that the
// token layer asks for the worker.)
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CKM } from '../../src/token/constants.js';
import type { Token } from '../../src/token/token.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';
import { worstTimerLateness } from '../helpers/timer-lateness.js';

let opened: OpenTestToken | undefined;
let token: Token;

beforeAll(async () => {
  opened = await openTestToken();
  ({ token } = opened);
});

afterAll(() => opened?.close());


it('generates an RSA-4096 token key without holding a 1 ms timer up by 25 ms', async () => {
  const { worstMs, ticks } = await worstTimerLateness(() => token.generateKey({ type: 'rsa', bits: 4096 }, { exportPolicy: 'wrap-with-trusted' }));
  expect(ticks).toBeGreaterThan(5);
  expect(worstMs).toBeLessThan(25);
});

it('signs 40 times at once with RSA-3072, and imports and destroys keys, without holding the timer up', async () => {
  const key = await token.generateKey({ type: 'rsa', bits: 3072 });
  const { worstMs } = await worstTimerLateness(async () => {
    const signatures = await Promise.all(Array.from({ length: 40 }, (_, i) => token.sign(key, { type: CKM.SHA256_RSA_PKCS }, Buffer.from(`m${i}`))));
    for (const signature of signatures) expect(signature).toHaveLength(384);
    const made = await Promise.all(Array.from({ length: 10 }, () => token.generateKey({ type: 'aes', bits: 256 })));
    await Promise.all(made.map((k) => token.destroyKey(k)));
  });
  expect(worstMs).toBeLessThan(25);
});
