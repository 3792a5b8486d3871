// Token-object writes from many requests at once: SoftHSM2 2.6.1 sometimes answers
// CKR_GENERAL_ERROR when two threads write one token's objects together, so the token layer
// runs them one at a time. Many concurrent generations, imports and destructions all succeed.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TokenKey } from '../../src/token/key-spec.js';
import type { Token } from '../../src/token/token.js';
import { type OpenTestToken, openTestToken } from '../helpers/test-token.js';

let opened: OpenTestToken | undefined;
let token: Token;

beforeAll(async () => {
  opened = await openTestToken();
  token = opened.token;
});

afterAll(() => opened?.close());

it('generates, imports and destroys token objects from 8 lanes at once without a failure', async () => {
  const failures: string[] = [];
  let done = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, lane) => {
      const mine: TokenKey[] = [];
      for (let i = 0; i < 40; i++) {
        try {
          if (mine.length > 3 && i % 3 === 0) {
            await token.destroyKey(mine.shift() as TokenKey);
          } else if (i % 2 === 0) {
            mine.push(await token.generateKey({ type: 'aes', bits: 256 }));
          } else {
            mine.push(await token.importKey({ type: 'aes', bits: 256 }, { type: 'secret', value: randomBytes(32) }));
          }
          done++;
        } catch (error) {
          failures.push(`lane ${lane}, step ${i}: ${(error as Error).message}`);
        }
      }
    }),
  );
  expect(failures).toEqual([]);
  expect(done).toBe(320);
});
