import { describe, expect, it } from 'vitest';
import { SessionPool } from '../../src/token/session-pool.js';

describe('SessionPool', () => {
  it('lends each session to one caller at a time and queues the rest in order', async () => {
    const pool = new SessionPool([1, 2]);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(new Set([a.session, b.session])).toEqual(new Set([1, 2]));
    const order: number[] = [];
    const c = pool.acquire().then((lease) => (order.push(3), lease));
    const d = pool.acquire().then((lease) => (order.push(4), lease));
    pool.release(a);
    expect((await c).session).toBe(a.session);
    pool.release(b);
    expect((await d).session).toBe(b.session);
    expect(order).toEqual([3, 4]);
  });

  it('drops leases of an older generation and serves waiters from the new one', async () => {
    const pool = new SessionPool([1]);
    const old = await pool.acquire();
    const waiting = pool.acquire();
    pool.replace([7]);
    expect((await waiting).session).toBe(7);
    pool.release(old); // stale: not taken back
    const next = pool.acquire();
    let settled = false;
    void next.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    pool.release(await waiting);
    expect((await next).session).toBe(7);
  });

  it('use() gives the session back when the call throws', async () => {
    const pool = new SessionPool([5]);
    await expect(pool.use(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect((await pool.acquire()).session).toBe(5);
  });
});
