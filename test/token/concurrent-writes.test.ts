// Token-object writes from many requests at once: SoftHSM2 2.6.1 sometimes answers
// CKR_GENERAL_ERROR when two threads write one token's objects together, so the token layer
// runs them one at a time. Many concurrent generations, imports and destructions all succeed;
// key generation itself (session objects, copied into token objects after) runs concurrently.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CKM } from '../../src/token/constants.js';
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

it('generates RSA-2048 pairs from 8 lanes at once on 4 pooled sessions, alongside other writes, without a failure', async () => {
  const failures: string[] = [];
  const pairs: TokenKey[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async (_, lane) => {
      for (let i = 0; i < 3; i++) {
        try {
          pairs.push(await token.generateKey({ type: 'rsa', bits: 2048 }, { label: `lane-${lane}` }));
          const other = await token.generateKey(i % 2 === 0 ? { type: 'ec', curve: 'P-256' } : { type: 'aes', bits: 256 });
          await token.destroyKey(other);
        } catch (error) {
          failures.push(`lane ${lane}, step ${i}: ${(error as Error).message}`);
        }
      }
    }),
  );
  expect(failures).toEqual([]);
  expect(pairs).toHaveLength(24);
  // Every pair is one working key: its own token objects, no session objects left over.
  const data = Buffer.from('each pair signs');
  for (const key of pairs) {
    const signature = await token.sign(key, { type: CKM.SHA256_RSA_PKCS }, data);
    expect(await token.verify(key, { type: CKM.SHA256_RSA_PKCS }, data, signature)).toBe(true);
  }
  expect(new Set(pairs.map((key) => key.id.toString('hex'))).size).toBe(24);
  for (const key of pairs) expect(await token.destroyObjectsWithId(key.id)).toBe(2);
});

it('destroys labelled objects from several callers at once, each finding the others’ objects gone on the way', async () => {
  const made: TokenKey[] = [];
  for (let i = 0; i < 24; i++) made.push(await token.generateKey({ type: 'aes', bits: 128 }, { label: 'raced-destroy' }));
  const quarters = [0, 1, 2, 3].map((q) => made.slice(q * 6, q * 6 + 6).map((key) => key.id));
  const counts = await Promise.all(quarters.map((ids) => token.destroyLabelledObjectsWithIds('raced-destroy', ids)));
  expect(counts).toEqual([6, 6, 6, 6]);
  expect(await token.keyIdsLabelled('raced-destroy')).toEqual([]);
});
